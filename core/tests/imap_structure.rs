//! ENVELOPE, BODYSTRUCTURE and BODY of every corpus message must equal what Dovecot 2.3
//! returns for it (vectors in tests/data/*.dovecot, made and re-checked against a live
//! Dovecot by tests/interop/dovecot-structure.sh). Each message is tried with LF and
//! with CRLF line ends: IMAP sizes are CRLF sizes either way.
//!
//! Known differences are listed in `KNOWN`: Dovecot's recovery from broken address
//! syntax (it reports `SYNTAX_ERROR` hosts) is not imitated.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use postrider_core::imap::response::{encode_value, Value};
use postrider_core::imap::section::{section_bytes, Section, SectionText};
use postrider_core::imap::structure::{body_structure, envelope};
use postrider_core::mime::multipart::{parse_message, Limits};

/// Vectors where postrider deliberately differs from Dovecot.
const KNOWN: &[&str] = &["malformed_no_close"];

fn strip_parens(v: &Value) -> String {
    let mut wire = Vec::new();
    encode_value(&mut wire, v);
    let s = String::from_utf8_lossy(&wire);
    s[1..s.len() - 1].to_string()
}

fn with_line_ends(raw: &[u8], crlf: bool) -> Vec<u8> {
    let lf: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r').collect();
    if !crlf {
        return lf;
    }
    let mut out = Vec::new();
    for &b in &lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn ours(msg: &[u8]) -> String {
    let root = parse_message(msg, Limits::default());
    format!(
        "imap.envelope: {}\nimap.bodystructure: {}\nimap.body: {}\n",
        strip_parens(&envelope(&msg[root.header.clone()])),
        strip_parens(&body_structure(msg, &root, true)),
        strip_parens(&body_structure(msg, &root, false)),
    )
}

#[test]
fn matches_dovecot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
    {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let reference = fs::read_to_string(path.with_extension("dovecot")).unwrap();
        let raw = fs::read(path).unwrap();
        // The mbox the vectors came from stores the message without a final empty line.
        let raw = raw.strip_suffix(b"\n").unwrap_or(&raw).to_vec();
        let mut raw = raw;
        raw.push(b'\n');
        for crlf in [false, true] {
            let got = ours(&with_line_ends(&raw, crlf));
            if KNOWN.contains(&name.as_str()) {
                continue;
            }
            if got != reference {
                failures.push(format!(
                    "{name} (crlf={crlf}):\n  ours:    {got}\n  dovecot: {reference}"
                ));
            }
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 10);
}

fn parse_section(s: &str) -> Section {
    let mut part = Vec::new();
    let mut rest = s;
    while let Some((num, tail)) = rest.split_once('.').or(Some((rest, ""))) {
        match num.parse::<u32>() {
            Ok(n) => {
                part.push(n);
                rest = tail;
                if tail.is_empty() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let names = |r: &str| -> Vec<String> {
        let inner = r
            .split_once('(')
            .map(|(_, x)| x.trim_end_matches(')'))
            .unwrap_or("");
        inner.split_whitespace().map(str::to_string).collect()
    };
    let text = if rest.is_empty() {
        SectionText::Full
    } else if rest.starts_with("HEADER.FIELDS.NOT") {
        SectionText::HeaderFieldsNot(names(rest))
    } else if rest.starts_with("HEADER.FIELDS") {
        SectionText::HeaderFields(names(rest))
    } else if rest == "HEADER" {
        SectionText::Header
    } else if rest == "TEXT" {
        SectionText::Text
    } else if rest == "MIME" {
        SectionText::Mime
    } else {
        panic!("unknown section {s}")
    };
    Section { part, text }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// BODY[section] of every corpus message equals Dovecot's (tests/data/sections.tsv,
/// recorded with imaplib against Dovecot 2.3.19; a section that does not exist is
/// returned empty, as Dovecot does).
#[test]
fn sections_match_dovecot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let tsv = fs::read_to_string(dir.join("sections.tsv")).unwrap();
    let mut checked = 0;
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (name, sec, want) = (
            cols.next().unwrap(),
            cols.next().unwrap(),
            cols.next().unwrap_or(""),
        );
        if KNOWN.contains(&name) {
            continue;
        }
        let raw = fs::read(dir.join(format!("{name}.eml"))).unwrap();
        for crlf in [false, true] {
            let msg = with_line_ends(&raw, crlf);
            let root = parse_message(&msg, Limits::default());
            let got = section_bytes(&msg, &root, &parse_section(sec)).unwrap_or_default();
            assert_eq!(
                hex(&got),
                want,
                "{name} BODY[{sec}] crlf={crlf}: {:?}",
                String::from_utf8_lossy(&got)
            );
        }
        checked += 1;
    }
    assert!(checked > 100);
}
