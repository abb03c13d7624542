//! Sieve `editheader` (RFC 5293): `addheader [:last] "name" "value"` and `deleteheader
//! [:index N [:last]] [COMPARATOR] [MATCH-TYPE] "name" [value-patterns]`. Later tests see
//! the changed header; the message keep, fileinto and redirect deliver is the header as
//! the script leaves it. `Received` and `Auto-Submitted` cannot be added or deleted (as
//! Pigeonhole protects them): such commands do nothing.

use super::matcher::Matcher;
use super::parse::Argument;
use super::{date, Args, State};
use crate::mime::encoded_word::encode;

/// Fields a script may neither add nor delete.
const PROTECTED: [&str; 2] = ["received", "auto-submitted"];

/// Longest value `addheader` writes, in bytes.
const MAX_VALUE: usize = 1024;

/// Whether `name` is a header field name (RFC 5322 §3.6.8: printable ASCII but `:`).
pub(super) fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn protected(name: &str) -> bool {
    PROTECTED.iter().any(|p| name.eq_ignore_ascii_case(p))
}

/// A field as written: `Name: value` with line ends and controls made spaces, non-ASCII
/// text as encoded words (RFC 2047), long values folded at spaces.
fn written_field(name: &str, value: &str) -> Vec<u8> {
    let clean: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut clean = clean.trim().to_string();
    if clean.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
    }
    let text = if clean.is_ascii() {
        clean
    } else {
        encode(&clean)
    };
    let mut out = format!("{name}:");
    let mut line_len = out.len();
    for word in text.split(' ') {
        if line_len + 1 + word.len() > 76 && line_len > name.len() + 1 {
            out.push_str("\r\n");
            line_len = 0;
        }
        out.push(' ');
        out.push_str(word);
        line_len += 1 + word.len();
    }
    out.push_str("\r\n");
    out.into_bytes()
}

impl State<'_> {
    /// `addheader [:last] "name" "value"`: at the top of the header, or its end.
    pub(super) fn addheader(&mut self, a: &Args) {
        let Some((name, value)) = a.name_and_value() else {
            return;
        };
        if !valid_field_name(name) || protected(name) {
            return;
        }
        let raw = written_field(name, value);
        let decoded = crate::mime::encoded_word::decode(value.trim());
        let at = if a.has("last") { self.headers.len() } else { 0 };
        self.headers.insert(at, (name.to_string(), decoded));
        self.raw.insert(at, raw);
        self.edited = true;
    }

    /// `deleteheader [:index N [:last]] [match] "name" [patterns]`: the fields of that
    /// name (only the N-th with `:index`) whose value matches a pattern (all without
    /// patterns).
    pub(super) fn deleteheader(&mut self, a: &Args) {
        let Some(Argument::Strings(name)) = a.positional.first() else {
            return;
        };
        let Some(name) = name.first() else {
            return;
        };
        if protected(name) {
            return;
        }
        let patterns = match a.positional.get(1) {
            Some(Argument::Strings(p)) => Some(p.clone()),
            _ => None,
        };
        let mut positions: Vec<usize> = (0..self.headers.len())
            .filter(|&i| self.headers[i].0.eq_ignore_ascii_case(name))
            .collect();
        if let Some(Argument::Number(index)) = a.value("index") {
            positions = date::pick(positions, *index, a.has("last"));
        }
        let m = Matcher::from(a);
        let doomed: Vec<usize> = positions
            .into_iter()
            .filter(|&i| match &patterns {
                None => true,
                Some(p) => m.any(std::slice::from_ref(&self.headers[i].1), p),
            })
            .collect();
        for &i in doomed.iter().rev() {
            self.headers.remove(i);
            self.raw.remove(i);
            self.edited = true;
        }
    }

    /// The message with the header as edited.
    pub(super) fn edited_message(&self) -> Vec<u8> {
        let message = self.ctx.message;
        let rest = message.get(self.header_end..).unwrap_or_default();
        let mut out = Vec::with_capacity(message.len() + 256);
        for field in &self.raw {
            out.extend_from_slice(field);
        }
        if self.header_end == 0 && !rest.starts_with(b"\r\n") && !rest.starts_with(b"\n") {
            // The message had no header section: the empty line that ends it.
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(rest);
        out
    }
}
