//! BINARY (RFC 3516): a part's content with its Content-Transfer-Encoding undone, for
//! FETCH BINARY[part] and BINARY.SIZE[part]; and the other way for APPEND with a
//! `literal8`: parts sent as raw binary are stored base64-encoded, so that BODY[...]
//! never has to carry a NUL.

use crate::imap::section::{resolve, section_bytes, Section, SectionText};
use crate::mime::multipart::{parse_message, Limits, Part, PartBody};
use crate::mime::transfer::{encode_base64_lines, transfer_decode};

/// The decoded content of part `part` (empty: the whole message, as it is): a leaf's body
/// with base64 or quoted-printable undone; a multipart or message part as BODY[part]
/// gives it. None when there is no such part.
pub fn binary_content(message: &[u8], root: &Part, part: &[u32]) -> Option<Vec<u8>> {
    let section = Section {
        part: part.to_vec(),
        text: SectionText::Full,
    };
    let bytes = section_bytes(message, root, &section)?;
    let p = resolve(root, part)?;
    if part.is_empty() || !matches!(p.content, PartBody::Leaf) {
        return Some(bytes);
    }
    Some(transfer_decode(&p.transfer_encoding, &bytes))
}

/// Whether a leaf must be re-encoded before it is stored: declared `binary`, or holding
/// a NUL.
fn needs_encoding(message: &[u8], p: &Part) -> bool {
    p.transfer_encoding.eq_ignore_ascii_case("binary") || message[p.body.clone()].contains(&0)
}

/// The leaves that need re-encoding, in order.
fn binary_leaves<'a>(message: &[u8], p: &'a Part, out: &mut Vec<&'a Part>) {
    match &p.content {
        PartBody::Leaf => {
            if needs_encoding(message, p) {
                out.push(p);
            }
        }
        PartBody::Multipart { parts, .. } => {
            for c in parts {
                binary_leaves(message, c, out);
            }
        }
        // An encapsulated message must stay 7bit/8bit as a whole; its leaves are
        // encoded like any other.
        PartBody::Message(inner) => binary_leaves(message, inner, out),
    }
}

/// The header `header` without its Content-Transfer-Encoding field, with
/// `Content-Transfer-Encoding: base64` before the empty line.
fn base64_header(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 40);
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = line
                .get(..26)
                .is_some_and(|n| n.eq_ignore_ascii_case(b"content-transfer-encoding:"));
        }
        if !skipping {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    out
}

/// The message with every part sent as raw binary re-encoded as base64 (APPEND with a
/// `literal8`); None when nothing needed it.
pub fn encode_binary_parts(message: &[u8]) -> Option<Vec<u8>> {
    let root = parse_message(message, Limits::default());
    let mut leaves = Vec::new();
    binary_leaves(message, &root, &mut leaves);
    if leaves.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len() * 4 / 3 + 256);
    let mut at = 0;
    for p in leaves {
        out.extend_from_slice(&message[at..p.header.start]);
        out.extend_from_slice(&base64_header(&message[p.header.clone()]));
        out.extend_from_slice(&encode_base64_lines(&message[p.body.clone()]));
        at = p.body.end;
    }
    out.extend_from_slice(&message[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--b\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n";

    #[test]
    fn parts_come_decoded() {
        let root = parse_message(MIXED, Limits::default());
        assert_eq!(
            binary_content(MIXED, &root, &[1]).unwrap(),
            "café".as_bytes()
        );
        assert_eq!(binary_content(MIXED, &root, &[2]).unwrap(), [0, 1, 2, 255]);
        assert_eq!(binary_content(MIXED, &root, &[]).unwrap(), MIXED);
        assert!(binary_content(MIXED, &root, &[3]).is_none());
    }

    #[test]
    fn raw_binary_is_stored_as_base64_and_reads_back() {
        let sent = b"Mime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\r\n\xff\r\n";
        let stored = encode_binary_parts(sent).unwrap();
        assert!(!stored.contains(&0));
        let text = String::from_utf8_lossy(&stored);
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\n"),
            "{text}"
        );
        assert!(!text.contains("binary"), "{text}");
        let root = parse_message(&stored, Limits::default());
        assert_eq!(
            binary_content(&stored, &root, &[1]).unwrap(),
            b"\x00\x01\r\n\xff\r\n"
        );
        assert!(encode_binary_parts(MIXED).is_none(), "nothing to do");
    }
}
