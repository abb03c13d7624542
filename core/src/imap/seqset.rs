//! Sequence sets (RFC 3501 §9 `sequence-set`): message numbers or UIDs, with `*`.

/// One sequence number or UID, or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A number.
    Num(u32),
    /// `*`.
    Star,
}

/// A sequence set: ranges, each inclusive in either order (RFC 3501 §9 `sequence-set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(SeqNum, SeqNum)>);

impl SeqSet {
    /// Whether `n` is in the set, with `star` the value of `*`.
    pub fn contains(&self, n: u32, star: u32) -> bool {
        let v = |s: SeqNum| match s {
            SeqNum::Num(x) => x,
            SeqNum::Star => star,
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
