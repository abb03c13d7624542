//! Sieve mail filtering (RFC 5228) with fileinto, envelope, reject/ereject (RFC 5429),
//! vacation (RFC 5230), imap4flags (RFC 5232), copy (RFC 3894), body (RFC 5173),
//! relational (RFC 5231), subaddress (RFC 5233), mailbox (RFC 5490), variables (RFC 5229,
//! `variables.rs`), include (RFC 6609, `include.rs`), date and index (RFC 5260,
//! `date.rs`), editheader (RFC 5293, `editheader.rs`) and the i;ascii-numeric comparator
//! (RFC 4790): parser, validation against `require` (`validate.rs`), and an interpreter
//! that turns a message and its envelope into a list of actions without doing any IO.

pub mod parse;

use parse::{Argument, Command, Pos, SieveError, Test};

use crate::imf::address::address_list;
use crate::imf::datetime::WallClock;
use crate::imf::header::split_header_to_blank_line;
use crate::mime::encoded_word::decode;

/// Extensions this implementation supports in `require`.
pub const EXTENSIONS: [&str; 18] = [
    "fileinto",
    "editheader",
    "date",
    "index",
    "include",
    "variables",
    "mailbox",
    "body",
    "envelope",
    "subaddress",
    "relational",
    "reject",
    "ereject",
    "vacation",
    "imap4flags",
    "copy",
    "comparator-i;ascii-numeric",
    "comparator-i;octet",
];

/// A validated script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    commands: Vec<Command>,
    /// The extensions its `require` names.
    required: Vec<String>,
}

/// What the script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Store in INBOX with these IMAP flags.
    Keep {
        /// Flags (imap4flags).
        flags: Vec<String>,
    },
    /// Store in a folder with these flags.
    FileInto {
        /// The folder.
        mailbox: String,
        /// Flags.
        flags: Vec<String>,
    },
    /// Forward to an address.
    Redirect {
        /// Where.
        address: String,
    },
    /// Refuse the message with this reason (ereject: at SMTP time when possible).
    Reject {
        /// The reason.
        reason: String,
    },
    /// An automatic reply (RFC 5230).
    Vacation(Vacation),
}

/// Parameters of a vacation action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    /// The reply text.
    pub reason: String,
    /// Days between replies to one sender (default 7, at least 1).
    pub days: u64,
    /// Subject of the reply (default: "Auto: " + original).
    pub subject: Option<String>,
    /// From of the reply.
    pub from: Option<String>,
    /// More addresses of the user.
    pub addresses: Vec<String>,
    /// The reason is a MIME entity.
    pub mime: bool,
    /// Identifies this vacation for the once-per-interval memory.
    pub handle: Option<String>,
}

/// The message a script runs over.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext<'a> {
    /// The whole message (CRLF or LF line ends).
    pub message: &'a [u8],
    /// Envelope sender (empty for `<>`).
    pub envelope_from: &'a str,
    /// Envelope recipient.
    pub envelope_to: &'a str,
    /// The characters that separate a local part's user from its detail (RFC 5233
    /// `:user` / `:detail`; `recipient_delimiter`, empty for none).
    pub delimiters: &'a str,
    /// The recipient's folders (UTF-8 names), for `mailboxexists` (RFC 5490); the
    /// runner fills it only for scripts that require "mailbox".
    pub mailboxes: &'a [String],
    /// The scripts `include` may run (RFC 6609), fetched by the runtime beforehand.
    pub library: &'a Library,
    /// The time of delivery in the local zone (`currentdate`, and the zone `date` uses
    /// without `:zone`).
    pub now: WallClock,
}

fn e<T>(pos: Pos, m: impl Into<String>) -> Result<T, SieveError> {
    Err(SieveError {
        pos,
        message: m.into(),
    })
}

/// The parts of a test or command's arguments.
#[derive(Debug, Default)]
struct Args {
    tags: Vec<(String, Option<Argument>)>,
    positional: Vec<Argument>,
}

/// Tags that take a value.
const VALUE_TAGS: [&str; 13] = [
    "comparator",
    "index",
    "zone",
    "content",
    "value",
    "count",
    "over",
    "under",
    "days",
    "subject",
    "from",
    "addresses",
    "handle",
];

fn split_args(args: &[Argument], pos: Pos) -> Result<Args, SieveError> {
    let mut out = Args::default();
    let mut i = 0;
    while i < args.len() {
        match &args[i] {
            Argument::Tag(t) => {
                if VALUE_TAGS.contains(&t.as_str()) || t == "flags" {
                    let Some(v) = args.get(i + 1) else {
                        return e(pos, format!(":{t} needs a value"));
                    };
                    if matches!(v, Argument::Tag(_)) {
                        return e(pos, format!(":{t} needs a value"));
                    }
                    out.tags.push((t.clone(), Some(v.clone())));
                    i += 2;
                    continue;
                }
                out.tags.push((t.clone(), None));
            }
            other => out.positional.push(other.clone()),
        }
        i += 1;
    }
    Ok(out)
}

impl Args {
    /// The first strings of the first two positional arguments (`set`'s and
    /// `addheader`'s name and value).
    fn name_and_value(&self) -> Option<(&str, &str)> {
        match (self.positional.first(), self.positional.get(1)) {
            (Some(Argument::Strings(n)), Some(Argument::Strings(v))) => {
                Some((n.first()?.as_str(), v.first()?.as_str()))
            }
            _ => None,
        }
    }

    fn has(&self, t: &str) -> bool {
        self.tags.iter().any(|(n, _)| n == t)
    }

    fn value(&self, t: &str) -> Option<&Argument> {
        self.tags
            .iter()
            .find(|(n, _)| n == t)
            .and_then(|(_, v)| v.as_ref())
    }

    fn strings(&self, t: &str) -> Option<Vec<String>> {
        match self.value(t) {
            Some(Argument::Strings(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

fn strings(a: Option<&Argument>, what: &str, pos: Pos) -> Result<Vec<String>, SieveError> {
    match a {
        Some(Argument::Strings(s)) => Ok(s.clone()),
        _ => e(pos, format!("expected {what}")),
    }
}

fn one_string(a: Option<&Argument>, what: &str, pos: Pos) -> Result<String, SieveError> {
    let s = strings(a, what, pos)?;
    if s.len() != 1 {
        return e(pos, format!("expected one string for {what}"));
    }
    Ok(s.into_iter().next().unwrap_or_default())
}

impl Script {
    /// Parses and validates a script; every problem found, with its position.
    pub fn compile(text: &str) -> Result<Script, Vec<SieveError>> {
        let commands = parse::parse(text).map_err(|e| vec![e])?;
        let mut v = Validator {
            required: Vec::new(),
            errors: Vec::new(),
        };
        v.commands(&commands, true);
        if v.errors.is_empty() {
            Ok(Script {
                commands,
                required: v.required,
            })
        } else {
            Err(v.errors)
        }
    }

    /// Whether the script requires extension `ext` (e.g. "mailbox": then the runner
    /// lists the user's folders for `mailboxexists`).
    pub fn requires(&self, ext: &str) -> bool {
        self.required.iter().any(|r| r == ext)
    }

    /// Runs the script; returns the actions (implicit keep included). A runtime error
    /// (e.g. too many redirects) is returned as `Err`: deliver to INBOX then.
    pub fn run(&self, ctx: &MessageContext<'_>) -> Result<Vec<Action>, String> {
        self.run_edited(ctx).map(|(actions, _)| actions)
    }

    /// [`Script::run`], with the message as `addheader` and `deleteheader` (RFC 5293)
    /// left it when the script changed it: what keep, fileinto and redirect deliver.
    pub fn run_edited(
        &self,
        ctx: &MessageContext<'_>,
    ) -> Result<(Vec<Action>, Option<Vec<u8>>), String> {
        let (fields, _) = split_header_to_blank_line(ctx.message);
        let headers: Vec<(String, String)> = fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(f.name).into_owned(),
                    decode(&f.value()),
                )
            })
            .collect();
        let raw = fields
            .iter()
            .map(|f| ctx.message[f.range.clone()].to_vec())
            .collect();
        let header_end = fields.last().map_or(0, |f| f.range.end);
        let mut st = State {
            ctx,
            headers,
            raw,
            header_end,
            edited: false,
            size: ctx.message.len() as u64,
            actions: Vec::new(),
            implicit_keep: true,
            flags: Vec::new(),
            expanding: self.requires("variables"),
            vars: Variables::default(),
            included: Vec::new(),
            running: Vec::new(),
        };
        st.block(&self.commands)?;
        let rejected = st
            .actions
            .iter()
            .any(|a| matches!(a, Action::Reject { .. }));
        if rejected
            && st.actions.iter().any(|a| {
                matches!(
                    a,
                    Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. }
                )
            })
        {
            return Err("reject cannot be combined with keep, fileinto or redirect".into());
        }
        if st.implicit_keep && !rejected {
            let flags = st.flags.clone();
            st.push(Action::Keep { flags });
        }
        let edited = st.edited.then(|| st.edited_message());
        Ok((st.actions, edited))
    }
}

struct State<'a> {
    ctx: &'a MessageContext<'a>,
    /// The header fields as tests see them: name and decoded value.
    headers: Vec<(String, String)>,
    /// The same fields as they are written (name to line end), for the edited message.
    raw: Vec<Vec<u8>>,
    /// Where the original header section's fields end (its empty line and body follow).
    header_end: usize,
    /// Whether addheader or deleteheader changed the header.
    edited: bool,
    size: u64,
    actions: Vec<Action>,
    implicit_keep: bool,
    flags: Vec<String>,
    /// The script requires "variables": strings are expanded, `:matches` keeps captures.
    expanding: bool,
    vars: Variables,
    /// Every script included so far (for `:once`).
    included: Vec<(Location, String)>,
    /// The includes being run, innermost last (loops are errors).
    running: Vec<(Location, String)>,
}

/// Most redirects one script may do.
const MAX_REDIRECTS: usize = 5;

enum Flow {
    Go,
    /// `return` (RFC 6609): the script it is in ends, its includer goes on.
    Return,
    Stop,
}

fn flag_list(strings: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in strings {
        for f in s.split_whitespace() {
            if !out.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                out.push(f.to_string());
            }
        }
    }
    out
}

impl State<'_> {
    /// The values of the header fields named `names`, name by name; with `:index N
    /// [:last]` (RFC 5260 §6), only the N-th of them all in message order.
    fn field_values(&self, names: &[String], a: &Args) -> Vec<String> {
        let named = |h: &String| names.iter().any(|n| h.eq_ignore_ascii_case(n));
        if let Some(Argument::Number(index)) = a.value("index") {
            let in_order: Vec<String> = self
                .headers
                .iter()
                .filter(|(h, _)| named(h))
                .map(|(_, v)| v.clone())
                .collect();
            return date::pick(in_order, *index, a.has("last"));
        }
        names
            .iter()
            .flat_map(|n| {
                self.headers
                    .iter()
                    .filter(move |(h, _)| h.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }

    /// `date` (a header field's date) or `currentdate` (the delivery time), RFC 5260 §4-5:
    /// the date part in the local zone, `:zone`, or the field's own (`:originalzone`).
    fn date_test(&mut self, of_field: bool, a: &Args) -> bool {
        let skip = usize::from(of_field);
        let (Some(Argument::Strings(part)), Some(Argument::Strings(keys))) =
            (a.positional.get(skip), a.positional.get(skip + 1))
        else {
            return false;
        };
        let part = part.first().cloned().unwrap_or_default();
        let zone = a
            .strings("zone")
            .and_then(|z| z.first().and_then(|z| date::parse_zone(z)))
            .unwrap_or(self.ctx.now.utc_offset_minutes);
        let times: Vec<WallClock> = if of_field {
            let Some(Argument::Strings(names)) = a.positional.first() else {
                return false;
            };
            self.field_values(names, a)
                .iter()
                .filter_map(|v| date::field_date(v))
                .collect()
        } else {
            vec![self.ctx.now]
        };
        let values: Vec<String> = times
            .into_iter()
            .map(|t| {
                if a.has("originalzone") {
                    t
                } else {
                    date::in_zone(t, zone)
                }
            })
            .filter_map(|t| date::date_part(t, &part))
            .collect();
        let m = Matcher::from(a);
        self.matched(&m, &values, keys)
    }

    /// Whether any of `values` matches any of `keys`; a `:matches` that succeeds in a
    /// script with variables keeps its match variables (RFC 5229 §3.2).
    fn matched(&mut self, m: &Matcher, values: &[String], keys: &[String]) -> bool {
        if !self.expanding || m.kind != matcher::Kind::Matches {
            return m.any(values, keys);
        }
        for v in values {
            for k in keys {
                if let Some(captures) = m.captures(v, k) {
                    self.vars.set_matched(captures);
                    return true;
                }
            }
        }
        false
    }

    fn push(&mut self, a: Action) {
        if !self.actions.contains(&a) {
            self.actions.push(a);
        }
    }

    fn block(&mut self, cmds: &[Command]) -> Result<Flow, String> {
        let mut i = 0;
        while i < cmds.len() {
            let c = &cmds[i];
            if c.name == "if" {
                // Find the chain if / elsif* / else?.
                let mut j = i;
                let mut taken = false;
                while j < cmds.len()
                    && (j == i || cmds[j].name == "elsif" || cmds[j].name == "else")
                {
                    if !taken {
                        let hit = match &cmds[j].test {
                            Some(t) => self.test(t),
                            None => true,
                        };
                        if hit {
                            taken = true;
                            match self.block(&cmds[j].block)? {
                                Flow::Go => {}
                                ended => return Ok(ended),
                            }
                        }
                    }
                    j += 1;
                    if cmds.get(j - 1).is_some_and(|x| x.name == "else") {
                        break;
                    }
                }
                i = j;
                continue;
            }
            match self.command(c)? {
                Flow::Go => {}
                ended => return Ok(ended),
            }
            i += 1;
        }
        Ok(Flow::Go)
    }

    fn command(&mut self, c: &Command) -> Result<Flow, String> {
        let mut a = split_args(&c.args, c.pos).map_err(|e| e.to_string())?;
        if self.expanding {
            self.vars.expand_args(&mut a);
        }
        let first = |a: &Args| match a.positional.first() {
            Some(Argument::Strings(s)) => s.first().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        match c.name.as_str() {
            "require" | "elsif" | "else" => {}
            "stop" => return Ok(Flow::Stop),
            "return" => return Ok(Flow::Return),
            "include" => return self.include(c),
            "global" => {
                if let Some(Argument::Strings(names)) = a.positional.first() {
                    self.vars.declare_global(names);
                }
            }
            "keep" => {
                self.implicit_keep = false;
                let flags = a
                    .strings("flags")
                    .map(|f| flag_list(&f))
                    .unwrap_or_else(|| self.flags.clone());
                self.push(Action::Keep { flags });
            }
            "discard" => self.implicit_keep = false,
            "set" => self.vars.set(&a),
            "addheader" => self.addheader(&a),
            "deleteheader" => self.deleteheader(&a),
            "fileinto" => {
                if !a.has("copy") {
                    self.implicit_keep = false;
                }
                let flags = a
                    .strings("flags")
                    .map(|f| flag_list(&f))
                    .unwrap_or_else(|| self.flags.clone());
                let mailbox = first(&a);
                if mailbox.eq_ignore_ascii_case("INBOX") {
                    self.push(Action::Keep { flags });
                } else {
                    self.push(Action::FileInto { mailbox, flags });
                }
            }
            "redirect" => {
                if !a.has("copy") {
                    self.implicit_keep = false;
                }
                let address = address_list(&first(&a))
                    .into_iter()
                    .next()
                    .map(|x| x.addr)
                    .unwrap_or_default();
                if self
                    .actions
                    .iter()
                    .filter(|x| matches!(x, Action::Redirect { .. }))
                    .count()
                    >= MAX_REDIRECTS
                {
                    return Err(format!("more than {MAX_REDIRECTS} redirects"));
                }
                self.push(Action::Redirect { address });
            }
            "reject" | "ereject" => {
                self.implicit_keep = false;
                self.push(Action::Reject { reason: first(&a) });
            }
            "vacation" => {
                if self
                    .actions
                    .iter()
                    .any(|x| matches!(x, Action::Vacation(_)))
                {
                    return Err("vacation used twice".into());
                }
                let days = match a.value("days") {
                    Some(Argument::Number(d)) => (*d).max(1),
                    _ => 7,
                };
                let one = |t: &str| a.strings(t).and_then(|v| v.into_iter().next());
                self.push(Action::Vacation(Vacation {
                    reason: first(&a),
                    days,
                    subject: one("subject"),
                    from: one("from"),
                    addresses: a.strings("addresses").unwrap_or_default(),
                    mime: a.has("mime"),
                    handle: one("handle"),
                }));
            }
            "setflag" | "addflag" | "removeflag" => {
                let list = match a.positional.last() {
                    Some(Argument::Strings(s)) => flag_list(s),
                    _ => Vec::new(),
                };
                match c.name.as_str() {
                    "setflag" => self.flags = list,
                    "addflag" => {
                        for f in list {
                            if !self.flags.iter().any(|x| x.eq_ignore_ascii_case(&f)) {
                                self.flags.push(f);
                            }
                        }
                    }
                    _ => self
                        .flags
                        .retain(|x| !list.iter().any(|f| f.eq_ignore_ascii_case(x))),
                }
            }
            other => return Err(format!("unknown command {other}")),
        }
        Ok(Flow::Go)
    }

    fn test(&mut self, t: &Test) -> bool {
        let Ok(mut a) = split_args(&t.args, t.pos) else {
            return false;
        };
        if self.expanding {
            self.vars.expand_args(&mut a);
        }
        match t.name.as_str() {
            "true" => true,
            "false" => false,
            "not" => !t.tests.first().is_some_and(|x| self.test(x)),
            "allof" => t.tests.iter().all(|x| self.test(x)),
            "anyof" => t.tests.iter().any(|x| self.test(x)),
            "exists" => match a.positional.first() {
                Some(Argument::Strings(names)) => names
                    .iter()
                    .all(|n| self.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n))),
                _ => false,
            },
            "mailboxexists" => match a.positional.first() {
                Some(Argument::Strings(names)) => names.iter().all(|n| {
                    n.eq_ignore_ascii_case("INBOX") || self.ctx.mailboxes.iter().any(|m| m == n)
                }),
                _ => false,
            },
            "body" => {
                let Some(Argument::Strings(keys)) = a.positional.first() else {
                    return false;
                };
                let transform = if a.has("raw") {
                    body::Transform::Raw
                } else if let Some(types) = a.strings("content") {
                    body::Transform::Content(types)
                } else {
                    body::Transform::Text
                };
                let texts = body::body_texts(self.ctx.message, &transform);
                Matcher::from(&a).any(&texts, keys)
            }
            "size" => match (a.value("over"), a.value("under")) {
                (Some(Argument::Number(n)), _) => self.size > *n,
                (_, Some(Argument::Number(n))) => self.size < *n,
                _ => false,
            },
            "header" | "address" | "envelope" => {
                let (Some(Argument::Strings(names)), Some(Argument::Strings(keys))) =
                    (a.positional.first(), a.positional.get(1))
                else {
                    return false;
                };
                let m = Matcher::from(&a);
                let part = if a.has("localpart") {
                    Part::Local
                } else if a.has("domain") {
                    Part::Domain
                } else if a.has("user") {
                    Part::User
                } else if a.has("detail") {
                    Part::Detail
                } else {
                    Part::All
                };
                let delimiters = self.ctx.delimiters;
                let mut values: Vec<String> = Vec::new();
                match t.name.as_str() {
                    "header" => values = self.field_values(names, &a),
                    "address" => {
                        for v in self.field_values(names, &a) {
                            values.extend(
                                address_list(&v)
                                    .into_iter()
                                    .filter_map(|x| part.of(&x.addr, delimiters)),
                            );
                        }
                    }
                    _ => {
                        for n in names {
                            let v = if n.eq_ignore_ascii_case("from") {
                                self.ctx.envelope_from
                            } else if n.eq_ignore_ascii_case("to") {
                                self.ctx.envelope_to
                            } else {
                                continue;
                            };
                            if v.is_empty() {
                                values.push(String::new());
                            } else {
                                values.extend(part.of(v, delimiters));
                            }
                        }
                    }
                }
                self.matched(&m, &values, keys)
            }
            "date" | "currentdate" => self.date_test(t.name == "date", &a),
            "string" => {
                let (Some(Argument::Strings(source)), Some(Argument::Strings(keys))) =
                    (a.positional.first(), a.positional.get(1))
                else {
                    return false;
                };
                let m = Matcher::from(&a);
                if matches!(m.kind, matcher::Kind::Count(_)) {
                    // RFC 5229 §5: :count counts the source strings that are not empty.
                    let filled: Vec<String> =
                        source.iter().filter(|s| !s.is_empty()).cloned().collect();
                    return m.any(&filled, keys);
                }
                self.matched(&m, source, keys)
            }
            "hasflag" => {
                let Some(Argument::Strings(keys)) = a.positional.last() else {
                    return false;
                };
                Matcher::from(&a).any(&self.flags, keys)
            }
            _ => false,
        }
    }
}

#[derive(Clone, Copy)]
enum Part {
    All,
    Local,
    Domain,
    /// The local part before the detail (RFC 5233).
    User,
    /// The detail; an address without one has none, and no test matches it.
    Detail,
}

impl Part {
    fn of(self, addr: &str, delimiters: &str) -> Option<String> {
        use crate::delivery::subaddress::split_detail;
        let (l, d) = addr.rsplit_once('@').unwrap_or((addr, ""));
        Some(match self {
            Part::All => addr.to_string(),
            Part::Local => l.to_string(),
            Part::Domain => d.to_string(),
            Part::User => split_detail(l, delimiters).0.to_string(),
            Part::Detail => split_detail(l, delimiters).1?.to_string(),
        })
    }
}

mod body;
mod date;
mod editheader;
mod include;
mod matcher;
mod validate;
mod variables;

pub use include::{Library, Location, MAX_INCLUDES, MAX_NESTING};
use validate::Validator;

use variables::Variables;

pub use matcher::glob;
use matcher::Matcher;

#[cfg(test)]
mod tests;
