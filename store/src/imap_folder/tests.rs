//! Tests of the folder cache: the index and its log, MODSEQs, offsets, expunge.

use super::*;
use std::io::Write;

/// A fresh directory with an mbox INBOX of two messages: (directory, mbox, index path).
fn two_messages(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("postrider-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let (mbox, index) = (dir.join("INBOX"), dir.join("INBOX.index"));
    fs::write(
        &mbox,
        "From a@b Thu Jan  1 00:00:10 1970\nSubject: one\n\n1\n\nFrom a@b Thu Jan  1 00:00:20 1970\nSubject: two\n\n2\n\n",
    )
    .unwrap();
    (dir, mbox, index)
}

#[test]
fn modseqs_replay_as_given_and_old_indexes_get_numbers() {
    let (dir, mbox, index) = two_messages("modseq");
    let counter = dir.join("uidvalidity");
    let mut f = Folder::load(mbox.clone(), index.clone(), &counter);
    f.sync().unwrap();
    f.log_flags(&[(2, vec!["kw".into()])]).unwrap();
    f.log_expunge(&[], &[]).unwrap();
    f.log_flags(&[(1, vec!["\\Seen".into()])]).unwrap();
    let seen = |f: &Folder| {
        (
            f.highest_modseq,
            f.entries
                .iter()
                .map(|e| (e.uid, e.modseq))
                .collect::<Vec<_>>(),
        )
    };
    let live = seen(&f);
    assert!(live.1.iter().all(|&(_, m)| m > 0 && m <= live.0));
    assert!(
        live.1[0].1 > live.1[1].1,
        "the later change has the greater MODSEQ"
    );
    // Read back from the snapshot and the log: the same numbers.
    let g = Folder::load(mbox.clone(), index.clone(), &counter);
    assert_eq!(seen(&g), live);
    // A snapshot and log written before MODSEQs were kept: the log's changes take
    // numbers as they are read, the messages left without one the next ones, and a
    // later save keeps them.
    fs::write(
        &index,
        "generation\t9\nuidvalidity\t5\nuidnext\t3\nrecent\t3\n1\tfp1\t10/0\t\n2\tfp2\t20/0\t\n",
    )
    .unwrap();
    fs::write(f.flag_log_path(9), "2\t\\Seen\n").unwrap();
    let mut old = Folder::load(mbox.clone(), index.clone(), &counter);
    assert_eq!(seen(&old), (2, vec![(1, 2), (2, 1)]));
    old.save().unwrap();
    let saved = Folder::load(mbox, index, &counter);
    assert_eq!(seen(&saved), (2, vec![(1, 2), (2, 1)]));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn flag_log_replays_whole_lines_and_drops_other_generations() {
    let (dir, mbox, index) = two_messages("flaglog");
    let mut f = Folder::load(mbox.clone(), index.clone(), &dir.join("uidvalidity"));
    f.sync().unwrap();
    assert_eq!(f.entries.len(), 2);
    let generation = f.generation;
    f.log_flags(&[(1, vec!["\\Seen".into()])]).unwrap();
    f.log_flags(&[
        (2, vec!["kw".into()]),
        (1, vec!["\\Seen".into(), "\\Flagged".into()]),
    ])
    .unwrap();
    // The index was not rewritten; a crash cut the next line short, and the log of an
    // older generation was left behind.
    let mut log = OpenOptions::new()
        .append(true)
        .open(f.flag_log_path(generation))
        .unwrap();
    log.write_all(b"2\t\\Dele").unwrap();
    let stale = f.flag_log_path(generation.wrapping_sub(1));
    fs::write(&stale, "1\t\\Deleted\n").unwrap();
    let mut g = Folder::load(mbox.clone(), index.clone(), &dir.join("uidvalidity"));
    g.sync().unwrap();
    let flags = |g: &Folder, uid: u32| {
        g.entries
            .iter()
            .find(|e| e.uid == uid)
            .map(|e| e.flags.clone())
            .unwrap()
    };
    assert_eq!(flags(&g, 1), ["\\Seen", "\\Flagged"]);
    assert_eq!(flags(&g, 2), ["kw"]);
    assert!(!stale.exists());
    // The load wrote a new snapshot and started a new log: later records are read.
    g.entries[1].flags = vec!["later".into()];
    g.log_flags(&[(2, vec!["later".into()])]).unwrap();
    let mut again = Folder::load(mbox.clone(), index.clone(), &dir.join("uidvalidity"));
    again.sync().unwrap();
    assert_eq!(flags(&again, 2), ["later"]);
    // A full save folds the log into a new generation and removes it.
    g.save().unwrap();
    assert!(!g.flag_log_path(generation).exists());
    let h = Folder::load(mbox, index, &dir.join("uidvalidity"));
    assert_eq!(flags(&h, 1), ["\\Seen", "\\Flagged"]);
    let _ = fs::remove_dir_all(&dir);
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("postrider-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// An INBOX holding `mbox` in a scratch directory, loaded and scanned.
fn scanned_folder(name: &str, mbox: &str) -> (PathBuf, Folder) {
    let dir = scratch(name);
    fs::write(dir.join("INBOX"), mbox).unwrap();
    (dir.clone(), reload(&dir))
}

/// The INBOX of `dir` as a restarted process finds it.
fn reload(dir: &Path) -> Folder {
    let mut f = Folder::load(dir.join("INBOX"), dir.join("INBOX.index"), &dir.join("uv"));
    f.sync().unwrap();
    f
}

fn append_to(dir: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.join("INBOX"))
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn uids(f: &Folder) -> Vec<u32> {
    f.entries.iter().map(|e| e.uid).collect()
}

fn message(subject: &str) -> String {
    format!("From a@b Thu Jan  1 00:00:10 1970\nSubject: {subject}\n\n{subject}\n\n")
}

#[test]
fn messages_read_together_are_the_messages_read_one_by_one() {
    let big = format!(
        "From a@b Thu Jan  1 00:00:10 1970\nSubject: big\n\n{}\n\n",
        ">From quoted\n".repeat(READ_RUN as usize / 12)
    );
    let no_body = "From a@b Thu Jan  1 00:00:10 1970\nSubject: no body\n\n";
    let mbox = [
        message("one"),
        message("two"),
        big,
        message("three"),
        no_body.to_string(),
        message(">From four"),
    ]
    .concat();
    let (dir, f) = scanned_folder("read-many", &mbox);
    assert_eq!(f.entries.len(), 6);
    for pick in [
        vec![0, 1, 2, 3, 4, 5],
        vec![0, 2, 5],
        vec![1, 3, 4],
        vec![2],
        vec![],
    ] {
        let entries: Vec<&Entry> = pick.iter().map(|&i| &f.entries[i]).collect();
        let whole: Vec<Vec<u8>> = entries.iter().map(|e| f.read(e).unwrap()).collect();
        let headers: Vec<Vec<u8>> = entries.iter().map(|e| f.read_header(e).unwrap()).collect();
        assert_eq!(f.read_many(&entries, false).unwrap(), whole, "{pick:?}");
        assert_eq!(f.read_many(&entries, true).unwrap(), headers, "{pick:?}");
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn messages_appended_to_a_scanned_folder_get_their_from_line_date() {
    let (dir, mut f) = scanned_folder("appended-date", &message("one"));
    append_to(
        &dir,
        "From a@b Fri Dec  4 20:10:00 2026\nSubject: two\n\n2\n\n",
    );
    f.sync().unwrap();
    let want = from_line_date("From a@b Fri Dec  4 20:10:00 2026").unwrap();
    assert_eq!(f.entries[1].internal_date.unix_secs, want);
    // An index that already holds the epoch for it is repaired at the next full scan.
    f.entries[1].internal_date = WallClock::utc(0);
    f.save().unwrap();
    assert_eq!(reload(&dir).entries[1].internal_date.unix_secs, want);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn uid_validity_is_never_issued_twice() {
    let dir = scratch("uidvalidity");
    let counter = dir.join("uidvalidity");
    let (mbox, index) = (dir.join("Box"), dir.join("Box.index"));
    fs::write(&mbox, "").unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        // DELETE + CREATE within one second, or an index lost: a fresh load each time.
        let mut f = Folder::load(mbox.clone(), index.clone(), &counter);
        f.sync().unwrap();
        seen.push(f.uid_validity);
        fs::remove_file(&index).unwrap();
    }
    assert!(seen.windows(2).all(|w| w[1] > w[0]), "{seen:?}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn appends_and_expunges_are_logged_and_survive_a_reload() {
    let (dir, mut f) = scanned_folder("index-log", &message("one"));
    let generation = f.generation;
    // Three more, two of them identical to each other: numbered from the log, the
    // snapshot left as it was.
    for s in ["dup", "two", "dup"] {
        append_to(&dir, &message(s));
        f.sync().unwrap();
    }
    f.entries[3].flags = vec!["\\Seen".into()];
    f.log_flags(&[(4, vec!["\\Seen".into()])]).unwrap();
    assert_eq!(
        f.generation, generation,
        "appends do not rewrite the snapshot"
    );
    assert_eq!(uids(&f), [1, 2, 3, 4]);
    // The first duplicate goes: the second one takes its plain fingerprint.
    f.expunge(&[2]).unwrap();
    assert_eq!(uids(&f), [1, 3, 4]);
    let dup = f.entries[2].fingerprint.clone();
    assert!(!dup.contains('-'), "{dup}");
    let g = reload(&dir);
    assert_eq!(uids(&g), [1, 3, 4]);
    assert_eq!(g.entries[2].fingerprint, dup);
    assert_eq!(g.entries[2].flags, ["\\Seen"]);
    assert_eq!(g.uid_next, 5);
    for (a, b) in f.entries.iter().zip(&g.entries) {
        assert_eq!(
            (a.from_offset, a.start, a.end),
            (b.from_offset, b.start, b.end)
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_expunge_logged_but_not_done_brings_the_messages_back_as_new() {
    let (dir, mut f) = scanned_folder("index-expunge-crash", &(message("a") + &message("b")));
    // A crash after the record, before the rename: the mbox still has both.
    f.log_expunge(&[1], &[]).unwrap();
    // UID 1 is never reused: its message comes back as 3, first in the file, so the
    // one after it is numbered anew to keep UIDs ascending.
    assert_eq!(uids(&reload(&dir)), [3, 4]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_expunge_that_cannot_write_its_copy_changes_nothing() {
    let (dir, mut f) = scanned_folder("index-expunge-fails", &(message("a") + &message("b")));
    let before = fs::read(dir.join("INBOX")).unwrap();
    // The copy's name is taken by a directory: the copy cannot be created.
    fs::create_dir(dir.join(".INBOX.imap.tmp")).unwrap();
    assert!(f.expunge(&[1]).is_err());
    assert_eq!(uids(&f), [1, 2]);
    assert_eq!(fs::read(dir.join("INBOX")).unwrap(), before);
    assert_eq!(uids(&reload(&dir)), [1, 2], "nothing was logged as removed");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_expunges_rename_is_made_durable_by_the_next_append_there() {
    let (dir, mut f) = scanned_folder("expunge-dir-sync", &(message("a") + &message("b")));
    f.expunge(&[1]).unwrap();
    assert!(
        deferred_dir_sync(&dir).is_some(),
        "the rename awaits a flush"
    );
    assert_eq!(uids(&reload(&dir)), [2]);
    // A delivery into the folder flushes the directory with its data.
    crate::mbox::deliver_entry(&dir.join("INBOX"), message("c").as_bytes()).unwrap();
    assert!(deferred_dir_sync(&dir).is_none());
    // So does the next EXPUNGE's flush, before its own rename.
    f.sync().unwrap();
    f.expunge(&[2]).unwrap();
    let first = deferred_dir_sync(&dir).unwrap();
    f.sync().unwrap();
    let last = f.entries.last().map(|e| e.uid).unwrap();
    f.expunge(&[last]).unwrap();
    let second = deferred_dir_sync(&dir).unwrap();
    assert!(
        second > first,
        "the earlier rename was flushed, the latest waits"
    );
    assert!(f.entries.is_empty());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn from_line_dates() {
    assert_eq!(
        from_line_date("From a@b Thu Jan  1 00:00:10 1970"),
        Some(10)
    );
}
