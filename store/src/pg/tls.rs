//! TLS to the database, chosen in `[storage] url` with libpq's parameters:
//! `sslmode` = `disable`; `prefer` (the default: TLS when the server offers it, its
//! certificate not checked); `require` (TLS or no connection; not checked unless
//! `sslrootcert` is given); `verify-ca` (the certificate chains to a trusted root);
//! `verify-full` (and it names the host of the URL). `sslrootcert` = a PEM file of the
//! CA certificates to trust, or `system` (the system's trust store, the default).
//!
//! tokio-postgres sends the SSLRequest and hands the stream to [`Connector`], which runs
//! the handshake with futures-rustls over the same async-io socket (rustls's ring
//! provider, as everywhere in this project).

use std::future::Future;
use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::error::PgError;
use crate::tls_verify::{AcceptAnyCertificate, ChainOnly};

/// The socket under a database connection.
pub type DbSocket = Compat<Async<TcpStream>>;

/// How the database's certificate is checked (`sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when offered, not checked.
    Prefer,
    /// TLS always, not checked (unless `sslrootcert` is given: then as `VerifyCa`).
    Require,
    /// TLS, chain checked.
    VerifyCa,
    /// TLS, chain and host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, PgError> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" | "allow" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(PgError::Url(format!(
                    "sslmode={other}: use disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether to insist.
    fn for_client(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            _ => "require",
        }
    }
}

/// The TLS settings of one database URL.
#[derive(Debug, Clone)]
pub struct DbTls {
    /// How the certificate is checked.
    pub mode: SslMode,
    /// The rustls configuration (none with `disable`).
    config: Option<Arc<ClientConfig>>,
}

/// Takes the TLS parameters out of a `postgres://` URL: (the URL for tokio-postgres,
/// with `sslmode` reduced to what it knows, and the TLS settings). Other strings pass
/// through unchanged (tokio-postgres's own `sslmode`, no certificate checks).
pub fn split_url(url: &str) -> Result<(String, DbTls), PgError> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (base, query) = match url.split_once('?') {
        Some((b, q)) if is_url => (b, q),
        _ => (url, ""),
    };
    let mut mode = SslMode::Prefer;
    let mut root: Option<String> = None;
    let mut kept: Vec<String> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = SslMode::parse(v)?,
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => kept.push(pair.to_string()),
        }
    }
    if is_url {
        kept.push(format!("sslmode={}", mode.for_client()));
    }
    let config = client_config(mode, root.as_deref())?;
    let rebuilt = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rebuilt, DbTls { mode, config }))
}

/// `%XX` escapes of a URL parameter decoded (a file name may need them).
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The roots to trust: the PEM file `path`, or the system's store.
fn roots(path: Option<&str>) -> Result<RootCertStore, PgError> {
    let mut roots = RootCertStore::empty();
    match path {
        Some(p) if p != "system" => {
            let certs = CertificateDer::pem_file_iter(p)
                .map_err(|e| PgError::Url(format!("sslrootcert={p}: {e}")))?;
            for cert in certs {
                let cert = cert.map_err(|e| PgError::Url(format!("sslrootcert={p}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| PgError::Url(format!("sslrootcert={p}: {e}")))?;
            }
        }
        _ => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(PgError::Url(format!(
            "sslrootcert={}: no CA certificate found",
            path.unwrap_or("system")
        )));
    }
    Ok(roots)
}

/// The rustls configuration for `mode`.
fn client_config(mode: SslMode, root: Option<&str>) -> Result<Option<Arc<ClientConfig>>, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| PgError::Url(format!("TLS setup: {e}")))?;
    let mode = match (mode, root) {
        (SslMode::Require, Some(_)) => SslMode::VerifyCa,
        (m, _) => m,
    };
    let config = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                ChainOnly::new(roots(root)?, provider).map_err(PgError::Url)?,
            ))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(root)?)
            .with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

impl DbTls {
    /// The connector for a connection to `host`.
    pub fn connector(&self, host: &str) -> Result<Connector, PgError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| PgError::Url(format!("{host}: {e}")))?;
        Ok(Connector {
            config: self.config.clone(),
            name,
        })
    }
}

/// Runs the TLS handshake of one connection when tokio-postgres asks for it.
#[derive(Debug, Clone)]
pub struct Connector {
    config: Option<Arc<ClientConfig>>,
    name: ServerName<'static>,
}

impl TlsConnect<DbSocket> for Connector {
    type Stream = DbTlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<DbTlsStream>> + Send>>;

    fn connect(self, stream: DbSocket) -> Self::Future {
        Box::pin(async move {
            let config = self
                .config
                .ok_or_else(|| io::Error::other("TLS is off (sslmode=disable)"))?;
            let tls = futures_rustls::TlsConnector::from(config)
                .connect(self.name, stream.into_inner())
                .await?;
            Ok(DbTlsStream(tls.compat()))
        })
    }
}

/// A TLS session with the database.
#[derive(Debug)]
pub struct DbTlsStream(Compat<futures_rustls::client::TlsStream<Async<TcpStream>>>);

impl tokio::io::AsyncRead for DbTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for DbTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl TlsStream for DbTlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (libpq's channel_binding=prefer falls back the
        // same way); the TLS session still protects the exchange.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (url, tls) = split_url("postgres://u@h:5/db").unwrap();
        assert_eq!(url, "postgres://u@h:5/db?sslmode=prefer");
        assert_eq!(tls.mode, SslMode::Prefer);
        let (url, tls) = split_url("postgres://u@h/db?application_name=x&sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x&sslmode=disable");
        assert!(tls.config.is_none());
        let (url, tls) = split_url("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=require");
        assert!(tls.config.is_some());
        assert!(matches!(
            split_url("postgres://u@h/db?sslmode=sometimes"),
            Err(PgError::Url(_))
        ));
        assert!(matches!(
            split_url("postgres://u@h/db?sslmode=verify-full&sslrootcert=/no/such%20file.pem"),
            Err(PgError::Url(e)) if e.contains("/no/such file.pem")
        ));
    }
}
