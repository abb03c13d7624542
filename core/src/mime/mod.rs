//! MIME (RFC 2045, 2046, 2047, 2231): Content-Type parameters, encoded words, transfer
//! encodings and the part tree.

pub mod content_type;
pub mod encoded_word;
pub mod multipart;
pub mod transfer;

use std::borrow::Cow;

/// The decoded content of a leaf part as bytes (transfer encoding removed). Borrows from
/// `message` for 7bit, 8bit and binary parts.
pub fn part_bytes<'a>(message: &'a [u8], part: &multipart::Part) -> Cow<'a, [u8]> {
    let raw = &message[part.body.clone()];
    match part.transfer_encoding.as_str() {
        "base64" => Cow::Owned(transfer::decode_base64(raw)),
        "quoted-printable" => Cow::Owned(transfer::decode_quoted_printable(raw)),
        _ => Cow::Borrowed(raw),
    }
}

/// The decoded content of a leaf part as text: transfer encoding removed, then converted
/// from its `charset` parameter (us-ascii and a missing charset read as UTF-8; unknown
/// charsets as lossy UTF-8). Borrows from `message` when nothing needs decoding.
pub fn part_text<'a>(message: &'a [u8], part: &multipart::Part) -> Cow<'a, str> {
    let bytes = part_bytes(message, part);
    let charset = part.content_type.param("charset").unwrap_or("utf-8");
    let utf8ish = charset.eq_ignore_ascii_case("utf-8")
        || charset.eq_ignore_ascii_case("us-ascii")
        || charset.eq_ignore_ascii_case("utf8");
    if utf8ish {
        return match bytes {
            // str::from_utf8 has a fast ASCII path; from_utf8_lossy only on bad input.
            Cow::Borrowed(b) => match std::str::from_utf8(b) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(b),
            },
            Cow::Owned(v) => match String::from_utf8(v) {
                Ok(s) => Cow::Owned(s),
                Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            },
        };
    }
    Cow::Owned(
        encoded_word::decode_charset(charset, &bytes)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
    )
}
