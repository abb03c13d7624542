//! The sections of the configuration (CONTRACT.md) beyond the mail protocols': `[web]`,
//! `[managesieve]`, `[lmtp]`, `[storage]`, with `log_format` and `recipient_delimiter`.

use serde::{Deserialize, Serialize};

use crate::config_values::{
    check_addrs, AccountsKind, Cidr, ConfigError, MailboxFormat, Span, StorageBackend,
};

/// `[web]`: webmail, admin pages and metrics over HTTPS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// HTTP addresses (they only redirect to HTTPS).
    pub listen: Vec<String>,
    /// HTTPS addresses: webmail at /, admin at /admin, metrics at /metrics.
    pub listen_tls: Vec<String>,
    /// Accounts that may use /admin.
    pub admins: Vec<String>,
    /// Networks that may read /metrics without logging in.
    pub metrics_networks: Vec<String>,
    /// Most simultaneous web connections (a browser opens several).
    pub max_connections: usize,
    /// Most simultaneous web connections from one client address.
    pub max_connections_per_ip: usize,
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:2080".into()],
            listen_tls: vec!["127.0.0.1:2443".into()],
            admins: Vec::new(),
            metrics_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            max_connections: 500,
            max_connections_per_ip: 50,
        }
    }
}

/// A section with only listen addresses (`[managesieve]`, `[lmtp]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenOnly {
    /// Addresses to listen on.
    pub listen: Vec<String>,
}

impl ListenOnly {
    /// A section listening on `addr`.
    pub fn on(addr: &str) -> Self {
        Self {
            listen: vec![addr.into()],
        }
    }
}

/// `[storage]`: where mailboxes, the queue and accounts live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `files` (under data_dir) or `postgres`.
    pub backend: StorageBackend,
    /// Files backend: `mbox` or `maildir`.
    pub mailbox_format: MailboxFormat,
    /// PostgreSQL URL.
    pub url: String,
    /// This node's name among those sharing the database (default: the host name).
    pub node: String,
    /// How long a node owns a queue entry it is delivering.
    pub lease: Span,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Files,
            mailbox_format: MailboxFormat::Mbox,
            url: String::new(),
            node: String::new(),
            lease: Span::secs(300),
        }
    }
}

fn bad<T>(msg: String) -> Result<T, ConfigError> {
    Err(ConfigError(msg))
}

impl WebSection {
    /// Checks the addresses and networks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_addrs("web", &self.listen)?;
        check_addrs("web", &self.listen_tls)?;
        for n in &self.metrics_networks {
            Cidr::parse(n).map_err(|e| ConfigError(format!("[web] metrics_networks: {e}")))?;
        }
        Ok(())
    }
}

impl StorageSection {
    /// Checks the backend and its settings; `accounts` is the top-level `accounts` key
    /// (system accounts cannot live in the database).
    pub fn validate(&self, accounts: AccountsKind) -> Result<(), ConfigError> {
        if self.backend == StorageBackend::Postgres {
            if !self.url.starts_with("postgres://") && !self.url.starts_with("postgresql://") {
                return bad(format!(
                    "[storage] url: backend \"postgres\" needs a postgres:// URL, not {:?}",
                    self.url
                ));
            }
            if accounts == AccountsKind::System {
                return bad(
                    "accounts = \"system\" cannot be used with [storage] backend = \"postgres\""
                        .into(),
                );
            }
        }
        Ok(())
    }
}
