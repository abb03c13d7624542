//! Replays the C:/S: traces in tests/traces (RFC 5321 Appendix D, RFC 3207) against the
//! server machine.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use postrider_core::smtp::SmtpServerConfig;
use postrider_core::testing::SmtpTestDriver;

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}:")))
        .map(|v| v.trim().to_string())
}

fn replay(path: &Path) {
    let text = fs::read_to_string(path).unwrap();
    let mut config = SmtpServerConfig::default();
    config.hostname = header(&text, "hostname").unwrap_or_else(|| "localhost".into());
    config.starttls = header(&text, "starttls").as_deref() == Some("yes");
    config.auth = header(&text, "auth").as_deref() == Some("yes");
    let users = header(&text, "users").unwrap_or_default();
    let users: Vec<&str> = users.split_whitespace().collect();
    let mut d = SmtpTestDriver::new(config, &users, std::time::Instant::now());
    if let Some(accounts) = header(&text, "accounts") {
        d.accounts = accounts
            .split_whitespace()
            .filter_map(|a| a.split_once(':'))
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
    }
    let mut pending = Vec::new();
    let mut seen = 0;
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("C+:").or_else(|| line.strip_prefix("C:")) {
            pending.extend_from_slice(c.strip_prefix(' ').unwrap_or(c).as_bytes());
            pending.extend_from_slice(b"\r\n");
            continue;
        }
        if !pending.is_empty() {
            d.feed(&std::mem::take(&mut pending));
        }
        if line == "TLS" {
            assert!(d.tls_requested, "{name}:{lineno}: no STARTTLS pending");
            d.finish_tls();
            continue;
        }
        let expect = line
            .strip_prefix("S: ")
            .unwrap_or_else(|| panic!("{name}:{lineno}: bad line"));
        let (code, want) = expect.split_once(' ').unwrap_or((expect, ""));
        let replies = d.replies();
        let got = replies.get(seen).unwrap_or_else(|| {
            panic!(
                "{name}:{lineno}: no reply, transcript:\n{}",
                String::from_utf8_lossy(&d.transcript)
            )
        });
        assert_eq!(got.code.to_string(), code, "{name}:{lineno}: {got:?}");
        if !want.is_empty() {
            assert!(
                got.lines.iter().any(|l| l.contains(want)),
                "{name}:{lineno}: {want:?} not in {got:?}"
            );
        }
        seen += 1;
    }
    assert_eq!(d.replies().len(), seen, "{name}: unexpected extra replies");
}

#[test]
fn rfc_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            replay(&path);
            count += 1;
        }
    }
    assert!(count >= 6, "expected the RFC traces in {}", dir.display());
}

#[test]
fn d1_delivers_two_recipients_with_received() {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces/rfc5321_d1_typical.txt"),
    )
    .unwrap();
    let mut config = SmtpServerConfig::default();
    config.hostname = "foo.com".into();
    let mut d = SmtpTestDriver::new(config, &["Jones", "Brown"], std::time::Instant::now());
    let input: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("C: "))
        .map(|l| format!("{l}\r\n"))
        .collect();
    d.feed(input.as_bytes());
    assert_eq!(d.messages.len(), 1);
    let (env, body) = &d.messages[0];
    let rcpts: Vec<String> = env.recipients.iter().map(|(r, _)| r.to_string()).collect();
    assert_eq!(rcpts, ["Jones@foo.com", "Brown@foo.com"]);
    let body = String::from_utf8(body.clone()).unwrap();
    assert!(
        body.starts_with(
            "Received: from bar.com ([192.0.2.1])\r\n\tby foo.com with ESMTP id Q0001; "
        ),
        "{body}"
    );
    // The RFC's example line "...etc." is not dot-stuffed, so one dot is removed (§4.5.2).
    assert!(
        body.ends_with("\r\nBlah blah blah...\r\n..etc. etc. etc.\r\n"),
        "{body}"
    );
}
