//! Compile-time checks of a parsed script (RFC 5228 §2.10.5, §8.2): every command and
//! test known, its arguments of the right kinds, the extensions it uses required, and
//! `require` only at the top before other commands.

use super::parse::{Argument, Command, Pos, SieveError, Test};
use super::{date, e, matcher, one_string, split_args, strings, variables, Args, EXTENSIONS};
use crate::imf::address::address_list;

pub(super) struct Validator {
    pub(super) required: Vec<String>,
    pub(super) errors: Vec<SieveError>,
}

impl Validator {
    fn need(&mut self, ext: &str, pos: Pos, what: &str) {
        if !self.required.iter().any(|r| r == ext) {
            self.errors.push(SieveError {
                pos,
                message: format!("{what} requires `require \"{ext}\";`"),
            });
        }
    }

    fn check_match(&mut self, a: &Args, pos: Pos) {
        if let Some(c) = a.strings("comparator") {
            match c.first().map(String::as_str) {
                Some("i;octet") | Some("i;ascii-casemap") => {}
                Some("i;ascii-numeric") => self.need(
                    "comparator-i;ascii-numeric",
                    pos,
                    "comparator i;ascii-numeric",
                ),
                other => self.errors.push(SieveError {
                    pos,
                    message: format!("unknown comparator {:?}", other.unwrap_or("")),
                }),
            }
        }
        if a.has("user") || a.has("detail") {
            self.need("subaddress", pos, "the :user and :detail address parts");
        }
        let parts = ["all", "localpart", "domain", "user", "detail"]
            .iter()
            .filter(|k| a.has(k))
            .count();
        if parts > 1 {
            self.errors.push(SieveError {
                pos,
                message: "only one address part (:all, :localpart, :domain, :user, :detail)".into(),
            });
        }
        for tag in ["value", "count"] {
            if let Some(op) = a.value(tag) {
                self.need("relational", pos, "the :value and :count match types");
                let name = match op {
                    Argument::Strings(v) if v.len() == 1 => v[0].clone(),
                    _ => String::new(),
                };
                if matcher::Relation::from_name(&name).is_none() {
                    self.errors.push(SieveError {
                        pos,
                        message: format!(
                            ":{tag} takes one of \"gt\", \"ge\", \"lt\", \"le\", \"eq\", \"ne\""
                        ),
                    });
                }
            }
        }
        let kinds = ["is", "contains", "matches", "value", "count"]
            .iter()
            .filter(|k| a.has(k))
            .count();
        if kinds > 1 {
            self.errors.push(SieveError {
                pos,
                message: "only one of :is, :contains, :matches, :value, :count".into(),
            });
        }
    }

    fn test(&mut self, t: &Test) {
        let a = match split_args(&t.args, t.pos) {
            Ok(a) => a,
            Err(err) => return self.errors.push(err),
        };
        let r: Result<(), SieveError> = (|| {
            match t.name.as_str() {
                "true" | "false" => {}
                "not" => {
                    if t.tests.len() != 1 {
                        return e(t.pos, "not takes one test");
                    }
                }
                "allof" | "anyof" => {
                    if t.tests.is_empty() {
                        return e(t.pos, format!("{} needs a test list", t.name));
                    }
                }
                "exists" => {
                    strings(a.positional.first(), "a header list", t.pos)?;
                }
                "size" => {
                    if a.has("over") == a.has("under") {
                        return e(t.pos, "size needs :over or :under");
                    }
                    if !matches!(
                        a.value("over").or(a.value("under")),
                        Some(Argument::Number(_))
                    ) {
                        return e(t.pos, "size needs a number");
                    }
                }
                "mailboxexists" => {
                    self.need("mailbox", t.pos, "mailboxexists");
                    if !matches!(a.positional.as_slice(), [Argument::Strings(_)]) {
                        return e(t.pos, "mailboxexists takes one string list");
                    }
                }
                "body" => {
                    self.need("body", t.pos, "body");
                    self.check_match(&a, t.pos);
                    let transforms = ["raw", "text", "content"];
                    if transforms.iter().filter(|x| a.has(x)).count() > 1 {
                        return e(t.pos, "body takes one of :raw, :text, :content");
                    }
                    if a.has("content") && a.strings("content").is_none() {
                        return e(t.pos, ":content needs a list of types");
                    }
                    if !matches!(a.positional.as_slice(), [Argument::Strings(_)]) {
                        return e(t.pos, "body takes one string list");
                    }
                }
                "date" | "currentdate" => {
                    self.need("date", t.pos, &t.name.clone());
                    self.check_match(&a, t.pos);
                    self.check_index(&a, t.pos, t.name == "date")?;
                    check_date(&a, t.pos, t.name == "date")?;
                }
                "string" => {
                    self.need("variables", t.pos, "the string test");
                    self.check_match(&a, t.pos);
                    if !matches!(
                        a.positional.as_slice(),
                        [Argument::Strings(_), Argument::Strings(_)]
                    ) {
                        return e(t.pos, "string takes two string lists");
                    }
                }
                "header" | "address" | "envelope" | "hasflag" => {
                    if t.name == "envelope" {
                        self.need("envelope", t.pos, "envelope");
                    }
                    if t.name == "hasflag" {
                        self.need("imap4flags", t.pos, "hasflag");
                    }
                    self.check_match(&a, t.pos);
                    self.check_index(&a, t.pos, matches!(t.name.as_str(), "header" | "address"))?;
                    let want = if t.name == "hasflag" { 1 } else { 2 };
                    if a.positional.len() != want {
                        return e(t.pos, format!("{} takes {want} string list(s)", t.name));
                    }
                    for p in &a.positional {
                        if !matches!(p, Argument::Strings(_)) {
                            return e(t.pos, format!("{}: expected string lists", t.name));
                        }
                    }
                }
                other => return e(t.pos, format!("unknown test {other:?}")),
            }
            Ok(())
        })();
        if let Err(err) = r {
            self.errors.push(err);
        }
        for sub in &t.tests {
            self.test(sub);
        }
    }

    /// `:index N [:last]` (RFC 5260 §6): only on header, address and date tests, with a
    /// number from 1, and `:last` only with it.
    fn check_index(&mut self, a: &Args, pos: Pos, allowed: bool) -> Result<(), SieveError> {
        if !a.has("index") {
            if a.has("last") {
                return e(pos, ":last needs :index");
            }
            return Ok(());
        }
        self.need("index", pos, ":index");
        if !allowed {
            return e(pos, ":index is only for header, address and date tests");
        }
        match a.value("index") {
            Some(Argument::Number(n)) if *n >= 1 => Ok(()),
            _ => e(pos, ":index needs a number from 1"),
        }
    }

    pub(super) fn commands(&mut self, cmds: &[Command], top: bool) {
        let mut allow_require = top;
        let mut prev_if = false;
        for c in cmds {
            let a = match split_args(&c.args, c.pos) {
                Ok(a) => a,
                Err(err) => {
                    self.errors.push(err);
                    continue;
                }
            };
            let r: Result<(), SieveError> = (|| {
                match c.name.as_str() {
                    "require" => {
                        if !allow_require {
                            return e(c.pos, "require must come before other commands");
                        }
                        for ext in strings(a.positional.first(), "a list of extensions", c.pos)? {
                            if !EXTENSIONS.contains(&ext.as_str()) {
                                return e(c.pos, format!("unsupported extension {ext:?}"));
                            }
                            self.required.push(ext);
                        }
                    }
                    "if" | "elsif" | "else" => {
                        if c.name != "if" && !prev_if {
                            return e(c.pos, format!("{} without if", c.name));
                        }
                        if c.name == "else" && c.test.is_some() {
                            return e(c.pos, "else takes no test");
                        }
                        if c.name != "else" && c.test.is_none() {
                            return e(c.pos, format!("{} needs a test", c.name));
                        }
                        if let Some(t) = &c.test {
                            self.test(t);
                        }
                        self.commands(&c.block, false);
                    }
                    "stop" | "keep" | "discard" => {
                        if c.name == "keep" && a.has("flags") {
                            self.need("imap4flags", c.pos, ":flags");
                        }
                    }
                    "fileinto" => {
                        self.need("fileinto", c.pos, "fileinto");
                        if a.has("create") {
                            self.need("mailbox", c.pos, ":create");
                        }
                        if a.has("copy") {
                            self.need("copy", c.pos, ":copy");
                        }
                        if a.has("flags") {
                            self.need("imap4flags", c.pos, ":flags");
                        }
                        one_string(a.positional.first(), "a folder name", c.pos)?;
                    }
                    "redirect" => {
                        if a.has("copy") {
                            self.need("copy", c.pos, ":copy");
                        }
                        let to = one_string(a.positional.first(), "an address", c.pos)?;
                        if address_list(&to).len() != 1 {
                            return e(c.pos, format!("redirect: invalid address {to:?}"));
                        }
                    }
                    "reject" | "ereject" => {
                        self.need(&c.name.clone(), c.pos, &c.name.clone());
                        one_string(a.positional.first(), "a reason", c.pos)?;
                    }
                    "vacation" => {
                        self.need("vacation", c.pos, "vacation");
                        one_string(a.positional.first(), "a reason", c.pos)?;
                        if let Some(Argument::Number(d)) = a.value("days") {
                            if *d == 0 {
                                return e(c.pos, ":days must be at least 1");
                            }
                        }
                    }
                    "setflag" | "addflag" | "removeflag" => {
                        self.need("imap4flags", c.pos, &c.name.clone());
                        strings(a.positional.last(), "a flag list", c.pos)?;
                    }
                    "set" => {
                        self.need("variables", c.pos, "set");
                        check_set(&a, c.pos)?;
                    }
                    "include" => {
                        self.need("include", c.pos, "include");
                        check_include(&a, c.pos)?;
                    }
                    "return" => self.need("include", c.pos, "return"),
                    "addheader" | "deleteheader" => {
                        self.need("editheader", c.pos, &c.name.clone());
                        if c.name == "deleteheader" {
                            self.check_match(&a, c.pos);
                        }
                        check_editheader(&a, c.pos, c.name == "addheader")?;
                    }
                    "global" => {
                        self.need("include", c.pos, "global");
                        self.need("variables", c.pos, "global");
                        for n in strings(a.positional.first(), "variable names", c.pos)? {
                            if !variables::is_identifier(&n) {
                                return e(c.pos, format!("invalid variable name {n:?}"));
                            }
                        }
                    }
                    other => return e(c.pos, format!("unknown command {other:?}")),
                }
                if c.name != "if" && c.name != "elsif" && c.name != "else" && !c.block.is_empty() {
                    return e(c.pos, format!("{} takes no block", c.name));
                }
                Ok(())
            })();
            if let Err(err) = r {
                self.errors.push(err);
            }
            if c.name != "require" {
                allow_require = false;
            }
            prev_if = matches!(c.name.as_str(), "if" | "elsif");
        }
    }
}

/// Checks `set [modifiers] name value` (RFC 5229 §4): a constant identifier for a name,
/// one string for the value, at most one modifier of each precedence group.
fn check_set(a: &Args, pos: Pos) -> Result<(), SieveError> {
    let name = one_string(a.positional.first(), "a variable name", pos)?;
    one_string(a.positional.get(1), "a value", pos)?;
    if a.positional.len() != 2 {
        return e(pos, "set takes a name and a value");
    }
    let plain = name
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("global."))
        .map_or(name.as_str(), |_| &name[7..]);
    if !variables::is_identifier(plain) {
        return e(pos, format!("invalid variable name {name:?}"));
    }
    for (tag, _) in &a.tags {
        if !variables::MODIFIER_GROUPS
            .iter()
            .any(|g| g.contains(&tag.as_str()))
        {
            return e(pos, format!("set: unknown modifier :{tag}"));
        }
    }
    for group in variables::MODIFIER_GROUPS {
        if group.iter().filter(|m| a.has(m)).count() > 1 {
            return e(
                pos,
                format!("set: :{} cannot be combined", group.join(" and :")),
            );
        }
    }
    Ok(())
}

/// Checks `include [:personal|:global] [:once] [:optional] "name"` (RFC 6609 §3.2): one
/// location at most, a constant script name a ManageSieve client could give.
fn check_include(a: &Args, pos: Pos) -> Result<(), SieveError> {
    if a.has("personal") && a.has("global") {
        return e(pos, "include takes :personal or :global, not both");
    }
    for (tag, _) in &a.tags {
        if !["personal", "global", "once", "optional"].contains(&tag.as_str()) {
            return e(pos, format!("include: unknown tag :{tag}"));
        }
    }
    let name = one_string(a.positional.first(), "a script name", pos)?;
    if a.positional.len() != 1 {
        return e(pos, "include takes one script name");
    }
    if name.contains("${") {
        return e(pos, "include: the script name must be constant");
    }
    if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
        return e(pos, format!("include: invalid script name {name:?}"));
    }
    Ok(())
}

/// Checks `date [:zone Z|:originalzone] "header" "part" keys` or `currentdate [:zone Z]
/// "part" keys` (RFC 5260 §4-5): a known date part, a `+hhmm` zone, the argument count.
fn check_date(a: &Args, pos: Pos, of_field: bool) -> Result<(), SieveError> {
    let want = if of_field { 3 } else { 2 };
    if a.positional.len() != want
        || !a
            .positional
            .iter()
            .all(|p| matches!(p, Argument::Strings(_)))
    {
        return e(pos, format!("expected {want} string arguments"));
    }
    if a.has("zone") && a.has("originalzone") {
        return e(pos, ":zone and :originalzone cannot be combined");
    }
    if a.has("originalzone") && !of_field {
        return e(pos, "currentdate takes no :originalzone");
    }
    if let Some(z) = a.strings("zone") {
        if z.len() != 1 || date::parse_zone(&z[0]).is_none() {
            return e(pos, ":zone takes one zone such as \"+0100\"");
        }
    }
    let part = one_string(a.positional.get(want - 2), "a date part", pos)?;
    if !date::DATE_PARTS.contains(&part.to_ascii_lowercase().as_str()) {
        return e(pos, format!("unknown date part {part:?}"));
    }
    Ok(())
}

/// Checks `addheader [:last] "name" "value"` and `deleteheader [:index N [:last]]
/// [match] "name" [patterns]` (RFC 5293 §4-5): a field name (checked when constant), the
/// argument count, `:last` only with `:index` in deleteheader.
fn check_editheader(a: &Args, pos: Pos, add: bool) -> Result<(), SieveError> {
    let name = one_string(a.positional.first(), "a header field name", pos)?;
    if !name.contains("${") && !super::editheader::valid_field_name(&name) {
        return e(pos, format!("invalid header field name {name:?}"));
    }
    if add {
        one_string(a.positional.get(1), "a value", pos)?;
        if a.positional.len() != 2 || a.tags.iter().any(|(t, _)| t != "last") {
            return e(pos, "addheader [:last] takes a name and a value");
        }
        return Ok(());
    }
    if a.positional.len() > 2 {
        return e(pos, "deleteheader takes a name and optional value patterns");
    }
    if a.positional.len() == 2 {
        strings(a.positional.get(1), "value patterns", pos)?;
    }
    match (a.value("index"), a.has("last")) {
        (Some(Argument::Number(n)), _) if *n >= 1 => Ok(()),
        (Some(_), _) => e(pos, ":index needs a number from 1"),
        (None, true) => e(pos, ":last needs :index"),
        (None, false) => Ok(()),
    }
}
