//! `newaliases`: compiles the aliases(5) file into what delivery reads (with the files
//! backend its cdb db beside it; with PostgreSQL the table every node reads). Shared by
//! the `newaliases` command and the admin pages' aliases editor.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use postrider_core::delivery::aliases::{AliasError, Aliases};
use postrider_store::pg::{PgAliases, Pool};

use crate::config::{Settings, StorageBackend};

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Aliases compiled.
    pub count: usize,
    /// Where they went (the db file, or "the database").
    pub into: String,
    /// Lines of the source that were skipped, `LINE: why`.
    pub warnings: Vec<String>,
}

/// Compiles the aliases file of `settings`; `pool` is the database with the PostgreSQL
/// backend.
pub fn rebuild(settings: &Settings, pool: Option<&Arc<Pool>>) -> Result<Rebuilt, String> {
    let path = settings.aliases_path();
    if settings.config.storage.backend == StorageBackend::Postgres {
        let pool = pool.ok_or("no database")?;
        return into_database(&path, pool);
    }
    let (count, errors) = postrider_store::aliases::build_db(&path)?;
    Ok(Rebuilt {
        count,
        into: postrider_store::aliases::db_path(&path)
            .display()
            .to_string(),
        warnings: warnings(&errors),
    })
}

/// Loads the aliases file into the database.
fn into_database(path: &Path, pool: &Arc<Pool>) -> Result<Rebuilt, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (aliases, errors) = Aliases::parse(&text);
    let all: BTreeMap<String, Vec<String>> = aliases
        .entries()
        .map(|(n, t)| (n.to_string(), t.to_vec()))
        .collect();
    PgAliases::new(pool.clone())
        .replace_all(&all)
        .map_err(|e| e.to_string())?;
    Ok(Rebuilt {
        count: all.len(),
        into: "the database".into(),
        warnings: warnings(&errors),
    })
}

fn warnings(errors: &[AliasError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.line, e.message))
        .collect()
}
