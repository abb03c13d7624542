//! The texts Sieve's `body` test (RFC 5173) matches against: `:raw`, the body as it is
//! after the header; `:text` (the default), the decoded text parts; `:content "type"`, the
//! decoded leaf parts of those types (`text` matches every text subtype, `""` every type).

use crate::imf::header::split_header_to_blank_line;
use crate::mime::multipart::{parse_message, Limits, Part};
use crate::mime::part_text;

/// A `body` test's transform (RFC 5173 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transform {
    Raw,
    Text,
    Content(Vec<String>),
}

/// The texts to match for `transform` in `message`.
pub(super) fn body_texts(message: &[u8], transform: &Transform) -> Vec<String> {
    let types: Vec<String> = match transform {
        Transform::Raw => {
            let (_, at) = split_header_to_blank_line(message);
            let body = message.get(at.min(message.len())..).unwrap_or_default();
            return vec![String::from_utf8_lossy(body).into_owned()];
        }
        Transform::Text => vec!["text".into()],
        Transform::Content(t) => t.iter().map(|x| x.to_ascii_lowercase()).collect(),
    };
    let tree = parse_message(message, Limits::default());
    let mut out = Vec::new();
    collect(message, &tree, &types, &mut out);
    out
}

/// Whether a part of type `main/sub` is one of `types`.
fn wanted(types: &[String], main: &str, sub: &str) -> bool {
    types.iter().any(|t| match t.split_once('/') {
        Some((m, s)) => m == main && s == sub,
        None => t.is_empty() || t == main,
    })
}

fn collect(message: &[u8], part: &Part, types: &[String], out: &mut Vec<String>) {
    let children = part.children();
    if children.is_empty() {
        let ct = &part.content_type;
        if wanted(types, &ct.mime_type, &ct.subtype) {
            out.push(part_text(message, part).into_owned());
        }
        return;
    }
    for child in children {
        collect(message, child, types, out);
    }
}
