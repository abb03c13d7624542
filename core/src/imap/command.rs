//! IMAP4rev1 commands (RFC 3501 §6, §9) and the extensions postrider speaks: the types,
//! and a recursive-descent parser, over the nom lexical parsers of `lex.rs`, for one
//! complete command whose literals (`{n}` and LITERAL+ `{n+}`, RFC
//! 7888) are inline, as the framer in the server machine collects them.

use crate::imap::section::{Section, SectionText};
use crate::imap::sort::SortCriterion;
use crate::imap::thread::ThreadAlgorithm;

pub use crate::imap::framing::{frame_line, Framing};
pub use crate::imap::seqset::{SeqNum, SeqSet};

/// A FETCH data item (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    /// FLAGS.
    Flags,
    /// INTERNALDATE.
    InternalDate,
    /// RFC822 (the whole message, sets \Seen).
    Rfc822,
    /// RFC822.HEADER.
    Rfc822Header,
    /// RFC822.SIZE.
    Rfc822Size,
    /// RFC822.TEXT (sets \Seen).
    Rfc822Text,
    /// ENVELOPE.
    Envelope,
    /// BODY (non-extensible BODYSTRUCTURE).
    Body,
    /// BODYSTRUCTURE.
    BodyStructure,
    /// UID.
    Uid,
    /// MODSEQ (RFC 7162).
    ModSeq,
    /// BINARY[part]<partial> or BINARY.PEEK[...] (RFC 3516): the part's content with its
    /// Content-Transfer-Encoding undone.
    Binary {
        /// BINARY.PEEK: do not set \Seen.
        peek: bool,
        /// The part numbers (empty: the whole message).
        part: Vec<u32>,
        /// `<origin.length>`.
        partial: Option<(u32, u32)>,
    },
    /// BINARY.SIZE[part] (RFC 3516).
    BinarySize {
        /// The part numbers.
        part: Vec<u32>,
    },
    /// BODY[section]<partial> or BODY.PEEK[...].
    Section {
        /// BODY.PEEK: do not set \Seen.
        peek: bool,
        /// The section.
        section: Section,
        /// `<origin.length>`.
        partial: Option<(u32, u32)>,
    },
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// FLAGS: replace.
    Replace,
    /// +FLAGS: add.
    Add,
    /// -FLAGS: remove.
    Remove,
}

/// A SEARCH key (RFC 3501 §6.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// Every key must match.
    And(Vec<SearchKey>),
    /// ALL.
    All,
    /// A flag set (ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, RECENT, KEYWORD x).
    Flag(String),
    /// A flag not set (UNANSWERED, ... UNKEYWORD x).
    NoFlag(String),
    /// NEW = RECENT UNSEEN.
    New,
    /// OLD = NOT RECENT.
    Old,
    /// A header field contains a string (BCC, CC, FROM, SUBJECT, TO, HEADER f s).
    Header(String, String),
    /// BODY s.
    Body(String),
    /// TEXT s (header or body).
    Text(String),
    /// BEFORE / ON / SINCE on the internal date: `Less` is BEFORE (earlier than the day),
    /// `Equal` ON, `Greater` SINCE (that day or later).
    InternalDate(std::cmp::Ordering, Day),
    /// SENTBEFORE / SENTON / SENTSINCE on the Date field, ordering as for `InternalDate`.
    SentDate(std::cmp::Ordering, Day),
    /// LARGER n.
    Larger(u64),
    /// SMALLER n.
    Smaller(u64),
    /// UID set.
    Uid(SeqSet),
    /// MODSEQ n (RFC 7162 §3.1.5): changed at or after n (the optional entry name and
    /// type are read and ignored: flags share one MODSEQ).
    ModSeq(u64),
    /// A sequence set.
    Seq(SeqSet),
    /// NOT.
    Not(Box<SearchKey>),
    /// OR.
    Or(Box<SearchKey>, Box<SearchKey>),
}

/// What a SEARCH or SORT with `RETURN (...)` answers (RFC 4731, RFC 5182, RFC 5267):
/// `RETURN ()` means ALL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchReturn {
    /// MIN.
    pub min: bool,
    /// MAX.
    pub max: bool,
    /// COUNT.
    pub count: bool,
    /// ALL.
    pub all: bool,
    /// SAVE (the result becomes `$`).
    pub save: bool,
}

/// One piece of a CATENATE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatenatePart {
    /// `TEXT literal`: these octets.
    Text(Vec<u8>),
    /// `URL "..."`: (a part of) a message already stored, as written.
    Url(String),
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags.
    pub flags: Vec<String>,
    /// Internal date as given.
    pub date: Option<String>,
    /// The message.
    pub message: Vec<u8>,
    /// Sent as a `literal8` (`~{n}`, RFC 3516): it may hold raw binary parts.
    pub binary: bool,
    /// `CATENATE (...)` (RFC 4469): the message is these pieces joined (`message` is
    /// then empty).
    pub catenate: Option<Vec<CatenatePart>>,
}

/// STATUS data items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// MESSAGES.
    Messages,
    /// RECENT.
    Recent,
    /// UIDNEXT.
    UidNext,
    /// UIDVALIDITY.
    UidValidity,
    /// UNSEEN.
    Unseen,
    /// SIZE (RFC 8438).
    Size,
    /// HIGHESTMODSEQ (RFC 7162).
    HighestModSeq,
    /// DELETED (RFC 9051): messages with `\Deleted`.
    Deleted,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// CAPABILITY.
    Capability,
    /// NOOP.
    Noop,
    /// LOGOUT.
    Logout,
    /// STARTTLS.
    StartTls,
    /// COMPRESS mechanism (RFC 4978).
    Compress(String),
    /// GETQUOTA root (RFC 9208).
    GetQuota(String),
    /// GETQUOTAROOT mailbox (RFC 9208).
    GetQuotaRoot(String),
    /// SETQUOTA root (resource limit ...) (RFC 9208): refused, limits are the
    /// administrator's.
    SetQuota(String, Vec<(String, u64)>),
    /// AUTHENTICATE mechanism [initial-response] (SASL-IR).
    Authenticate {
        /// Mechanism name.
        mechanism: String,
        /// Initial response.
        initial: Option<String>,
    },
    /// LOGIN user password.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// SELECT / EXAMINE.
    Select {
        /// The mailbox.
        mailbox: String,
        /// EXAMINE.
        read_only: bool,
        /// `(CONDSTORE)` / `(QRESYNC (...))`.
        params: SelectParams,
    },
    /// CREATE.
    Create(String),
    /// CREATE mailbox (USE (attr ...)) (RFC 6154 §3): with special-use attributes.
    CreateSpecialUse {
        /// The mailbox.
        mailbox: String,
        /// The attributes as given (`\\Sent`, ...).
        uses: Vec<String>,
    },
    /// DELETE.
    Delete(String),
    /// RENAME.
    Rename(String, String),
    /// SUBSCRIBE.
    Subscribe(String),
    /// UNSUBSCRIBE.
    Unsubscribe(String),
    /// LIST / LSUB.
    List {
        /// Reference name.
        reference: String,
        /// Pattern with `*` and `%`.
        pattern: String,
        /// LSUB.
        subscribed: bool,
    },
    /// LIST with LIST-EXTENDED options, several patterns or RETURN (RFC 5258).
    ListExtended {
        /// Selection options.
        selection: ListSelection,
        /// Reference name.
        reference: String,
        /// Patterns (any may match).
        patterns: Vec<String>,
        /// Return options.
        ret: ListReturn,
    },
    /// STATUS.
    Status(String, Vec<StatusItem>),
    /// APPEND (with MULTIAPPEND, RFC 3502, several messages at once: all or none).
    Append {
        /// Target mailbox.
        mailbox: String,
        /// The messages, at least one.
        messages: Vec<AppendMessage>,
    },
    /// CHECK.
    Check,
    /// CLOSE.
    Close,
    /// UNSELECT (RFC 3691).
    Unselect,
    /// EXPUNGE, or UID EXPUNGE set (RFC 4315).
    Expunge(Option<SeqSet>),
    /// [UID] SEARCH.
    Search {
        /// UID SEARCH.
        uid: bool,
        /// The key (an AND of the given keys).
        key: SearchKey,
        /// `RETURN (...)` (RFC 4731 ESEARCH, RFC 5182 SAVE): None for a plain SEARCH.
        ret: Option<SearchReturn>,
    },
    /// [UID] SORT (RFC 5256), with ESORT's `RETURN` (RFC 5267).
    Sort {
        /// UID SORT.
        uid: bool,
        /// The sort criteria, in order.
        criteria: Vec<SortCriterion>,
        /// The messages sorted.
        key: SearchKey,
        /// `RETURN (...)`: None for a plain SORT.
        ret: Option<SearchReturn>,
    },
    /// [UID] THREAD (RFC 5256).
    Thread {
        /// UID THREAD.
        uid: bool,
        /// The algorithm.
        algorithm: ThreadAlgorithm,
        /// The messages threaded.
        key: SearchKey,
    },
    /// [UID] FETCH.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// Items.
        items: Vec<FetchAttr>,
        /// `(CHANGEDSINCE n [VANISHED])`.
        modifiers: FetchModifiers,
    },
    /// [UID] STORE.
    Store {
        /// UID STORE.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// How.
        mode: StoreMode,
        /// .SILENT.
        silent: bool,
        /// The flags.
        flags: Vec<String>,
        /// `(UNCHANGEDSINCE n)`: only messages whose MODSEQ is at most n change.
        unchanged_since: Option<u64>,
    },
    /// [UID] COPY or MOVE (RFC 6851).
    Copy {
        /// UID form.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// Destination.
        mailbox: String,
        /// MOVE.
        is_move: bool,
    },
    /// IDLE (RFC 2177).
    Idle,
    /// NAMESPACE (RFC 2342).
    Namespace,
    /// ID (RFC 2971).
    Id,
    /// ENABLE (RFC 5161).
    Enable(Vec<String>),
}

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The tag.
    pub tag: String,
    /// The command.
    pub command: Command,
}

/// The start of a [`ParseError`] message for a SEARCH in a charset this server does not
/// know: the command is refused with `NO` and this response code (RFC 3501 §6.4.4), not
/// rejected as `BAD`.
pub const BADCHARSET: &str = "[BADCHARSET (UTF-8 US-ASCII)]";

/// Why a command was refused: answer `BAD` with this text (with the tag when known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The tag, if it could be read.
    pub tag: Option<String>,
    /// What is wrong.
    pub message: String,
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

type R<T> = Result<T, String>;

use super::lex::{self, is_atom_char};

impl Cur<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn sp(&mut self) -> R<()> {
        if self.eat(b' ') {
            Ok(())
        } else {
            Err("expected a space".into())
        }
    }

    fn word_ci(&mut self, w: &str) -> bool {
        let n = w.len();
        if self.b.len() >= self.i + n
            && self.b[self.i..self.i + n].eq_ignore_ascii_case(w.as_bytes())
        {
            self.i += n;
            true
        } else {
            false
        }
    }

    /// Runs a lexical parser at the cursor and advances past what it consumed; `what`
    /// is the BAD text when it fails.
    fn lex<T>(&mut self, parser: fn(&[u8]) -> lex::LexResult<'_, T>, what: &str) -> R<T> {
        match parser(&self.b[self.i..]) {
            Ok((rest, v)) => {
                self.i = self.b.len() - rest.len();
                Ok(v)
            }
            Err(_) => Err(what.into()),
        }
    }

    fn atom(&mut self) -> R<String> {
        self.lex(lex::atom, "expected an atom")
    }

    fn number(&mut self) -> R<u64> {
        self.lex(lex::number, "expected a number")
    }

    fn quoted(&mut self) -> R<Vec<u8>> {
        self.lex(lex::quoted, "bad quoted string")
    }

    fn literal(&mut self) -> R<Vec<u8>> {
        self.lex(lex::literal, "bad literal")
    }

    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err("expected a string".into()),
        }
    }

    fn astring(&mut self) -> R<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => Ok(String::from_utf8_lossy(&self.string()?).into_owned()),
            _ => self.lex(lex::astring, "expected an astring"),
        }
    }

    /// A LIST pattern: astring or list-wildcards.
    fn list_mailbox(&mut self) -> R<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => Ok(String::from_utf8_lossy(&self.string()?).into_owned()),
            _ => self.lex(lex::list_mailbox, "expected a mailbox pattern"),
        }
    }

    fn mailbox(&mut self) -> R<String> {
        let m = self.astring()?;
        Ok(if m.eq_ignore_ascii_case("INBOX") {
            "INBOX".into()
        } else {
            m
        })
    }

    fn seq_set(&mut self) -> R<SeqSet> {
        self.lex(lex::seq_set, "invalid sequence set")
    }

    /// A flag a client may set (STORE, APPEND): a keyword or one of the system flags
    /// RFC 3501 §2.3.2 lets clients change. `\Recent`, `\*` and unknown `\` flags
    /// (flag-extensions, which servers must not invent) are errors, as in Dovecot.
    fn flag(&mut self) -> R<String> {
        let f = self.lex(lex::flag, "expected a flag")?;
        let settable = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];
        if f.starts_with('\\') && !settable.contains(&f.as_str()) {
            return Err(format!("Invalid system flag {f}"));
        }
        Ok(f)
    }

    /// `(item SP item ...)`: the items `item` reads, in order; `()` only when
    /// `empty_ok`.
    fn paren_list<T>(
        &mut self,
        empty_ok: bool,
        mut item: impl FnMut(&mut Self) -> R<T>,
    ) -> R<Vec<T>> {
        if !self.eat(b'(') {
            return Err("expected (".into());
        }
        let mut out = Vec::new();
        if self.eat(b')') {
            return if empty_ok {
                Ok(out)
            } else {
                Err("expected an item in ( )".into())
            };
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    fn flag_list(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        if self.eat(b'(') {
            if self.eat(b')') {
                return Ok(out);
            }
            loop {
                out.push(self.flag()?);
                if self.eat(b')') {
                    return Ok(out);
                }
                self.sp()?;
            }
        }
        // Also accept a bare list of flags (STORE FLAGS \Seen \Deleted).
        loop {
            out.push(self.flag()?);
            if !self.eat(b' ') {
                return Ok(out);
            }
        }
    }

    fn date(&mut self) -> R<Day> {
        let text = self.lex(lex::date_text, "bad date")?;
        parse_date(&text).ok_or_else(|| format!("invalid date {text:?}"))
    }
}

pub use super::dates::{parse_date, parse_datetime, Day};

/// A section specifier as FETCH writes it between brackets (`1.2.HEADER`, `TEXT`, ``),
/// for IMAP URLs' `;SECTION=` (RFC 5092); None when it is not one.
pub fn parse_section(text: &str) -> Option<Section> {
    let with_end = format!("{text}]");
    let mut c = Cur {
        b: with_end.as_bytes(),
        i: 0,
    };
    let section = fetch::section(&mut c).ok()?;
    c.at_end().then_some(section)
}

/// Parses one complete command (`tag SP command CRLF`, literals inline).
pub fn parse_command(line: &[u8]) -> Result<Tagged, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut c = Cur { b: line, i: 0 };
    let tag = {
        let s = c.i;
        while c.peek().is_some_and(|x| is_atom_char(x) && x != b'+') {
            c.i += 1;
        }
        if s == c.i {
            return Err(ParseError {
                tag: None,
                message: "missing tag".into(),
            });
        }
        String::from_utf8_lossy(&line[s..c.i]).into_owned()
    };
    let fail = |m: String| ParseError {
        tag: Some(tag.clone()),
        message: m,
    };
    if !c.eat(b' ') {
        return Err(fail("missing command".into()));
    }
    let command = parse_body(&mut c).map_err(fail)?;
    if !c.at_end() {
        return Err(ParseError {
            tag: Some(tag),
            message: "unexpected characters at the end of the command".into(),
        });
    }
    Ok(Tagged { tag, command })
}

fn parse_body(c: &mut Cur<'_>) -> R<Command> {
    let verb = c.atom()?.to_ascii_uppercase();
    let cmd = match verb.as_str() {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "COMPRESS" => {
            c.sp()?;
            Command::Compress(c.atom()?)
        }
        "GETQUOTA" => {
            c.sp()?;
            Command::GetQuota(c.astring()?)
        }
        "GETQUOTAROOT" => {
            c.sp()?;
            Command::GetQuotaRoot(c.mailbox()?)
        }
        "SETQUOTA" => set_quota(c)?,
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "EXPUNGE" => Command::Expunge(None),
        "IDLE" => Command::Idle,
        "NAMESPACE" => Command::Namespace,
        "ID" => id_args(c)?,
        "ENABLE" => enable(c)?,
        "AUTHENTICATE" => authenticate(c)?,
        "LOGIN" => {
            c.sp()?;
            let user = c.astring()?;
            c.sp()?;
            let password = c.astring()?;
            Command::Login { user, password }
        }
        "SELECT" | "EXAMINE" => {
            c.sp()?;
            Command::Select {
                mailbox: c.mailbox()?,
                read_only: verb == "EXAMINE",
                params: condstore::select_params(c)?,
            }
        }
        "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
            c.sp()?;
            let m = c.mailbox()?;
            match verb.as_str() {
                "CREATE" if c.eat(b' ') => create_special_use(c, m)?,
                "CREATE" => Command::Create(m),
                "DELETE" => Command::Delete(m),
                "SUBSCRIBE" => Command::Subscribe(m),
                _ => Command::Unsubscribe(m),
            }
        }
        "RENAME" => {
            c.sp()?;
            let a = c.mailbox()?;
            c.sp()?;
            let b = c.mailbox()?;
            Command::Rename(a, b)
        }
        "LIST" | "LSUB" => list::list(c, verb == "LSUB")?,
        "STATUS" => status(c)?,
        "APPEND" => append(c)?,
        "SEARCH" => search::search(c, false)?,
        "SORT" => search::sort(c, false)?,
        "THREAD" => search::thread(c, false)?,
        "FETCH" => fetch::fetch(c, false)?,
        "STORE" => store(c, false)?,
        "COPY" | "MOVE" => copy(c, false, verb == "MOVE")?,
        "UID" => uid_command(c)?,
        _ => return Err(format!("unknown command {verb:?}")),
    };
    Ok(cmd)
}

/// ID's argument: `NIL` or a parenthesised list of string pairs, accepted and ignored.
fn id_args(c: &mut Cur<'_>) -> R<Command> {
    c.sp()?;
    // `NIL` or a parenthesised list of string pairs: accepted and ignored.
    if c.word_ci("NIL") {
    } else if c.eat(b'(') {
        let mut depth = 1;
        while depth > 0 {
            match c.peek() {
                None => return Err("unterminated ID list".into()),
                Some(b'"') | Some(b'{') => {
                    c.string()?;
                }
                Some(b'(') => {
                    depth += 1;
                    c.i += 1;
                }
                Some(b')') => {
                    depth -= 1;
                    c.i += 1;
                }
                Some(_) => c.i += 1,
            }
        }
    } else {
        return Err("ID takes NIL or a list".into());
    }
    Ok(Command::Id)
}

/// `(USE (attr ...))` after CREATE's mailbox (RFC 6154 §3).
fn create_special_use(c: &mut Cur<'_>, mailbox: String) -> R<Command> {
    let mut uses = Vec::new();
    c.paren_list(false, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        if word != "USE" {
            return Err(format!("unknown CREATE parameter {word:?}"));
        }
        c.sp()?;
        uses = c.paren_list(false, |c| {
            c.lex(lex::flag, "expected a special-use attribute")
        })?;
        Ok(())
    })?;
    Ok(Command::CreateSpecialUse { mailbox, uses })
}

/// ENABLE's capability names.
fn enable(c: &mut Cur<'_>) -> R<Command> {
    let mut caps = Vec::new();
    while c.eat(b' ') {
        caps.push(c.atom()?.to_ascii_uppercase());
    }
    if caps.is_empty() {
        return Err("ENABLE needs a capability".into());
    }
    Ok(Command::Enable(caps))
}

/// AUTHENTICATE's mechanism and optional initial response (RFC 4959).
fn authenticate(c: &mut Cur<'_>) -> R<Command> {
    c.sp()?;
    let mechanism = c.atom()?.to_ascii_uppercase();
    let initial = if c.eat(b' ') {
        let s = c.i;
        while c
            .peek()
            .is_some_and(|x| x.is_ascii_alphanumeric() || b"+/=".contains(&x))
        {
            c.i += 1;
        }
        Some(String::from_utf8_lossy(&c.b[s..c.i]).into_owned())
    } else {
        None
    };
    Ok(Command::Authenticate { mechanism, initial })
}

/// STATUS's mailbox and item list.
fn status(c: &mut Cur<'_>) -> R<Command> {
    c.sp()?;
    let m = c.mailbox()?;
    c.sp()?;
    Ok(Command::Status(m, status_items(c)?))
}

/// `(item item ...)` of STATUS (and of LIST's RETURN (STATUS ...)).
fn status_items(c: &mut Cur<'_>) -> R<Vec<StatusItem>> {
    c.paren_list(false, |c| {
        let w = c.atom()?.to_ascii_uppercase();
        Ok(match w.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "DELETED" => StatusItem::Deleted,
            _ => return Err(format!("unknown STATUS item {w:?}")),
        })
    })
}

/// APPEND's mailbox, optional flags and date, and the message literal.
fn append(c: &mut Cur<'_>) -> R<Command> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    // MULTIAPPEND: more messages follow, each with its own flags and date.
    while messages.is_empty() || c.eat(b' ') {
        if messages.is_empty() {
            c.sp()?;
        }
        let mut flags = Vec::new();
        if c.peek() == Some(b'(') {
            flags = c.flag_list()?;
            c.sp()?;
        }
        let mut date = None;
        if c.peek() == Some(b'"') {
            date = Some(String::from_utf8_lossy(&c.quoted()?).into_owned());
            c.sp()?;
        }
        if c.word_ci("CATENATE ") {
            messages.push(AppendMessage {
                flags,
                date,
                message: Vec::new(),
                binary: false,
                catenate: Some(catenate_parts(c)?),
            });
            continue;
        }
        let binary = c.peek() == Some(b'~');
        let message = c.literal()?;
        messages.push(AppendMessage {
            flags,
            date,
            message,
            binary,
            catenate: None,
        });
    }
    Ok(Command::Append { mailbox, messages })
}

/// CATENATE's `(TEXT literal / URL "url" ...)` (RFC 4469).
fn catenate_parts(c: &mut Cur<'_>) -> R<Vec<CatenatePart>> {
    c.paren_list(false, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        c.sp()?;
        match word.as_str() {
            "TEXT" => Ok(CatenatePart::Text(c.literal()?)),
            "URL" => Ok(CatenatePart::Url(c.astring()?)),
            _ => Err(format!("unknown CATENATE part {word:?}")),
        }
    })
}

/// `SETQUOTA root (resource limit ...)`.
fn set_quota(c: &mut Cur<'_>) -> R<Command> {
    c.sp()?;
    let root = c.astring()?;
    c.sp()?;
    let limits = c.paren_list(true, |c| {
        let name = c.atom()?.to_ascii_uppercase();
        c.sp()?;
        Ok((name, c.number()?))
    })?;
    Ok(Command::SetQuota(root, limits))
}

/// The UID forms of SEARCH, FETCH, STORE, COPY, MOVE and EXPUNGE.
fn uid_command(c: &mut Cur<'_>) -> R<Command> {
    c.sp()?;
    let sub = c.atom()?.to_ascii_uppercase();
    Ok(match sub.as_str() {
        "SEARCH" => search::search(c, true)?,
        "SORT" => search::sort(c, true)?,
        "THREAD" => search::thread(c, true)?,
        "FETCH" => fetch::fetch(c, true)?,
        "STORE" => store(c, true)?,
        "COPY" | "MOVE" => copy(c, true, sub == "MOVE")?,
        "EXPUNGE" => {
            c.sp()?;
            Command::Expunge(Some(c.seq_set()?))
        }
        _ => return Err(format!("unknown UID command {sub:?}")),
    })
}

fn store(c: &mut Cur<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let set = c.seq_set()?;
    c.sp()?;
    let unchanged_since = condstore::store_modifiers(c)?;
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    if !c.word_ci("FLAGS") {
        return Err("expected FLAGS".into());
    }
    let silent = c.word_ci(".SILENT");
    c.sp()?;
    let flags = c.flag_list()?;
    Ok(Command::Store {
        uid,
        set,
        mode,
        silent,
        flags,
        unchanged_since,
    })
}

fn copy(c: &mut Cur<'_>, uid: bool, is_move: bool) -> R<Command> {
    c.sp()?;
    let set = c.seq_set()?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(Command::Copy {
        uid,
        set,
        mailbox,
        is_move,
    })
}

mod condstore;
mod fetch;
mod list;
mod search;

pub use condstore::{FetchModifiers, Qresync, SelectParams};
pub use list::{ListReturn, ListSelection};
#[cfg(test)]
mod tests;
