//! What can go wrong with the database, as one error type for the whole backend.

use tokio_postgres::error::SqlState;

/// A database failure, for logs (never shown to mail clients as is).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL could not be used.
    #[error("[storage] url: {0}")]
    Url(String),
    /// No connection could be made.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// A statement failed.
    #[error("PostgreSQL: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// A schema newer than this binary knows.
    #[error("{0}")]
    Schema(String),
}

/// The server's message and SQLSTATE for a database error, else the client's text with
/// its causes (a TLS handshake failure says why: "invalid peer certificate: ...").
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

impl PgError {
    /// Whether the transaction should be tried again (serialization failure, deadlock).
    pub fn is_retryable(&self) -> bool {
        match self {
            PgError::Db(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            _ => false,
        }
    }

    /// Whether the error is a unique-key violation (an insert of something existing).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, PgError::Db(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
    }
}
