//! The PostgreSQL backend against the storage conformance rules, each test on a database
//! of its own in the cluster `$POSTRIDER_PG_URL` names (`tests/pg/run.sh` starts a
//! throwaway one and runs these; without it they are ignored, not passed).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use postrider_store::aliases::AliasStore;
use postrider_store::conformance::{account_rules, user_file_rules};
use postrider_store::pg::{migrate, PgAccounts, PgAliases, PgUserFiles, Pool, PoolConfig};

/// A fresh database in the test cluster; its pool, schema applied.
fn fresh_db(name: &str) -> Arc<Pool> {
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
    pool
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
