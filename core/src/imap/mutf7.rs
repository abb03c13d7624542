//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3): printable ASCII stands for itself
//! (`&` as `&-`), other characters are UTF-16 in modified base64 (`,` for `/`, no
//! padding) between `&` and `-`.

use base64::alphabet::Alphabet;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::Engine;

fn engine() -> Option<GeneralPurpose> {
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").ok()?;
    Some(GeneralPurpose::new(&alphabet, NO_PAD))
}

/// Encodes a UTF-8 name for the wire (and for storage, as Dovecot does).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        if let Some(e) = engine() {
            out.push_str(&e.encode(bytes));
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a wire name; `None` if it is not valid modified UTF-7 (8-bit or control
/// octets, a bad base64 run, a run that encodes printable ASCII, or two runs in a row).
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    let mut after_run = false;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            after_run = false;
            continue;
        }
        let end = i + 1 + bytes[i + 1..].iter().position(|&c| c == b'-')?;
        let run = &name[i + 1..end];
        if run.is_empty() {
            out.push('&');
            after_run = false;
        } else {
            if after_run {
                return None;
            }
            let data = engine()?.decode(run).ok()?;
            if data.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = data
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            let text = String::from_utf16(&units).ok()?;
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&text);
            after_run = true;
        }
        i = end + 1;
    }
    Some(out)
}

/// Whether `name` is valid modified UTF-7.
pub fn is_valid(name: &str) -> bool {
    decode(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_and_ampersand() {
        // RFC 3501 §5.1.3.
        let name = "~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}";
        assert_eq!(encode(name), "~peter/mail/&ZeVnLIqe-/&U,BTFw-");
        assert_eq!(
            decode("~peter/mail/&ZeVnLIqe-/&U,BTFw-").as_deref(),
            Some(name)
        );
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
        assert_eq!(encode("Entw\u{fc}rfe"), "Entw&APw-rfe");
        assert_eq!(encode("\u{1F600}"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").as_deref(), Some("\u{1F600}"));
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(!is_valid("Entw\u{fc}rfe"));
        assert!(!is_valid("&ZeVnLIqe"));
        assert!(!is_valid("&AGE-"), "encodes ASCII 'a'");
        assert!(!is_valid("&ZeV-"), "odd octet count");
        assert!(!is_valid("&2D0-"), "lone surrogate");
        assert!(!is_valid("&ZeVnLIqe-&U,BTFw-"), "two runs in a row");
        assert!(!is_valid("a\tb"));
        assert!(is_valid("INBOX/Sent Items"));
    }
}
