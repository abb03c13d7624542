//! The files backend of [`UserFiles`]: each user's `.forward`, `.sieve` and Sieve vacation
//! memory in their home directory, read and written with the user's own privileges
//! ([`crate::privileges::home_identity`]: as that user when the server runs as root with
//! system accounts), never as root. A `.forward` that is unsafe to honour (see
//! [`safe_file`]) is ignored with a warning, as Postfix's local(8) does.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use postrider_store::accounts::{AccountStore, Homes};
use postrider_store::user_files::{UserFile, UserFiles};

use crate::privileges::{
    home_identity, owner_of_user_files, read_file_as, safe_file, write_file_as, RunAs,
};

/// Users' files in their home directories.
#[derive(Debug)]
pub struct HomeFiles {
    homes: Homes,
    accounts: Arc<dyn AccountStore>,
    /// `[delivery] default_user`, the identity of last resort under root.
    default_user: String,
}

impl HomeFiles {
    /// The files in `homes`, for the users of `accounts`.
    pub fn new(homes: Homes, accounts: Arc<dyn AccountStore>, default_user: String) -> Self {
        Self {
            homes,
            accounts,
            default_user,
        }
    }

    fn path(&self, user: &str, file: UserFile) -> Option<PathBuf> {
        Some(self.homes.home_of(user)?.join(file.file_name()))
    }

    fn identity(&self, user: &str) -> io::Result<Option<RunAs>> {
        home_identity(&*self.accounts, &self.default_user, user).map_err(io::Error::other)
    }
}

impl UserFiles for HomeFiles {
    fn read(&self, user: &str, file: UserFile, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(user, file) else {
            return Ok(None);
        };
        if file == UserFile::Forward {
            if !path.exists() {
                return Ok(None);
            }
            if let Err(why) = safe_file(&path, owner_of_user_files(&*self.accounts, user)) {
                tracing::warn!("ignoring {}: {why}", path.display());
                return Ok(None);
            }
        }
        read_file_as(self.identity(user)?.as_ref(), &path, limit)
    }

    fn write(&self, user: &str, file: UserFile, bytes: &[u8]) -> io::Result<()> {
        let Some(path) = self.path(user, file) else {
            return Err(io::Error::other(format!("{user} has no home directory")));
        };
        let who = self.identity(user)?;
        if who.is_none() {
            if let Some(home) = path.parent() {
                fs::create_dir_all(home)?;
            }
        }
        write_file_as(who.as_ref(), &path, bytes)
    }

    fn remove(&self, user: &str, file: UserFile) -> io::Result<()> {
        let Some(path) = self.path(user, file) else {
            return Ok(());
        };
        if self.identity(user)?.is_some() {
            // A system user's home: theirs to change, with their own tools.
            return Err(io::Error::other(format!(
                "{} belongs to {user}: remove it as that user",
                path.display()
            )));
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn describe(&self, user: &str, file: UserFile) -> String {
        match self.path(user, file) {
            Some(p) => p.display().to_string(),
            None => format!("{user}'s {}", file.file_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postrider_store::accounts::UsersFile;
    use postrider_store::conformance::user_file_rules;
    use std::os::unix::fs::PermissionsExt;

    fn files(dir: &std::path::Path) -> HomeFiles {
        fs::create_dir_all(dir).unwrap();
        let accounts: Arc<dyn AccountStore> = Arc::new(UsersFile::new(dir));
        HomeFiles::new(Homes::new(dir, accounts.clone()), accounts, "nobody".into())
    }

    #[test]
    fn home_files_conform() {
        let dir = std::env::temp_dir().join(format!("postrider-userfiles-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let f = files(&dir);
        assert_eq!(user_file_rules(&f), Vec::<String>::new());
        // A world-writable .forward is not honoured.
        let forward = dir.join("home/alice/.forward");
        fs::write(&forward, "elsewhere@example.org\n").unwrap();
        fs::set_permissions(&forward, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(f.read("alice", UserFile::Forward, 100).unwrap().is_some());
        fs::set_permissions(&forward, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(f.read("alice", UserFile::Forward, 100).unwrap().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
