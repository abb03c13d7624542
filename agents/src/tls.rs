//! TLS server configuration: PEM files from `[tls]`, or a self-signed certificate made
//! once into `data_dir/tls/` (rcgen). rustls with the ring provider, TLS 1.2 and 1.3 only.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::config::Settings;

/// Where the certificate and key come from.
pub(crate) fn cert_paths(settings: &Settings) -> (PathBuf, PathBuf) {
    match (&settings.config.tls.cert, &settings.config.tls.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let dir = settings.config.data_dir.join("tls");
            (dir.join("cert.pem"), dir.join("key.pem"))
        }
    }
}

/// Writes a self-signed certificate for `hostname` (and localhost) if none exists yet.
fn ensure_self_signed(cert: &Path, key: &Path, hostname: &str) -> Result<(), String> {
    if cert.exists() && key.exists() {
        return Ok(());
    }
    let mut names = vec![hostname.to_string()];
    if hostname != "localhost" {
        names.push("localhost".into());
    }
    let ck = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate certificate: {e}"))?;
    if let Some(dir) = cert.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp_key = key.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp_key)
            .map_err(|e| format!("{}: {e}", tmp_key.display()))?;
        f.write_all(ck.signing_key.serialize_pem().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp_key.display()))?;
    }
    fs::rename(&tmp_key, key).map_err(|e| format!("{}: {e}", key.display()))?;
    fs::write(cert, ck.cert.pem()).map_err(|e| format!("{}: {e}", cert.display()))?;
    tracing::info!("generated a self-signed certificate in {}", cert.display());
    Ok(())
}

/// Builds the server TLS configuration, generating the self-signed certificate on first use.
pub fn server_config(settings: &Settings) -> Result<Arc<ServerConfig>, String> {
    let (cert_path, key_path) = cert_paths(settings);
    if settings.config.tls.cert.is_none() {
        ensure_self_signed(&cert_path, &key_path, &settings.config.hostname)?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse certificate {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("cannot read private key {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key mismatch or unsupported key: {e}"))?;
    Ok(Arc::new(config))
}

/// The server's TLS configuration, replaceable while running: SIGHUP reloads the
/// certificate and key. Connections keep the configuration they started with.
#[derive(Debug, Default)]
pub struct TlsStore {
    current: RwLock<Option<Arc<ServerConfig>>>,
}

impl TlsStore {
    /// The configuration new handshakes use, if TLS is set up.
    pub fn get(&self) -> Option<Arc<ServerConfig>> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Whether TLS is set up.
    pub fn is_available(&self) -> bool {
        self.get().is_some()
    }

    /// Installs a configuration.
    pub fn set(&self, config: Arc<ServerConfig>) {
        match self.current.write() {
            Ok(mut c) => *c = Some(config),
            Err(p) => *p.into_inner() = Some(config),
        }
    }

    /// Reads the certificate and key again; on error the old configuration stays.
    pub fn reload(&self, settings: &Settings) -> Result<(), String> {
        let fresh = server_config(settings)?;
        self.set(fresh);
        Ok(())
    }
}

/// The negotiated version and cipher of a finished handshake, for logs and Received.
pub fn session_info(conn: &rustls::CommonState) -> postrider_core::machine::TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".into(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_else(|| "unknown".into());
    postrider_core::machine::TlsInfo { version, cipher }
}

/// A TLS client configuration that checks certificates against the system's CA store
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured); None when the system has none.
pub fn verified_client_config() -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Ok(None);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("outbound TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(std::sync::Arc::new(config)))
}
