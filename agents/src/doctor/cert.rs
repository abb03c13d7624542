//! The TLS certificate check of `doctor`: it can be read and matches its key, its names
//! cover the host name, it is in its validity period (a warning within 14 days of its
//! end), and its chain verifies against the system's CAs (a self-signed certificate is
//! a warning: it works, but senders and clients that verify refuse it).

use std::sync::Arc;

use postrider_core::doctor::{day_of, name_covers, Finding, Status};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::Settings;

/// Warn this long before the certificate ends.
const RENEW_WITHIN: i64 = 14 * 86_400;

/// The certificate's findings for `host` at `now` (Unix seconds).
pub(super) fn check(settings: &Settings, host: &str, now: i64) -> Vec<Finding> {
    let (cert_path, _) = crate::tls::cert_paths(settings);
    let finding = |status, detail| Finding::new(status, "tls", host, detail);
    if settings.config.tls.cert.is_none() && !cert_path.exists() {
        return vec![finding(
            Status::Warn,
            format!(
                "no certificate yet: `serve` makes a self-signed one in {}; set [tls] cert and key to a CA's",
                cert_path.display()
            ),
        )];
    }
    let chain: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
    {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            return vec![finding(
                Status::Fail,
                format!("no certificate in {}", cert_path.display()),
            )]
        }
        Err(e) => {
            return vec![finding(
                Status::Fail,
                format!("cannot read {}: {e}", cert_path.display()),
            )]
        }
    };
    if let Err(e) = crate::tls::server_config(settings) {
        return vec![finding(Status::Fail, e)];
    }
    let leaf = match X509Certificate::from_der(&chain[0]) {
        Ok((_, leaf)) => leaf,
        Err(e) => {
            return vec![finding(
                Status::Fail,
                format!("{}: {e}", cert_path.display()),
            )]
        }
    };
    vec![
        finding_names(&leaf, host),
        finding_dates(&leaf, now),
        finding_chain(&leaf, &chain, host, now),
    ]
    .into_iter()
    .map(|(status, detail)| finding(status, detail))
    .collect()
}

/// Whether the certificate's names (its DNS subject alternative names, else its common
/// name) cover `host`.
fn finding_names(leaf: &X509Certificate<'_>, host: &str) -> (Status, String) {
    let mut names: Vec<String> = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.extend(
            leaf.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    if names.iter().any(|n| name_covers(n, host)) {
        (
            Status::Ok,
            format!("certificate names {}", names.join(", ")),
        )
    } else {
        (
            Status::Fail,
            format!("certificate names {}, not {host}", names.join(", ")),
        )
    }
}

/// Whether `now` is in the validity period, with a warning near its end.
fn finding_dates(leaf: &X509Certificate<'_>, now: i64) -> (Status, String) {
    let validity = leaf.validity();
    let (start, end) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if now < start {
        (
            Status::Fail,
            format!("certificate not valid before {}", day_of(start)),
        )
    } else if now > end {
        (
            Status::Fail,
            format!("certificate expired on {}", day_of(end)),
        )
    } else if end - now < RENEW_WITHIN {
        (
            Status::Warn,
            format!("certificate expires on {}: renew it", day_of(end)),
        )
    } else {
        (
            Status::Ok,
            format!("certificate valid until {}", day_of(end)),
        )
    }
}

/// Whether the chain verifies for `host` against the system's CAs.
fn finding_chain(
    leaf: &X509Certificate<'_>,
    chain: &[CertificateDer<'static>],
    host: &str,
    now: i64,
) -> (Status, String) {
    if chain.len() == 1 && leaf.subject() == leaf.issuer() {
        return (
            Status::Warn,
            "self-signed: senders and clients that verify certificates refuse it; set [tls] cert and key to a CA's".into(),
        );
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = match rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider,
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => return (Status::Fail, format!("no trusted CA certificates: {e}")),
    };
    let name = match ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => return (Status::Fail, format!("{host}: {e}")),
    };
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64));
    match verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], time) {
        Ok(_) => (
            Status::Ok,
            "certificate chain verified by the system's CAs".into(),
        ),
        Err(e) => (
            Status::Fail,
            format!("certificate chain does not verify: {e}"),
        ),
    }
}
