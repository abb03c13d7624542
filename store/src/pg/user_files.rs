//! Users' files (`.forward`, Sieve script, vacation memory) in the database.

use std::io;
use std::sync::Arc;

use crate::user_files::{UserFile, UserFiles};

use super::pool::Pool;

/// The user_files table.
#[derive(Debug)]
pub struct PgUserFiles {
    pool: Arc<Pool>,
}

impl PgUserFiles {
    /// The users' files of the database behind `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }
}

impl UserFiles for PgUserFiles {
    fn read(&self, user: &str, file: UserFile, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let row = self
            .pool
            .get()
            .and_then(|c| {
                c.query_opt(
                    "SELECT substring(content FROM 1 FOR $3) FROM user_files \
                     WHERE account = $1 AND file = $2",
                    &[&user, &file.file_name(), &limit],
                )
            })
            .map_err(io::Error::other)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn write(&self, user: &str, file: UserFile, bytes: &[u8]) -> io::Result<()> {
        self.pool
            .get()
            .and_then(|c| {
                c.execute(
                    "INSERT INTO user_files (account, file, content) VALUES ($1, $2, $3) \
                     ON CONFLICT (account, file) DO UPDATE SET content = EXCLUDED.content",
                    &[&user, &file.file_name(), &bytes],
                )
            })
            .map(|_| ())
            .map_err(io::Error::other)
    }

    fn remove(&self, user: &str, file: UserFile) -> io::Result<()> {
        self.pool
            .get()
            .and_then(|c| {
                c.execute(
                    "DELETE FROM user_files WHERE account = $1 AND file = $2",
                    &[&user, &file.file_name()],
                )
            })
            .map(|_| ())
            .map_err(io::Error::other)
    }

    fn describe(&self, user: &str, file: UserFile) -> String {
        format!("{user}'s {} (database)", file.file_name())
    }
}
