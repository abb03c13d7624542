//! The sections of the configuration (CONTRACT.md) for services that are not built yet:
//! `[web]`, `[managesieve]`, `[lmtp]`, `[storage]`, with `log_format` and
//! `recipient_delimiter`. Each is parsed and validated now, so a configuration written for
//! a later version is checked today; [`unbuilt_notices`] says at start-up which settings
//! have no effect yet.

use serde::{Deserialize, Serialize};

use crate::config::{check_addrs, parse_duration, Cidr, Config, ConfigError};

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
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:2080".into()],
            listen_tls: vec!["127.0.0.1:2443".into()],
            admins: Vec::new(),
            metrics_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
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
    pub backend: String,
    /// Files backend: `mbox` or `maildir`.
    pub mailbox_format: String,
    /// PostgreSQL URL.
    pub url: String,
    /// This node's name among those sharing the database (default: the host name).
    pub node: String,
    /// How long a node owns a queue entry it is delivering.
    pub lease: String,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            backend: "files".into(),
            mailbox_format: "mbox".into(),
            url: String::new(),
            node: String::new(),
            lease: "5m".into(),
        }
    }
}

fn bad<T>(msg: String) -> Result<T, ConfigError> {
    Err(ConfigError(msg))
}

/// Validates the sections of this module (called by [`Config::validate`]).
pub fn validate(c: &Config) -> Result<(), ConfigError> {
    if !matches!(c.log_format.as_str(), "text" | "json") {
        return bad(format!(
            "log_format: must be \"text\" or \"json\", not {:?}",
            c.log_format
        ));
    }
    if c.recipient_delimiter
        .chars()
        .any(|ch| ch == '@' || ch.is_whitespace() || ch.is_control())
    {
        return bad(format!(
            "recipient_delimiter: {:?} may not hold '@', spaces or control characters",
            c.recipient_delimiter
        ));
    }
    check_addrs("web", &c.web.listen)?;
    check_addrs("web", &c.web.listen_tls)?;
    for n in &c.web.metrics_networks {
        Cidr::parse(n).map_err(|e| ConfigError(format!("[web] metrics_networks: {e}")))?;
    }
    check_addrs("managesieve", &c.managesieve.listen)?;
    check_addrs("lmtp", &c.lmtp.listen)?;
    let s = &c.storage;
    if !matches!(s.backend.as_str(), "files" | "postgres") {
        return bad(format!(
            "[storage] backend: must be \"files\" or \"postgres\", not {:?}",
            s.backend
        ));
    }
    if !matches!(s.mailbox_format.as_str(), "mbox" | "maildir") {
        return bad(format!(
            "[storage] mailbox_format: must be \"mbox\" or \"maildir\", not {:?}",
            s.mailbox_format
        ));
    }
    if s.backend == "postgres" {
        if !s.url.starts_with("postgres://") && !s.url.starts_with("postgresql://") {
            return bad(format!(
                "[storage] url: backend \"postgres\" needs a postgres:// URL, not {:?}",
                s.url
            ));
        }
        if c.accounts == "system" {
            return bad(
                "accounts = \"system\" cannot be used with [storage] backend = \"postgres\"".into(),
            );
        }
    }
    parse_duration(&s.lease).map_err(|e| ConfigError(format!("[storage] lease: {e}")))?;
    Ok(())
}

/// One line for each setting that is valid but has no effect in this version.
pub fn unbuilt_notices(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut note =
        |what: &str| out.push(format!("{what} is not built in this version yet; ignored"));
    if c.log_format == "json" {
        note("log_format = \"json\"");
    }
    if c.storage.backend == "postgres" {
        note("[storage] backend = \"postgres\" (mail stays in data_dir)");
    }
    if c.storage.mailbox_format == "maildir" {
        note("[storage] mailbox_format = \"maildir\" (mailboxes stay mbox)");
    }
    out
}
