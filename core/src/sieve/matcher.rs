//! Sieve's match types and comparators (RFC 5228 §2.7, RFC 4790): `:is`, `:contains`,
//! `:matches`, and the relational `:value` and `:count` (RFC 5231), under
//! `i;ascii-casemap`, `i;octet` or `i;ascii-numeric`.

use std::cmp::Ordering;

use super::Args;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparator {
    Octet,
    CaseMap,
    Numeric,
}

/// A relational operator (RFC 5231 §5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    /// `"gt"`, `"ge"`, `"lt"`, `"le"`, `"eq"` or `"ne"` (without regard to case).
    pub(super) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "eq" => Relation::Eq,
            "ne" => Relation::Ne,
            _ => return None,
        })
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            Relation::Gt => o == Ordering::Greater,
            Relation::Ge => o != Ordering::Less,
            Relation::Lt => o == Ordering::Less,
            Relation::Le => o != Ordering::Greater,
            Relation::Eq => o == Ordering::Equal,
            Relation::Ne => o != Ordering::Equal,
        }
    }
}

/// The match type of a test.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Is,
    Contains,
    Matches,
    /// `:value "op"`: each value against each key.
    Value(Relation),
    /// `:count "op"`: how many values there are, against each key.
    Count(Relation),
}

/// A test's match type and comparator.
pub(super) struct Matcher {
    cmp: Comparator,
    pub(super) kind: Kind,
}

impl Matcher {
    pub(super) fn from(a: &Args) -> Self {
        let cmp = match a
            .strings("comparator")
            .and_then(|c| c.into_iter().next())
            .as_deref()
        {
            Some("i;octet") => Comparator::Octet,
            Some("i;ascii-numeric") => Comparator::Numeric,
            _ => Comparator::CaseMap,
        };
        let relation = |tag: &str| {
            a.strings(tag)
                .and_then(|v| v.into_iter().next())
                .and_then(|n| Relation::from_name(&n))
        };
        let kind = if a.has("contains") {
            Kind::Contains
        } else if a.has("matches") {
            Kind::Matches
        } else if let Some(r) = relation("value") {
            Kind::Value(r)
        } else if let Some(r) = relation("count") {
            Kind::Count(r)
        } else {
            Kind::Is
        };
        Self { cmp, kind }
    }

    /// Whether any of `values` matches any of `keys` (with `:count`, whether their number
    /// does).
    pub(super) fn any(&self, values: &[String], keys: &[String]) -> bool {
        if let Kind::Count(r) = self.kind {
            let n = values.len().to_string();
            return keys.iter().any(|k| r.holds(self.order(&n, k)));
        }
        values
            .iter()
            .any(|v| keys.iter().any(|k| self.matches(v, k)))
    }

    /// How `value` sorts against `key` under the comparator (RFC 4790 §9.1: under
    /// i;ascii-numeric a string that does not start with a digit is above every number).
    fn order(&self, value: &str, key: &str) -> Ordering {
        match self.cmp {
            Comparator::Numeric => numeric(value).cmp(&numeric(key)),
            Comparator::CaseMap => value.to_ascii_lowercase().cmp(&key.to_ascii_lowercase()),
            Comparator::Octet => value.as_bytes().cmp(key.as_bytes()),
        }
    }

    /// The match variables of a `:matches` of `value` against `key` under the comparator
    /// (None: no match; never for i;ascii-numeric, which has no substring matching).
    pub(super) fn captures(&self, value: &str, key: &str) -> Option<Vec<String>> {
        match self.cmp {
            Comparator::CaseMap => glob_captures(value, key, |a, b| a.eq_ignore_ascii_case(&b)),
            Comparator::Octet => glob_captures(value, key, |a, b| a == b),
            Comparator::Numeric => None,
        }
    }

    pub(super) fn matches(&self, value: &str, key: &str) -> bool {
        match self.kind {
            Kind::Value(r) | Kind::Count(r) => return r.holds(self.order(value, key)),
            Kind::Is if self.cmp == Comparator::Numeric => {
                return numeric(value) == numeric(key);
            }
            Kind::Is | Kind::Contains | Kind::Matches if self.cmp == Comparator::Numeric => {
                return false;
            }
            _ => {}
        }
        let (v, k) = if self.cmp == Comparator::CaseMap {
            (value.to_ascii_lowercase(), key.to_ascii_lowercase())
        } else {
            (value.to_string(), key.to_string())
        };
        match self.kind {
            Kind::Contains => v.contains(&k),
            Kind::Matches => glob(&v, &k),
            _ => v == k,
        }
    }
}

/// i;ascii-numeric's value of a string: its leading digits (None, "infinity", sorts
/// above every number: `Option`'s order puts None first, so it is mapped to the top).
fn numeric(s: &str) -> (bool, u128) {
    let d: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    match d.parse::<u128>() {
        Ok(n) if !d.is_empty() => (false, n),
        _ => (true, 0),
    }
}

/// One element of a `:matches` pattern.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum P {
    /// `*`: any sequence.
    Star,
    /// `?`: one character.
    One,
    /// A character to match (after a `\`, any character is literal).
    Lit(char),
}

/// A `:matches` pattern read into its elements.
pub(super) fn wildcards(pattern: &str) -> Vec<P> {
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '*' => P::Star,
            '?' => P::One,
            '\\' => P::Lit(chars.next().unwrap_or('\\')),
            c => P::Lit(c),
        });
    }
    pat
}

/// `:matches` with `*` (any sequence), `?` (one character) and `\` escapes, in
/// O(len(value) × len(pattern)) time whatever the pattern.
pub fn glob(value: &str, pattern: &str) -> bool {
    glob_with(value, &wildcards(pattern), &|a, b| a == b)
}

/// [`glob`] on a read pattern, characters compared by `same` (the comparator's rule).
pub(super) fn glob_with(value: &str, pat: &[P], same: &impl Fn(char, char) -> bool) -> bool {
    let v: Vec<char> = value.chars().collect();
    // Classic two-pointer wildcard matching with backtracking to the last star.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < v.len() {
        let hit = match pat.get(j) {
            Some(P::One) => true,
            Some(P::Lit(c)) => same(v[i], *c),
            _ => false,
        };
        if hit {
            i += 1;
            j += 1;
        } else if j < pat.len() && pat[j] == P::Star {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    while j < pat.len() && pat[j] == P::Star {
        j += 1;
    }
    j == pat.len()
}

/// Largest table [`glob_captures`] builds (value length × pattern length): 4 MB.
const MAX_CAPTURE_CELLS: usize = 4 * 1024 * 1024;

/// The match variables of `:matches` (None when `value` does not match `pattern`):
/// `${0}` the whole value, then what each `*` and `?` matched, left to right, each `*`
/// as short as lets the rest of the pattern match. `same` compares two characters under
/// the comparator. Time and memory O(len(value) × len(pattern)).
pub(super) fn glob_captures(
    value: &str,
    pattern: &str,
    same: impl Fn(char, char) -> bool,
) -> Option<Vec<String>> {
    let pat = wildcards(pattern);
    let v: Vec<char> = value.chars().collect();
    let (n, m) = (v.len(), pat.len());
    if (n + 1).saturating_mul(m + 1) > MAX_CAPTURE_CELLS {
        // Too big to table (a huge header against a long pattern): the match is decided
        // without captures, and only `${0}` is set.
        return glob_with(value, &pat, &same).then(|| vec![value.to_string()]);
    }
    // can[i * (m + 1) + j]: v[i..] matches pat[j..].
    let width = m + 1;
    let mut can = vec![false; (n + 1) * width];
    can[n * width + m] = true;
    for j in (0..m).rev() {
        for i in (0..=n).rev() {
            can[i * width + j] = match pat[j] {
                P::Star => can[i * width + j + 1] || (i < n && can[(i + 1) * width + j]),
                P::One => i < n && can[(i + 1) * width + j + 1],
                P::Lit(c) => i < n && same(v[i], c) && can[(i + 1) * width + j + 1],
            };
        }
    }
    if !can[0] {
        return None;
    }
    let mut captures = vec![value.to_string()];
    let mut i = 0;
    for j in 0..m {
        match pat[j] {
            P::Star => {
                let mut k = i;
                while !can[k * width + j + 1] {
                    k += 1;
                }
                captures.push(v[i..k].iter().collect());
                i = k;
            }
            P::One => {
                captures.push(v[i].to_string());
                i += 1;
            }
            P::Lit(_) => i += 1,
        }
    }
    Some(captures)
}
