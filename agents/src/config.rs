//! The TOML configuration of CONTRACT.md: every key parsed, validated, defaulted, and
//! printable as the effective configuration. Unknown keys are errors.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use postrider_core::dkim::Canon;
use serde::{Deserialize, Serialize};

pub use crate::config_sections::{ListenOnly, StorageSection, WebSection};
use crate::config_values::err;
pub use crate::config_values::{
    check_addrs, parse_duration, AccountsKind, AuthVerify, Cidr, ConfigError, DmarcMode, LogFormat,
    LogLevel, MailboxFormat, OutboundTls, Span, StorageBackend, TargetOrigin, VrfyMode,
};

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Host name used in the banner, Received and Message-ID (default: the system's).
    pub hostname: String,
    /// Domains delivered locally (default: `localhost` and the host name).
    pub domains: Vec<String>,
    /// Where the queue, accounts, mailboxes and TLS files live.
    pub data_dir: PathBuf,
    /// `file` (users file in data_dir) or `system` (/etc/passwd + /etc/shadow).
    pub accounts: AccountsKind,
    /// Log level: error, warn, info, debug, trace.
    pub log: LogLevel,
    /// `text` (Postfix-like lines) or `json` (one object per line).
    pub log_format: LogFormat,
    /// Separates a local part from its extension (`alice+lists`); "" turns it off.
    pub recipient_delimiter: String,
    /// The unprivileged system user the server (and every command) runs as when started
    /// as root, after binding its listeners; "" stays as started.
    pub user: String,
    /// The MTA listener (port 25 role).
    pub smtp: SmtpSection,
    /// The submission listeners (RFC 6409, RFC 8314).
    pub submission: SubmissionSection,
    /// POP3 listeners.
    pub pop3: ListenerSection,
    /// IMAP listeners.
    pub imap: ListenerSection,
    /// Certificate and key.
    pub tls: TlsSection,
    /// Resolvers.
    pub dns: DnsSection,
    /// Queue and delivery settings.
    pub delivery: DeliverySection,
    /// DKIM signing domains.
    pub dkim: DkimSection,
    /// Authentication policy.
    pub auth: AuthSection,
    /// Webmail, admin pages and metrics.
    pub web: WebSection,
    /// ManageSieve (RFC 5804).
    pub managesieve: ListenOnly,
    /// LMTP (RFC 2033), for use behind another MTA.
    pub lmtp: ListenOnly,
    /// Storage backend.
    pub storage: StorageSection,
}

/// `[smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    /// Addresses to listen on.
    pub listen: Vec<String>,
    /// Largest message in octets, advertised with SIZE.
    pub max_message_size: u64,
    /// Most recipients per message.
    pub max_recipients: usize,
    /// CIDRs that may relay without AUTH.
    pub trusted_networks: Vec<String>,
    /// Bad commands before 421 and close.
    pub max_errors: u32,
    /// Concurrent connections on this listener section.
    pub max_connections: usize,
    /// Concurrent connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Idle time allowed between commands (RFC 5321 §4.5.3.2.7).
    pub command_timeout: Span,
    /// Idle time allowed inside DATA (RFC 5321 §4.5.3.2.5).
    pub data_timeout: Span,
    /// Messages accepted on one connection before it is closed with 421.
    pub max_messages_per_connection: u32,
    /// VRFY: `ambiguous` (252 for everything), `verify` (252 or 550), `off` (502).
    pub vrfy: VrfyMode,
    /// Check DKIM signatures of mail received here and record the results in an
    /// Authentication-Results field (RFC 8601).
    pub verify_dkim: bool,
    /// Evaluate SPF (RFC 7208) for the MAIL FROM (or HELO) identity of mail received here
    /// and record the result in the Authentication-Results field.
    pub verify_spf: bool,
    /// Evaluate DMARC (RFC 7489) from the DKIM and SPF results and record it in the
    /// Authentication-Results field.
    pub verify_dmarc: bool,
    /// What to do with mail failing DMARC whose domain asks for quarantine or reject:
    /// `record` (only the Authentication-Results field), `quarantine` (deliver into the
    /// recipient's Junk folder for either), `enforce` (Junk for quarantine, 550 5.7.1 at
    /// the end of DATA for reject).
    pub dmarc_policy: DmarcMode,
}

/// `[submission]`: the listener keys plus the submission policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionSection {
    /// STARTTLS addresses (port 587 role).
    pub listen: Vec<String>,
    /// Implicit-TLS addresses (port 465 role).
    pub listen_tls: Vec<String>,
    /// Concurrent connections on these listeners.
    pub max_connections: usize,
    /// Concurrent connections from one IP address.
    pub max_connections_per_ip: usize,
    /// MAIL FROM must be an address of the authenticated user (else 553 5.7.1).
    pub sender_login_match: bool,
}

impl Default for SubmissionSection {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:2587".into()],
            listen_tls: vec!["127.0.0.1:2465".into()],
            max_connections: 1000,
            max_connections_per_ip: 100,
            sender_login_match: true,
        }
    }
}

/// A listener section with plain and implicit-TLS addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerSection {
    /// Plain (STARTTLS-capable) addresses.
    pub listen: Vec<String>,
    /// Implicit-TLS addresses.
    pub listen_tls: Vec<String>,
    /// Concurrent connections on this section's listeners.
    pub max_connections: usize,
    /// Concurrent connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Idle time before autologout (POP3: 10 minutes, RFC 1939 §3; IMAP: 30 minutes,
    /// RFC 3501 §5.4).
    pub idle_timeout: Span,
}

/// `[tls]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chain; absent: self-signed in data_dir/tls.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// Longest time a client may take to finish a TLS handshake (implicit TLS or after
    /// STARTTLS/STLS) before the connection is closed.
    pub handshake_timeout: Span,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            handshake_timeout: Span::secs(30),
        }
    }
}

/// `[dns]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSection {
    /// Resolver addresses `ip:port`; absent: /etc/resolv.conf.
    pub servers: Option<Vec<String>>,
}

/// `[delivery]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySection {
    /// TCP port of remote MX hosts.
    pub remote_port: u16,
    /// `host:port` to send all remote mail to, or empty.
    pub smarthost: String,
    /// Waits between attempts; the last repeats.
    pub retry: Vec<Span>,
    /// Age after which a message bounces.
    pub max_age: Span,
    /// Aliases file; empty: data_dir/aliases.
    pub aliases: String,
    /// Outbound STARTTLS: `none`, `may` (opportunistic, unverified) or `verify`
    /// (required, verified against the system's CA certificates).
    pub tls: OutboundTls,
    /// Remote deliveries in progress at once.
    pub max_concurrency: usize,
    /// Remote deliveries in progress at once to one destination domain.
    pub max_per_destination: usize,
    /// The unprivileged user that files and programs named in the aliases run as when
    /// the server runs as root (never root itself).
    pub default_user: String,
    /// Time a delivery to a command may take before it is killed and deferred.
    pub command_timeout: Span,
    /// Where `/file` targets are allowed: any of `alias`, `forward`, `include`.
    pub allow_files: Vec<TargetOrigin>,
    /// Where `|command` targets are allowed: any of `alias`, `forward`, `include`.
    pub allow_commands: Vec<TargetOrigin>,
    /// Where `:include:` targets are allowed: any of `alias`, `forward`, `include`.
    pub allow_include: Vec<TargetOrigin>,
}

/// `[dkim]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DkimSection {
    /// One entry per signing domain.
    pub sign: Vec<DkimSign>,
}

/// `[[dkim.sign]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSign {
    /// Signing domain.
    pub domain: String,
    /// Selector.
    pub selector: String,
    /// PKCS#8 PEM key file.
    pub key: PathBuf,
    /// `HEADER/BODY` canonicalization (RFC 6376 §3.4): `relaxed` or `simple` each;
    /// `relaxed/relaxed` when absent.
    #[serde(default = "default_canonicalization")]
    pub canonicalization: String,
}

fn default_canonicalization() -> String {
    "relaxed/relaxed".into()
}

impl DkimSign {
    /// The header and body canonicalizations, `None` when the setting is not valid.
    pub fn canons(&self) -> Option<(Canon, Canon)> {
        let parse = |c: &str| match c {
            "relaxed" => Some(Canon::Relaxed),
            "simple" => Some(Canon::Simple),
            _ => None,
        };
        let (h, b) = self
            .canonicalization
            .split_once('/')
            .unwrap_or((self.canonicalization.as_str(), "simple"));
        Some((parse(h)?, parse(b)?))
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Allow passwords without TLS.
    pub allow_plaintext: bool,
    /// Failed logins on one connection before it is closed.
    pub max_failures: u32,
    /// `record` or `enforce`.
    pub verify: AuthVerify,
    /// Wait before answering a failed login; the n-th failure waits n times this.
    pub failure_delay: Span,
    /// Longest penalty hold for a client or account with recent failures, across
    /// connections and protocols (it starts at `failure_delay` and doubles); "0s": off.
    pub max_penalty: Span,
}

fn system_hostname() -> String {
    let h = gethostname::gethostname().to_string_lossy().into_owned();
    if h.is_empty() {
        "localhost".into()
    } else {
        h
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            domains: Vec::new(),
            data_dir: PathBuf::from("./postrider-data"),
            accounts: AccountsKind::File,
            log: LogLevel::Info,
            log_format: LogFormat::Text,
            recipient_delimiter: "+".into(),
            user: String::new(),
            smtp: SmtpSection::default(),
            submission: SubmissionSection::default(),
            pop3: ListenerSection::with(&["127.0.0.1:2110"], &["127.0.0.1:2995"], Span::secs(600)),
            imap: ListenerSection::with(&["127.0.0.1:2143"], &["127.0.0.1:2993"], Span::secs(1800)),
            tls: TlsSection::default(),
            dns: DnsSection::default(),
            delivery: DeliverySection::default(),
            dkim: DkimSection::default(),
            auth: AuthSection::default(),
            web: WebSection::default(),
            managesieve: ListenOnly::on("127.0.0.1:4190"),
            lmtp: ListenOnly::on("127.0.0.1:2024"),
            storage: StorageSection::default(),
        }
    }
}

impl Default for SmtpSection {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:2525".into()],
            max_message_size: 10_485_760,
            max_recipients: 100,
            trusted_networks: Vec::new(),
            max_errors: 10,
            max_connections: 1000,
            max_connections_per_ip: 100,
            command_timeout: Span::secs(300),
            data_timeout: Span::secs(180),
            max_messages_per_connection: 1000,
            vrfy: VrfyMode::Ambiguous,
            verify_dkim: true,
            verify_spf: true,
            verify_dmarc: true,
            dmarc_policy: DmarcMode::Record,
        }
    }
}

impl ListenerSection {
    fn with(listen: &[&str], listen_tls: &[&str], idle_timeout: Span) -> Self {
        Self {
            listen: listen.iter().map(|s| s.to_string()).collect(),
            listen_tls: listen_tls.iter().map(|s| s.to_string()).collect(),
            max_connections: 1000,
            max_connections_per_ip: 100,
            idle_timeout,
        }
    }
}

impl Default for ListenerSection {
    fn default() -> Self {
        Self::with(&[], &[], Span::secs(600))
    }
}

impl Default for DeliverySection {
    fn default() -> Self {
        Self {
            remote_port: 25,
            smarthost: String::new(),
            retry: [300, 600, 1800, 3600, 7200, 14_400]
                .into_iter()
                .map(Span::secs)
                .collect(),
            max_age: Span::secs(5 * 86_400),
            aliases: String::new(),
            tls: OutboundTls::May,
            max_concurrency: 20,
            max_per_destination: 5,
            default_user: "nobody".into(),
            command_timeout: Span::secs(1000),
            allow_files: vec![TargetOrigin::Alias, TargetOrigin::Forward],
            allow_commands: vec![TargetOrigin::Alias, TargetOrigin::Forward],
            allow_include: vec![
                TargetOrigin::Alias,
                TargetOrigin::Forward,
                TargetOrigin::Include,
            ],
        }
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            allow_plaintext: false,
            max_failures: 3,
            verify: AuthVerify::Record,
            failure_delay: Span::secs(1),
            max_penalty: Span::secs(15),
        }
    }
}

/// Values derived from the file once it is validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file's values with defaults filled in (hostname, domains).
    pub config: Config,
    /// Parsed `smtp.trusted_networks`.
    pub trusted_networks: Vec<Cidr>,
    /// The file the configuration came from (None: embedded defaults); passed to
    /// commands run by the delivery agent as `POSTRIDER_CONFIG`.
    pub config_path: Option<PathBuf>,
}

impl Config {
    /// Parses TOML text; `origin` names the source in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let at = e
                .span()
                .map(|s| {
                    let start = s.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    let content = text.lines().nth(line - 1).unwrap_or("").trim();
                    format!(" (line {line}: {content})")
                })
                .unwrap_or_default();
            ConfigError(format!("{origin}: {msg}{at}"))
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config {}: {e}", path.display())))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Fills in defaults and validates every value.
    pub fn validate(mut self) -> Result<Settings, ConfigError> {
        if self.hostname.is_empty() {
            self.hostname = system_hostname();
        }
        if self.domains.is_empty() {
            self.domains = vec!["localhost".into(), self.hostname.clone()];
        }
        for d in &self.domains {
            if d.is_empty() || d.contains(|c: char| c.is_whitespace() || c == '@') {
                return err(format!("domains: invalid domain {d:?}"));
            }
        }

        if self
            .recipient_delimiter
            .chars()
            .any(|ch| ch == '@' || ch.is_whitespace() || ch.is_control())
        {
            return err(format!(
                "recipient_delimiter: {:?} may not hold '@', spaces or control characters",
                self.recipient_delimiter
            ));
        }
        if !self.user.is_empty() && self.accounts == AccountsKind::System {
            return err(
                "user: with accounts = \"system\" the server stays root to deliver as each user \
                 (as Postfix's local(8)); remove `user` or use file accounts"
                    .to_string(),
            );
        }
        self.web.validate()?;
        check_addrs("managesieve", &self.managesieve.listen)?;
        check_addrs("lmtp", &self.lmtp.listen)?;
        self.storage.validate(self.accounts)?;
        check_addrs("smtp", &self.smtp.listen)?;
        let sub = &self.submission;
        for (name, listen, listen_tls, max, per_ip) in [
            (
                "submission",
                &sub.listen,
                &sub.listen_tls,
                sub.max_connections,
                sub.max_connections_per_ip,
            ),
            (
                "pop3",
                &self.pop3.listen,
                &self.pop3.listen_tls,
                self.pop3.max_connections,
                self.pop3.max_connections_per_ip,
            ),
            (
                "imap",
                &self.imap.listen,
                &self.imap.listen_tls,
                self.imap.max_connections,
                self.imap.max_connections_per_ip,
            ),
        ] {
            check_addrs(name, listen)?;
            check_addrs(name, listen_tls)?;
            if max == 0 || per_ip == 0 {
                return err(format!(
                    "[{name}]: max_connections and max_connections_per_ip must be at least 1"
                ));
            }
        }
        let smtp = &self.smtp;
        if smtp.max_connections == 0 || smtp.max_connections_per_ip == 0 {
            return err("[smtp]: max_connections and max_connections_per_ip must be at least 1");
        }
        if smtp.max_recipients == 0 {
            return err("[smtp]: max_recipients must be at least 1");
        }
        if smtp.max_errors == 0 {
            return err("[smtp]: max_errors must be at least 1");
        }
        if smtp.max_messages_per_connection == 0 {
            return err("[smtp]: max_messages_per_connection must be at least 1");
        }

        if smtp.max_message_size < 1024 {
            return err("[smtp]: max_message_size must be at least 1024");
        }
        let trusted_networks = smtp
            .trusted_networks
            .iter()
            .map(|n| {
                Cidr::parse(n).map_err(|e| ConfigError(format!("[smtp] trusted_networks: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) | (None, Some(_)) => {
                return err("[tls]: cert and key must be given together")
            }
            _ => {}
        }
        if let Some(servers) = &self.dns.servers {
            for s in servers {
                if s.parse::<SocketAddr>().is_err() && s.parse::<IpAddr>().is_err() {
                    return err(format!(
                        "[dns] servers: invalid address {s:?} (expected ip or ip:port)"
                    ));
                }
            }
        }
        let d = &self.delivery;
        if !d.smarthost.is_empty() {
            match d.smarthost.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {}
                _ => {
                    return err(format!(
                        "[delivery] smarthost: expected \"host:port\", not {:?}",
                        d.smarthost
                    ))
                }
            }
        }
        if d.max_concurrency == 0 || d.max_per_destination == 0 {
            return err("[delivery]: max_concurrency and max_per_destination must be at least 1");
        }
        if d.retry.is_empty() {
            return err("[delivery] retry: give at least one duration");
        }
        for s in &self.dkim.sign {
            if s.domain.is_empty() || s.selector.is_empty() {
                return err("[[dkim.sign]]: domain and selector must not be empty");
            }
            if s.canons().is_none() {
                return err(format!(
                    "[[dkim.sign]] canonicalization: must be relaxed or simple, HEADER/BODY, not {:?}",
                    s.canonicalization
                ));
            }
        }
        if self.auth.max_failures == 0 {
            return err("[auth] max_failures: must be at least 1");
        }
        if self.tls.handshake_timeout.get().is_zero() {
            return err("[tls] handshake_timeout: must be longer than 0");
        }
        Ok(Settings {
            config: self,
            trusted_networks,
            config_path: None,
        })
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

impl Settings {
    /// The aliases file in force.
    pub fn aliases_path(&self) -> PathBuf {
        if self.config.delivery.aliases.is_empty() {
            if self.config.accounts == AccountsKind::System {
                PathBuf::from("/etc/aliases")
            } else {
                self.config.data_dir.join("aliases")
            }
        } else {
            PathBuf::from(&self.config.delivery.aliases)
        }
    }

    /// Whether `domain` is delivered locally (case-insensitive).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.');
        self.config
            .domains
            .iter()
            .any(|l| l.eq_ignore_ascii_case(d))
    }

    /// The first local domain (where postmaster and unqualified names live).
    pub fn primary_domain(&self) -> &str {
        self.config
            .domains
            .first()
            .map(String::as_str)
            .unwrap_or(&self.config.hostname)
    }

    /// Whether `ip` may relay without authentication.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_networks.iter().any(|n| n.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn contract_example_parses() {
        let text = r#"
hostname = "mx.a.test"
domains = ["a.test"]
data_dir = "/var/spool/postrider"
accounts = "file"
log = "info"
[smtp]
listen = ["127.0.0.1:2525"]
max_message_size = 10485760
max_recipients = 100
trusted_networks = ["10.0.0.0/8", "::1"]
max_errors = 10
max_connections = 1000
max_connections_per_ip = 100
[submission]
listen = ["127.0.0.1:2587"]
listen_tls = ["127.0.0.1:2465"]
[pop3]
listen = ["127.0.0.1:2110"]
listen_tls = ["127.0.0.1:2995"]
[imap]
listen = ["127.0.0.1:2143"]
listen_tls = ["127.0.0.1:2993"]
max_connections = 5
[tls]
cert = "/path/cert.pem"
key = "/path/key.pem"
[dns]
servers = ["127.0.0.1:5353"]
[delivery]
remote_port = 25
smarthost = ""
retry = ["5m", "10m", "30m", "1h", "2h", "4h"]
max_age = "5d"
aliases = ""
[[dkim.sign]]
domain = "a.test"
selector = "s1"
key = "/path/s1.pem"
[auth]
allow_plaintext = false
max_failures = 3
verify = "record"
"#;
        let s = Config::from_toml(text, "t").unwrap().validate().unwrap();
        assert_eq!(s.config.hostname, "mx.a.test");
        assert!(s.is_trusted("10.1.2.3".parse().unwrap()));
        assert!(s.is_trusted("::1".parse().unwrap()));
        assert!(!s.is_trusted("11.0.0.1".parse().unwrap()));
        assert_eq!(
            s.config.delivery.max_age.get(),
            Duration::from_secs(5 * 86_400)
        );
        let again = Config::from_toml(&s.config.to_toml(), "t").unwrap();
        assert_eq!(again.to_toml(), s.config.to_toml());
    }

    #[test]
    fn unknown_keys_and_bad_values_fail() {
        assert!(Config::from_toml("bogus = 1", "t")
            .unwrap_err()
            .0
            .contains("unknown field"));
        assert!(Config::from_toml("[smtp]\nlisten = 5", "t").is_err());
        let bad = |t: &str| {
            Config::from_toml(t, "t")
                .and_then(Config::validate)
                .is_err()
        };
        assert!(bad("[smtp]\nlisten = [\"nope\"]"));
        assert!(bad("[delivery]\nmax_age = \"5 weeks\""));
        assert!(bad("accounts = \"ldap\""));
        assert!(bad("[smtp]\ntrusted_networks = [\"10.0.0.0/33\"]"));
        assert!(bad("[tls]\ncert = \"/x\""));
        assert!(bad("[smtp]\nvrfy = \"maybe\""));
        assert!(bad("[smtp]\ndmarc_policy = \"drop\""));
        assert!(bad(
            "[[dkim.sign]]\ndomain = \"a.test\"\nselector = \"s\"\nkey = \"/k\"\ncanonicalization = \"loose/simple\""
        ));
        assert!(bad("[auth]\nmax_failures = 0"));
        assert!(bad("[auth]\nfailure_delay = \"soon\""));
        assert!(Config::from_toml("[pop3]\nsender_login_match = true", "t").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("h").is_err());
    }
}
