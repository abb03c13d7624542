//! Sequence sets (RFC 3501 §9 `sequence-set`): message numbers or UIDs, with `*`.

/// One sequence number or UID, or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A number.
    Num(u32),
    /// `*`.
    Star,
    /// `$`, the saved search result (RFC 5182): only ever a whole set of its own
    /// ([`SeqSet::saved`]), replaced by the server before it is used.
    Saved,
}

/// A sequence set: ranges, each inclusive in either order (RFC 3501 §9 `sequence-set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(SeqNum, SeqNum)>);

impl SeqSet {
    /// `$`: the saved search result.
    pub fn saved() -> SeqSet {
        SeqSet(vec![(SeqNum::Saved, SeqNum::Saved)])
    }

    /// Whether this set is `$`.
    pub fn is_saved(&self) -> bool {
        self.0
            .iter()
            .any(|&(a, b)| a == SeqNum::Saved || b == SeqNum::Saved)
    }

    /// The set of these numbers (any order, duplicates allowed), as ascending ranges.
    pub fn from_numbers(numbers: &[u32]) -> SeqSet {
        let mut sorted = numbers.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
        for n in sorted {
            match ranges.last_mut() {
                Some((_, SeqNum::Num(hi))) if *hi + 1 == n => *hi = n,
                _ => ranges.push((SeqNum::Num(n), SeqNum::Num(n))),
            }
        }
        SeqSet(ranges)
    }

    /// The set written as IMAP writes it (`1:3,5`); empty for no numbers.
    pub fn to_wire(&self) -> String {
        let one = |s: SeqNum| match s {
            SeqNum::Num(x) => x.to_string(),
            SeqNum::Star => "*".into(),
            SeqNum::Saved => "$".into(),
        };
        self.0
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    one(a)
                } else {
                    format!("{}:{}", one(a), one(b))
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether `n` is in the set, with `star` the value of `*` (`$` holds nothing: it is
    /// replaced before a set is used).
    pub fn contains(&self, n: u32, star: u32) -> bool {
        let v = |s: SeqNum| match s {
            SeqNum::Num(x) => x,
            SeqNum::Star => star,
            SeqNum::Saved => 0,
        };
        self.0.iter().any(|&(a, b)| {
            let (lo, hi) = if v(a) <= v(b) {
                (v(a), v(b))
            } else {
                (v(b), v(a))
            };
            n >= lo && n <= hi
        })
    }
}
