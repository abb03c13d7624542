//! Accounts and password checks.
//!
//! * `accounts = "file"`: the users file (`data_dir/users`), one `name:password-hash` line
//!   per account, the hash an argon2id PHC string. Changes are written atomically under a
//!   lock, and a running server sees them at the next lookup (the file is re-read when it
//!   changes).
//! * `accounts = "system"`: names and homes from /etc/passwd, password hashes from
//!   /etc/shadow (sha512-crypt, sha256-crypt, yescrypt), readable only when running as root.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Condvar, PoisonError};

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
    /// The accounts are the system's: managed with its tools, not by postrider.
    #[error("accounts = \"system\": manage accounts with the system's tools")]
    Managed,
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

/// Checks a password against a stored hash: an argon2 PHC string, or a crypt(3) string
/// of the kinds /etc/shadow holds (`$6$` sha512-crypt, `$5$` sha256-crypt, `$y$`
/// yescrypt). Locked and empty hashes (`!`, `*`, ``) never match.
///
/// Successful checks are remembered for an hour ([`VerifiedCache`]), so that a client
/// logging in again and again (mail clients open several connections; Dovecot's
/// auth_cache serves the same purpose) does not cost a password hash each time.
pub fn verify_password(password: &Secret, hash: &str) -> bool {
    let pw = password.expose().as_bytes();
    if VERIFIED.contains(hash, pw) {
        return true;
    }
    let ok = verify_uncached(pw, hash);
    if ok {
        VERIFIED.insert(hash, pw);
    }
    ok
}

fn verify_uncached(pw: &[u8], hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        verify_argon2(pw, hash)
    } else if hash.starts_with("$6$") || hash.starts_with("$5$") {
        use sha_crypt::PasswordVerifier as _;
        sha_crypt::ShaCrypt::default()
            .verify_password(pw, hash)
            .is_ok()
    } else if hash.starts_with("$y$") {
        use yescrypt::PasswordVerifier as _;
        yescrypt::Yescrypt::default()
            .verify_password(pw, hash)
            .is_ok()
    } else {
        false
    }
}

/// Passwords recently found to match a stored hash, as keyed MACs (the key is random
/// and never leaves this process) of the stored hash and the password: a changed
/// password has a new hash, so an old entry can never match it. Bounded in size and age.
struct VerifiedCache {
    key: std::sync::OnceLock<Option<ring::hmac::Key>>,
    entries: Mutex<BTreeMap<Vec<u8>, std::time::Instant>>,
}

/// How long a successful check is remembered.
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Most remembered checks (the table is emptied when full).
const VERIFIED_MAX: usize = 10_000;

static VERIFIED: VerifiedCache = VerifiedCache {
    key: std::sync::OnceLock::new(),
    entries: Mutex::new(BTreeMap::new()),
};

impl VerifiedCache {
    fn tag(&self, hash: &str, pw: &[u8]) -> Option<Vec<u8>> {
        // Without randomness for the key, nothing is cached.
        let key = self.key.get_or_init(|| {
            use ring::rand::SecureRandom as _;
            let mut k = [0u8; 32];
            let ok = ring::rand::SystemRandom::new().fill(&mut k).is_ok();
            ok.then(|| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &k))
        });
        let mut ctx = ring::hmac::Context::with_key(key.as_ref()?);
        ctx.update(&(hash.len() as u64).to_be_bytes());
        ctx.update(hash.as_bytes());
        ctx.update(pw);
        Some(ctx.sign().as_ref().to_vec())
    }

    fn contains(&self, hash: &str, pw: &[u8]) -> bool {
        let Some(tag) = self.tag(hash, pw) else {
            return false;
        };
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&tag)
            .is_some_and(|t| t.elapsed() < VERIFIED_TTL)
    }

    fn insert(&self, hash: &str, pw: &[u8]) {
        let Some(tag) = self.tag(hash, pw) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= VERIFIED_MAX {
            entries.retain(|_, t| t.elapsed() < VERIFIED_TTL);
            if entries.len() >= VERIFIED_MAX {
                entries.clear();
            }
        }
        entries.insert(tag, std::time::Instant::now());
    }
}

/// Working memory for argon2 checks, reused. A check is CPU-bound and argon2id's default
/// cost takes 19 MiB: running more than one per core only multiplies memory, and
/// allocating it per login leaves each allocator arena holding tens of megabytes (a
/// burst of logins would grow the server by hundreds). So at most one buffer per core
/// exists, and checks beyond that wait for one (Dovecot's auth process limits its
/// workers the same way).
static ARGON2_MEMORY: Mutex<(Vec<Vec<Block>>, usize)> = Mutex::new((Vec::new(), 0));
static ARGON2_MEMORY_FREED: Condvar = Condvar::new();

/// Takes a buffer from [`ARGON2_MEMORY`], waiting while every core has one.
fn take_argon2_memory() -> Vec<Block> {
    let limit = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut pool = ARGON2_MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(buf) = pool.0.pop() {
            return buf;
        }
        if pool.1 < limit {
            pool.1 += 1;
            return Vec::new();
        }
        pool = ARGON2_MEMORY_FREED
            .wait(pool)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Returns a buffer taken with [`take_argon2_memory`].
fn give_argon2_memory(buf: Vec<Block>) {
    let mut pool = ARGON2_MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    pool.0.push(buf);
    ARGON2_MEMORY_FREED.notify_one();
}

/// Checks `pw` against an argon2 PHC string, computing in pooled memory.
fn verify_argon2(pw: &[u8], hash: &str) -> bool {
    let Ok(hash) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let mut memory = take_argon2_memory();
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        pw,
        salt,
        &mut out,
        &mut memory[..],
    );
    give_argon2_memory(memory);
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// A well-formed hash checked when the user does not exist, so that a failed login
/// takes as long for an unknown name as for a wrong password (no user enumeration).
pub(crate) const DUMMY_ARGON2: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2yIUi7QvhXWq6nHhH3GmbU7Xl1T0qXJmA0VGW5PjQ8Y";

/// The result of a login check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// The password is right; the canonical account name.
    Valid(String),
    /// Unknown name or wrong password.
    Invalid,
    /// The accounts could not be read (e.g. /etc/shadow without root).
    Unavailable(String),
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

    /// Checks a login (the name is case-insensitive).
    pub fn verify(&self, name: &str, password: &Secret) -> bool {
        self.login(name, password) == Login::Valid(name.to_ascii_lowercase())
    }

    /// Checks a login and names the account.
    pub fn login(&self, name: &str, password: &Secret) -> Login {
        let name = name.to_ascii_lowercase();
        match self.current().get(&name) {
            Some(h) if verify_password(password, h) => Login::Valid(name),
            Some(_) => Login::Invalid,
            None => {
                let _ = verify_password(password, DUMMY_ARGON2);
                Login::Invalid
            }
        }
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

/// The system's accounts: /etc/passwd and /etc/shadow (paths replaceable for tests).
#[derive(Debug, Clone)]
pub struct SystemAccounts {
    passwd: PathBuf,
    shadow: PathBuf,
}

impl Default for SystemAccounts {
    fn default() -> Self {
        Self::with_files(Path::new("/etc/passwd"), Path::new("/etc/shadow"))
    }
}

/// One /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
}

impl SystemAccounts {
    /// Accounts read from the given passwd and shadow files.
    pub fn with_files(passwd: &Path, shadow: &Path) -> Self {
        Self {
            passwd: passwd.to_path_buf(),
            shadow: shadow.to_path_buf(),
        }
    }

    /// Looks a name up in the passwd file (names are case-sensitive there).
    pub fn lookup(&self, name: &str) -> Option<PasswdEntry> {
        let text = fs::read_to_string(&self.passwd).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0] != name {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: PathBuf::from(f[5]),
            })
        })
    }

    /// Checks a login against the shadow file.
    pub fn login(&self, name: &str, password: &Secret) -> Login {
        if self.lookup(name).is_none() {
            let _ = verify_password(password, DUMMY_ARGON2);
            return Login::Invalid;
        }
        let text = match fs::read_to_string(&self.shadow) {
            Ok(t) => t,
            Err(e) => {
                return Login::Unavailable(format!(
                    "cannot read {}: {e} (system accounts need root)",
                    self.shadow.display()
                ))
            }
        };
        let hash = text.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(name)).then(|| f.next().unwrap_or("").to_string())
        });
        match hash {
            Some(h) if verify_password(password, &h) => Login::Valid(name.to_string()),
            _ => Login::Invalid,
        }
    }
}

/// The accounts mail is delivered to and logins are checked against: the interface
/// every accounts backend implements ([`UsersFile`] for virtual accounts in the data
/// directory, [`SystemAccounts`] for the system's users).
pub trait AccountStore: Send + Sync + std::fmt::Debug {
    /// Whether `name` is a local account that can receive mail.
    fn exists(&self, name: &str) -> bool;

    /// Checks a login (as long for an unknown name as for a wrong password).
    fn login(&self, name: &str, password: &Secret) -> Login;

    /// The system user behind an account (uid, gid, home), for backends of system
    /// users; None for virtual accounts, which the server's own identity serves.
    fn system_user(&self, name: &str) -> Option<PasswdEntry>;

    /// Whether accounts are the system's users (managed with the system's tools; files
    /// in their homes are theirs).
    fn is_system(&self) -> bool {
        false
    }

    /// Every account name (`postrider user list`).
    fn list(&self) -> Result<Vec<String>, AccountError>;

    /// Adds an account with a password.
    fn add(&self, name: &str, password: &Secret) -> Result<(), AccountError>;

    /// Changes an account's password.
    fn passwd(&self, name: &str, password: &Secret) -> Result<(), AccountError>;

    /// Removes an account (its mail stays).
    fn delete(&self, name: &str) -> Result<(), AccountError>;
}

impl AccountStore for UsersFile {
    fn exists(&self, name: &str) -> bool {
        UsersFile::exists(self, name)
    }

    fn login(&self, name: &str, password: &Secret) -> Login {
        UsersFile::login(self, name, password)
    }

    fn system_user(&self, _name: &str) -> Option<PasswdEntry> {
        None
    }

    fn list(&self) -> Result<Vec<String>, AccountError> {
        UsersFile::list(self)
    }

    fn add(&self, name: &str, password: &Secret) -> Result<(), AccountError> {
        UsersFile::add(self, name, password)
    }

    fn passwd(&self, name: &str, password: &Secret) -> Result<(), AccountError> {
        UsersFile::passwd(self, name, password)
    }

    fn delete(&self, name: &str) -> Result<(), AccountError> {
        UsersFile::delete(self, name)
    }
}

impl AccountStore for SystemAccounts {
    fn exists(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }

    fn login(&self, name: &str, password: &Secret) -> Login {
        SystemAccounts::login(self, name, password)
    }

    fn system_user(&self, name: &str) -> Option<PasswdEntry> {
        self.lookup(name)
    }

    fn is_system(&self) -> bool {
        true
    }

    fn list(&self) -> Result<Vec<String>, AccountError> {
        Err(AccountError::Managed)
    }

    fn add(&self, _name: &str, _password: &Secret) -> Result<(), AccountError> {
        Err(AccountError::Managed)
    }

    fn passwd(&self, _name: &str, _password: &Secret) -> Result<(), AccountError> {
        Err(AccountError::Managed)
    }

    fn delete(&self, _name: &str) -> Result<(), AccountError> {
        Err(AccountError::Managed)
    }
}

/// Where local users' home directories are: the passwd entry's with system accounts,
/// `data_dir/home/NAME` with file accounts.
#[derive(Debug, Clone)]
pub struct Homes {
    data_dir: PathBuf,
    accounts: std::sync::Arc<dyn AccountStore>,
}

impl Homes {
    /// The homes of `accounts`, file accounts' under `data_dir`.
    pub fn new(data_dir: &Path, accounts: std::sync::Arc<dyn AccountStore>) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            accounts,
        }
    }

    /// The home directory of `user` (None: a system account that does not exist).
    pub fn home_of(&self, user: &str) -> Option<PathBuf> {
        if self.accounts.is_system() {
            self.accounts.system_user(user).map(|e| e.home)
        } else {
            Some(self.data_dir.join("home").join(user))
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn remembered_checks_are_tied_to_the_stored_hash_and_the_password() {
        let cache = VerifiedCache {
            key: std::sync::OnceLock::new(),
            entries: Mutex::new(BTreeMap::new()),
        };
        cache.insert("$argon2id$old", b"secret");
        assert!(cache.contains("$argon2id$old", b"secret"));
        assert!(!cache.contains("$argon2id$old", b"Secret"));
        assert!(
            !cache.contains("$argon2id$new", b"secret"),
            "a new hash after passwd"
        );
        let h = hash_password(&Secret::new(String::from("pw"))).unwrap();
        assert!(verify_password(&Secret::new(String::from("pw")), &h));
        assert!(
            verify_password(&Secret::new(String::from("pw")), &h),
            "from the cache"
        );
        assert!(!verify_password(&Secret::new(String::from("pw2")), &h));
    }

    use super::*;

    #[test]
    fn add_verify_passwd_delete() {
        let dir = std::env::temp_dir().join(format!("postrider-acct-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let f = UsersFile::new(&dir);
        let pw = Secret::new("s3cret pw");
        f.add("alice", &pw).unwrap();
        assert!(matches!(f.add("alice", &pw), Err(AccountError::Exists(_))));
        assert!(matches!(
            f.add("Bad/Name", &pw),
            Err(AccountError::InvalidName(_))
        ));
        assert!(f.exists("alice") && f.exists("ALICE") && !f.exists("bob"));
        assert!(f.verify("alice", &pw));
        assert!(!f.verify("alice", &Secret::new("wrong")));
        f.passwd("alice", &Secret::new("new")).unwrap();
        assert!(f.verify("alice", &Secret::new("new")));
        assert_eq!(f.list().unwrap(), ["alice"]);
        f.delete("alice").unwrap();
        assert!(!f.exists("alice"));
        assert_eq!(f.login("alice", &pw), Login::Invalid);
        assert_eq!(format!("{pw:?}"), "Secret(***)");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_ARGON2).is_ok());
    }

    /// Hashes made by libxcrypt (Python's crypt module) for the password "pw".
    #[test]
    fn crypt_hashes_from_shadow() {
        let pw = Secret::new("pw");
        let bad = Secret::new("pw2");
        for h in [
            "$6$dUgygLzfmQuwf8Fv$vOnj21UK1i85AWZ6dKYfcz2S1LjJ.l/fHfRi/GBsMUDh6PoqQRSVTIIAZ3ORAv/LJCtBT4dlkoesZFM6bhWPg/",
            "$5$.zqOKJUGQXTG1g3g$CwQ7x31UVAynD4777IAcAm0AIEDzqjv/6zwV1kXNKM7",
            "$y$j9T$abcdefghijklmnopqrstu0$GLYj2y9777yWd79OxbNK3HERCPpB6OkHQycrM.vBEN/",
        ] {
            assert!(verify_password(&pw, h), "{h}");
            assert!(!verify_password(&bad, h), "{h}");
        }
        for locked in ["!", "*", "", "!$6$x$y", "$1$abc$def"] {
            assert!(!verify_password(&pw, locked));
        }
    }

    #[test]
    fn system_accounts_from_files() {
        let dir = std::env::temp_dir().join(format!("postrider-sys-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let passwd = dir.join("passwd");
        let shadow = dir.join("shadow");
        fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/sh\ncarol:x:1001:1001:Carol,,,:/home/carol:/bin/sh\n",
        )
        .unwrap();
        let sys = SystemAccounts::with_files(&passwd, &shadow);
        assert_eq!(
            sys.lookup("carol").unwrap().home,
            PathBuf::from("/home/carol")
        );
        assert!(matches!(
            sys.login("carol", &Secret::new("pw")),
            Login::Unavailable(_)
        ));
        fs::write(
            &shadow,
            "carol:$y$j9T$abcdefghijklmnopqrstu0$GLYj2y9777yWd79OxbNK3HERCPpB6OkHQycrM.vBEN/:19000:0:99999:7:::\n",
        )
        .unwrap();
        assert_eq!(
            sys.login("carol", &Secret::new("pw")),
            Login::Valid("carol".into())
        );
        assert_eq!(sys.login("carol", &Secret::new("no")), Login::Invalid);
        assert_eq!(sys.login("dave", &Secret::new("pw")), Login::Invalid);
        let _ = fs::remove_dir_all(&dir);
    }
}
