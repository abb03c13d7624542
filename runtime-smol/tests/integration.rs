//! Runs the Python integration suite (tests/integration) against `postrider` (smol).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn python_integration_suite() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/integration/run.py");
    let out = Command::new("python3")
        .arg(&suite)
        .env("POSTRIDER_BIN", env!("CARGO_BIN_EXE_postrider"))
        .output()
        .expect("python3 must be installed to run the integration suite");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "integration suite failed for postrider:\n{text}"
    );
}
