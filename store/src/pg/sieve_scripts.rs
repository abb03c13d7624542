//! Users' named Sieve scripts (ManageSieve) in the database: one row per script, at most
//! one active per account (a partial unique index keeps it so).

use std::io;
use std::sync::Arc;

use crate::sieve_scripts::{ScriptEntry, ScriptRefusal, SieveScripts};

use super::pool::{Conn, PgError, Pool};

/// The sieve_scripts table.
#[derive(Debug)]
pub struct PgSieveScripts {
    pool: Arc<Pool>,
}

impl PgSieveScripts {
    /// The scripts of the database behind `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }

    /// Runs `work` in a transaction that has locked `user`'s scripts.
    fn changing<T>(
        &self,
        user: &str,
        mut work: impl FnMut(&Conn) -> Result<T, PgError>,
    ) -> io::Result<T> {
        self.pool
            .transaction(|c| {
                c.execute(
                    "SELECT 1 FROM sieve_scripts WHERE account = $1 FOR UPDATE",
                    &[&user],
                )?;
                work(c)
            })
            .map_err(io::Error::other)
    }
}

/// Whether `user` has a script `name` (inside a transaction).
fn exists(c: &Conn, user: &str, name: &str) -> Result<bool, PgError> {
    Ok(c.query_opt(
        "SELECT 1 FROM sieve_scripts WHERE account = $1 AND name = $2",
        &[&user, &name],
    )?
    .is_some())
}

impl SieveScripts for PgSieveScripts {
    fn list(&self, user: &str) -> io::Result<Vec<ScriptEntry>> {
        let rows = self
            .pool
            .get()
            .and_then(|c| {
                c.query(
                    "SELECT name, active FROM sieve_scripts WHERE account = $1 ORDER BY name",
                    &[&user],
                )
            })
            .map_err(io::Error::other)?;
        Ok(rows
            .iter()
            .map(|r| ScriptEntry {
                name: r.get(0),
                active: r.get(1),
            })
            .collect())
    }

    fn get(&self, user: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
        let row = self
            .pool
            .get()
            .and_then(|c| {
                c.query_opt(
                    "SELECT content FROM sieve_scripts WHERE account = $1 AND name = $2",
                    &[&user, &name],
                )
            })
            .map_err(io::Error::other)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn put(&self, user: &str, name: &str, script: &[u8]) -> io::Result<()> {
        self.pool
            .get()
            .and_then(|c| {
                c.execute(
                    "INSERT INTO sieve_scripts (account, name, content) VALUES ($1, $2, $3) \
                     ON CONFLICT (account, name) DO UPDATE SET content = EXCLUDED.content",
                    &[&user, &name, &script],
                )
            })
            .map(|_| ())
            .map_err(io::Error::other)
    }

    fn set_active(&self, user: &str, name: Option<&str>) -> io::Result<Result<(), ScriptRefusal>> {
        self.changing(user, |c| {
            if let Some(n) = name {
                if !exists(c, user, n)? {
                    return Ok(Err(ScriptRefusal::NoSuchScript));
                }
            }
            c.execute(
                "UPDATE sieve_scripts SET active = false WHERE account = $1 AND active",
                &[&user],
            )?;
            if let Some(n) = name {
                c.execute(
                    "UPDATE sieve_scripts SET active = true WHERE account = $1 AND name = $2",
                    &[&user, &n],
                )?;
            }
            Ok(Ok(()))
        })
    }

    fn delete(&self, user: &str, name: &str) -> io::Result<Result<(), ScriptRefusal>> {
        self.changing(user, |c| {
            let row = c.query_opt(
                "SELECT active FROM sieve_scripts WHERE account = $1 AND name = $2",
                &[&user, &name],
            )?;
            match row.map(|r| r.get::<_, bool>(0)) {
                None => Ok(Err(ScriptRefusal::NoSuchScript)),
                Some(true) => Ok(Err(ScriptRefusal::Active)),
                Some(false) => {
                    c.execute(
                        "DELETE FROM sieve_scripts WHERE account = $1 AND name = $2",
                        &[&user, &name],
                    )?;
                    Ok(Ok(()))
                }
            }
        })
    }

    fn rename(&self, user: &str, old: &str, new: &str) -> io::Result<Result<(), ScriptRefusal>> {
        self.changing(user, |c| {
            if !exists(c, user, old)? {
                return Ok(Err(ScriptRefusal::NoSuchScript));
            }
            if exists(c, user, new)? {
                return Ok(Err(ScriptRefusal::NameTaken));
            }
            c.execute(
                "UPDATE sieve_scripts SET name = $3 WHERE account = $1 AND name = $2",
                &[&user, &old, &new],
            )?;
            Ok(Ok(()))
        })
    }

    fn active(&self, user: &str) -> io::Result<Option<(String, Vec<u8>)>> {
        let row = self
            .pool
            .get()
            .and_then(|c| {
                c.query_opt(
                    "SELECT name, content FROM sieve_scripts WHERE account = $1 AND active",
                    &[&user],
                )
            })
            .map_err(io::Error::other)?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}
