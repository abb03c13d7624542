//! aliases(5) parsing: `name: target, target, ...` with continuation lines and comments;
//! the target kinds of aliases(5) and forward(5); the list form of `:include:` files and
//! `.forward` files.
//!
//! This is the reading side only; expansion policy lives with the delivery agent.

use std::collections::BTreeMap;

/// One problem in an aliases file, with its line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AliasError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed aliases file: lower-cased names to their targets, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    entries: BTreeMap<String, Vec<String>>,
}

/// What a target of an alias, `:include:` file or `.forward` file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local name: expanded again through the aliases and `.forward`.
    Local(String),
    /// `\user`: that user's own mailbox, with no further redirection (forward(5)).
    Mailbox(String),
    /// An address in another domain: forwarded.
    Remote(String),
    /// `:include:/path`: a file of more targets, read at delivery time.
    Include(String),
    /// `/path`: a file the message is appended to in mbox format.
    File(String),
    /// `|command`: a command run through /bin/sh with the message on stdin.
    Program(String),
}

impl Target {
    /// Classifies one target as written. `is_local_domain` says whether an address's
    /// domain is delivered here (then `user@local.domain` is a local name).
    pub fn classify(raw: &str, is_local_domain: impl Fn(&str) -> bool) -> Target {
        let t = raw.trim();
        if let Some(cmd) = t.strip_prefix('|') {
            return Target::Program(cmd.trim().to_string());
        }
        if let Some(path) = t
            .get(..9)
            .filter(|p| p.eq_ignore_ascii_case(":include:"))
            .and_then(|_| t.get(9..))
        {
            return Target::Include(path.trim().to_string());
        }
        if t.starts_with('/') {
            return Target::File(t.to_string());
        }
        if let Some(user) = t.strip_prefix('\\') {
            let user = user.rsplit_once('@').map_or(user, |(l, _)| l);
            return Target::Mailbox(user.trim_matches('"').to_ascii_lowercase());
        }
        match t.rsplit_once('@') {
            Some((local, domain)) if !is_local_domain(domain) => {
                Target::Remote(format!("{local}@{domain}"))
            }
            Some((local, _)) => Target::Local(local.trim_matches('"').to_ascii_lowercase()),
            None => Target::Local(t.trim_matches('"').to_ascii_lowercase()),
        }
    }
}

/// Parses the text of a `:include:` or `.forward` file: targets separated by commas or
/// newlines, `#` comment lines skipped, double quotes protecting commas.
pub fn parse_target_list(text: &str) -> Vec<String> {
    let joined: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    split_targets(&joined.join(","))
}

/// Parses the text of a `:include:` file like [`parse_target_list`], keeping each target's
/// 1-based line number, so a problem can name its line without repeating the file's
/// contents (an included file may be one the sender must never see).
pub fn parse_target_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .flat_map(|(i, l)| split_targets(l).into_iter().map(move |t| (i + 1, t)))
        .collect()
}

/// Splits a target list at commas outside double quotes, trimming each target and removing
/// quotes around a whole target (`"|cmd args"`).
pub fn split_targets(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in list.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| {
            let t = t.trim();
            if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
                t[1..t.len() - 1].to_string()
            } else {
                t.to_string()
            }
        })
        .filter(|t| !t.is_empty())
        .collect()
}

impl Aliases {
    /// Parses aliases file text. Lines that are not `name: targets` are reported and
    /// skipped; later entries for the same name replace earlier ones (as Postfix warns).
    pub fn parse(text: &str) -> (Aliases, Vec<AliasError>) {
        let mut aliases = Aliases::default();
        let mut errors = Vec::new();
        // Join continuation lines (starting with whitespace) to their entry.
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match logical.last_mut() {
                    Some((_, l)) => {
                        l.push(' ');
                        l.push_str(line.trim());
                    }
                    None => errors.push(AliasError {
                        line: n + 1,
                        message: "continuation line without an entry".into(),
                    }),
                }
            } else {
                logical.push((n + 1, line.to_string()));
            }
        }
        for (line, text) in logical {
            let Some((name, targets)) = text.split_once(':') else {
                errors.push(AliasError {
                    line,
                    message: "expected \"name: target, ...\"".into(),
                });
                continue;
            };
            let name = name.trim().trim_matches('"').to_ascii_lowercase();
            if name.is_empty() || name.contains(char::is_whitespace) {
                errors.push(AliasError {
                    line,
                    message: format!("invalid alias name {name:?}"),
                });
                continue;
            }
            let targets = split_targets(targets);
            if targets.is_empty() {
                errors.push(AliasError {
                    line,
                    message: format!("alias {name:?} has no targets"),
                });
                continue;
            }
            aliases.entries.insert(name, targets);
        }
        (aliases, errors)
    }

    /// The targets of `name` (case-insensitive), if it is an alias.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.entries
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// Every alias with its targets, in name order (for building the indexed db).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of aliases.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_continuations_and_quotes() {
        let (a, e) = Aliases::parse(
            "# comment\nPostmaster: root\nteam: alice,\n  bob@x.test, \"|/bin/prog a, b\"\nbad line\n",
        );
        assert_eq!(a.get("POSTMASTER").unwrap(), ["root"]);
        assert_eq!(
            a.get("team").unwrap(),
            ["alice", "bob@x.test", "|/bin/prog a, b"]
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 5);
    }

    #[test]
    fn multibyte_text_where_include_would_end_is_a_local_name() {
        // Byte 9 falls inside "é": slicing there used to panic (a user's .forward could
        // stop delivery).
        assert_eq!(
            Target::classify("abcdefgh\u{e9}x", |_| true),
            Target::Local("abcdefgh\u{e9}x".into())
        );
        assert_eq!(
            Target::classify(":INCLUDE:/etc/list", |_| true),
            Target::Include("/etc/list".into())
        );
    }

    #[test]
    fn target_kinds() {
        let local = |d: &str| d.eq_ignore_ascii_case("a.test");
        let c = |t: &str| Target::classify(t, local);
        assert_eq!(c("Bob"), Target::Local("bob".into()));
        assert_eq!(c("bob@A.test"), Target::Local("bob".into()));
        assert_eq!(c("bob@b.test"), Target::Remote("bob@b.test".into()));
        assert_eq!(c("\\Carol"), Target::Mailbox("carol".into()));
        assert_eq!(c(":include:/etc/list"), Target::Include("/etc/list".into()));
        assert_eq!(
            c("/var/log/archive"),
            Target::File("/var/log/archive".into())
        );
        assert_eq!(
            c("|/usr/bin/vacation carol"),
            Target::Program("/usr/bin/vacation carol".into())
        );
        assert_eq!(
            parse_target_list("# me\n\\carol, \"|prog a, b\"\nbob@b.test\n"),
            ["\\carol", "|prog a, b", "bob@b.test"]
        );
    }

    #[test]
    fn target_lines_keep_their_line_numbers() {
        let got = parse_target_lines("# list\nalice, bob\n\n\"|cmd a, b\"\n");
        assert_eq!(
            got,
            vec![
                (2, "alice".to_string()),
                (2, "bob".to_string()),
                (4, "|cmd a, b".to_string())
            ]
        );
    }
}
