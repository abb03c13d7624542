//! The client side of commands: [`Tagged::encode`] writes a parsed command back as a
//! client sends it (for round-trip tests, fuzzing and the load generator).

use crate::imap::command::Day;
use crate::imap::command::{
    Command, FetchAttr, SearchKey, SearchReturn, StatusItem, StoreMode, Tagged,
};
use crate::imap::lex::is_atom_char;
use crate::imap::section::SectionText;
use crate::imap::seqset::SeqSet;

/// Writes an astring: an atom when it can be one, else a quoted string, else a literal.
fn encode_astring(out: &mut Vec<u8>, s: &str) {
    if !s.is_empty() && s.bytes().all(|c| is_atom_char(c) || c == b']') {
        out.extend_from_slice(s.as_bytes());
    } else {
        push_string(out, s.as_bytes());
    }
}

fn encode_seq(out: &mut Vec<u8>, set: &SeqSet) {
    out.extend_from_slice(set.to_wire().as_bytes());
}

fn month_name(day: Day) -> String {
    let w = crate::imf::datetime::WallClock::utc(day * 86_400).imap();
    // `dd-Mon-yyyy hh:mm:ss +zzzz` → `d-Mon-yyyy`.
    let date = w.split(' ').next().unwrap_or("");
    date.trim_start_matches('0').to_string()
}

fn encode_key(out: &mut Vec<u8>, k: &SearchKey) {
    use std::cmp::Ordering::*;
    let mut word = |w: &str| out.extend_from_slice(w.as_bytes());
    match k {
        SearchKey::And(v) => {
            out.push(b'(');
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                encode_key(out, x);
            }
            out.push(b')');
        }
        SearchKey::All => word("ALL"),
        SearchKey::New => word("NEW"),
        SearchKey::Old => word("OLD"),
        SearchKey::Flag(f) | SearchKey::NoFlag(f) => {
            let set = matches!(k, SearchKey::Flag(_));
            match f.strip_prefix('\\') {
                Some(sys) => {
                    let name = sys.to_ascii_uppercase();
                    if set {
                        word(&name);
                    } else {
                        word(&format!("UN{name}"));
                    }
                }
                None => word(&format!(
                    "{} {f}",
                    if set { "KEYWORD" } else { "UNKEYWORD" }
                )),
            }
        }
        SearchKey::Header(f, v) => {
            let upper = f.to_ascii_uppercase();
            if ["BCC", "CC", "FROM", "SUBJECT", "TO"].contains(&upper.as_str()) && *f == upper {
                word(&upper);
            } else {
                word("HEADER ");
                encode_astring(out, f);
            }
            out.push(b' ');
            push_string(out, v.as_bytes());
        }
        SearchKey::Body(v) | SearchKey::Text(v) => {
            word(if matches!(k, SearchKey::Body(_)) {
                "BODY "
            } else {
                "TEXT "
            });
            push_string(out, v.as_bytes());
        }
        SearchKey::InternalDate(o, d) | SearchKey::SentDate(o, d) => {
            let prefix = if matches!(k, SearchKey::SentDate(..)) {
                "SENT"
            } else {
                ""
            };
            let name = match o {
                Less => "BEFORE",
                Equal => "ON",
                Greater => "SINCE",
            };
            word(&format!("{prefix}{name} {}", month_name(*d)));
        }
        SearchKey::Larger(n) => word(&format!("LARGER {n}")),
        SearchKey::Smaller(n) => word(&format!("SMALLER {n}")),
        SearchKey::Uid(s) => {
            word("UID ");
            encode_seq(out, s);
        }
        SearchKey::ModSeq(n) => word(&format!("MODSEQ {n}")),
        SearchKey::Seq(s) => encode_seq(out, s),
        SearchKey::Not(x) => {
            word("NOT ");
            encode_key(out, x);
        }
        SearchKey::Or(a, b) => {
            word("OR ");
            encode_key(out, a);
            out.push(b' ');
            encode_key(out, b);
        }
    }
}

fn encode_attr(out: &mut Vec<u8>, a: &FetchAttr) {
    let s = match a {
        FetchAttr::Flags => "FLAGS",
        FetchAttr::InternalDate => "INTERNALDATE",
        FetchAttr::Rfc822 => "RFC822",
        FetchAttr::Rfc822Header => "RFC822.HEADER",
        FetchAttr::Rfc822Size => "RFC822.SIZE",
        FetchAttr::Rfc822Text => "RFC822.TEXT",
        FetchAttr::Envelope => "ENVELOPE",
        FetchAttr::Body => "BODY",
        FetchAttr::BodyStructure => "BODYSTRUCTURE",
        FetchAttr::Uid => "UID",
        FetchAttr::ModSeq => "MODSEQ",
        FetchAttr::Binary {
            peek,
            part,
            partial,
        } => {
            let name = if *peek { "BINARY.PEEK" } else { "BINARY" };
            let parts: Vec<String> = part.iter().map(|n| n.to_string()).collect();
            out.extend_from_slice(format!("{name}[{}]", parts.join(".")).as_bytes());
            if let Some((o, l)) = partial {
                out.extend_from_slice(format!("<{o}.{l}>").as_bytes());
            }
            return;
        }
        FetchAttr::BinarySize { part } => {
            let parts: Vec<String> = part.iter().map(|n| n.to_string()).collect();
            out.extend_from_slice(format!("BINARY.SIZE[{}]", parts.join(".")).as_bytes());
            return;
        }
        FetchAttr::Section {
            peek,
            section,
            partial,
        } => {
            out.extend_from_slice(if *peek { b"BODY.PEEK[" } else { b"BODY[" });
            let mut parts: Vec<String> = section.part.iter().map(|n| n.to_string()).collect();
            let text = match &section.text {
                SectionText::Full => None,
                SectionText::Header => Some("HEADER".to_string()),
                SectionText::Text => Some("TEXT".to_string()),
                SectionText::Mime => Some("MIME".to_string()),
                SectionText::HeaderFields(f) | SectionText::HeaderFieldsNot(f) => {
                    let not = matches!(section.text, SectionText::HeaderFieldsNot(_));
                    let mut list = Vec::new();
                    for x in f {
                        let mut b = Vec::new();
                        encode_astring(&mut b, x);
                        list.push(String::from_utf8_lossy(&b).into_owned());
                    }
                    Some(format!(
                        "HEADER.FIELDS{} ({})",
                        if not { ".NOT" } else { "" },
                        list.join(" ")
                    ))
                }
            };
            parts.extend(text);
            out.extend_from_slice(parts.join(".").as_bytes());
            out.push(b']');
            if let Some((o, l)) = partial {
                out.extend_from_slice(format!("<{o}.{l}>").as_bytes());
            }
            return;
        }
    };
    out.extend_from_slice(s.as_bytes());
}

impl Tagged {
    /// The command as a client sends it (literals as LITERAL+ `{n+}`), CRLF-terminated.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.tag.as_bytes());
        out.push(b' ');
        let w = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        match &self.command {
            Command::Capability => w(&mut out, "CAPABILITY"),
            Command::Noop => w(&mut out, "NOOP"),
            Command::Logout => w(&mut out, "LOGOUT"),
            Command::StartTls => w(&mut out, "STARTTLS"),
            Command::Compress(m) => w(&mut out, &format!("COMPRESS {m}")),
            Command::GetQuota(root) => {
                w(&mut out, "GETQUOTA ");
                push_string(&mut out, root.as_bytes());
            }
            Command::GetQuotaRoot(mailbox) => {
                w(&mut out, "GETQUOTAROOT ");
                encode_astring(&mut out, mailbox);
            }
            Command::SetQuota(root, limits) => {
                w(&mut out, "SETQUOTA ");
                push_string(&mut out, root.as_bytes());
                let items: Vec<String> = limits.iter().map(|(r, n)| format!("{r} {n}")).collect();
                w(&mut out, &format!(" ({})", items.join(" ")));
            }
            Command::Check => w(&mut out, "CHECK"),
            Command::Close => w(&mut out, "CLOSE"),
            Command::Unselect => w(&mut out, "UNSELECT"),
            Command::Idle => w(&mut out, "IDLE"),
            Command::Namespace => w(&mut out, "NAMESPACE"),
            Command::Id => w(&mut out, "ID NIL"),
            Command::Enable(c) => w(&mut out, &format!("ENABLE {}", c.join(" "))),
            Command::Authenticate { mechanism, initial } => {
                w(&mut out, &format!("AUTHENTICATE {mechanism}"));
                if let Some(i) = initial {
                    w(&mut out, &format!(" {i}"));
                }
            }
            Command::Login { user, password } => {
                w(&mut out, "LOGIN ");
                encode_astring(&mut out, user);
                out.push(b' ');
                encode_astring(&mut out, password);
            }
            Command::Select {
                mailbox,
                read_only,
                params,
            } => {
                w(&mut out, if *read_only { "EXAMINE " } else { "SELECT " });
                encode_astring(&mut out, mailbox);
                encode_select_params(&mut out, params);
            }
            Command::CreateSpecialUse { mailbox, uses } => {
                w(&mut out, "CREATE ");
                encode_astring(&mut out, mailbox);
                w(&mut out, &format!(" (USE ({}))", uses.join(" ")));
            }
            Command::Create(m)
            | Command::Delete(m)
            | Command::Subscribe(m)
            | Command::Unsubscribe(m) => {
                let verb = match &self.command {
                    Command::Create(_) => "CREATE ",
                    Command::Delete(_) => "DELETE ",
                    Command::Subscribe(_) => "SUBSCRIBE ",
                    _ => "UNSUBSCRIBE ",
                };
                w(&mut out, verb);
                encode_astring(&mut out, m);
            }
            Command::Rename(a, b) => {
                w(&mut out, "RENAME ");
                encode_astring(&mut out, a);
                out.push(b' ');
                encode_astring(&mut out, b);
            }
            Command::List {
                reference,
                pattern,
                subscribed,
            } => {
                w(&mut out, if *subscribed { "LSUB " } else { "LIST " });
                push_string(&mut out, reference.as_bytes());
                out.push(b' ');
                push_string(&mut out, pattern.as_bytes());
            }
            Command::ListExtended {
                selection,
                reference,
                patterns,
                ret,
            } => {
                w(&mut out, "LIST (");
                let sel: Vec<&str> = [
                    (selection.subscribed, "SUBSCRIBED"),
                    (selection.recursive_match, "RECURSIVEMATCH"),
                    (selection.special_use, "SPECIAL-USE"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| *n)
                .collect();
                w(&mut out, &format!("{}) ", sel.join(" ")));
                push_string(&mut out, reference.as_bytes());
                w(&mut out, " (");
                for (i, p) in patterns.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    push_string(&mut out, p.as_bytes());
                }
                w(&mut out, ") RETURN (");
                let mut opts: Vec<String> = [
                    (ret.subscribed, "SUBSCRIBED"),
                    (ret.children, "CHILDREN"),
                    (ret.special_use, "SPECIAL-USE"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| n.to_string())
                .collect();
                if let Some(items) = &ret.status {
                    opts.push(format!("STATUS ({})", status_names(items)));
                }
                w(&mut out, &format!("{})", opts.join(" ")));
            }
            Command::Status(m, items) => {
                w(&mut out, "STATUS ");
                encode_astring(&mut out, m);
                w(&mut out, &format!(" ({})", status_names(items)));
            }
            Command::Append { mailbox, messages } => {
                w(&mut out, "APPEND ");
                encode_astring(&mut out, mailbox);
                for m in messages {
                    if !m.flags.is_empty() {
                        w(&mut out, &format!(" ({})", m.flags.join(" ")));
                    }
                    if let Some(d) = &m.date {
                        out.push(b' ');
                        push_string(&mut out, d.as_bytes());
                    }
                    if let Some(parts) = &m.catenate {
                        encode_catenate(&mut out, parts);
                        continue;
                    }
                    let eight = if m.binary { "~" } else { "" };
                    w(&mut out, &format!(" {eight}{{{}+}}\r\n", m.message.len()));
                    out.extend_from_slice(&m.message);
                }
            }
            other => encode_message_command(&mut out, other),
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// STATUS item names, space-separated.
fn status_names(items: &[StatusItem]) -> String {
    items
        .iter()
        .map(|i| match i {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::Deleted => "DELETED",
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `RETURN (...) ` of SEARCH or SORT, when given.
fn encode_return(out: &mut Vec<u8>, ret: &Option<SearchReturn>) {
    let Some(r) = ret else {
        return;
    };
    let names: Vec<&str> = [
        (r.min, "MIN"),
        (r.max, "MAX"),
        (r.count, "COUNT"),
        (r.all, "ALL"),
        (r.save, "SAVE"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect();
    out.extend_from_slice(format!("RETURN ({}) ", names.join(" ")).as_bytes());
}

/// Search keys as SEARCH takes them: a top-level AND as keys side by side.
fn encode_keys(out: &mut Vec<u8>, key: &SearchKey) {
    match key {
        SearchKey::And(v) => {
            for (i, k) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                encode_key(out, k);
            }
        }
        k => encode_key(out, k),
    }
}

/// The commands about messages of the selected mailbox (EXPUNGE, SEARCH, FETCH, STORE,
/// COPY, MOVE and their UID forms); the others are encoded by [`Tagged::encode`].
fn encode_message_command(out: &mut Vec<u8>, command: &Command) {
    let w = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
    match command {
        Command::Expunge(None) => w(out, "EXPUNGE"),
        Command::Expunge(Some(set)) => {
            w(out, "UID EXPUNGE ");
            encode_seq(out, set);
        }
        Command::Search { uid, key, ret } => {
            w(out, if *uid { "UID SEARCH " } else { "SEARCH " });
            encode_return(out, ret);
            encode_keys(out, key);
        }
        Command::Sort {
            uid,
            criteria,
            key,
            ret,
        } => {
            w(out, if *uid { "UID SORT " } else { "SORT " });
            encode_return(out, ret);
            let names: Vec<String> = criteria
                .iter()
                .map(|c| {
                    let name = format!("{:?}", c.key).to_ascii_uppercase();
                    if c.reverse {
                        format!("REVERSE {name}")
                    } else {
                        name
                    }
                })
                .collect();
            w(out, &format!("({}) UTF-8 ", names.join(" ")));
            encode_keys(out, key);
        }
        Command::Thread {
            uid,
            algorithm,
            key,
        } => {
            w(out, if *uid { "UID THREAD " } else { "THREAD " });
            w(out, &format!("{:?} UTF-8 ", algorithm).to_ascii_uppercase());
            encode_keys(out, key);
        }
        Command::Fetch {
            uid,
            set,
            items,
            modifiers,
        } => {
            w(out, if *uid { "UID FETCH " } else { "FETCH " });
            encode_seq(out, set);
            out.extend_from_slice(b" (");
            for (i, a) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                encode_attr(out, a);
            }
            out.push(b')');
            if let Some(n) = modifiers.changed_since {
                w(out, &format!(" (CHANGEDSINCE {n}"));
                if modifiers.vanished {
                    w(out, " VANISHED");
                }
                out.push(b')');
            }
        }
        Command::Store {
            uid,
            set,
            mode,
            silent,
            flags,
            unchanged_since,
        } => {
            w(out, if *uid { "UID STORE " } else { "STORE " });
            encode_seq(out, set);
            if let Some(n) = unchanged_since {
                w(out, &format!(" (UNCHANGEDSINCE {n})"));
            }
            let m = match mode {
                StoreMode::Replace => "",
                StoreMode::Add => "+",
                StoreMode::Remove => "-",
            };
            w(
                out,
                &format!(
                    " {m}FLAGS{} ({})",
                    if *silent { ".SILENT" } else { "" },
                    flags.join(" ")
                ),
            );
        }
        Command::Copy {
            uid,
            set,
            mailbox,
            is_move,
        } => {
            w(out, if *uid { "UID " } else { "" });
            w(out, if *is_move { "MOVE " } else { "COPY " });
            encode_seq(out, set);
            out.push(b' ');
            encode_astring(out, mailbox);
        }
        _ => {}
    }
}

/// An IMAP string, quoted or literal as the server writes them.
fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    crate::imap::response::encode_value(out, &crate::imap::response::Value::string(s));
}

/// ` (CONDSTORE)` or ` (QRESYNC (...))` after SELECT's mailbox (nothing without them).
fn encode_select_params(out: &mut Vec<u8>, params: &crate::imap::command::SelectParams) {
    let mut words = Vec::new();
    if params.condstore {
        words.push("CONDSTORE".to_string());
    }
    if let Some(q) = &params.qresync {
        let mut text = format!("QRESYNC ({} {}", q.uid_validity, q.modseq);
        if let Some(known) = &q.known_uids {
            text.push(' ');
            text.push_str(&known.to_wire());
        }
        if let Some((seqs, uids)) = &q.seq_match {
            text.push_str(&format!(" ({} {})", seqs.to_wire(), uids.to_wire()));
        }
        text.push(')');
        words.push(text);
    }
    if !words.is_empty() {
        out.extend_from_slice(format!(" ({})", words.join(" ")).as_bytes());
    }
}

/// ` CATENATE (TEXT {n+}... URL "..." ...)`.
fn encode_catenate(out: &mut Vec<u8>, parts: &[crate::imap::command::CatenatePart]) {
    use crate::imap::command::CatenatePart;
    out.extend_from_slice(b" CATENATE (");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match part {
            CatenatePart::Text(bytes) => {
                out.extend_from_slice(format!("TEXT {{{}+}}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
            }
            CatenatePart::Url(url) => {
                out.extend_from_slice(b"URL ");
                push_string(out, url.as_bytes());
            }
        }
    }
    out.push(b')');
}
