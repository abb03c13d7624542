//! The aliases database: `newaliases` compiles the aliases(5) source into a constant
//! database (`aliases.db`, cdb format via the cdb2 crate: one key per lower-cased name,
//! the targets joined by newlines); delivery and the RCPT check read the db. A db older
//! than its source is used as it is and reported in the log, as Postfix does; without a
//! db the source is read directly.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use postrider_core::delivery::aliases::{AliasError, Aliases};

/// The db path for an aliases source: `SOURCE.db`.
pub fn db_path(source: &Path) -> PathBuf {
    let mut p = source.as_os_str().to_owned();
    p.push(".db");
    PathBuf::from(p)
}

/// Compiles `source` into its db (written to a temporary file and renamed into place).
/// Returns the number of aliases and the problems found in the source.
pub fn build_db(source: &Path) -> Result<(usize, Vec<AliasError>), String> {
    let text =
        fs::read_to_string(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let (aliases, errors) = Aliases::parse(&text);
    let db = db_path(source);
    let io = |e: std::io::Error| format!("cannot write {}: {e}", db.display());
    let mut w = cdb2::CDBWriter::create(&db).map_err(io)?;
    for (name, targets) in aliases.entries() {
        w.add(name.as_bytes(), targets.join("\n").as_bytes())
            .map_err(io)?;
    }
    w.finish().map_err(io)?;
    Ok((aliases.len(), errors))
}

/// Sets `name`'s targets in the aliases `source` (replacing its entry and continuation
/// lines, or appending one), then rebuilds the db.
pub fn set_alias(source: &Path, name: &str, targets: &str) -> Result<(), String> {
    let text = match fs::read_to_string(source) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", source.display())),
    };
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let continuation = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if skipping && continuation {
            continue;
        }
        skipping = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name) && !line.starts_with('#'));
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!("{name}: {targets}\n"));
    crate::fsutil::replace_file(source, out.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", source.display()))?;
    build_db(source).map(|_| ())
}

/// What identifies a version of a file: modification time, inode and size.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp_of(p: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.ino(), m.len()))
}

enum Source {
    Db(cdb2::CDB),
    Text(Aliases),
    Missing,
}

struct Cache {
    stamp: (Stamp, Stamp),
    source: Source,
}

/// The aliases (aliases(5)) local delivery expands: the interface every aliases backend
/// implements.
pub trait AliasStore: Send + Sync + std::fmt::Debug {
    /// The targets of `name` (case-insensitive), if it is an alias.
    fn lookup(&self, name: &str) -> Option<Vec<String>>;

    /// Whether `name` is an alias.
    fn contains(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }

    /// Reads the aliases from the file `source` (and its db) from now on: a reload that
    /// names another aliases file. Stores that keep no file ignore it.
    fn use_source(&self, _source: &Path) {}
}

impl AliasStore for AliasesDb {
    fn lookup(&self, name: &str) -> Option<Vec<String>> {
        AliasesDb::lookup(self, name)
    }

    fn use_source(&self, source: &Path) {
        let mut inner = self.lock();
        if inner.source != source {
            inner.source = source.to_path_buf();
            inner.cache = None;
        }
    }
}

/// The aliases file and the db `newaliases` builds from it, reloaded when either changes
/// on disk.
pub struct AliasesDb {
    inner: Mutex<Inner>,
}

/// The source file and what was last read from it.
struct Inner {
    source: PathBuf,
    cache: Option<Cache>,
}

impl std::fmt::Debug for AliasesDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliasesDb")
            .field("source", &self.lock().source)
            .finish()
    }
}

impl AliasesDb {
    /// Aliases from `source` (and `source.db`).
    pub fn new(source: &Path) -> Self {
        Self {
            inner: Mutex::new(Inner {
                source: source.to_path_buf(),
                cache: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The targets of `name` (case-insensitive), if it is an alias.
    pub fn lookup(&self, name: &str) -> Option<Vec<String>> {
        let key = name.to_ascii_lowercase();
        let mut inner = self.lock();
        let db = db_path(&inner.source);
        let stamp = (stamp_of(&inner.source), stamp_of(&db));
        if inner.cache.as_ref().is_none_or(|c| c.stamp != stamp) {
            let source = load(&inner.source, &db, stamp);
            inner.cache = Some(Cache { stamp, source });
        }
        match inner.cache.as_ref().map(|c| &c.source) {
            Some(Source::Db(cdb)) => cdb.get(key.as_bytes()).and_then(Result::ok).map(|v| {
                String::from_utf8_lossy(&v)
                    .split('\n')
                    .map(str::to_string)
                    .collect()
            }),
            Some(Source::Text(a)) => a.get(&key).map(<[String]>::to_vec),
            _ => None,
        }
    }
}

/// Reads the aliases of `source`: its db `db` when there is one, else the source itself.
fn load(source: &Path, db: &Path, stamp: (Stamp, Stamp)) -> Source {
    if stamp.1.is_some() {
        if let (Some((src, _, _)), Some((dbt, _, _))) = stamp {
            if src > dbt {
                tracing::warn!(
                    "{} is older than {}: run `postrider newaliases`",
                    db.display(),
                    source.display()
                );
            }
        }
        match cdb2::CDB::open(db) {
            Ok(c) => return Source::Db(c),
            Err(e) => tracing::error!("cannot open {}: {e}; reading the source", db.display()),
        }
    }
    match fs::read_to_string(source) {
        Ok(text) => {
            let (aliases, errors) = Aliases::parse(&text);
            for e in errors {
                tracing::warn!("{}:{}: {}", source.display(), e.line, e.message);
            }
            Source::Text(aliases)
        }
        Err(_) => Source::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_round_trip_and_staleness() {
        let dir = std::env::temp_dir().join(format!("postrider-aliases-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("aliases");
        fs::write(&src, "Team: alice, bob@b.test\nroot: alice\n").unwrap();
        let a = AliasesDb::new(&src);
        // No db yet: the source is read.
        assert_eq!(a.lookup("TEAM").unwrap(), ["alice", "bob@b.test"]);
        let (n, errs) = build_db(&src).unwrap();
        assert_eq!((n, errs.len()), (2, 0));
        assert!(db_path(&src).exists());
        assert_eq!(a.lookup("root").unwrap(), ["alice"]);
        assert_eq!(a.lookup("nobody"), None);
        // The source changes without newaliases: the db stays in force.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&src, "team: carol\n").unwrap();
        assert_eq!(a.lookup("team").unwrap(), ["alice", "bob@b.test"]);
        build_db(&src).unwrap();
        assert_eq!(a.lookup("team").unwrap(), ["carol"]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn set_alias_replaces_an_entry_with_its_continuation_lines() {
        let dir = std::env::temp_dir().join(format!("postrider-setalias-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("aliases");
        fs::write(
            &src,
            "# root's mail\npostmaster: root\nroot: old,\n  older\nteam: a, b\n",
        )
        .unwrap();
        set_alias(&src, "root", "alice").unwrap();
        assert_eq!(
            fs::read_to_string(&src).unwrap(),
            "# root's mail\npostmaster: root\nteam: a, b\nroot: alice\n"
        );
        let db = AliasesDb::new(&src);
        assert_eq!(db.lookup("ROOT"), Some(vec!["alice".to_string()]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
