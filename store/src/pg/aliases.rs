//! Aliases in the database: `newaliases` loads the aliases file into it, every node reads
//! them from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::aliases::AliasStore;

use super::pool::{PgError, Pool};

/// The aliases table.
#[derive(Debug)]
pub struct PgAliases {
    pool: Arc<Pool>,
}

impl PgAliases {
    /// The aliases of the database behind `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }

    /// Replaces every alias with `aliases` (names lower-cased), in one transaction:
    /// readers see the old set or the new one.
    pub fn replace_all(&self, aliases: &BTreeMap<String, Vec<String>>) -> Result<(), PgError> {
        self.pool.transaction(|c| {
            c.execute("DELETE FROM aliases", &[])?;
            for (name, targets) in aliases {
                c.execute(
                    "INSERT INTO aliases (name, targets) VALUES ($1, $2)",
                    &[&name.to_ascii_lowercase(), targets],
                )?;
            }
            Ok(())
        })
    }
}

impl AliasStore for PgAliases {
    fn lookup(&self, name: &str) -> Option<Vec<String>> {
        let found = self.pool.get().and_then(|c| {
            c.query_opt(
                "SELECT targets FROM aliases WHERE name = $1",
                &[&name.to_ascii_lowercase()],
            )
        });
        match found {
            Ok(row) => row.map(|r| r.get(0)),
            Err(e) => {
                tracing::error!("aliases: {e}");
                None
            }
        }
    }
}
