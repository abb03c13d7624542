//! DNS-driven checks (SPF, DMARC) as machines: a check asks for one DNS answer at a time
//! ([`DnsStep::Ask`]) and ends with its result ([`DnsStep::Done`]); no callback crosses
//! into the world. The runtime answers each question with its resolver:
//!
//! ```text
//! let mut check = SpfCheck::mail_from(request);
//! let result = loop {
//!     match check.poll() {
//!         DnsStep::Ask(q) => check.answer(q, resolver.lookup(&q.name, q.rtype)),
//!         DnsStep::Done(r) => break r,
//!     }
//! };
//! ```
//!
//! Inside, a check is a pure evaluation run again over the answers collected so far
//! ([`Answers`]): it stops at the first answer it lacks, which becomes the next question.
//! Checks are bounded (SPF allows ten lookups), so evaluating again costs little.

use crate::dns::{LookupResult, RecordType};

/// One DNS question of a check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsQuestion {
    /// The name to look up.
    pub name: String,
    /// The record type.
    pub rtype: RecordType,
}

/// What a DNS-driven check wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsStep<T> {
    /// Look this up and give the result to the check's `answer`.
    Ask(DnsQuestion),
    /// The check is over.
    Done(T),
}

/// A check driven by DNS answers ([`crate::spf::SpfCheck`], [`crate::dmarc::DmarcCheck`]),
/// so that one loop in the runtime drives them all.
pub trait DnsCheck {
    /// What the check ends with.
    type Output;
    /// The next question, or the result once every answer it needs is known.
    fn poll(&mut self) -> DnsStep<Self::Output>;
    /// Gives the answer to a question from [`DnsCheck::poll`].
    fn answer(&mut self, question: DnsQuestion, result: LookupResult);
}

/// The answers a check has been given, and the first one it missed in its last run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    known: Vec<(DnsQuestion, LookupResult)>,
    missing: Option<DnsQuestion>,
    /// Lookups made by the evaluations (for tests that count them).
    asked: usize,
}

impl Answers {
    /// Records the answer to `question`.
    pub fn add(&mut self, question: DnsQuestion, result: LookupResult) {
        self.known.retain(|(q, _)| *q != question);
        self.known.push((question, result));
    }

    /// The answer to `name`/`rtype` if given; else remembers the question (the first one
    /// of a run) and reports a failure, which ends that run (its result is dropped).
    pub(crate) fn lookup(&mut self, name: &str, rtype: RecordType) -> LookupResult {
        self.asked += 1;
        let known = self
            .known
            .iter()
            .find(|(q, _)| q.rtype == rtype && q.name.eq_ignore_ascii_case(name));
        match known {
            Some((_, r)) => r.clone(),
            None => {
                if self.missing.is_none() {
                    self.missing = Some(DnsQuestion {
                        name: name.to_string(),
                        rtype,
                    });
                }
                LookupResult::Failed("not answered yet".into())
            }
        }
    }

    /// Whether the answer to `name`/`rtype` was given.
    pub(crate) fn knows(&self, name: &str, rtype: RecordType) -> bool {
        self.known
            .iter()
            .any(|(q, _)| q.rtype == rtype && q.name.eq_ignore_ascii_case(name))
    }

    /// Starts a run: nothing missing yet.
    pub(crate) fn begin(&mut self) {
        self.missing = None;
    }

    /// Ends a run: the question it could not answer, or `result` when none was missing.
    pub(crate) fn end<T>(&mut self, result: T) -> DnsStep<T> {
        match self.missing.take() {
            Some(q) => DnsStep::Ask(q),
            None => DnsStep::Done(result),
        }
    }

    /// How many lookups the evaluations made.
    pub fn asked(&self) -> usize {
        self.asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_asks_for_the_first_missing_answer_then_finishes() {
        let mut a = Answers::default();
        let run = |a: &mut Answers| {
            a.begin();
            let first = a.lookup("a.example", RecordType::Txt);
            let second = a.lookup("b.example", RecordType::A);
            a.end((first, second))
        };
        let DnsStep::Ask(q) = run(&mut a) else {
            panic!("nothing answered yet")
        };
        assert_eq!(q.name, "a.example");
        a.add(q, LookupResult::NxDomain);
        let DnsStep::Ask(q) = run(&mut a) else {
            panic!("second missing")
        };
        assert_eq!((q.name.as_str(), q.rtype), ("b.example", RecordType::A));
        a.add(q, LookupResult::NoData);
        assert_eq!(
            run(&mut a),
            DnsStep::Done((LookupResult::NxDomain, LookupResult::NoData))
        );
    }
}
