//! Sieve `variables` (RFC 5229): `${name}` and `${N}` references expanded in string
//! arguments, the `set` action with its modifiers, the match variables a successful
//! `:matches` leaves (`${0}` the whole value, `${1}`... each wildcard, each `*` as short
//! as the rest of the pattern allows, left to right), and the `string` test's source
//! values. With `include` (RFC 6609 §3.3-3.5), each script has its own variables but
//! those it declares `global` (or names `${global.name}`), which all scripts share.

use std::collections::{HashMap, HashSet};

use super::parse::Argument;
use super::Args;

/// Longest value a variable holds, in bytes (longer ones are cut at a character
/// boundary), as Pigeonhole's default: scripts have no loops, but `set "a" "${a}${a}"`
/// repeated would otherwise double without bound.
pub(super) const MAX_VALUE: usize = 4096;

/// Most match variables kept (`${0}` to `${99}`).
const MAX_MATCHED: usize = 100;

/// The variables of one script run.
#[derive(Debug, Default)]
pub(super) struct Variables {
    named: HashMap<String, String>,
    matched: Vec<String>,
    /// The names the running script declared `global`.
    global_names: HashSet<String>,
    /// The global variables, shared by every script of the run.
    globals: HashMap<String, String>,
}

/// A script's own variables, kept while a script it includes runs.
pub(super) struct Scope {
    named: HashMap<String, String>,
    matched: Vec<String>,
    global_names: HashSet<String>,
}

/// Whether `name` is a variable name `set` accepts: an identifier.
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `s` cut to at most [`MAX_VALUE`] bytes at a character boundary.
fn capped(mut s: String) -> String {
    if s.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Variables {
    /// `text` with its variable references replaced (RFC 5229 §3): `${name}` (case does not
    /// matter) and `${N}` (leading zeroes allowed); an unknown variable is empty, and
    /// text that is not a well-formed reference stays as it is.
    pub(super) fn expand(&self, text: &str) -> String {
        if !text.contains("${") {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            match after.find('}') {
                Some(end) if self.reference(&after[..end]).is_some() => {
                    out.push_str(self.reference(&after[..end]).unwrap_or_default());
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        capped(out)
    }

    /// The value a reference names, if it is a well-formed reference.
    fn reference(&self, name: &str) -> Option<&str> {
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = name.trim_start_matches('0').parse().unwrap_or(0);
            return Some(self.matched.get(n).map_or("", String::as_str));
        }
        let (table, key) = self.table_of(name)?;
        Some(table.get(&key).map_or("", String::as_str))
    }

    /// Which table a variable name is in, and its key there: `global.NAME` and names
    /// declared `global` are shared, the others the running script's own.
    fn table_of(&self, name: &str) -> Option<(&HashMap<String, String>, String)> {
        let lower = name.to_ascii_lowercase();
        if let Some(g) = lower.strip_prefix("global.") {
            return is_identifier(g).then(|| (&self.globals, g.to_string()));
        }
        if !is_identifier(name) {
            return None;
        }
        if self.global_names.contains(&lower) {
            Some((&self.globals, lower))
        } else {
            Some((&self.named, lower))
        }
    }

    /// `global "a" "b"`: these names are shared from now on in the running script.
    pub(super) fn declare_global(&mut self, names: &[String]) {
        self.global_names
            .extend(names.iter().map(|n| n.to_ascii_lowercase()));
    }

    /// Starts an included script: empty local variables, kept for [`Self::leave_script`].
    pub(super) fn enter_script(&mut self) -> Scope {
        Scope {
            named: std::mem::take(&mut self.named),
            matched: std::mem::take(&mut self.matched),
            global_names: std::mem::take(&mut self.global_names),
        }
    }

    /// Back in the including script, with its variables.
    pub(super) fn leave_script(&mut self, scope: Scope) {
        self.named = scope.named;
        self.matched = scope.matched;
        self.global_names = scope.global_names;
    }

    /// Expands every string of `a` (the `set` name is a constant identifier, unchanged).
    pub(super) fn expand_args(&self, a: &mut Args) {
        let expand_all = |arg: &mut Argument| {
            if let Argument::Strings(list) = arg {
                for s in list.iter_mut() {
                    *s = self.expand(s);
                }
            }
        };
        for (_, v) in a.tags.iter_mut() {
            if let Some(v) = v.as_mut() {
                expand_all(v);
            }
        }
        for p in a.positional.iter_mut() {
            expand_all(p);
        }
    }

    /// `set [modifiers] name value` (RFC 5229 §4), on already expanded arguments.
    pub(super) fn set(&mut self, a: &Args) {
        let Some((name, value)) = a.name_and_value() else {
            return;
        };
        let value = capped(apply_modifiers(value, a));
        let lower = name.to_ascii_lowercase();
        if let Some(g) = lower.strip_prefix("global.") {
            self.globals.insert(g.to_string(), value);
        } else if self.global_names.contains(&lower) {
            self.globals.insert(lower, value);
        } else {
            self.named.insert(lower, value);
        }
    }

    /// Keeps the match variables of a successful `:matches`.
    pub(super) fn set_matched(&mut self, captures: Vec<String>) {
        self.matched = captures.into_iter().take(MAX_MATCHED).map(capped).collect();
    }
}

/// The `set` modifiers in RFC 5229 §4.1's order: `:lower`/`:upper`, then
/// `:lowerfirst`/`:upperfirst`, then `:quotewildcard`, then `:length`.
fn apply_modifiers(value: &str, a: &Args) -> String {
    let mut v = value.to_string();
    if a.has("lower") {
        v = v.to_lowercase();
    } else if a.has("upper") {
        v = v.to_uppercase();
    }
    let first_changed = |v: &str, upper: bool| {
        let mut chars = v.chars();
        match chars.next() {
            Some(c) if upper => c.to_uppercase().chain(chars).collect(),
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        }
    };
    if a.has("lowerfirst") {
        v = first_changed(&v, false);
    } else if a.has("upperfirst") {
        v = first_changed(&v, true);
    }
    if a.has("quotewildcard") {
        let mut q = String::with_capacity(v.len());
        for c in v.chars() {
            if matches!(c, '*' | '?' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        v = q;
    }
    if a.has("length") {
        v = v.chars().count().to_string();
    }
    v
}

/// The modifier groups of RFC 5229 §4.1 (one of each group at most).
pub(super) const MODIFIER_GROUPS: [&[&str]; 4] = [
    &["lower", "upper"],
    &["lowerfirst", "upperfirst"],
    &["quotewildcard"],
    &["length"],
];

#[cfg(test)]
mod tests {
    use super::super::matcher::glob_captures;
    use super::*;

    fn caps(value: &str, pattern: &str) -> Option<Vec<String>> {
        glob_captures(value, pattern, |a, b| a.eq_ignore_ascii_case(&b))
    }

    fn joined(value: &str, pattern: &str) -> String {
        caps(value, pattern)
            .map(|c| c.join(":"))
            .unwrap_or_default()
    }

    /// Pigeonhole's match-variable vectors (tests/extensions/variables/match.svtest).
    #[test]
    fn match_variables_are_non_greedy_left_to_right() {
        let c = caps("frop.......frop.........frop....", "?*frop*").unwrap();
        assert_eq!(c[1..].concat(), "frop................frop....");
        assert_eq!(joined("toptoptop", "*top"), "toptoptop:toptop");
        assert_eq!(
            joined("klopfropstroptop", "*?op"),
            "klopfropstroptop:klopfropstrop:t"
        );
        assert_eq!(
            joined("klopfropstroptop", "*?op*"),
            "klopfropstroptop:k:l:fropstroptop"
        );
        assert_eq!(
            joined("klopfropstroptop", "*fr??*top"),
            "klopfropstroptop:klop:o:p:strop"
        );
        assert_eq!(joined("frop", "??op"), "frop:f:r");
        assert_eq!(
            joined("foo1234@foobar.example.com", "*??@foobar.example.com"),
            "foo1234@foobar.example.com:foo12:3:4"
        );
        assert_eq!(
            joined("d@example.com", "*?@example.com"),
            "d@example.com::d"
        );
        assert_eq!(
            joined("beter van niet?", "*\\?"),
            "beter van niet?:beter van niet"
        );
        assert_eq!(
            joined("coyote@ACME.Example.COM", "coyote@**.com"),
            "coyote@ACME.Example.COM::ACME.Example"
        );
        assert_eq!(caps("foo1234@example.com", "*??@foobar.example.com"), None);
        assert!(caps(&"a".repeat(300), &"*a".repeat(60)).is_some());
        // Too big to table: decided without captures, only ${0} (no 1 GB allocation).
        let long = "x".repeat(3_000_000);
        assert_eq!(caps(&long, "X*?"), Some(vec![long.clone()]));
        assert_eq!(caps(&long, "y*"), None);
    }

    #[test]
    fn references_expand_and_malformed_ones_stay() {
        let mut v = Variables::default();
        v.named.insert("company".into(), "ACME".into());
        v.matched = vec!["whole".into(), "one".into()];
        assert_eq!(
            v.expand("${Company} ${1} ${0001} ${2} ${}"),
            "ACME one one  ${}"
        );
        assert_eq!(
            v.expand("${a.b} ${x-y} ${unknown}end ${"),
            "${a.b} ${x-y} end ${"
        );
        assert_eq!(v.expand("$${company}}"), "$ACME}");
    }

    #[test]
    fn modifiers_apply_in_precedence_order() {
        let args = |tags: &[&str]| Args {
            tags: tags.iter().map(|t| (t.to_string(), None)).collect(),
            positional: Vec::new(),
        };
        assert_eq!(
            apply_modifiers("juMBlEd lETteRS", &args(&["lower", "upperfirst"])),
            "Jumbled letters"
        );
        assert_eq!(apply_modifiers("åbc", &args(&["upper", "length"])), "3");
        assert_eq!(
            apply_modifiers("a*b?", &args(&["quotewildcard"])),
            "a\\*b\\?"
        );
        assert_eq!(apply_modifiers("", &args(&["upperfirst"])), "");
        let mut v = Variables::default();
        v.named.insert("a".into(), "x".repeat(MAX_VALUE));
        assert_eq!(v.expand("${a}${a}").len(), MAX_VALUE);
    }
}
