//! The files a user keeps beside their mail and the delivery agent reads: `.forward`, the
//! Sieve script, the Sieve vacation memory and the vacation message, as an interface every storage backend
//! implements (the files backend keeps them in the user's home, read and written with
//! the user's own privileges; a database backend would keep them in a table).
//!
//! `:include:` files and file or program targets are paths on the delivering host, not a
//! user's files: they stay outside this interface.

use std::fmt::Debug;
use std::io;

/// One of a user's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFile {
    /// Forwarding targets (`~/.forward`, one per line or comma-separated).
    Forward,
    /// The Sieve script run at delivery (`~/.sieve`).
    Sieve,
    /// Who the Sieve vacation action already answered, and when
    /// (`~/.sieve.vacation.db`).
    VacationMemory,
    /// The text vacation(1) answers with (`~/.vacation.msg`).
    VacationMessage,
}

impl UserFile {
    /// Every kind of user file.
    pub const ALL: [UserFile; 4] = [
        UserFile::Forward,
        UserFile::Sieve,
        UserFile::VacationMemory,
        UserFile::VacationMessage,
    ];

    /// The kind of file named `name` (`.forward`, `.sieve`, `.vacation.msg`, ...).
    pub fn from_name(name: &str) -> Option<UserFile> {
        Self::ALL.into_iter().find(|f| f.file_name() == name)
    }

    /// The file's name in a home directory.
    pub fn file_name(self) -> &'static str {
        match self {
            UserFile::Forward => ".forward",
            UserFile::Sieve => ".sieve",
            UserFile::VacationMemory => ".sieve.vacation.db",
            UserFile::VacationMessage => ".vacation.msg",
        }
    }
}

/// The users' files of one backend.
pub trait UserFiles: Send + Sync + Debug {
    /// At most `limit` bytes of `user`'s `file`; Ok(None) when there is none (or, for
    /// `.forward`, when it is unsafe to honour: the reason is logged).
    fn read(&self, user: &str, file: UserFile, limit: u64) -> io::Result<Option<Vec<u8>>>;

    /// Replaces `user`'s `file` whole (readers see the old or the new bytes, never a
    /// mix).
    fn write(&self, user: &str, file: UserFile, bytes: &[u8]) -> io::Result<()>;

    /// Removes `user`'s `file` (nothing when there is none).
    fn remove(&self, user: &str, file: UserFile) -> io::Result<()>;

    /// Where the file is, for log messages (`/home/alice/.forward`).
    fn describe(&self, user: &str, file: UserFile) -> String;
}
