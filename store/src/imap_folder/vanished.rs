//! The UIDs expunged from a folder, each removal with its MODSEQ, kept for QRESYNC's
//! `VANISHED (EARLIER)` (RFC 7162 §3.2.5): one record per removal, in MODSEQ order. When
//! there are more than [`MAX_RECORDS`], the older half is merged into one record with the
//! newest of their MODSEQs, so the folder's history stays small and a client asking
//! about an old MODSEQ is told too much (allowed), never too little.

/// Records kept before the oldest are merged.
pub(crate) const MAX_RECORDS: usize = 256;

/// Inclusive UID ranges, ascending and apart.
type Ranges = Vec<(u32, u32)>;

/// The expunged UIDs of one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tombstones {
    /// (MODSEQ of the removal, its UIDs), ascending by MODSEQ.
    records: Vec<(u64, Ranges)>,
}

impl Tombstones {
    /// Records that `uids` were expunged at `modseq`.
    pub(crate) fn record(&mut self, modseq: u64, uids: &[u32]) {
        if uids.is_empty() {
            return;
        }
        self.records.push((modseq, ranges(uids.iter().copied())));
        self.records.sort_by_key(|r| r.0);
        if self.records.len() > MAX_RECORDS {
            let old: Vec<(u64, Ranges)> = self.records.drain(..MAX_RECORDS / 2).collect();
            let newest = old.last().map_or(0, |r| r.0);
            let uids = old.iter().flat_map(|r| expand(&r.1));
            self.records.insert(0, (newest, ranges(uids)));
        }
    }

    /// The UIDs expunged after `since`, ascending.
    pub(crate) fn since(&self, since: u64) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .records
            .iter()
            .filter(|r| r.0 > since)
            .flat_map(|r| expand(&r.1))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The index lines that hold them: `vanished<TAB>MODSEQ<TAB>1:4,7`.
    pub(crate) fn lines(&self) -> String {
        self.records
            .iter()
            .map(|(modseq, r)| format!("vanished\t{modseq}\t{}\n", wire(r)))
            .collect()
    }

    /// Takes back one record written by [`Tombstones::lines`] (a malformed one is
    /// ignored).
    pub(crate) fn read_line(&mut self, modseq: &str, set: &str) {
        let Ok(modseq) = modseq.parse::<u64>() else {
            return;
        };
        let mut r = Ranges::new();
        for part in set.split(',') {
            let (a, b) = part.split_once(':').unwrap_or((part, part));
            match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if a <= b && (a, b) != (0, 0) => r.push((a, b)),
                _ => return,
            }
        }
        self.records.push((modseq, r));
        self.records.sort_by_key(|r| r.0);
    }
}

/// The UIDs of some ranges.
fn expand(r: &Ranges) -> impl Iterator<Item = u32> + '_ {
    r.iter().flat_map(|&(a, b)| a..=b)
}

/// Ascending ranges of some UIDs (any order, duplicates allowed).
fn ranges(uids: impl Iterator<Item = u32>) -> Ranges {
    let mut sorted: Vec<u32> = uids.collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Ranges = Vec::new();
    for u in sorted {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(u) => *hi = u,
            _ => out.push((u, u)),
        }
    }
    out
}

/// `1:4,7`.
fn wire(r: &Ranges) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_are_told_after_their_modseq_and_survive_a_round_trip() {
        let mut t = Tombstones::default();
        t.record(5, &[3, 1, 2]);
        t.record(9, &[7]);
        assert_eq!(t.since(0), [1, 2, 3, 7]);
        assert_eq!(t.since(5), [7]);
        assert!(t.since(9).is_empty());
        let mut back = Tombstones::default();
        for line in t.lines().lines() {
            let parts: Vec<&str> = line.split('\t').collect();
            back.read_line(parts[1], parts[2]);
        }
        assert_eq!(back, t);
    }

    #[test]
    fn old_records_merge_into_one_that_tells_more_never_less() {
        let mut t = Tombstones::default();
        for i in 0..=MAX_RECORDS as u32 {
            t.record(u64::from(i) + 1, &[i * 2 + 1]);
        }
        assert!(t.records.len() <= MAX_RECORDS);
        // Everything removed after MODSEQ 10 is still named...
        let after: Vec<u32> = (10..=MAX_RECORDS as u32).map(|i| i * 2 + 1).collect();
        let told = t.since(10);
        assert!(after.iter().all(|u| told.contains(u)));
        // ...and the newest removals exactly.
        assert_eq!(t.since(MAX_RECORDS as u64), [MAX_RECORDS as u32 * 2 + 1]);
    }
}
