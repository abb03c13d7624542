use super::*;

fn tmpq(name: &str) -> (PathBuf, Queue) {
    let dir = std::env::temp_dir().join(format!("postrider-q-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let q = Queue::open(&dir).unwrap();
    (dir, q)
}

#[test]
fn commit_load_update_remove() {
    let (dir, q) = tmpq("a");
    let mut s = q.create_spool().unwrap();
    s.write(b"Subject: x\r\n\r\nhi\r\n").unwrap();
    let id = s.id().to_string();
    let env = Envelope {
        size: 18,
        ..envelope(&id)
    };
    q.commit(s, &env).unwrap();
    assert_eq!(q.list().unwrap(), vec![id.clone()]);
    let loaded = q.load(&id).unwrap();
    assert_eq!(
        loaded.stored.as_deref().map(|t| t.split(':').next()),
        Some(Some("18"))
    );
    let env = loaded;
    assert!(q.verify().unwrap().is_empty());
    assert_eq!(q.read_message(&id).unwrap(), b"Subject: x\r\n\r\nhi\r\n");
    let mut e2 = env.clone();
    e2.recipients[0].status = RcptStatus::Delivered;
    assert!(q.update_envelope(&e2).unwrap());
    assert!(q.load(&id).unwrap().is_finished());
    q.remove(&id).unwrap();
    assert!(q.list().unwrap().is_empty());
    // An update racing with `queue delete` does not bring the message back.
    assert!(!q.update_envelope(&e2).unwrap());
    assert!(q.list().unwrap().is_empty());
    let _ = fs::remove_dir_all(&dir);
}

/// Queues `content` with the test envelope; returns its id.
fn queue_message(q: &Queue, content: &[u8]) -> String {
    let mut s = q.create_spool().unwrap();
    s.write(content).unwrap();
    let id = s.id().to_string();
    q.commit(s, &envelope(&id)).unwrap();
    id
}

fn envelope(id: &str) -> Envelope {
    Envelope {
        id: id.to_string(),
        arrival: 1,
        sender: "a@b".into(),
        client: "127.0.0.1".into(),
        helo: "h".into(),
        size: 0,
        auth: None,
        ret: None,
        envid: None,
        dkim: None,
        recipients: vec![Recipient::new("bob@x")],
        auth_results: None,
        quarantine: false,
        stored: None,
        binary: false,
        require_tls: false,
    }
}

#[test]
fn spent_files_are_reused_without_their_old_contents() {
    let (dir, q) = tmpq("r");
    let free = || fs::read_dir(dir.join("free")).unwrap().count();
    let huge = queue_message(&q, &vec![b'x'; 100_000]);
    q.remove(&huge).unwrap();
    assert_eq!(
        free(),
        1,
        "a large message file is deleted, its envelope kept"
    );
    let old = lock(&q.recycled).pop().unwrap();
    fs::remove_file(dir.join("free").join(old)).unwrap();
    let first = queue_message(&q, &vec![b'x'; 50_000]);
    q.remove_unsynced(&first).unwrap();
    q.sync_removals();
    assert_eq!(free(), 2, "message and envelope wait in free/");
    let mut s = q.create_spool().unwrap();
    s.write(b"Subject: small\r\n\r\nhi\r\n").unwrap();
    // The reused file still holds the old message past what was written.
    assert_eq!(s.head(64 * 1024).unwrap(), b"Subject: small\r\n\r\nhi\r\n");
    assert_eq!(s.contents().unwrap(), b"Subject: small\r\n\r\nhi\r\n");
    let second = s.id().to_string();
    q.commit(s, &envelope(&second)).unwrap();
    assert_eq!(free(), 0, "both files were taken from free/");
    assert_eq!(
        q.read_message(&second).unwrap(),
        b"Subject: small\r\n\r\nhi\r\n"
    );
    assert_eq!(q.load(&second).unwrap().id, second);
    assert!(q.verify().unwrap().is_empty());
    // A second queue object (another process) starts with the files left in free/.
    q.remove(&second).unwrap();
    let q2 = Queue::open(&dir).unwrap();
    assert_eq!(lock(&q2.recycled).len(), 2);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_server_keeps_spent_files_as_spares_in_their_own_directory() {
    let (dir, q) = tmpq("s");
    let spares = |sub: &str| {
        fs::read_dir(dir.join(sub))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(SPARE_PREFIX))
            .count()
    };
    // Only the server's start-up recovery turns spares on. (The server puts small
    // messages in the journal: here they take the path of larger ones.)
    assert_eq!(q.recover(Duration::ZERO).unwrap(), 0);
    q.journal.disable();
    let mut s = q.create_spool().unwrap();
    s.write(&vec![b'x'; 5000]).unwrap();
    let first = s.id().to_string();
    let mut long = envelope(&first);
    long.recipients = (0..20).map(|i| Recipient::new(format!("r{i}@x"))).collect();
    q.commit(s, &long).unwrap();
    let long_len = fs::metadata(q.env_path(&first)).unwrap().len();
    q.remove(&first).unwrap();
    assert_eq!((spares("msg"), spares("env")), (1, 1));
    assert_eq!(fs::read_dir(dir.join("free")).unwrap().count(), 0);
    assert!(
        q.list().unwrap().is_empty(),
        "spares are not queued messages"
    );

    let mut s = q.create_spool().unwrap();
    s.write(b"Subject: short\r\n\r\nhi\r\n").unwrap();
    let second = s.id().to_string();
    let short = envelope(&second);
    q.commit(s, &short).unwrap();
    assert_eq!((spares("msg"), spares("env")), (0, 0), "both spares reused");
    assert_eq!(
        q.read_message(&second).unwrap(),
        b"Subject: short\r\n\r\nhi\r\n"
    );
    // The envelope was padded with newlines rather than cut.
    assert_eq!(fs::metadata(q.env_path(&second)).unwrap().len(), long_len);
    let loaded = q.load(&second).unwrap();
    assert_eq!(loaded.recipients, short.recipients);
    assert_eq!(q.list().unwrap(), vec![second.clone()]);
    assert!(q.verify().unwrap().is_empty());

    // A restarted server adopts the spares left behind; recovery keeps them however old.
    q.remove(&second).unwrap();
    let q2 = Queue::open(&dir).unwrap();
    assert_eq!(q2.recover(Duration::ZERO).unwrap(), 0);
    q2.journal.disable();
    assert_eq!((spares("msg"), spares("env")), (1, 1));
    let adopted = lock(&q2.spares);
    assert_eq!((adopted.msg.len(), adopted.env.len()), (1, 1));
    assert_eq!(adopted.msg_bytes, 22);
    drop(adopted);
    // Spares removed by hand behind the server's back: new files are made instead.
    for sub in ["msg", "env"] {
        for e in fs::read_dir(dir.join(sub)).unwrap().flatten() {
            fs::remove_file(e.path()).unwrap();
        }
    }
    let third = queue_message(&q2, b"x");
    assert_eq!(q2.read_message(&third).unwrap(), b"x");
    q2.remove(&third).unwrap();
    assert_eq!((spares("msg"), spares("env")), (1, 1));
    // Another process (sendmail, queue delete) never takes them.
    let other = Queue::open(&dir).unwrap();
    let id = queue_message(&other, b"x");
    assert_eq!((spares("msg"), spares("env")), (1, 1));
    assert_eq!(q2.list().unwrap(), vec![id]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn verify_moves_an_envelope_whose_id_is_not_its_file_name() {
    let (dir, q) = tmpq("i");
    let id = queue_message(&q, b"one\r\n");
    // A reused file whose new contents never reached the disk: the old envelope
    // (another id) with a tag that matches the message file.
    let mut stale = q.load(&id).unwrap();
    stale.id = "0123456789ABCDEF".into();
    fs::write(q.env_path(&id), toml::to_string(&stale).unwrap()).unwrap();
    assert_eq!(q.verify().unwrap(), vec![id.clone()]);
    assert!(q.list().unwrap().is_empty());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn verify_moves_messages_cut_off_before_their_commit() {
    let (dir, q) = tmpq("v");
    let mut ids = Vec::new();
    for body in [&b"one\r\n"[..], b"two\r\n", b"three\r\n"] {
        let mut s = q.create_spool().unwrap();
        s.write(body).unwrap();
        let id = s.id().to_string();
        let env = Envelope {
            id: id.clone(),
            arrival: 1,
            sender: String::new(),
            client: "local".into(),
            helo: String::new(),
            size: body.len() as u64,
            auth: None,
            ret: None,
            envid: None,
            dkim: None,
            recipients: vec![Recipient::new("bob@x")],
            auth_results: None,
            quarantine: false,
            stored: None,
            binary: false,
            require_tls: false,
        };
        q.commit(s, &env).unwrap();
        ids.push(id);
    }
    // A crash before the flush: a message file cut short, an envelope left empty.
    fs::write(q.msg_path(&ids[0]), b"on").unwrap();
    fs::write(q.env_path(&ids[1]), b"").unwrap();
    let mut moved = q.verify().unwrap();
    moved.sort();
    let mut want = vec![ids[0].clone(), ids[1].clone()];
    want.sort();
    assert_eq!(moved, want);
    assert_eq!(q.list().unwrap(), vec![ids[2].clone()]);
    assert!(dir.join("corrupt").join(format!("{}.msg", ids[0])).exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_spool_touches_the_disk_only_when_its_buffer_is_full_or_at_the_commit() {
    let (dir, q) = tmpq("l");
    let files = || fs::read_dir(dir.join("msg")).unwrap().count();
    let mut s = q.create_spool().unwrap();
    assert!(s.buffers(SPOOL_BUFFER - 1) && !s.buffers(SPOOL_BUFFER));
    s.write(&vec![b'a'; 1000]).unwrap();
    assert_eq!(files(), 0, "a small message stays in memory");
    assert!(!s.has_file() && !s.buffers(SPOOL_BUFFER - 1000));
    s.write(&vec![b'b'; SPOOL_BUFFER]).unwrap();
    assert!(s.has_file(), "a full buffer is written out");
    assert_eq!(files(), 1);
    s.write(b"tail").unwrap();
    let mut want = vec![b'a'; 1000];
    want.extend(vec![b'b'; SPOOL_BUFFER]);
    want.extend(b"tail");
    assert_eq!(s.contents().unwrap(), want);
    let id = s.id().to_string();
    q.commit(s, &envelope(&id)).unwrap();
    assert_eq!(q.read_message(&id).unwrap(), want);
    assert!(q.verify().unwrap().is_empty());
    // Dropped before its commit: the file written out so far goes away.
    let mut s = q.create_spool().unwrap();
    s.write(&vec![b'c'; SPOOL_BUFFER]).unwrap();
    assert_eq!(files(), 2);
    drop(s);
    assert_eq!(files(), 1);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn dropped_spool_leaves_nothing() {
    let (dir, q) = tmpq("b");
    let mut s = q.create_spool().unwrap();
    s.write(b"partial").unwrap();
    drop(s);
    assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    assert!(q.list().unwrap().is_empty());
    assert!(!valid_id("../etc"));
    let _ = fs::remove_dir_all(&dir);
}

/// A server's queue (recovered, so the journal is adopted) in a new directory.
fn server_queue(name: &str) -> (PathBuf, Queue) {
    let (dir, _) = tmpq(name);
    let q = restarted_server(&dir);
    (dir, q)
}

/// The server's queue in `dir` after a restart (start-up recovery done).
fn restarted_server(dir: &Path) -> Queue {
    let q = Queue::open(dir).unwrap();
    q.recover(Duration::ZERO).unwrap();
    q
}

/// The segment files in the journal (without their done marks).
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir.join("journal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.len() == 16))
        .collect();
    out.sort();
    out
}

#[test]
fn the_server_journals_small_messages_and_other_processes_see_them() {
    let (dir, q) = server_queue("j1");
    let id = queue_message(&q, b"Subject: j\r\n\r\nbody\r\n");
    assert!(!q.env_path(&id).exists() && !q.msg_path(&id).exists());
    assert_eq!(segments(&dir).len(), 1);
    assert_eq!(q.list().unwrap(), vec![id.clone()]);
    assert_eq!(q.read_message(&id).unwrap(), b"Subject: j\r\n\r\nbody\r\n");
    let loaded = q.load(&id).unwrap();
    assert_eq!(loaded.recipients, envelope(&id).recipients);
    assert!(loaded.stored.is_some());
    assert!(q.verify().unwrap().is_empty());
    // `postrider queue` and `mailq` read it from the journal.
    let other = Queue::open(&dir).unwrap();
    assert_eq!(other.list().unwrap(), vec![id.clone()]);
    assert_eq!(other.load(&id).unwrap(), loaded);
    assert_eq!(
        other.read_message(&id).unwrap(),
        b"Subject: j\r\n\r\nbody\r\n"
    );
    // A large message still takes the file path.
    let big = queue_message(&q, &vec![b'x'; SPOOL_BUFFER + 1]);
    assert!(q.env_path(&big).exists() && q.msg_path(&big).exists());
    q.remove(&id).unwrap();
    assert_eq!(q.list().unwrap(), vec![big.clone()]);
    assert_eq!(other.list().unwrap(), vec![big]);
    // The current segment stays (it takes the next appends) with its done mark.
    assert_eq!(segments(&dir).len(), 1);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_restarted_server_keeps_journal_messages_but_not_done_or_torn_ones() {
    let (dir, q) = server_queue("j2");
    let ids: Vec<String> = (0..3)
        .map(|i| queue_message(&q, format!("Subject: {i}\r\n\r\nx\r\n").as_bytes()))
        .collect();
    q.remove_unsynced(&ids[1]).unwrap();
    q.sync_removals();
    drop(q);
    // A crash in the middle of a fourth record's append: half of it reached the disk.
    let segment = segments(&dir).pop().unwrap();
    let bytes = fs::read(&segment).unwrap();
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&bytes[..bytes.len() / 4]).unwrap();
    drop(file);

    let q = restarted_server(&dir);
    assert_eq!(q.list().unwrap(), vec![ids[0].clone(), ids[2].clone()]);
    assert_eq!(q.read_message(&ids[2]).unwrap(), b"Subject: 2\r\n\r\nx\r\n");
    // New messages go into a new segment; the old one goes once its records are done.
    let new = queue_message(&q, b"new");
    assert_eq!(segments(&dir).len(), 2);
    q.remove(&ids[0]).unwrap();
    q.remove(&ids[2]).unwrap();
    assert_eq!(segments(&dir).len(), 1);
    assert_eq!(q.list().unwrap(), vec![new.clone()]);

    // A record damaged after its commit ends what is read of its segment.
    drop(q);
    let segment = segments(&dir).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    // Inside its envelope (a reused segment goes on with another segment's bytes).
    bytes[100] ^= 1;
    fs::write(&segment, &bytes).unwrap();
    let q = restarted_server(&dir);
    assert!(q.list().unwrap().is_empty());
    assert!(
        segments(&dir).is_empty(),
        "a segment with nothing live is retired"
    );
    assert!(dir.join("journal/.spare").exists(), "and kept for reuse");
    // The next segment is the spare, its old records (another segment's) not read back.
    let again = queue_message(&q, b"again");
    assert!(!dir.join("journal/.spare").exists());
    drop(q);
    let q = restarted_server(&dir);
    assert_eq!(q.list().unwrap(), vec![again.clone()]);
    assert_eq!(q.read_message(&again).unwrap(), b"again");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_message_whose_envelope_changes_moves_to_files() {
    let (dir, q) = server_queue("j3");
    let id = queue_message(&q, b"Subject: deferred\r\n\r\nx\r\n");
    let mut env = q.load(&id).unwrap();
    env.recipients[0].status = RcptStatus::Deferred;
    env.recipients[0].attempts = 1;
    assert!(q.update_envelope(&env).unwrap());
    assert!(q.env_path(&id).exists() && q.msg_path(&id).exists());
    assert_eq!(q.load(&id).unwrap(), env);
    assert!(
        q.verify().unwrap().is_empty(),
        "the stored tag still matches"
    );
    drop(q);
    // Even if its done mark was lost, a restart finds it once, from its files.
    for e in fs::read_dir(dir.join("journal")).unwrap().flatten() {
        if e.path().extension().is_some() {
            fs::remove_file(e.path()).unwrap();
        }
    }
    let q = restarted_server(&dir);
    assert_eq!(q.list().unwrap(), vec![id.clone()]);
    assert_eq!(q.load(&id).unwrap().recipients[0].attempts, 1);
    assert_eq!(
        q.read_message(&id).unwrap(),
        b"Subject: deferred\r\n\r\nx\r\n"
    );
    assert!(segments(&dir).is_empty());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn queue_delete_from_another_process_reaches_a_journal_message() {
    let (dir, q) = server_queue("j4");
    let gone = queue_message(&q, b"one");
    let kept = queue_message(&q, b"two");
    let other = Queue::open(&dir).unwrap();
    other.remove(&gone).unwrap();
    assert_eq!(other.list().unwrap(), vec![kept.clone()]);
    assert_eq!(q.list().unwrap(), vec![kept.clone()]);
    assert!(q.load(&gone).is_err());
    drop(q);
    let q = restarted_server(&dir);
    assert_eq!(q.list().unwrap(), vec![kept]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn full_segments_give_way_to_new_ones_and_go_when_spent() {
    let (dir, q) = server_queue("j5");
    let message = vec![b'y'; SPOOL_BUFFER - 1];
    let count = (journal::SEGMENT_TARGET / message.len() as u64 + 2) as usize;
    let ids: Vec<String> = (0..count).map(|_| queue_message(&q, &message)).collect();
    assert_eq!(segments(&dir).len(), 2);
    assert_eq!(q.list().unwrap().len(), count);
    assert_eq!(q.read_message(&ids[count - 1]).unwrap(), message);
    for id in &ids[..count - 1] {
        q.remove_unsynced(id).unwrap();
    }
    q.sync_removals();
    assert_eq!(
        segments(&dir).len(),
        1,
        "the full segment went with its last record"
    );
    assert_eq!(q.list().unwrap(), vec![ids[count - 1].clone()]);
    let _ = fs::remove_dir_all(&dir);
}
