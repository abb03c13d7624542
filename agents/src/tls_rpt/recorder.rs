//! The records TLS-RPT reports are made from: one line per delivery session to a domain
//! with an MTA-STS policy, under `data_dir/tls-rpt/DAY/DOMAIN` (DAY: the UTC midnight in
//! Unix seconds), with the policy text beside it (`DOMAIN.policy`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use postrider_core::tls_rpt::SessionResult;

/// Seconds in a day (reports cover UTC days).
pub(super) const DAY: i64 = 86_400;

/// Where session results are kept until reported.
#[derive(Debug, Clone)]
pub struct Recorder {
    dir: PathBuf,
}

impl Recorder {
    /// The records under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tls-rpt"),
        }
    }

    /// Where the records are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records one session to `domain` (whose policy text is `policy`) at `now`.
    pub fn record(&self, domain: &str, policy: &str, result: &SessionResult, now: i64) {
        let day = self.dir.join((now - now.rem_euclid(DAY)).to_string());
        let domain = domain.to_ascii_lowercase();
        let written = fs::create_dir_all(&day).and_then(|()| {
            let policy_file = day.join(format!("{domain}.policy"));
            if !policy.is_empty() && !policy_file.exists() {
                fs::write(&policy_file, policy)?;
            }
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(day.join(&domain))?;
            f.write_all(format!("{}\n", result.to_line()).as_bytes())
        });
        if let Err(e) = written {
            tracing::warn!("TLS-RPT: cannot record a session to {domain}: {e}");
        }
    }
}
