//! MIME (RFC 2045, 2046, 2047, 2231): Content-Type parameters, encoded words, transfer
//! encodings and the part tree.

pub mod content_type;
pub mod encoded_word;
pub mod multipart;
pub mod transfer;

use crate::imf::header::split_header;

/// The decoded content of a leaf part as text: transfer encoding removed, then converted
/// from its `charset` parameter (default us-ascii, decoded as windows-1252 superset like
/// browsers; unknown charsets as lossy UTF-8).
pub fn part_text(message: &[u8], part: &multipart::Part) -> String {
    let (fields, _) = split_header(&message[part.header.clone()]);
    let cte = fields
        .iter()
        .find(|f| f.is("Content-Transfer-Encoding"))
        .map(|f| f.value())
        .unwrap_or_default();
    let bytes = transfer::transfer_decode(&cte, &message[part.body.clone()]);
    let charset = part.content_type.param("charset").unwrap_or("utf-8");
    let charset = if charset.eq_ignore_ascii_case("us-ascii") {
        "utf-8"
    } else {
        charset
    };
    encoded_word::decode_charset(charset, &bytes)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned())
}
