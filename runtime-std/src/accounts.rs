//! The users file (`data_dir/users`): one `name:password-hash` line per account, the hash
//! an argon2id PHC string. Changes are written atomically under a lock, and a running
//! server sees them at the next lookup (the file is re-read when it changes).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::fsutil::{fsync_dir, lock_exclusive};

pub use postrider_core::sasl::Secret;

/// Account management errors, phrased for the command line.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name is not acceptable as a mailbox name.
    #[error("invalid user name {0:?}: use 1-64 of a-z 0-9 . _ - (not starting with . or -)")]
    InvalidName(String),
    /// `user add` of an existing name.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// The user is not in the file.
    #[error("no such user {0:?}")]
    NoSuchUser(String),
    /// An empty password.
    #[error("the password must not be empty")]
    EmptyPassword,
    /// Filesystem trouble.
    #[error("{0}")]
    Io(String),
}

/// Whether `name` is a safe account (and mailbox file) name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        })
}

/// Hashes a password as an argon2id PHC string.
pub fn hash_password(password: &Secret) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Io(format!("cannot hash password: {e}")))
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &Secret, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[derive(Debug, Default)]
struct Cache {
    stamp: Option<(SystemTime, u64)>,
    users: BTreeMap<String, String>,
}

/// The users file of one data directory.
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    cache: Mutex<Cache>,
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(n, h)| (n.trim().to_string(), h.trim().to_string()))
        .collect()
}

impl UsersFile {
    /// The users file inside `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("users"),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_all(&self) -> Result<BTreeMap<String, String>, AccountError> {
        match fs::read_to_string(&self.path) {
            Ok(t) => Ok(parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(AccountError::Io(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// The current accounts, re-reading the file only when its mtime or size changed.
    fn current(&self) -> BTreeMap<String, String> {
        let stamp = fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.stamp != stamp || stamp.is_none() {
            cache.users = self.read_all().unwrap_or_default();
            cache.stamp = stamp;
        }
        cache.users.clone()
    }

    /// Whether `name` (case-insensitive) is an account.
    pub fn exists(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let stamp = fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        {
            let cache = match self.cache.lock() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            if cache.stamp == stamp && stamp.is_some() {
                return cache.users.contains_key(&name);
            }
        }
        self.current().contains_key(&name)
    }

    /// Checks a login.
    pub fn verify(&self, name: &str, password: &Secret) -> bool {
        self.current()
            .get(&name.to_ascii_lowercase())
            .is_some_and(|h| verify_password(password, h))
    }

    /// All account names, sorted.
    pub fn list(&self) -> Result<Vec<String>, AccountError> {
        Ok(self.read_all()?.into_keys().collect())
    }

    fn modify(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let io = |e: std::io::Error| AccountError::Io(format!("{}: {e}", self.path.display()));
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io)?;
        let _lock = lock_exclusive(&dir.join("users.lock")).map_err(io)?;
        let mut users = self.read_all()?;
        f(&mut users)?;
        let mut text = String::new();
        for (n, h) in &users {
            text.push_str(&format!("{n}:{h}\n"));
        }
        let tmp = dir.join("users.tmp");
        {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(io)?;
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, &self.path).map_err(io)?;
        fsync_dir(dir).map_err(io)?;
        Ok(())
    }

    /// Adds an account.
    pub fn add(&self, name: &str, password: &Secret) -> Result<(), AccountError> {
        if !valid_name(name) {
            return Err(AccountError::InvalidName(name.into()));
        }
        if password.expose().is_empty() {
            return Err(AccountError::EmptyPassword);
        }
        let hash = hash_password(password)?;
        self.modify(|u| {
            if u.contains_key(name) {
                return Err(AccountError::Exists(name.into()));
            }
            u.insert(name.to_string(), hash);
            Ok(())
        })
    }

    /// Changes a password.
    pub fn passwd(&self, name: &str, password: &Secret) -> Result<(), AccountError> {
        if password.expose().is_empty() {
            return Err(AccountError::EmptyPassword);
        }
        let hash = hash_password(password)?;
        self.modify(|u| match u.get_mut(name) {
            Some(h) => {
                *h = hash;
                Ok(())
            }
            None => Err(AccountError::NoSuchUser(name.into())),
        })
    }

    /// Removes an account (its mailbox stays).
    pub fn delete(&self, name: &str) -> Result<(), AccountError> {
        self.modify(|u| match u.remove(name) {
            Some(_) => Ok(()),
            None => Err(AccountError::NoSuchUser(name.into())),
        })
    }
}

/// The accounts of the configured kind.
#[derive(Debug)]
pub enum Accounts {
    /// `accounts = "file"`.
    File(UsersFile),
    /// `accounts = "system"`: names from /etc/passwd.
    System,
}

impl Accounts {
    /// Whether `name` is a local account that can receive mail.
    pub fn exists(&self, name: &str) -> bool {
        match self {
            Accounts::File(f) => f.exists(name),
            Accounts::System => system_user_exists(name),
        }
    }
}

/// Looks a name up in /etc/passwd.
pub fn system_user_exists(name: &str) -> bool {
    fs::read_to_string("/etc/passwd")
        .map(|t| t.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_passwd_delete() {
        let dir = std::env::temp_dir().join(format!("postrider-acct-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let f = UsersFile::new(&dir);
        let pw = Secret::new("s3cret pw".into());
        f.add("alice", &pw).unwrap();
        assert!(matches!(f.add("alice", &pw), Err(AccountError::Exists(_))));
        assert!(matches!(
            f.add("Bad/Name", &pw),
            Err(AccountError::InvalidName(_))
        ));
        assert!(f.exists("alice") && f.exists("ALICE") && !f.exists("bob"));
        assert!(f.verify("alice", &pw));
        assert!(!f.verify("alice", &Secret::new("wrong".into())));
        f.passwd("alice", &Secret::new("new".into())).unwrap();
        assert!(f.verify("alice", &Secret::new("new".into())));
        assert_eq!(f.list().unwrap(), ["alice"]);
        f.delete("alice").unwrap();
        assert!(!f.exists("alice"));
        assert_eq!(format!("{pw:?}"), "Secret(***)");
        let _ = fs::remove_dir_all(&dir);
    }
}
