//! Accounts in the database (`postrider user add/passwd/del/list` on any node), with the
//! same names and password hashes as the users file.

use std::sync::Arc;

use crate::accounts::{
    hash_password, valid_name, verify_password, AccountError, AccountStore, Login, PasswdEntry,
    Secret, DUMMY_ARGON2,
};

use super::pool::{PgError, Pool};

/// The accounts table.
#[derive(Debug)]
pub struct PgAccounts {
    pool: Arc<Pool>,
}

impl PgAccounts {
    /// The accounts of the database behind `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }

    fn hash_of(&self, name: &str) -> Result<Option<String>, PgError> {
        let c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT password_hash FROM accounts WHERE name = $1",
            &[&name],
        )?;
        Ok(row.map(|r| r.get(0)))
    }
}

fn db(e: PgError) -> AccountError {
    AccountError::Io(e.to_string())
}

impl AccountStore for PgAccounts {
    fn exists(&self, name: &str) -> bool {
        match self.hash_of(&name.to_ascii_lowercase()) {
            Ok(h) => h.is_some(),
            Err(e) => {
                tracing::error!("accounts: {e}");
                false
            }
        }
    }

    fn login(&self, name: &str, password: &Secret) -> Login {
        let name = name.to_ascii_lowercase();
        match self.hash_of(&name) {
            Ok(Some(h)) if verify_password(password, &h) => Login::Valid(name),
            Ok(Some(_)) => Login::Invalid,
            Ok(None) => {
                // As long for an unknown name as for a wrong password.
                let _ = verify_password(password, DUMMY_ARGON2);
                Login::Invalid
            }
            Err(e) => Login::Unavailable(e.to_string()),
        }
    }

    fn system_user(&self, _name: &str) -> Option<PasswdEntry> {
        None
    }

    fn list(&self) -> Result<Vec<String>, AccountError> {
        let c = self.pool.get().map_err(db)?;
        let rows = c
            .query("SELECT name FROM accounts ORDER BY name", &[])
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn add(&self, name: &str, password: &Secret) -> Result<(), AccountError> {
        let name = checked(name, password)?;
        let hash = hash_password(password)?;
        let c = self.pool.get().map_err(db)?;
        match c.execute(
            "INSERT INTO accounts (name, password_hash) VALUES ($1, $2)",
            &[&name, &hash],
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.is_unique_violation() => Err(AccountError::Exists(name)),
            Err(e) => Err(db(e)),
        }
    }

    fn passwd(&self, name: &str, password: &Secret) -> Result<(), AccountError> {
        let name = checked(name, password)?;
        let hash = hash_password(password)?;
        let c = self.pool.get().map_err(db)?;
        let n = c
            .execute(
                "UPDATE accounts SET password_hash = $2 WHERE name = $1",
                &[&name, &hash],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(AccountError::NoSuchUser(name));
        }
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), AccountError> {
        let name = name.to_ascii_lowercase();
        let c = self.pool.get().map_err(db)?;
        let n = c
            .execute("DELETE FROM accounts WHERE name = $1", &[&name])
            .map_err(db)?;
        if n == 0 {
            return Err(AccountError::NoSuchUser(name));
        }
        Ok(())
    }
}

/// The lower-cased name, after the rules every backend applies.
fn checked(name: &str, password: &Secret) -> Result<String, AccountError> {
    let name = name.to_ascii_lowercase();
    if !valid_name(&name) {
        return Err(AccountError::InvalidName(name));
    }
    if password.expose().is_empty() {
        return Err(AccountError::EmptyPassword);
    }
    Ok(name)
}
