//! MIME (RFC 2045, 2046, 2047, 2231): Content-Type parameters, encoded words, transfer
//! encodings and the part tree.

pub mod content_type;
pub mod encoded_word;
pub mod multipart;
pub mod transfer;
