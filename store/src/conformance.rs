//! The behaviour every [`Mailboxes`], [`AccountStore`] and [`QueueStore`] backend must
//! have, as checks a backend's tests run
//! (`store/tests/conformance.rs` for the files backend; the next backend calls
//! [`run_all`] the same way). Each check returns what went wrong instead of panicking,
//! so a failure names the rule broken.
//!
//! `open` makes a handle on the same storage each time it is called: checks call it again
//! to prove that what was acknowledged survives a restart.

use std::io;

use postrider_core::imap::command::StoreMode;
use postrider_core::imap::server::StoreError;
use postrider_core::imap::store::FetchPart;
use postrider_core::imf::datetime::WallClock;
use postrider_core::pop3::OpenError;

use crate::accounts::{AccountError, AccountStore, Login, Secret};
use crate::mailbox::{Arrival, Mailboxes, MessageChunks, RangeChunks, Stored};
use crate::queue::{Envelope, Recipient};
use crate::queue_store::QueueStore;
use crate::user_files::{UserFile, UserFiles};

/// A check's outcome: `Err` says which rule was broken.
pub type Check = Result<(), String>;

/// Makes a handle on the backend under test (the same storage every time).
pub type Open<'a> = &'a dyn Fn() -> Box<dyn Mailboxes>;

/// A check and the rule it checks.
type Rule = (&'static str, for<'a> fn(Open<'a>) -> Check);

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Check {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

fn store_err(what: &str) -> impl Fn(StoreError) -> String + '_ {
    move |e| format!("{what}: {} {}", e.code.unwrap_or_default(), e.text)
}

fn message(n: usize) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: message {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

/// Runs every check with users `alice`, `bob` and `carol` (fresh: no mail yet). Returns the
/// broken rules, empty when the backend conforms.
pub fn run_all(open: Open<'_>) -> Vec<String> {
    let checks: [Rule; 14] = [
        ("append allocates increasing UIDs", append_allocates_uids),
        ("flags persist", flags_persist),
        (
            "expunge removes and UIDs are never reused",
            expunge_never_reuses,
        ),
        ("folders: create, copy, move, rename, delete", folders),
        ("one account never sees another's mail", isolation),
        ("POP3 maildrop: one session, chunks, deletions", maildrop),
        (
            "messages read in chunks match FETCH and RFC822.SIZE",
            read_in_chunks,
        ),
        (
            "local delivery: batches, folders, flags, recovery",
            delivery,
        ),
        ("\\Recent: new messages are claimed once", recent),
        ("quotas: limits kept, usage counted per account", quotas),
        (
            "subscriptions: kept per account, even of deleted folders",
            subscriptions,
        ),
        (
            "MODSEQ: changes only grow it, and it survives reopening",
            modseqs,
        ),
        (
            "QRESYNC: UNCHANGEDSINCE guards a STORE, expunged UIDs are kept",
            conditional_store_and_vanished,
        ),
        (
            "special use given by CREATE: listed, kept by RENAME, gone with DELETE",
            created_special_use,
        ),
    ];
    checks
        .iter()
        .filter_map(|(name, check)| check(open).err().map(|e| format!("{name}: {e}")))
        .collect()
}

/// Appends to INBOX get increasing UIDs under one UIDVALIDITY, the view and STATUS agree,
/// FETCH returns the bytes, and all of it survives reopening.
pub fn append_allocates_uids(open: Open<'_>) -> Check {
    let s = open();
    let before = s.view("alice", "INBOX", false).map_err(store_err("view"))?;
    let mut uids = Vec::new();
    for n in 0..3 {
        let (validity, uid) = s
            .append("alice", "INBOX", &[], None, &message(n))
            .map_err(store_err("append"))?;
        ensure(validity == before.uid_validity, || {
            format!(
                "UIDVALIDITY changed from {} to {validity}",
                before.uid_validity
            )
        })?;
        uids.push(uid);
    }
    ensure(uids.windows(2).all(|w| w[0] < w[1]), || {
        format!("UIDs not increasing: {uids:?}")
    })?;
    let s = open();
    let view = s.view("alice", "INBOX", false).map_err(store_err("view"))?;
    let seen: Vec<u32> = view.messages.iter().map(|m| m.uid).collect();
    ensure(seen.ends_with(&uids), || {
        format!("view after reopening has {seen:?}, appended {uids:?}")
    })?;
    let status = s.status("alice", "INBOX").map_err(store_err("status"))?;
    let size: u64 = view.messages.iter().map(|m| m.size).sum();
    ensure(
        status.messages as usize == view.messages.len()
            && status.uid_next > uids[2]
            && status.size == size,
        || format!("STATUS {status:?} disagrees with the view (size {size})"),
    )?;
    let got = s
        .fetch("alice", "INBOX", &uids[1..2], FetchPart::Full)
        .map_err(store_err("fetch"))?;
    ensure(
        got.len() == 1 && got[0].uid == uids[1] && got[0].data.as_ref() == message(1),
        || format!("FETCH of UID {} gave {got:?}", uids[1]),
    )
}

/// A message read chunk by chunk (a streamed FETCH) is the one FETCH returns, as long as
/// RFC822.SIZE says, a range of it is that range, and an expunged UID is an error.
pub fn read_in_chunks(open: Open<'_>) -> Check {
    let s = open();
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..20_000 {
        big.extend_from_slice(format!("line {i}\nFrom the start\r\n").as_bytes());
    }
    let (_, uid) = s
        .append("alice", "INBOX", &[], None, &big)
        .map_err(store_err("append"))?;
    let read_all = |start: u64, len: u64| -> Result<Vec<u8>, String> {
        let inner = s
            .open_message("alice", "INBOX", uid)
            .map_err(store_err("open_message"))?;
        let mut chunks = RangeChunks::new(inner, start, len);
        let mut out = Vec::new();
        while let Some(c) = chunks.next_chunk().map_err(|e| e.to_string())? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    };
    let whole = read_all(0, u64::MAX)?;
    let fetched = s
        .fetch("alice", "INBOX", &[uid], FetchPart::Full)
        .map_err(store_err("fetch"))?;
    ensure(
        fetched.len() == 1 && fetched[0].data.as_ref() == whole,
        || format!("chunks ({} octets) differ from FETCH", whole.len()),
    )?;
    let view = s.view("alice", "INBOX", false).map_err(store_err("view"))?;
    let size = view.messages.iter().find(|m| m.uid == uid).map(|m| m.size);
    ensure(size == Some(whole.len() as u64), || {
        format!("RFC822.SIZE {size:?}, {} octets read", whole.len())
    })?;
    let (_, small) = s
        .append("alice", "INBOX", &[], None, &message(7))
        .map_err(store_err("append"))?;
    let headers = s
        .fetch("alice", "INBOX", &[uid, small], FetchPart::Header)
        .map_err(store_err("fetch headers"))?;
    let got: Vec<&[u8]> = headers.iter().map(|m| m.data.as_ref()).collect();
    let want: [&[u8]; 2] = [
        b"Subject: big\r\n\r\n",
        b"From: a@example.org\r\nSubject: message 7\r\n\r\n",
    ];
    ensure(got == want, || {
        format!("two headers fetched at once gave {got:?}")
    })?;
    let part = read_all(70_000, 100_000)?;
    ensure(part == whole[70_000..170_000], || {
        format!("range 70000+100000 gave {} octets that differ", part.len())
    })?;
    s.expunge("alice", "INBOX", &[uid])
        .map_err(store_err("expunge"))?;
    ensure(s.open_message("alice", "INBOX", uid).is_err(), || {
        "an expunged message could still be opened".into()
    })
}

/// Local delivery: a batched delivery is there after the commit (and survives
/// reopening), a folder is created for it with its flags, and recovery after a crash
/// finds a delivery already made instead of making it twice.
pub fn delivery(open: Open<'_>) -> Check {
    let s = open();
    let flags = vec!["\\Flagged".to_string()];
    let arrival = |folder, queue_id, recovering| Arrival {
        user: "carol",
        folder,
        sender: "a@example.org",
        fields: b"Delivered-To: carol@example.org\r\n",
        message:
            b"Received: by mx.example.org with ESMTP id Q1\r\nSubject: delivered\r\n\r\nhello\r\n",
        when: WallClock::utc(1_700_000_000),
        flags: &flags,
        queue_id,
        recovering,
    };
    let mut batch = s.begin_batch();
    let stored = s
        .deliver(&arrival(None, "Q1", false), Some(batch.as_mut()))
        .map_err(|e| format!("deliver: {e}"))?;
    ensure(stored == Stored::Delivered("INBOX".into()), || {
        format!("{stored:?}")
    })?;
    ensure(!batch.take_touched().is_empty(), || {
        "the batch names no mailbox".into()
    })?;
    let failed = batch.commit();
    ensure(failed.is_empty(), || {
        format!("commit failed for {failed:?}")
    })?;
    let stored = s
        .deliver(&arrival(Some("Work"), "Q2", false), None)
        .map_err(|e| format!("deliver to Work: {e}"))?;
    ensure(stored == Stored::Delivered("Work".into()), || {
        format!("{stored:?}")
    })?;
    let s = open();
    let inbox = s.view("carol", "INBOX", false).map_err(store_err("view"))?;
    let work = s
        .view("carol", "Work", false)
        .map_err(store_err("view Work"))?;
    ensure(
        inbox.messages.len() == 1 && work.messages.len() == 1,
        || format!("INBOX {inbox:?}, Work {work:?}"),
    )?;
    ensure(work.messages[0].flags.contains(&flags[0]), || {
        format!(
            "Work's message lost its flags: {:?}",
            work.messages[0].flags
        )
    })?;
    let got = s
        .fetch("carol", "INBOX", &[inbox.messages[0].uid], FetchPart::Full)
        .map_err(store_err("fetch"))?;
    ensure(
        got.first()
            .is_some_and(|m| m.data.ends_with(b"Subject: delivered\r\n\r\nhello\r\n")),
        || format!("delivered message reads {got:?}"),
    )?;
    // A crash after this delivery: recovery finds it (by the queue id the message's
    // Received field carries).
    let again = s
        .deliver(&arrival(None, "Q1", true), None)
        .map_err(|e| format!("recovering: {e}"))?;
    ensure(matches!(again, Stored::AlreadyThere(_)), || {
        format!("a delivery made before the crash was made again: {again:?}")
    })
}

/// `\Recent` (RFC 3501 §2.3.2): the messages that arrived since the last claim are
/// recent for the session that claims them (SELECT), shown but not claimed by EXAMINE.
pub fn recent(open: Open<'_>) -> Check {
    let s = open();
    s.create("carol", "Recent").map_err(store_err("create"))?;
    let add = |n| {
        s.append("carol", "Recent", &[], None, &message(n))
            .map(|r| r.1)
    };
    let (a, b) = (
        add(60).map_err(store_err("append"))?,
        add(61).map_err(store_err("append"))?,
    );
    let peek = s
        .view("carol", "Recent", false)
        .map_err(store_err("view"))?;
    ensure(peek.recent == [a, b], || {
        format!("EXAMINE shows recent {:?}", peek.recent)
    })?;
    let first = s.view("carol", "Recent", true).map_err(store_err("view"))?;
    ensure(first.recent == [a, b], || {
        format!("first SELECT claims {:?}", first.recent)
    })?;
    let second = open()
        .view("carol", "Recent", true)
        .map_err(store_err("view"))?;
    ensure(second.recent.is_empty(), || {
        format!("a second SELECT claims {:?} again", second.recent)
    })?;
    let c = add(62).map_err(store_err("append"))?;
    let third = s.view("carol", "Recent", true).map_err(store_err("view"))?;
    ensure(third.recent == [c], || {
        format!("after new mail, SELECT claims {:?}", third.recent)
    })
}

/// Flags and keywords set, added and removed are kept across reopening.
pub fn flags_persist(open: Open<'_>) -> Check {
    let s = open();
    let (_, uid) = s
        .append("alice", "INBOX", &["\\Flagged".into()], None, &message(10))
        .map_err(store_err("append"))?;
    s.set_flags(
        "alice",
        "INBOX",
        &[uid],
        StoreMode::Add,
        &["\\Seen".into(), "work".into()],
    )
    .map_err(store_err("add flags"))?;
    s.set_flags(
        "alice",
        "INBOX",
        &[uid],
        StoreMode::Remove,
        &["\\Flagged".into()],
    )
    .map_err(store_err("remove flags"))?;
    let view = open()
        .view("alice", "INBOX", false)
        .map_err(store_err("view"))?;
    let flags = view
        .messages
        .iter()
        .find(|m| m.uid == uid)
        .map(|m| m.flags.clone())
        .unwrap_or_default();
    ensure(
        flags.contains(&"\\Seen".to_string())
            && flags.contains(&"work".to_string())
            && !flags.contains(&"\\Flagged".to_string()),
        || format!("flags after reopening: {flags:?}"),
    )
}

/// EXPUNGE removes exactly the messages named; a later append gets a UID above every
/// UID ever given.
pub fn expunge_never_reuses(open: Open<'_>) -> Check {
    let s = open();
    let (_, a) = s
        .append("alice", "INBOX", &[], None, &message(20))
        .map_err(store_err("append"))?;
    let (_, b) = s
        .append("alice", "INBOX", &[], None, &message(21))
        .map_err(store_err("append"))?;
    s.expunge("alice", "INBOX", &[b])
        .map_err(store_err("expunge"))?;
    let s = open();
    let view = s.view("alice", "INBOX", false).map_err(store_err("view"))?;
    let uids: Vec<u32> = view.messages.iter().map(|m| m.uid).collect();
    ensure(uids.contains(&a) && !uids.contains(&b), || {
        format!("after expunging {b}: {uids:?}")
    })?;
    let (_, c) = s
        .append("alice", "INBOX", &[], None, &message(22))
        .map_err(store_err("append"))?;
    ensure(c > b, || format!("UID {c} given after {b} was expunged"))
}

/// Folders are created, listed, copied and moved into (new UIDs in the target), renamed
/// and deleted; invalid names are refused.
pub fn folders(open: Open<'_>) -> Check {
    let s = open();
    s.create("alice", "Work/2026")
        .map_err(store_err("create"))?;
    let names: Vec<String> = s
        .list("alice", "", "*", false)
        .into_iter()
        .map(|e| e.name)
        .collect();
    ensure(
        names.iter().any(|n| n == "Work/2026") && names.iter().any(|n| n == "INBOX"),
        || format!("LIST * gave {names:?}"),
    )?;
    let (_, uid) = s
        .append("alice", "INBOX", &[], None, &message(30))
        .map_err(store_err("append"))?;
    let (to_validity, pairs) = s
        .copy("alice", "INBOX", &[uid], "Work/2026", false)
        .map_err(store_err("copy"))?;
    let target = s
        .view("alice", "Work/2026", false)
        .map_err(store_err("view target"))?;
    ensure(
        pairs.len() == 1
            && pairs[0].0 == uid
            && to_validity == target.uid_validity
            && target.messages.iter().any(|m| m.uid == pairs[0].1),
        || format!("COPY gave {pairs:?}, target holds {:?}", target.messages),
    )?;
    s.copy("alice", "INBOX", &[uid], "Work/2026", true)
        .map_err(store_err("move"))?;
    let inbox = s.view("alice", "INBOX", false).map_err(store_err("view"))?;
    ensure(!inbox.messages.iter().any(|m| m.uid == uid), || {
        format!("UID {uid} still in INBOX after MOVE")
    })?;
    s.rename("alice", "Work/2026", "Projects/2026")
        .map_err(store_err("rename"))?;
    let moved = s
        .status("alice", "Projects/2026")
        .map_err(store_err("status after rename"))?;
    ensure(moved.messages == 2, || {
        format!("renamed child has {} messages, not 2", moved.messages)
    })?;
    s.delete("alice", "Projects/2026")
        .map_err(store_err("delete"))?;
    ensure(s.status("alice", "Projects/2026").is_err(), || {
        "a deleted folder still answers STATUS".into()
    })?;
    for bad in [".hidden", "a/../b", "a//b", ""] {
        ensure(s.create("alice", bad).is_err(), || {
            format!("CREATE {bad:?} was accepted")
        })?;
    }
    Ok(())
}

/// Mail appended for one user is invisible to another, in INBOX, folders and POP3.
pub fn isolation(open: Open<'_>) -> Check {
    let s = open();
    s.create("alice", "Private").map_err(store_err("create"))?;
    s.append("alice", "Private", &[], None, &message(40))
        .map_err(store_err("append"))?;
    let bob = s.view("bob", "INBOX", false).map_err(store_err("view"))?;
    ensure(bob.messages.is_empty(), || {
        format!("bob's INBOX shows {} messages", bob.messages.len())
    })?;
    let names: Vec<String> = s
        .list("bob", "", "*", false)
        .into_iter()
        .map(|e| e.name)
        .collect();
    ensure(!names.iter().any(|n| n == "Private"), || {
        format!("bob lists {names:?}")
    })?;
    ensure(s.status("bob", "Private").is_err(), || {
        "bob reaches alice's folder".into()
    })?;
    let drop = s.open_maildrop("bob").map_err(|e| format!("{e:?}"))?;
    ensure(drop.listing().is_empty(), || {
        "bob's maildrop lists alice's mail".into()
    })
}

/// A limit set is read back (after reopening too) for that account only; usage adds up
/// every folder's messages of the account and nobody else's.
pub fn quotas(open: Open<'_>) -> Check {
    let s = open();
    ensure(
        s.quota("carol").map_err(store_err("quota"))?.is_none(),
        || "a fresh account has a limit".into(),
    )?;
    s.set_quota("carol", Some(1 << 20))
        .map_err(store_err("set_quota"))?;
    s.set_quota("bob", Some(5))
        .map_err(store_err("set_quota"))?;
    let before = s.usage("carol").map_err(store_err("usage"))?;
    s.create("carol", "Quota").map_err(store_err("create"))?;
    let (a, b) = (message(70), message(71));
    s.append("carol", "INBOX", &[], None, &a)
        .map_err(store_err("append"))?;
    s.append("carol", "Quota", &[], None, &b)
        .map_err(store_err("append"))?;
    let s = open();
    let used = s.usage("carol").map_err(store_err("usage"))?;
    let want = before + (a.len() + b.len()) as u64;
    ensure(used == want, || format!("usage {used}, expected {want}"))?;
    ensure(
        s.quota("carol").map_err(store_err("quota"))? == Some(1 << 20)
            && s.quota("bob").map_err(store_err("quota"))? == Some(5),
        || "limits not kept".into(),
    )?;
    s.set_quota("carol", None).map_err(store_err("set_quota"))?;
    ensure(
        s.quota("carol").map_err(store_err("quota"))?.is_none(),
        || "a removed limit stays".into(),
    )?;
    s.set_quota("bob", None).map_err(store_err("set_quota"))
}

/// Every message has a MODSEQ no greater than the folder's HIGHESTMODSEQ; a flag change
/// gives the changed message a greater one (the others keep theirs), a STORE that
/// changes nothing gives none, an expunge raises HIGHESTMODSEQ; all of it after
/// reopening too (RFC 7162).
pub fn modseqs(open: Open<'_>) -> Check {
    let s = open();
    s.create("bob", "Mods").map_err(store_err("create"))?;
    let mut uids = Vec::new();
    for n in 80..83 {
        let (_, uid) = s
            .append("bob", "Mods", &[], None, &message(n))
            .map_err(store_err("append"))?;
        uids.push(uid);
    }
    let view = |s: &dyn Mailboxes| s.view("bob", "Mods", false).map_err(store_err("view"));
    let modseq_of = |v: &postrider_core::imap::store::MailboxView, uid: u32| {
        v.messages
            .iter()
            .find(|m| m.uid == uid)
            .map_or(0, |m| m.modseq)
    };
    let v1 = view(&*s)?;
    ensure(
        v1.messages
            .iter()
            .all(|m| m.modseq > 0 && m.modseq <= v1.highest_modseq),
        || format!("MODSEQs {v1:?}"),
    )?;
    let seen = ["\\Seen".to_string()];
    s.set_flags("bob", "Mods", &uids[1..2], StoreMode::Add, &seen)
        .map_err(store_err("set_flags"))?;
    let s = open();
    let v2 = view(&*s)?;
    ensure(
        v2.highest_modseq > v1.highest_modseq
            && modseq_of(&v2, uids[1]) > v1.highest_modseq
            && modseq_of(&v2, uids[0]) == modseq_of(&v1, uids[0])
            && modseq_of(&v2, uids[2]) == modseq_of(&v1, uids[2]),
        || format!("after a flag change: {v1:?} then {v2:?}"),
    )?;
    s.set_flags("bob", "Mods", &uids[1..2], StoreMode::Add, &seen)
        .map_err(store_err("set_flags"))?;
    let v3 = view(&*s)?;
    ensure(v3.highest_modseq == v2.highest_modseq, || {
        format!(
            "a STORE that changed nothing: {} then {}",
            v2.highest_modseq, v3.highest_modseq
        )
    })?;
    s.expunge("bob", "Mods", &uids[2..])
        .map_err(store_err("expunge"))?;
    let v4 = view(&*open())?;
    ensure(
        v4.highest_modseq > v3.highest_modseq && modseq_of(&v4, uids[1]) == modseq_of(&v3, uids[1]),
        || format!("after an expunge: {} then {v4:?}", v3.highest_modseq),
    )
}

/// A STORE with UNCHANGEDSINCE leaves alone (and reports) the messages changed after it
/// and reports each changed one's new MODSEQ; the UIDs an EXPUNGE or a MOVE removed are
/// told by `vanished` after a MODSEQ before the removal, not after it, also after
/// reopening (RFC 7162).
pub fn conditional_store_and_vanished(open: Open<'_>) -> Check {
    let s = open();
    s.create("bob", "Sync").map_err(store_err("create"))?;
    s.create("bob", "Away").map_err(store_err("create"))?;
    let mut uids = Vec::new();
    for n in 90..94 {
        let (_, uid) = s
            .append("bob", "Sync", &[], None, &message(n))
            .map_err(store_err("append"))?;
        uids.push(uid);
    }
    let v1 = s.view("bob", "Sync", false).map_err(store_err("view"))?;
    let base = v1.highest_modseq;
    let flagged = ["\\Flagged".to_string()];
    s.set_flags("bob", "Sync", &uids[..1], StoreMode::Add, &flagged)
        .map_err(store_err("set_flags"))?;
    let seen = ["\\Seen".to_string()];
    let r = s
        .store_flags("bob", "Sync", &uids[..2], StoreMode::Add, &seen, Some(base))
        .map_err(store_err("store_flags"))?;
    let second = r.flags.iter().find(|m| m.0 == uids[1]);
    ensure(
        r.modified == uids[..1]
            && r.flags.len() == 1
            && second.is_some_and(|m| m.1 == seen && m.2 > base),
        || format!("UNCHANGEDSINCE {base}: {r:?}"),
    )?;
    let before_removal = s
        .view("bob", "Sync", false)
        .map_err(store_err("view"))?
        .highest_modseq;
    s.expunge("bob", "Sync", &uids[2..3])
        .map_err(store_err("expunge"))?;
    s.copy("bob", "Sync", &uids[3..4], "Away", true)
        .map_err(store_err("move"))?;
    let s = open();
    let gone = s
        .vanished("bob", "Sync", before_removal)
        .map_err(store_err("vanished"))?;
    ensure(gone == uids[2..], || {
        format!(
            "vanished after {before_removal}: {gone:?}, expected {:?}",
            &uids[2..]
        )
    })?;
    let top = s
        .view("bob", "Sync", false)
        .map_err(store_err("view"))?
        .highest_modseq;
    let none = s
        .vanished("bob", "Sync", top)
        .map_err(store_err("vanished"))?;
    ensure(none.is_empty(), || {
        format!("vanished after {top}: {none:?}")
    })
}

/// A folder made with special-use attributes lists them, keeps them when renamed and
/// after reopening, and a folder made again under a deleted one's name has none; other
/// accounts' folders are untouched.
pub fn created_special_use(open: Open<'_>) -> Check {
    let s = open();
    let uses = vec!["\\Archive".to_string()];
    s.create_special_use("dave", "Old mail", &uses)
        .map_err(store_err("create_special_use"))?;
    let attrs = |s: &dyn Mailboxes, user: &str, name: &str| {
        s.list(user, "", name, false)
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.attributes)
            .unwrap_or_default()
    };
    let has = |a: &[String]| a.iter().any(|x| x == "\\Archive");
    ensure(has(&attrs(&*s, "dave", "Old mail")), || {
        format!("after CREATE: {:?}", attrs(&*s, "dave", "Old mail"))
    })?;
    s.rename("dave", "Old mail", "Archive 2025")
        .map_err(store_err("rename"))?;
    let s = open();
    ensure(has(&attrs(&*s, "dave", "Archive 2025")), || {
        format!("after RENAME: {:?}", attrs(&*s, "dave", "Archive 2025"))
    })?;
    s.delete("dave", "Archive 2025")
        .map_err(store_err("delete"))?;
    s.create("dave", "Archive 2025")
        .map_err(store_err("create"))?;
    s.create("erin", "Old mail").map_err(store_err("create"))?;
    ensure(
        !has(&attrs(&*s, "dave", "Archive 2025")) && !has(&attrs(&*s, "erin", "Old mail")),
        || "a special use outlived its folder or crossed accounts".to_string(),
    )
}

/// Subscribed names are listed for their account only, a deleted folder's too.
pub fn subscriptions(open: Open<'_>) -> Check {
    let s = open();
    s.create("carol", "Subs/kept")
        .map_err(store_err("create"))?;
    s.subscribe("carol", "Subs/kept", true)
        .map_err(store_err("subscribe"))?;
    s.subscribe("carol", "Subs/never-made", true)
        .map_err(store_err("subscribe"))?;
    let s = open();
    let mine = s.subscriptions("carol");
    ensure(
        mine.contains(&"Subs/kept".to_string()) && mine.contains(&"Subs/never-made".to_string()),
        || format!("carol's subscriptions: {mine:?}"),
    )?;
    ensure(
        !s.subscriptions("bob")
            .iter()
            .any(|n| n.starts_with("Subs/")),
        || "bob sees carol's subscriptions".into(),
    )?;
    s.subscribe("carol", "Subs/never-made", false)
        .map_err(store_err("unsubscribe"))?;
    ensure(
        !s.subscriptions("carol")
            .contains(&"Subs/never-made".to_string()),
        || "unsubscribe did not take".into(),
    )
}

/// A maildrop lists INBOX, refuses a second session, serves a message in chunks ending
/// with the final `.` line, and removes what QUIT deletes, and nothing else.
pub fn maildrop(open: Open<'_>) -> Check {
    let s = open();
    s.append("bob", "INBOX", &[], None, &message(50))
        .map_err(store_err("append"))?;
    s.append("bob", "INBOX", &[], None, &message(51))
        .map_err(store_err("append"))?;
    let drop = s.open_maildrop("bob").map_err(|e| format!("{e:?}"))?;
    let listing = drop.listing();
    ensure(listing.len() == 2, || format!("listing {listing:?}"))?;
    ensure(
        matches!(s.open_maildrop("bob"), Err(OpenError::InUse)),
        || "a second session was let in".into(),
    )?;
    let mut chunks = drop.stream(1, None).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    while let Some(c) = chunks.next_chunk().map_err(|e| e.to_string())? {
        bytes.extend_from_slice(&c);
    }
    ensure(
        bytes.ends_with(b"\r\n.\r\n") && bytes.windows(10).any(|w| w == b"message 51"),
        || format!("RETR 2 gave {:?}", String::from_utf8_lossy(&bytes)),
    )?;
    drop.commit(&[0]).map_err(|e| e.to_string())?;
    std::mem::drop(drop);
    let view = open()
        .view("bob", "INBOX", false)
        .map_err(store_err("view"))?;
    ensure(view.messages.len() == 1, || {
        format!(
            "{} messages left after deleting 1 of 2",
            view.messages.len()
        )
    })
}

/// The behaviour every [`AccountStore`] that manages its own accounts must have, with a
/// fresh store: add, log in (right, wrong and unknown), refuse a second add, change the
/// password, list and delete. Returns the broken rules.
pub fn account_rules(store: &dyn AccountStore) -> Vec<String> {
    let pw = |p: &str| Secret::new(p.to_string());
    let mut broken = Vec::new();
    let mut check = |ok: bool, rule: &str| {
        if !ok {
            broken.push(rule.to_string());
        }
    };
    check(store.add("carol", &pw("one")).is_ok(), "add a new account");
    check(store.exists("carol"), "an added account exists");
    check(
        store.login("carol", &pw("one")) == Login::Valid("carol".into()),
        "the right password logs in",
    );
    check(
        store.login("carol", &pw("two")) == Login::Invalid,
        "a wrong password is refused",
    );
    check(
        store.login("nobody-here", &pw("one")) == Login::Invalid,
        "an unknown name is refused like a wrong password",
    );
    check(
        matches!(store.add("carol", &pw("x")), Err(AccountError::Exists(_))),
        "a second add of one name is refused",
    );
    check(store.passwd("carol", &pw("two")).is_ok(), "passwd");
    check(
        store.login("carol", &pw("one")) == Login::Invalid
            && store.login("carol", &pw("two")) == Login::Valid("carol".into()),
        "passwd replaces the password",
    );
    check(
        store.list().is_ok_and(|l| l.contains(&"carol".to_string())),
        "list names the account",
    );
    check(
        store.system_user("carol").is_none() || store.is_system(),
        "virtual accounts have no system user",
    );
    check(store.delete("carol").is_ok(), "delete");
    check(!store.exists("carol"), "a deleted account is gone");
    check(
        store.login("carol", &pw("two")) == Login::Invalid,
        "a deleted account cannot log in",
    );
    broken
}

/// Makes a handle on the queue under test (the same storage every time).
pub type OpenQueue<'a> = &'a dyn Fn() -> Box<dyn QueueStore>;

/// The behaviour every [`QueueStore`] must have, with a fresh queue: a committed message
/// is listed with its envelope and bytes after reopening, one dropped before its commit
/// leaves nothing, envelope updates stick until the message is removed, removals are
/// durable, and flush requests and notes pass between processes. Returns the broken
/// rules.
pub fn queue_rules(open: OpenQueue<'_>) -> Vec<String> {
    let mut broken = Vec::new();
    if let Err(e) = queue_round_trip(open) {
        broken.push(e);
    }
    let q = open();
    let dropped = q.create_spool().and_then(|mut s| {
        s.write(&[b'x'; 200_000])?;
        Ok(s.id().to_string())
    });
    match dropped {
        Ok(id) if open().list().is_ok_and(|l| !l.contains(&id)) => {}
        other => broken.push(format!(
            "a spool dropped before its commit is listed: {other:?}"
        )),
    }
    let _ = q.request_flush();
    let asked = open().take_flush_request();
    if !asked || open().take_flush_request() {
        broken.push("a flush request is seen once".into());
    }
    let _ = q.leave_note("hello runner");
    if open().take_notes() != ["hello runner"] {
        broken.push("a note left is taken back".into());
    }
    broken
}

fn queue_round_trip(open: OpenQueue<'_>) -> Check {
    let io = |what: &'static str| move |e: io::Error| format!("{what}: {e}");
    let q = open();
    let body = b"Subject: queued\r\n\r\nhello\r\n".repeat(10_000);
    let mut spool = q.create_spool().map_err(io("create_spool"))?;
    spool.write(&body).map_err(io("write"))?;
    let id = spool.id().to_string();
    let mut env = Envelope::local(
        &id,
        "a@example.org",
        vec![Recipient::new("b@example.org")],
        body.len() as u64,
        1,
    );
    spool.commit(&env).map_err(io("commit"))?;
    let q = open();
    ensure(q.list().map_err(io("list"))?.contains(&id), || {
        format!("{id} is not listed after its commit")
    })?;
    let loaded = q.load(&id).map_err(io("load"))?;
    ensure(
        loaded.recipients.len() == 1 && loaded.sender == "a@example.org",
        || format!("loaded envelope {loaded:?}"),
    )?;
    ensure(q.read_message(&id).map_err(io("read"))? == body, || {
        "the queued bytes differ from those written".into()
    })?;
    env.recipients.push(Recipient::new("c@example.org"));
    ensure(q.update_envelope(&env).map_err(io("update"))?, || {
        "update of a queued message said it was gone".into()
    })?;
    ensure(
        open().load(&id).map_err(io("load"))?.recipients.len() == 2,
        || "an envelope update did not stick".into(),
    )?;
    q.remove(&id).map_err(io("remove"))?;
    ensure(!open().list().map_err(io("list"))?.contains(&id), || {
        format!("{id} still listed after removal")
    })?;
    ensure(!q.update_envelope(&env).map_err(io("update"))?, || {
        "update of a removed message wrote it back".into()
    })?;
    let made = q.submit(
        "",
        vec![Recipient::new("d@example.org")],
        b"Subject: bounce\r\n\r\nx\r\n",
    );
    let made = made.map_err(io("submit"))?;
    ensure(open().list().map_err(io("list"))?.contains(&made), || {
        "a submitted message is not listed".into()
    })
}

/// The rules every [`UserFiles`] backend keeps, with users `alice` and `bob` (who have no
/// files yet). Returns the broken rules, empty when the backend conforms.
pub fn user_file_rules(files: &dyn UserFiles) -> Vec<String> {
    let check = || -> Check {
        for file in [UserFile::Forward, UserFile::Sieve, UserFile::VacationMemory] {
            let none = files.read("alice", file, 1024).map_err(|e| e.to_string())?;
            ensure(none.is_none(), || {
                format!("{file:?} exists before it was written")
            })?;
        }
        files
            .write("alice", UserFile::Sieve, b"keep;\n")
            .map_err(|e| format!("write: {e}"))?;
        files
            .write("alice", UserFile::VacationMemory, b"first")
            .map_err(|e| format!("write: {e}"))?;
        files
            .write("alice", UserFile::VacationMemory, b"second")
            .map_err(|e| format!("rewrite: {e}"))?;
        let read = |user, file, limit| files.read(user, file, limit).map_err(|e| e.to_string());
        ensure(
            read("alice", UserFile::Sieve, 1024)? == Some(b"keep;\n".to_vec()),
            || "the Sieve script written is not read back".into(),
        )?;
        ensure(
            read("alice", UserFile::VacationMemory, 1024)? == Some(b"second".to_vec()),
            || "a rewritten file does not hold the new bytes only".into(),
        )?;
        ensure(
            read("alice", UserFile::Sieve, 3)? == Some(b"kee".to_vec()),
            || "reading stops at the limit".into(),
        )?;
        ensure(read("bob", UserFile::Sieve, 1024)?.is_none(), || {
            "bob reads alice's Sieve script".into()
        })?;
        files
            .remove("alice", UserFile::Sieve)
            .map_err(|e| format!("remove: {e}"))?;
        ensure(read("alice", UserFile::Sieve, 1024)?.is_none(), || {
            "a removed file is still read".into()
        })
    };
    check()
        .err()
        .map(|e| format!("user files: {e}"))
        .into_iter()
        .collect()
}
