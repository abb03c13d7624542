//! The PostgreSQL backend against the storage conformance rules, each test on a database
//! of its own in the cluster `$POSTRIDER_PG_URL` names (`tests/pg/run.sh` starts a
//! throwaway one and runs these; without it they are ignored, not passed).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use postrider_store::aliases::AliasStore;
use postrider_store::conformance::{account_rules, queue_rules, run_all, user_file_rules};
use postrider_store::mailbox::Mailboxes;
use postrider_store::pg::{
    migrate, PgAccounts, PgAliases, PgMailboxes, PgQueue, PgSieveScripts, PgUserFiles, Pool,
    PoolConfig,
};
use postrider_store::queue_store::QueueStore;
use postrider_store::sieve_scripts::sieve_script_rules;

/// A fresh database in the test cluster; its pool, schema applied.
fn fresh_db(name: &str) -> Arc<Pool> {
    fresh_db_url(name).0
}

/// The same, with the database's URL (for more pools: more nodes).
fn fresh_db_url(name: &str) -> (Arc<Pool>, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::var("POSTRIDER_PG_URL").expect("POSTRIDER_PG_URL (run tests/pg/run.sh)");
    let db = format!(
        "t_{name}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = Pool::new(PoolConfig::new(&base)).unwrap();
    admin
        .get()
        .unwrap()
        .batch(&format!("CREATE DATABASE {db}"))
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => panic!("no database in {base}"),
    };
    let pool = Arc::new(Pool::new(PoolConfig::new(&url)).unwrap());
    migrate::migrate(&pool).unwrap();
    (pool, url)
}

/// Node `node`'s folders in the database at `url` (a pool of its own, as a node has).
fn mailboxes_node(url: &str, node: &str) -> PgMailboxes {
    PgMailboxes::new(Arc::new(Pool::new(PoolConfig::new(url)).unwrap()), node)
}

/// Node `node`'s view of the queue in the database at `url`.
fn queue_node(url: &str, node: &str) -> PgQueue {
    PgQueue::new(Arc::new(Pool::new(PoolConfig::new(url)).unwrap()), node)
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn accounts_conform() {
    let pool = fresh_db("accounts");
    let broken = account_rules(&PgAccounts::new(pool));
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn user_files_conform() {
    let pool = fresh_db("files");
    let broken = user_file_rules(&PgUserFiles::new(pool));
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn sieve_scripts_conform() {
    let pool = fresh_db("sieve_scripts");
    let broken = sieve_script_rules(&PgSieveScripts::new(pool));
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn aliases_are_replaced_whole_and_found_without_case() {
    let pool = fresh_db("aliases");
    let a = PgAliases::new(pool);
    let mut set = std::collections::BTreeMap::new();
    set.insert("Postmaster".to_string(), vec!["root".to_string()]);
    set.insert(
        "team".to_string(),
        vec!["alice".to_string(), "bob".to_string()],
    );
    a.replace_all(&set).unwrap();
    assert_eq!(a.lookup("postmaster"), Some(vec!["root".to_string()]));
    assert_eq!(a.lookup("TEAM").map(|t| t.len()), Some(2));
    set.remove("team");
    a.replace_all(&set).unwrap();
    assert!(!a.contains("team"));
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn migrations_run_once_from_many_nodes_at_once() {
    let pool = fresh_db("migrate");
    // Eight "nodes" opening the same database at once: one upgrades, all agree.
    let url_pool = pool.clone();
    let versions: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| migrate::migrate(&url_pool).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(versions.iter().all(|&v| v == migrate::MIGRATIONS.len()));
    let c = pool.get().unwrap();
    let rows = c.query("SELECT version FROM schema_version", &[]).unwrap();
    assert_eq!(rows.len(), 1);
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn mailboxes_conform() {
    let pool = fresh_db("mailboxes");
    let failures =
        run_all(&|| Box::new(PgMailboxes::new(pool.clone(), "node-a")) as Box<dyn Mailboxes>);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn two_nodes_appending_to_one_folder_get_unique_increasing_uids() {
    let (_, url) = fresh_db_url("uids");
    // Two nodes: a pool (connections) each.
    let nodes: Vec<PgMailboxes> = ["node-a", "node-b"]
        .iter()
        .map(|n| mailboxes_node(&url, n))
        .collect();
    let uids: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || {
                    (0..50)
                        .map(|i| {
                            let msg = format!("Subject: {i}\r\n\r\nbody\r\n");
                            node.append("alice", "INBOX", &[], None, msg.as_bytes())
                                .unwrap()
                                .1
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for each in &uids {
        assert!(
            each.windows(2).all(|w| w[0] < w[1]),
            "one node's UIDs went back: {each:?}"
        );
    }
    let mut all: Vec<u32> = uids.concat();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 100, "UIDs given twice");
    let view = nodes[1].view("alice", "INBOX", false).unwrap();
    assert_eq!(view.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), all);
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn queue_conforms() {
    let pool = fresh_db("queue");
    let broken =
        queue_rules(&|| Box::new(PgQueue::new(pool.clone(), "node-a")) as Box<dyn QueueStore>);
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn a_queue_entry_belongs_to_one_node_until_its_lease_runs_out() {
    let (_, url) = fresh_db_url("lease");
    let node = |n: &str| queue_node(&url, n);
    let (a, b) = (node("node-a"), node("node-b"));
    let id = a
        .submit(
            "",
            vec![postrider_store::queue::Recipient::new("x@example.org")],
            b"Subject: x\r\n\r\nx\r\n",
        )
        .unwrap();
    let short = std::time::Duration::from_millis(300);
    assert!(a.claim(&id, short).unwrap());
    assert!(!b.claim(&id, short).unwrap(), "two nodes own one entry");
    let env = b.load(&id).unwrap();
    assert!(
        !b.update_envelope(&env).unwrap(),
        "a node changed an entry it does not own"
    );
    assert!(a.update_envelope(&env).unwrap());
    // Node A dies: once its lease runs out, B takes the entry and finishes it.
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(b.claim(&id, short).unwrap());
    assert!(!a.claim(&id, short).unwrap());
    b.remove(&id).unwrap();
    assert!(b.list().unwrap().is_empty());
    a.release(&id);
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn batches_are_claimed_by_one_node_each_and_removed_together() {
    let (_, url) = fresh_db_url("batch");
    let node = |n: &str| queue_node(&url, n);
    let (a, b) = (node("node-a"), node("node-b"));
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let rcpt = vec![postrider_store::queue::Recipient::new("x@example.org")];
            a.submit("", rcpt, format!("Subject: {i}\r\n\r\nx\r\n").as_bytes())
                .unwrap()
        })
        .collect();
    let lease = std::time::Duration::from_secs(60);
    let first = a.claim_many(&ids[..4], lease).unwrap();
    assert_eq!(first.len(), 4);
    let second = b.claim_many(&ids, lease).unwrap();
    let mut second_sorted = second.clone();
    second_sorted.sort();
    assert_eq!(
        second_sorted,
        ids[4..].to_vec(),
        "a claimed entry was taken twice"
    );
    // Removed by A, not durable until its sync: A keeps the lease meanwhile.
    for id in &first {
        a.remove_unsynced(id).unwrap();
        a.release(id);
    }
    assert_eq!(a.list().unwrap().len(), 6);
    assert!(
        b.claim_many(&ids, lease).unwrap().len() == 2,
        "B took A's pending removals"
    );
    a.sync_removals();
    let mut left = a.list().unwrap();
    left.sort();
    assert_eq!(left, ids[4..].to_vec());
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn import_keeps_uids_flags_and_what_is_recent() {
    import_from("mbox", false);
    import_from("maildir", true);
}

/// `store import` of a files backend whose mailboxes are mbox files or Maildirs.
fn import_from(label: &str, maildir: bool) {
    use postrider_store::accounts::UsersFile;
    use postrider_store::mail_files::FilesMailboxes;
    use postrider_store::maildir::MaildirMailboxes;
    let dir = std::env::temp_dir().join(format!("postrider-import-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let users = Arc::new(UsersFile::new(&dir));
    users
        .add(
            "alice",
            &postrider_store::accounts::Secret::new(String::from("pw")),
        )
        .unwrap();
    let files: Box<dyn Mailboxes> = if maildir {
        Box::new(MaildirMailboxes::new(&dir, users))
    } else {
        Box::new(FilesMailboxes::new(&dir, users))
    };
    for n in 0..3 {
        let msg = format!("Subject: {n}\r\n\r\nx\r\n");
        files
            .append("alice", "INBOX", &["$K".into()], None, msg.as_bytes())
            .unwrap();
    }
    let before = files.view("alice", "INBOX", true).unwrap();
    let pool = fresh_db(&format!("import_{label}"));
    let first = postrider_store::pg::import::import(&pool, &dir).unwrap();
    assert_eq!((first.accounts, first.messages), (1, 3), "{label}");
    let again = postrider_store::pg::import::import(&pool, &dir).unwrap();
    assert_eq!(again, Default::default());
    let pg = PgMailboxes::new(pool, "node-a");
    let after = pg.view("alice", "INBOX", true).unwrap();
    assert_eq!(after.uid_validity, before.uid_validity, "{label}");
    assert_eq!(after.uid_next, before.uid_next, "{label}");
    assert_eq!(after.messages, before.messages, "{label}");
    assert_eq!(after.recent, Vec::<u32>::new(), "imported mail is not new");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn a_change_on_one_node_reaches_the_others_view_and_poll() {
    let (_, url) = fresh_db_url("notify");
    let node = |n: &str| mailboxes_node(&url, n);
    let (a, b) = (node("node-a"), node("node-b"));
    a.append("alice", "INBOX", &[], None, b"Subject: 1\r\n\r\nx\r\n")
        .unwrap();
    // Node B looks (IDLE's poll) until it trusts its cache.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        b.poll_view("alice", "INBOX", true).unwrap().messages.len(),
        1
    );
    assert_eq!(
        b.poll_view("alice", "INBOX", true).unwrap().messages.len(),
        1
    );
    a.append("alice", "INBOX", &[], None, b"Subject: 2\r\n\r\nx\r\n")
        .unwrap();
    // NOOP (view) sees a change committed elsewhere at once.
    let seen = b.view("alice", "INBOX", true).unwrap();
    assert_eq!(seen.messages.len(), 2);
    assert_eq!(seen.recent, vec![seen.messages[1].uid]);
    // IDLE's poll is told by the change notice.
    let (_, uid) = a
        .append("alice", "INBOX", &[], None, b"Subject: 3\r\n\r\nx\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let v = b.poll_view("alice", "INBOX", true).unwrap();
        if v.messages.len() == 3 {
            assert_eq!(v.recent, vec![uid], "the new message is claimed once");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "never seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(b
        .poll_view("alice", "INBOX", true)
        .unwrap()
        .recent
        .is_empty());
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn a_restarted_node_takes_back_the_pop3_locks_its_old_process_left() {
    use postrider_core::pop3::OpenError;
    let (_, url) = fresh_db_url("pop3lock");
    let node = |n: &str| mailboxes_node(&url, n);
    let (a, b) = (node("node-a"), node("node-b"));
    a.append("bob", "INBOX", &[], None, b"Subject: x\r\n\r\nx\r\n")
        .unwrap();
    // node-a's session "dies" with its process: the lock row stays.
    std::mem::forget(a.open_maildrop("bob").unwrap());
    assert!(matches!(b.open_maildrop("bob"), Err(OpenError::InUse)));
    assert!(matches!(a.open_maildrop("bob"), Err(OpenError::InUse)));
    // node-a restarted: a new process (incarnation) of the same node.
    let a_again = node("node-a");
    let drop = a_again.open_maildrop("bob").unwrap();
    assert!(matches!(b.open_maildrop("bob"), Err(OpenError::InUse)));
    drop.commit(&[]).unwrap();
    std::mem::drop(drop);
    assert!(b.open_maildrop("bob").is_ok());
}

/// Whether a connection made with `url` runs over TLS (the server's view).
fn over_tls(url: &str) -> Result<bool, String> {
    let pool = Pool::new(PoolConfig::new(url)).map_err(|e| e.to_string())?;
    let c = pool.get().map_err(|e| e.to_string())?;
    let row = c
        .query_opt(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map_err(|e| e.to_string())?;
    Ok(row.is_some_and(|r| r.get(0)))
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn tls_to_the_database_is_as_the_url_says() {
    let (_, url) = fresh_db_url("tls");
    let ca = std::env::var("POSTRIDER_PG_CA").expect("POSTRIDER_PG_CA (run tests/pg/run.sh)");
    assert_eq!(over_tls(&format!("{url}?sslmode=disable")), Ok(false));
    assert_eq!(
        over_tls(&url),
        Ok(true),
        "prefer (the default) takes TLS when offered"
    );
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(over_tls(&verified), Ok(true));
    // The certificate names 127.0.0.1; the cluster also answers on 127.0.0.2.
    let other_name = url.replace("127.0.0.1", "127.0.0.2");
    let wrong = over_tls(&format!(
        "{other_name}?sslmode=verify-full&sslrootcert={ca}"
    ));
    assert!(
        wrong.as_ref().is_err_and(|e| e.contains("certificate")),
        "{wrong:?}"
    );
    assert_eq!(
        over_tls(&format!("{other_name}?sslmode=verify-ca&sslrootcert={ca}")),
        Ok(true)
    );
    // A root that did not sign it: the cluster's own server certificate is no CA.
    let server_pem = ca.replace("ca.pem", "server.pem");
    let untrusted = over_tls(&format!("{url}?sslmode=verify-ca&sslrootcert={server_pem}"));
    assert!(untrusted.is_err(), "{untrusted:?}");
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn the_hosts_of_the_url_are_tried_in_order_and_a_standby_is_passed_over() {
    let (pool, url) = fresh_db_url("hosts");
    // A first host that refuses connections (a primary that went away).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let two = format!("{scheme_user}@127.0.0.1:{dead_port},{rest}");
    assert_eq!(over_tls(&two), Ok(true));
    // A read-only database stands in for a standby.
    let db = url.rsplit('/').next().unwrap();
    pool.get()
        .unwrap()
        .batch(&format!(
            "ALTER DATABASE {db} SET default_transaction_read_only = on"
        ))
        .unwrap();
    let refused = over_tls(&format!("{two}?target_session_attrs=read-write"));
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("read-only")),
        "{refused:?}"
    );
    assert_eq!(
        over_tls(&format!("{two}?target_session_attrs=any")),
        Ok(true)
    );
}

#[test]
#[ignore = "needs a PostgreSQL cluster: tests/pg/run.sh"]
fn a_cached_view_follows_flags_appends_and_expunges_made_elsewhere() {
    use postrider_core::imap::command::StoreMode;
    let (_, url) = fresh_db_url("views");
    let node = |n: &str| mailboxes_node(&url, n);
    let (a, b) = (node("node-a"), node("node-b"));
    let uids: Vec<u32> = (0..6)
        .map(|i| {
            let m = format!("Subject: {i}\r\n\r\nx\r\n");
            a.append("alice", "INBOX", &[], None, m.as_bytes())
                .unwrap()
                .1
        })
        .collect();
    let seen = |v: &postrider_core::imap::store::MailboxView| -> Vec<(u32, Vec<String>)> {
        v.messages
            .iter()
            .map(|m| (m.uid, m.flags.clone()))
            .collect()
    };
    assert_eq!(b.view("alice", "INBOX", false).unwrap().messages.len(), 6);
    // Flags on two messages and a new one: B's cached view is brought up to date.
    a.set_flags(
        "alice",
        "INBOX",
        &[uids[1], uids[4]],
        StoreMode::Add,
        &["\\Seen".into()],
    )
    .unwrap();
    let (_, new) = a
        .append(
            "alice",
            "INBOX",
            &["\\Flagged".into()],
            None,
            b"Subject: 7\r\n\r\nx\r\n",
        )
        .unwrap();
    let v = b.view("alice", "INBOX", false).unwrap();
    assert_eq!(seen(&v), seen(&a.view("alice", "INBOX", false).unwrap()));
    assert_eq!(v.messages.len(), 7);
    assert_eq!(v.messages[1].flags, vec!["\\Seen".to_string()]);
    assert_eq!(v.messages[6].uid, new);
    // An expunge and a flag change together: the view is read whole again.
    a.expunge("alice", "INBOX", &[uids[0], uids[2]]).unwrap();
    a.set_flags(
        "alice",
        "INBOX",
        &[uids[3]],
        StoreMode::Add,
        &["\\Answered".into()],
    )
    .unwrap();
    let v = b.view("alice", "INBOX", false).unwrap();
    assert_eq!(seen(&v), seen(&a.view("alice", "INBOX", false).unwrap()));
    assert_eq!(
        v.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![uids[1], uids[3], uids[4], uids[5], new]
    );
    // An expunge alone.
    a.expunge("alice", "INBOX", &[new]).unwrap();
    assert_eq!(b.view("alice", "INBOX", false).unwrap().messages.len(), 4);
}
