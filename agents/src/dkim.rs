//! DKIM keys and signing: `postrider dkim keygen` writes a PKCS#8 key under
//! `data_dir/dkim/` and prints the TXT record; mail submitted by authenticated users
//! and by `sendmail` is signed when its From domain has a `[[dkim.sign]]` entry. The
//! canonicalization is the core's; the signatures are ring's (RSA PKCS#1 v1.5 SHA-256,
//! Ed25519 over the SHA-256 of the data as RFC 8463 says); RSA keys are generated with
//! the `rsa` crate (ring cannot generate them).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use postrider_core::dkim::{dns_record, prepare, Algorithm, Canon, SignParams};
use postrider_core::imf::address::address_list;
use postrider_core::imf::header::split_header_to_blank_line;
use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use sha2::{Digest, Sha256};

use crate::config::Settings;

/// A loaded signing key.
enum Key {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

fn load_key(path: &Path) -> Result<Key, String> {
    let der = PrivatePkcs8KeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read DKIM key {}: {e}", path.display()))?;
    if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der()) {
        return Ok(Key::Ed25519(k));
    }
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map(Key::Rsa)
        .map_err(|e| {
            format!(
                "DKIM key {} is neither Ed25519 nor RSA: {e}",
                path.display()
            )
        })
}

/// The domain of the message's From address.
fn from_domain(message: &[u8]) -> Option<String> {
    let (fields, _) = split_header_to_blank_line(message);
    let from = fields.iter().find(|f| f.is("From"))?;
    let addr = address_list(&from.value()).into_iter().next()?.addr;
    addr.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

/// The `DKIM-Signature:` field for `message` (CRLF line ends) when its From domain has a
/// signing key, else None. Errors (unreadable key) are logged and the mail goes unsigned.
pub fn sign(settings: &Settings, message: &[u8], now: i64) -> Option<String> {
    let domain = from_domain(message)?;
    let entry = settings
        .config
        .dkim
        .sign
        .iter()
        .find(|s| s.domain.eq_ignore_ascii_case(&domain))?;
    let key = match load_key(&entry.key) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!("{e}; sending unsigned");
            return None;
        }
    };
    let (header_canon, body_canon) = entry.canons().unwrap_or((Canon::Relaxed, Canon::Relaxed));
    let algorithm = match key {
        Key::Rsa(_) => Algorithm::RsaSha256,
        Key::Ed25519(_) => Algorithm::Ed25519Sha256,
    };
    let input = prepare(
        message,
        &SignParams {
            domain: &entry.domain,
            selector: &entry.selector,
            algorithm,
            header_canon,
            body_canon,
            timestamp: now,
        },
    );
    let signature = match key {
        Key::Rsa(k) => {
            let mut sig = vec![0u8; k.public().modulus_len()];
            let rng = ring::rand::SystemRandom::new();
            if let Err(e) = k.sign(&RSA_PKCS1_SHA256, &rng, &input.data, &mut sig) {
                tracing::error!("DKIM signing failed: {e}");
                return None;
            }
            sig
        }
        Key::Ed25519(k) => k.sign(&Sha256::digest(&input.data)).as_ref().to_vec(),
    };
    Some(input.finish(&signature))
}

/// The DNS record (`v=DKIM1; k=...; p=...`) that publishes the public half of the key
/// in `path`, and that public key as `p=` carries it (RSA: SubjectPublicKeyInfo DER;
/// Ed25519: the raw 32 bytes).
pub fn public_record(path: &Path) -> Result<(String, Vec<u8>), String> {
    let (alg, public) = match load_key(path)? {
        Key::Ed25519(pair) => (
            Algorithm::Ed25519Sha256,
            pair.public_key().as_ref().to_vec(),
        ),
        Key::Rsa(pair) => {
            // ring gives the PKCS#1 RSAPublicKey; DKIM's p= is a SubjectPublicKeyInfo.
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::pkcs8::EncodePublicKey;
            let bad = |e: String| format!("DKIM key {}: {e}", path.display());
            let spki = rsa::RsaPublicKey::from_pkcs1_der(pair.public().as_ref())
                .map_err(|e| bad(e.to_string()))?
                .to_public_key_der()
                .map_err(|e| bad(e.to_string()))?;
            (Algorithm::RsaSha256, spki.as_bytes().to_vec())
        }
    };
    Ok((dns_record(alg, &public), public))
}

/// Where `dkim keygen` puts a key.
pub fn key_path(settings: &Settings, domain: &str, selector: &str) -> PathBuf {
    settings
        .config
        .data_dir
        .join("dkim")
        .join(format!("{domain}.{selector}.pem"))
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `dkim keygen`: writes the key (mode 0600, never overwriting) and returns the DNS
/// record to publish.
pub fn keygen(
    settings: &Settings,
    domain: &str,
    selector: &str,
    algorithm: &str,
) -> Result<String, String> {
    let path = key_path(settings, domain, selector);
    if path.exists() {
        return Err(format!("{} already exists", path.display()));
    }
    let (pkcs8, public, alg) = match algorithm {
        "ed25519" => {
            let rng = ring::rand::SystemRandom::new();
            let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|e| format!("key generation failed: {e}"))?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|e| e.to_string())?;
            (
                doc.as_ref().to_vec(),
                pair.public_key().as_ref().to_vec(),
                Algorithm::Ed25519Sha256,
            )
        }
        "rsa" => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
            let mut rng = argon2::password_hash::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                .map_err(|e| format!("key generation failed: {e}"))?;
            let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
            let public = rsa::RsaPublicKey::from(&key)
                .to_public_key_der()
                .map_err(|e| e.to_string())?;
            (
                der.as_bytes().to_vec(),
                public.as_bytes().to_vec(),
                Algorithm::RsaSha256,
            )
        }
        other => return Err(format!("unknown algorithm {other:?} (use rsa or ed25519)")),
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(pem("PRIVATE KEY", &pkcs8).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!(
        "{selector}._domainkey.{domain}. IN TXT \"{}\"\n# key written to {}\n# add to the config:\n# [[dkim.sign]]\n# domain = \"{domain}\"\n# selector = \"{selector}\"\n# key = \"{}\"",
        dns_record(alg, &public),
        path.display(),
        path.display()
    ))
}
