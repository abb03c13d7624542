//! Content-Transfer-Encodings (RFC 2045 §6): lenient base64 and quoted-printable decoders
//! that never fail or panic on bad input, and encoders that wrap lines at 76 characters.

/// The value of each base64 alphabet byte, or 0xFF.
const B64_DECODE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

const B64_ENCODE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes base64 as RFC 2045 §6.8 asks of a reader: characters outside the alphabet
/// (line breaks, spaces, garbage) are ignored, decoding stops at the first `=` pad, and
/// a dangling final group yields the whole bytes it holds.
pub fn decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut i = 0;
    while i < input.len() {
        // Fast path: four alphabet characters at a group boundary make three bytes.
        if bits == 0 && i + 4 <= input.len() {
            let (a, b, c, d) = (
                B64_DECODE[input[i] as usize],
                B64_DECODE[input[i + 1] as usize],
                B64_DECODE[input[i + 2] as usize],
                B64_DECODE[input[i + 3] as usize],
            );
            if (a | b | c | d) < 64 {
                let n = (a as u32) << 18 | (b as u32) << 12 | (c as u32) << 6 | d as u32;
                out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
                i += 4;
                continue;
            }
        }
        let byte = input[i];
        i += 1;
        if byte == b'=' {
            break;
        }
        let v = B64_DECODE[byte as usize];
        if v == 0xFF {
            continue;
        }
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Encodes base64 with CRLF line breaks every 76 characters (RFC 2045 §6.8); the output
/// ends with CRLF unless `input` is empty.
pub fn encode_base64_lines(input: &[u8]) -> Vec<u8> {
    let raw = encode_base64(input);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 76 * 2 + 2);
    for line in raw.chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encodes base64 on one line (for encoded words and SASL).
pub fn encode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64_ENCODE[(n >> 18) as usize & 63]);
        out.push(B64_ENCODE[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            B64_ENCODE[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            B64_ENCODE[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable (RFC 2045 §6.7): `=XX` escapes (either case), soft line breaks
/// `=` CRLF or `=` LF, trailing whitespace on lines removed; a malformed `=` is kept
/// literally, as the RFC recommends.
pub fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split_inclusive(|&b| b == b'\n') {
        let (content, ending): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        let content = trim_end_wsp(content);
        let mut i = 0;
        let mut soft = false;
        while i < content.len() {
            // Copy the run up to the next '=' in one go.
            let next = memchr::memchr(b'=', &content[i..]).map_or(content.len(), |p| i + p);
            out.extend_from_slice(&content[i..next]);
            i = next;
            if i >= content.len() {
                break;
            }
            if i + 1 == content.len() {
                soft = true;
                break;
            }
            match (
                content.get(i + 1).copied().and_then(hex_value),
                content.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            }
        }
        if !soft {
            out.extend_from_slice(ending);
        }
    }
    out
}

fn trim_end_wsp(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &s[..end]
}

/// Encodes quoted-printable for a text body: line breaks in `input` (CRLF or LF) stay
/// line breaks (CRLF), other control and 8-bit bytes and `=` are escaped, trailing
/// whitespace is escaped, and lines are soft-wrapped at 76 characters.
pub fn encode_quoted_printable(input: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = lines.len() - 1;
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let at_end = i + 1 == line.len();
            let plain =
                (b == b' ' || b == b'\t') && !at_end || (33..=126).contains(&b) && b != b'=';
            let width = if plain { 1 } else { 3 };
            if col + width > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if plain {
                out.push(b);
            } else {
                out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            col += width;
        }
        if n != last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Decodes a body according to its Content-Transfer-Encoding value (`base64`,
/// `quoted-printable`; anything else, including `7bit`, `8bit`, `binary` and unknown
/// encodings, is returned unchanged).
pub fn transfer_decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let e = encoding.trim();
    if e.eq_ignore_ascii_case("base64") {
        decode_base64(body)
    } else if e.eq_ignore_ascii_case("quoted-printable") {
        decode_quoted_printable(body)
    } else {
        body.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_and_lenient() {
        assert_eq!(encode_base64(b"Man"), b"TWFu");
        assert_eq!(encode_base64(b"Ma"), b"TWE=");
        assert_eq!(encode_base64(b"M"), b"TQ==");
        assert_eq!(decode_base64(b"TWFu\r\nTWE=\r\n"), b"ManMa");
        assert_eq!(decode_base64(b"T W\tF u !!"), b"Man");
        assert_eq!(decode_base64(b"TQ"), b"M");
        assert_eq!(decode_base64(b"===="), b"");
        let long: Vec<u8> = (0..=255).collect();
        let wrapped = encode_base64_lines(&long);
        assert!(wrapped.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        assert_eq!(decode_base64(&wrapped), long);
    }

    #[test]
    fn quoted_printable_rfc2045_examples() {
        assert_eq!(
            decode_quoted_printable(b"a=3Db=\r\nc  \r\nd=e9"),
            b"a=bc\r\nd\xe9"
        );
        assert_eq!(
            decode_quoted_printable(b"bad =ZZ and =4"),
            b"bad =ZZ and =4"
        );
        assert_eq!(decode_quoted_printable(b"soft=\nbreak\n"), b"softbreak\n");
        let text = "Grüße = Grüße, trailing space \nand a very long line that goes on and on and on and on and on and on past 76".as_bytes();
        let enc = encode_quoted_printable(text);
        assert!(enc.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        assert_eq!(
            decode_quoted_printable(&enc),
            String::from_utf8_lossy(text)
                .replace('\n', "\r\n")
                .as_bytes()
        );
    }
}
