//! postrider benchmarks: see `benches/` for the criterion benches of the parsers and the
//! server state machine (`cargo bench -p postrider-benches`), and
//! `examples/profile_parse.rs` for instruction-count comparisons under callgrind.
//!
//! This library holds what both share: the benchmark messages and the message-layer
//! workload.

use postrider_core::imf::address::parse_address_list;
use postrider_core::imf::datetime::parse_date;
use postrider_core::imf::header::split_header;
use postrider_core::mime::encoded_word::decode;
use postrider_core::mime::multipart::{parse_message, Limits, Part};
use postrider_core::mime::{part_bytes, part_text};

/// A 1.1 KB personal text message with encoded words in its header.
pub fn small_text() -> Vec<u8> {
    let mut m = b"From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>\r\nTo: \"Doe, John\" <john@example.net>, jane@example.net\r\nSubject: =?UTF-8?B?w5xiZXJwcsO8ZnVuZw==?= of the plan\r\nDate: Mon, 2 Jan 2006 15:04:05 +0100\r\nMessage-ID: <abc@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    for i in 0..15 {
        m.extend_from_slice(
            format!("Line {i} of a short personal message, nothing special here.\r\n").as_bytes(),
        );
    }
    m
}

/// A message with a 2 MiB base64 attachment.
pub fn large_attachment() -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XYZ\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n\r\n".to_vec();
    let line = b"JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKMiAwIG9i\r\n";
    while m.len() < 2 * 1024 * 1024 {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--XYZ--\r\n");
    m
}

/// Multiparts nested 20 deep.
pub fn deep_multipart() -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n".to_vec();
    for i in 0..20 {
        m.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\nContent-Type: text/plain\r\n\r\nlevel {i}\r\n--b{i}\r\n").as_bytes(),
        );
    }
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nbottom\r\n");
    for i in (0..20).rev() {
        m.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    m
}

/// A 50-part quoted-printable ISO-8859-1 newsletter.
pub fn newsletter() -> Vec<u8> {
    let mut m = b"From: News <news@example.org>\r\nTo: you@example.net\r\nSubject: =?ISO-8859-1?Q?Caf=E9?= weekly\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=N\r\n\r\n".to_vec();
    for i in 0..50 {
        m.extend_from_slice(format!("--N\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Article {i}: caf=E9 cr=E8me, soft=\r\nwrapped line, and more text to make it realistic.</p>\r\n").as_bytes());
    }
    m.extend_from_slice(b"--N--\r\n");
    m
}

fn walk(msg: &[u8], part: &Part, sink: &mut usize) {
    let children = part.children();
    if children.is_empty() {
        // Text parts are decoded to UTF-8, others to bytes, as mail-parser does.
        *sink += if part.content_type.mime_type == "text" {
            part_text(msg, part).len()
        } else {
            part_bytes(msg, part).len()
        };
    }
    for c in children {
        walk(msg, c, sink);
    }
}

/// The message-layer workload: the MIME tree, Subject/From/To/Cc/Date decoded, every
/// leaf decoded (text to UTF-8, other parts to bytes). Returns a checksum of sizes.
pub fn postrider_parse(msg: &[u8]) -> usize {
    let root = parse_message(msg, Limits::default());
    let (fields, _) = split_header(&msg[root.header.clone()]);
    let mut sink = 0;
    for f in &fields {
        if f.is("Subject") {
            sink += decode(&f.value_cow()).len();
        } else if f.is("From") || f.is("To") || f.is("Cc") {
            sink += parse_address_list(&f.value_cow()).len();
        } else if f.is("Date") {
            sink += parse_date(&f.value_cow()).map_or(0, |d| d.unix_secs as usize & 1);
        }
    }
    walk(msg, &root, &mut sink);
    sink
}
