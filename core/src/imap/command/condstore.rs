//! The arguments CONDSTORE and QRESYNC (RFC 7162) add to SELECT/EXAMINE, FETCH and STORE:
//! `(CONDSTORE)`, `(QRESYNC (...))`, `(CHANGEDSINCE n [VANISHED])`, `(UNCHANGEDSINCE n)`.

use super::{Cur, SeqNum, SeqSet, R};

/// SELECT/EXAMINE parameters (RFC 4466 `select-params`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `CONDSTORE`: the session uses MODSEQs from now on.
    pub condstore: bool,
    /// `QRESYNC (...)`: what the client knew when it last had the mailbox.
    pub qresync: Option<Qresync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [(seq-set uid-set)]])` (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    /// The UIDVALIDITY the client's cache belongs to.
    pub uid_validity: u32,
    /// The last HIGHESTMODSEQ the client saw.
    pub modseq: u64,
    /// The UIDs the client knows (None: all up to the largest).
    pub known_uids: Option<SeqSet>,
    /// Sequence numbers and the UIDs the client believes they have, paired in order:
    /// where they still agree, nothing before was expunged.
    pub seq_match: Option<(SeqSet, SeqSet)>,
}

/// FETCH modifiers (RFC 7162 §3.1.4.1, §3.2.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchModifiers {
    /// `CHANGEDSINCE n`: only messages whose MODSEQ is above n.
    pub changed_since: Option<u64>,
    /// `VANISHED` (UID FETCH with QRESYNC): also the UIDs expunged since.
    pub vanished: bool,
}

/// A mod-sequence value as RFC 7162 allows it: 63 bits.
fn modseq(c: &mut Cur<'_>, zero_ok: bool) -> R<u64> {
    let n = c.number()?;
    if n > i64::MAX as u64 || (n == 0 && !zero_ok) {
        return Err("invalid mod-sequence".into());
    }
    Ok(n)
}

/// A set of plain numbers (no `*`, no `$`), as QRESYNC's UID lists must be.
fn plain_set(c: &mut Cur<'_>) -> R<SeqSet> {
    let set = c.seq_set()?;
    let plain = set.0.iter().all(|&(a, b)| {
        matches!(a, SeqNum::Num(x) if x > 0) && matches!(b, SeqNum::Num(y) if y > 0)
    });
    if plain {
        Ok(set)
    } else {
        Err("QRESYNC takes plain UID sets".into())
    }
}

/// ` (CONDSTORE)` / ` (QRESYNC (...))` after SELECT's mailbox, if there.
pub(super) fn select_params(c: &mut Cur<'_>) -> R<SelectParams> {
    let mut params = SelectParams::default();
    if !c.eat(b' ') {
        return Ok(params);
    }
    c.paren_list(false, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        match word.as_str() {
            "CONDSTORE" => params.condstore = true,
            "QRESYNC" => {
                c.sp()?;
                params.qresync = Some(qresync(c)?);
            }
            _ => return Err(format!("unknown SELECT parameter {word:?}")),
        }
        Ok(())
    })?;
    Ok(params)
}

/// `(uidvalidity modseq [known-uids [(seq-set uid-set)]])`.
fn qresync(c: &mut Cur<'_>) -> R<Qresync> {
    if !c.eat(b'(') {
        return Err("expected ( after QRESYNC".into());
    }
    let uid_validity = c.number()?;
    if uid_validity == 0 || uid_validity > u64::from(u32::MAX) {
        return Err("invalid UIDVALIDITY".into());
    }
    c.sp()?;
    let mut q = Qresync {
        uid_validity: uid_validity as u32,
        modseq: modseq(c, false)?,
        known_uids: None,
        seq_match: None,
    };
    if c.eat(b' ') {
        if c.peek() != Some(b'(') {
            q.known_uids = Some(plain_set(c)?);
            if !c.eat(b' ') {
                return close(c, q);
            }
        }
        if !c.eat(b'(') {
            return Err("expected (".into());
        }
        let seqs = plain_set(c)?;
        c.sp()?;
        let uids = plain_set(c)?;
        if !c.eat(b')') {
            return Err("expected )".into());
        }
        q.seq_match = Some((seqs, uids));
    }
    close(c, q)
}

fn close(c: &mut Cur<'_>, q: Qresync) -> R<Qresync> {
    if c.eat(b')') {
        Ok(q)
    } else {
        Err("expected ) after QRESYNC's arguments".into())
    }
}

/// ` (CHANGEDSINCE n [VANISHED])` after FETCH's items, if there.
pub(super) fn fetch_modifiers(c: &mut Cur<'_>) -> R<FetchModifiers> {
    let mut m = FetchModifiers::default();
    if !c.eat(b' ') {
        return Ok(m);
    }
    c.paren_list(false, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        match word.as_str() {
            "CHANGEDSINCE" => {
                c.sp()?;
                m.changed_since = Some(modseq(c, true)?);
            }
            "VANISHED" => m.vanished = true,
            _ => return Err(format!("unknown FETCH modifier {word:?}")),
        }
        Ok(())
    })?;
    if m.vanished && m.changed_since.is_none() {
        return Err("VANISHED needs CHANGEDSINCE".into());
    }
    Ok(m)
}

/// `(UNCHANGEDSINCE n) ` before STORE's item, if there.
pub(super) fn store_modifiers(c: &mut Cur<'_>) -> R<Option<u64>> {
    if c.peek() != Some(b'(') {
        return Ok(None);
    }
    let mut since = None;
    c.paren_list(false, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        if word != "UNCHANGEDSINCE" {
            return Err(format!("unknown STORE modifier {word:?}"));
        }
        c.sp()?;
        since = Some(modseq(c, true)?);
        Ok(())
    })?;
    c.sp()?;
    Ok(since)
}
