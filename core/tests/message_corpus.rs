//! The message corpus in tests/data: each `.eml` is parsed with LF and with CRLF line
//! ends, and a dump of what the message layer makes of it (decoded header fields, the
//! part tree, decoded body text) must equal `NAME.expected` for both.
//!
//! Set `POSTRIDER_BLESS=1` to (re)write the expected files after checking them by hand.

#![allow(clippy::unwrap_used)]

use std::fmt::Write;
use std::fs;
use std::path::Path;

use postrider_core::imf::address::{parse_address_list, Address, Mailbox};
use postrider_core::imf::datetime::parse_date;
use postrider_core::imf::header::split_header;
use postrider_core::imf::msgid::parse_msg_ids;
use postrider_core::mime::content_type::parse_content_disposition;
use postrider_core::mime::encoded_word::decode;
use postrider_core::mime::multipart::{parse_message, Limits, Part, PartBody};
use postrider_core::mime::part_text;

fn dump_part(msg: &[u8], part: &Part, depth: usize, out: &mut String) {
    let ind = "  ".repeat(depth);
    let ct = &part.content_type;
    let mut line = format!("{ind}{}/{}", ct.mime_type, ct.subtype);
    for p in &ct.params {
        if p.name != "boundary" {
            write!(line, " {}={:?}", p.name, p.value).unwrap();
        }
    }
    let (fields, _) = split_header(&msg[part.header.clone()]);
    if let Some(cd) = fields.iter().find(|f| f.is("Content-Disposition")) {
        let cd = parse_content_disposition(&cd.value());
        write!(line, " disposition={}", cd.kind).unwrap();
        if let Some(f) = cd.param("filename") {
            write!(line, " filename={f:?}").unwrap();
        }
    }
    writeln!(out, "{line}").unwrap();
    match &part.content {
        PartBody::Leaf => {
            let text = part_text(msg, part).replace("\r\n", "\n");
            writeln!(out, "{ind}  body: {:?}", text).unwrap();
        }
        PartBody::Multipart {
            preamble,
            parts,
            epilogue,
            ..
        } => {
            let pre = String::from_utf8_lossy(&msg[preamble.clone()]).replace("\r\n", "\n");
            let epi = String::from_utf8_lossy(&msg[epilogue.clone()]).replace("\r\n", "\n");
            writeln!(out, "{ind}  preamble: {pre:?}").unwrap();
            for p in parts {
                dump_part(msg, p, depth + 1, out);
            }
            writeln!(out, "{ind}  epilogue: {epi:?}").unwrap();
        }
        PartBody::Message(inner) => {
            dump_header(msg, inner, depth + 1, out);
            dump_part(msg, inner, depth + 1, out);
        }
    }
}

fn dump_header(msg: &[u8], part: &Part, depth: usize, out: &mut String) {
    let ind = "  ".repeat(depth);
    let (fields, _) = split_header(&msg[part.header.clone()]);
    for f in &fields {
        let v = f.value();
        let name = String::from_utf8_lossy(f.name).to_ascii_lowercase();
        let shown = match name.as_str() {
            "subject" => format!("{:?}", decode(&v)),
            "from" | "to" | "cc" => addresses(&v),
            "date" => format!("{:?}", parse_date(&v).map(|d| d.rfc5322())),
            "message-id" => format!("{:?}", parse_msg_ids(&v)),
            _ => continue,
        };
        writeln!(out, "{ind}{name}: {shown}").unwrap();
    }
}

fn mailbox(m: &Mailbox<'_>) -> String {
    match m.decoded_name() {
        Some(n) => format!("{n:?} <{}>", m.addr_spec()),
        None => format!("<{}>", m.addr_spec()),
    }
}

fn addresses(v: &str) -> String {
    parse_address_list(v)
        .iter()
        .map(|a| match a {
            Address::Mailbox(m) => mailbox(m),
            Address::Group { name, members } => {
                format!(
                    "{name:?}: {};",
                    members.iter().map(mailbox).collect::<Vec<_>>().join(", ")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn dump(msg: &[u8]) -> String {
    let root = parse_message(msg, Limits::default());
    let mut out = String::new();
    dump_header(msg, &root, 0, &mut out);
    dump_part(msg, &root, 0, &mut out);
    out
}

fn with_line_ends(raw: &[u8], crlf: bool) -> Vec<u8> {
    let lf: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r').collect();
    if !crlf {
        return lf;
    }
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 20);
    for &b in &lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let bless = std::env::var_os("POSTRIDER_BLESS").is_some();
    let mut checked = 0;
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
    {
        let raw = fs::read(path).unwrap();
        let lf = dump(&with_line_ends(&raw, false));
        let crlf = dump(&with_line_ends(&raw, true));
        assert_eq!(lf, crlf, "{}: LF and CRLF versions differ", path.display());
        let expected_path = path.with_extension("expected");
        if bless {
            fs::write(&expected_path, &lf).unwrap();
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "missing {}; run with POSTRIDER_BLESS=1 and review it",
                expected_path.display()
            )
        });
        assert_eq!(lf, expected, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 7);
}
