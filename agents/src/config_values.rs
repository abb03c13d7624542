//! The value types of the configuration and their parsers: errors, durations, networks
//! and listen addresses, shared by every section.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A configuration problem, with a message fit for a one-line error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h`, `5d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let Ok(n) = num.parse::<u64>() else {
        return err(format!(
            "invalid duration {s:?}: expected a number with ms, s, m, h or d"
        ));
    };
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => {
            return err(format!(
                "invalid duration {s:?}: unit must be ms, s, m, h or d"
            ))
        }
    };
    Ok(Duration::from_secs(secs))
}

/// A network in CIDR notation, e.g. `10.0.0.0/8` or `::1/128` (a bare address is /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr[/prefix]`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let Ok(addr) = a.trim().parse::<IpAddr>() else {
            return err(format!("invalid network {s:?}: not an IP address"));
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return err(format!("invalid network {s:?}: prefix must be 0..={max}")),
            },
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses match IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Checks that every address of a listener section is `ip:port`.
pub fn check_addrs(section: &str, addrs: &[String]) -> Result<(), ConfigError> {
    for a in addrs {
        if a.parse::<SocketAddr>().is_err() {
            return err(format!(
                "[{section}]: invalid listen address {a:?} (expected ip:port)"
            ));
        }
    }
    Ok(())
}

/// A duration as the configuration writes it (`500ms`, `30s`, `5m`, `1h`, `5d`), parsed
/// when the file is read and printed back in the largest unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    /// A span of whole seconds.
    pub const fn secs(n: u64) -> Self {
        Span(Duration::from_secs(n))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let s = d.as_secs();
        match s {
            0 => write!(f, "0s"),
            _ if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            _ if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            _ if s % 60 == 0 => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Span)
            .map_err(serde::de::Error::custom)
    }
}

/// Declares a configuration keyword: an enum whose variants are written in lower case in
/// the file, with the word each stands for.
macro_rules! keyword {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// The word as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }
    };
}

keyword! {
    /// `accounts`: where accounts come from.
    AccountsKind {
        /// The users file in data_dir.
        File = "file",
        /// /etc/passwd and /etc/shadow.
        System = "system",
    }
}

keyword! {
    /// `log`: the least severe level logged.
    LogLevel {
        /// Errors only.
        Error = "error",
        /// Warnings and errors.
        Warn = "warn",
        /// What an operator follows (the default).
        Info = "info",
        /// Protocol details.
        Debug = "debug",
        /// Everything.
        Trace = "trace",
    }
}

keyword! {
    /// `log_format`.
    LogFormat {
        /// Postfix-like lines.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
}

keyword! {
    /// `[smtp] vrfy`.
    VrfyMode {
        /// 252 for everything.
        Ambiguous = "ambiguous",
        /// 252 or 550.
        Verify = "verify",
        /// 502.
        Off = "off",
    }
}

keyword! {
    /// `[smtp] dmarc_policy`: what mail failing DMARC meets.
    DmarcMode {
        /// Only the Authentication-Results field.
        Record = "record",
        /// Junk folder for quarantine and reject.
        Quarantine = "quarantine",
        /// Junk for quarantine, 550 5.7.1 for reject.
        Enforce = "enforce",
    }
}

keyword! {
    /// `[delivery] tls`: outbound STARTTLS.
    OutboundTls {
        /// Never.
        None = "none",
        /// Opportunistic, unverified.
        May = "may",
        /// Required and verified against the system's CA certificates.
        Verify = "verify",
    }
}

keyword! {
    /// `[auth] verify`.
    AuthVerify {
        /// Record the results only.
        Record = "record",
        /// Act on them.
        Enforce = "enforce",
    }
}

keyword! {
    /// Where a delivery target came from (`[delivery] allow_files`, `allow_commands`,
    /// `allow_include`).
    TargetOrigin {
        /// The aliases file.
        Alias = "alias",
        /// A user's `.forward`.
        Forward = "forward",
        /// An `:include:` file.
        Include = "include",
    }
}

keyword! {
    /// `[storage] backend`.
    StorageBackend {
        /// Files under data_dir.
        Files = "files",
        /// PostgreSQL.
        Postgres = "postgres",
    }
}

keyword! {
    /// `[storage] mailbox_format` of the files backend.
    MailboxFormat {
        /// mbox files.
        Mbox = "mbox",
        /// Maildir directories.
        Maildir = "maildir",
    }
}

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn spans_print_back_in_the_largest_exact_unit() {
        for text in ["0s", "250ms", "1s", "1000s", "3m", "30m", "1h", "5d"] {
            let span = Span(parse_duration(text).unwrap_or_default());
            assert_eq!(span.to_string(), text);
        }
        assert_eq!(Span::secs(90).to_string(), "90s");
        assert_eq!(Span::secs(7200).to_string(), "2h");
    }
}
