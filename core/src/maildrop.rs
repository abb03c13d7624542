//! Reading an mbox maildrop without loading it: an incremental scanner that finds each
//! message's byte range, its size as served (CRLF line ends, mboxrd quoting undone) and a
//! stable fingerprint for UIDL; and the encoder that turns a stored message into a POP3
//! multi-line response (RFC 1939 §3: CRLF, byte-stuffing, terminating dot; TOP limits).
//!
//! Both work on chunks of any size, so the runtime reads the file piece by piece.

use sha2::{Digest, Sha256};

use crate::delivery::mbox::unquote_line;

/// One message of an mbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// Offset of its `From ` line.
    pub from_offset: u64,
    /// Offset of its first header byte (after the `From ` line).
    pub start: u64,
    /// End of its content (the separating empty line excluded).
    pub end: u64,
    /// Size in octets as served: CRLF line ends, mboxrd quoting removed.
    pub size: u64,
    /// A stable identifier: a digest of the `From ` line, the header (without the fields
    /// mail readers rewrite: Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase,
    /// Content-Length) and the body size; duplicates get `-2`, `-3`... in file order.
    pub uid: String,
}

/// Header fields left out of the fingerprint because mail programs rewrite them.
const VOLATILE: [&[u8]; 7] = [
    b"status:",
    b"x-status:",
    b"x-keywords:",
    b"x-uid:",
    b"x-imap:",
    b"x-imapbase:",
    b"content-length:",
];

struct Current {
    from_offset: u64,
    start: u64,
    size: u64,
    body_size: u64,
    in_header: bool,
    skipping_field: bool,
    hasher: Sha256,
    /// A blank line seen but not yet counted: it may be the separator.
    pending_blank: Option<u64>,
}

/// Finds the messages of an mbox file fed in chunks.
pub struct MboxScanner {
    offset: u64,
    line: Vec<u8>,
    line_start: u64,
    current: Option<Current>,
    done: Vec<MboxMessage>,
}

impl std::fmt::Debug for MboxScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MboxScanner")
            .field("offset", &self.offset)
            .field("messages", &self.done.len())
            .finish()
    }
}

impl Default for MboxScanner {
    fn default() -> Self {
        Self::new()
    }
}

/// The size a stored line has when served: content without its line end, unquoted, plus
/// CRLF.
fn served_len(line: &[u8]) -> u64 {
    let content = line.strip_suffix(b"\n").unwrap_or(line);
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    unquote_line(content).len() as u64 + 2
}

impl MboxScanner {
    /// A scanner at offset 0.
    pub fn new() -> Self {
        Self {
            offset: 0,
            line: Vec::new(),
            line_start: 0,
            current: None,
            done: Vec::new(),
        }
    }

    /// Feeds the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    if self.line.is_empty() {
                        self.line_start = self.offset;
                        self.line_done_slice(&rest[..=i]);
                    } else {
                        self.line.extend_from_slice(&rest[..=i]);
                        let line = std::mem::take(&mut self.line);
                        self.line_done_slice(&line);
                    }
                    self.offset += (i + 1) as u64;
                    rest = &rest[i + 1..];
                }
                None => {
                    if self.line.is_empty() {
                        self.line_start = self.offset;
                    }
                    self.line.extend_from_slice(rest);
                    self.offset += rest.len() as u64;
                    rest = &[];
                }
            }
        }
    }

    /// Ends the file; returns the messages in file order.
    pub fn finish(mut self) -> Vec<MboxMessage> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done_slice(&line);
        }
        let end = self.offset;
        self.close_current(end);
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for m in &mut self.done {
            let n = seen.entry(m.uid.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                m.uid = format!("{}-{}", m.uid, n);
            }
        }
        self.done
    }

    fn close_current(&mut self, end_offset: u64) {
        if let Some(c) = self.current.take() {
            // A trailing blank line is the separator, not content.
            let end = c.pending_blank.unwrap_or(end_offset);
            let mut hasher = c.hasher;
            hasher.update(c.body_size.to_string().as_bytes());
            let digest = hasher.finalize();
            let uid: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            self.done.push(MboxMessage {
                from_offset: c.from_offset,
                start: c.start,
                end,
                size: c.size,
                uid,
            });
        }
    }

    fn line_done_slice(&mut self, line: &[u8]) {
        let start = self.line_start;
        let len = line.len() as u64;
        if line.starts_with(b"From ") {
            self.close_current(start);
            let mut hasher = Sha256::new();
            hasher.update(line);
            self.current = Some(Current {
                from_offset: start,
                start: start + len,
                size: 0,
                body_size: 0,
                in_header: true,
                skipping_field: false,
                hasher,
                pending_blank: None,
            });
            return;
        }
        let Some(c) = self.current.as_mut() else {
            // Bytes before the first `From ` line are not a message.
            return;
        };
        let is_blank = line == b"\n" || line == b"\r\n";
        if c.pending_blank.take().is_some() {
            c.size += 2;
            c.body_size += 2;
        }
        if is_blank {
            if c.in_header {
                // The empty line ending the header is content, never the separator.
                c.size += 2;
                c.in_header = false;
            } else {
                c.pending_blank = Some(start);
            }
            return;
        }
        let n = served_len(line);
        c.size += n;
        if !c.in_header {
            c.body_size += n;
        }
        if c.in_header {
            let continuation = line.starts_with(b" ") || line.starts_with(b"\t");
            if !continuation {
                let lower: Vec<u8> = line
                    .iter()
                    .take(16)
                    .map(|b| b.to_ascii_lowercase())
                    .collect();
                c.skipping_field = VOLATILE.iter().any(|v| lower.starts_with(v));
            }
            if !c.skipping_field {
                c.hasher.update(line);
            }
        }
    }
}

/// A stored message (LF line ends, mboxrd-quoted) as served to IMAP: CRLF line ends,
/// quoting undone, a final line end added when missing.
pub fn stored_to_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 30 + 2);
    for line in stored.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        out.extend_from_slice(unquote_line(content));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// [`stored_to_crlf`] for a message read in chunks: the same output however the stored
/// bytes are split, holding at most one line (or [`CrlfStream::MAX_HELD`] bytes of a
/// longer one) at a time.
#[derive(Debug, Default, Clone)]
pub struct CrlfStream {
    line: Vec<u8>,
    /// Part of the current line was already written (its start, unquoted).
    continued: bool,
    /// The input is stored as it is (Maildir): no mboxrd quoting to undo.
    plain: bool,
}

impl CrlfStream {
    /// The most bytes of one line held back; a longer line is written in pieces.
    pub const MAX_HELD: usize = 64 * 1024;

    /// A converter at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// A converter for a message stored as it is (a Maildir file: LF line ends, no
    /// `>From ` quoting).
    pub fn plain() -> Self {
        Self {
            plain: true,
            ..Self::default()
        }
    }

    /// Converts the next stored bytes, appending to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            self.line.extend_from_slice(&chunk[..i]);
            chunk = &chunk[i + 1..];
            self.end_line(out);
        }
        self.line.extend_from_slice(chunk);
        if self.line.len() > Self::MAX_HELD {
            // Keep a final CR: it may be the start of the line's CR LF.
            let keep = usize::from(self.line.ends_with(b"\r"));
            let cut = self.line.len() - keep;
            self.write_part(cut, out);
        }
    }

    /// Writes the first `n` bytes of the held line (unquoted if they start it).
    fn write_part(&mut self, n: usize, out: &mut Vec<u8>) {
        let part: Vec<u8> = self.line.drain(..n).collect();
        if self.continued || self.plain {
            out.extend_from_slice(&part);
        } else {
            out.extend_from_slice(unquote_line(&part));
        }
        self.continued = true;
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        if self.line.ends_with(b"\r") {
            self.line.pop();
        }
        let n = self.line.len();
        self.write_part(n, out);
        out.extend_from_slice(b"\r\n");
        self.continued = false;
    }

    /// Ends the message: a last line without a line end gets one.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if !self.line.is_empty() || self.continued {
            self.end_line(out);
        }
    }
}

/// Turns a stored message into a POP3 multi-line response body: CRLF line ends, mboxrd
/// quoting removed, lines starting with `.` stuffed, and the final `.` line. With a line
/// limit (TOP), the header and that many body lines.
#[derive(Debug)]
pub struct Pop3Encoder {
    line: Vec<u8>,
    in_header: bool,
    body_lines_left: Option<usize>,
    stopped: bool,
    /// Whether the input is mboxrd-quoted (`>From ` lines to unquote).
    quoted: bool,
}

impl Pop3Encoder {
    /// An encoder for RETR (`None`) or TOP (`Some(n)`) of a message stored in an mbox.
    pub fn new(top_lines: Option<usize>) -> Self {
        Self {
            line: Vec::new(),
            in_header: true,
            body_lines_left: top_lines,
            stopped: false,
            quoted: true,
        }
    }

    /// The same for a message stored as it is (no mbox quoting: a database's).
    pub fn plain(top_lines: Option<usize>) -> Self {
        Self {
            quoted: false,
            ..Self::new(top_lines)
        }
    }

    /// Encodes the next stored bytes of the message into `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut rest = chunk;
        while !rest.is_empty() && !self.stopped {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    if self.line.is_empty() {
                        self.emit(&rest[..i], out);
                    } else {
                        self.line.extend_from_slice(&rest[..i]);
                        let line = std::mem::take(&mut self.line);
                        self.emit(&line, out);
                    }
                    rest = &rest[i + 1..];
                }
                None => {
                    self.line.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
    }

    /// Ends the message: the last partial line and the terminating `.` line.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if !self.line.is_empty() && !self.stopped {
            let line = std::mem::take(&mut self.line);
            self.emit(&line, out);
        }
        out.extend_from_slice(b".\r\n");
    }

    fn emit(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if self.stopped {
            return;
        }
        let content = line.strip_suffix(b"\r").unwrap_or(line);
        if !self.in_header {
            match self.body_lines_left.as_mut() {
                Some(0) => {
                    self.stopped = true;
                    return;
                }
                Some(n) => *n -= 1,
                None => {}
            }
        }
        if content.is_empty() && self.in_header {
            self.in_header = false;
        }
        let content = if self.quoted {
            unquote_line(content)
        } else {
            content
        };
        if content.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::mbox::append_entry;
    use crate::imf::datetime::WallClock;

    fn mbox(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            append_entry(&mut out, "a@b.test", WallClock::utc(0), m);
        }
        out
    }

    fn serve(file: &[u8], m: &MboxMessage, top: Option<usize>) -> Vec<u8> {
        let mut enc = Pop3Encoder::new(top);
        let mut out = Vec::new();
        for chunk in file[m.start as usize..m.end as usize].chunks(3) {
            enc.feed(chunk, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    #[test]
    fn scan_sizes_and_content_round_trip() {
        let a: &[u8] = b"Subject: one\r\n\r\nFrom the start\r\n.dot\r\n\r\n";
        let b: &[u8] = b"Subject: two\r\nStatus: RO\r\n\r\nlast line without end";
        let file = mbox(&[a, b]);
        for chunk_size in [1, 2, 7, 4096] {
            let mut s = MboxScanner::new();
            for c in file.chunks(chunk_size) {
                s.feed(c);
            }
            let msgs = s.finish();
            assert_eq!(msgs.len(), 2, "chunk {chunk_size}");
            let served = serve(&file, &msgs[0], None);
            assert_eq!(
                served,
                b"Subject: one\r\n\r\nFrom the start\r\n..dot\r\n\r\n.\r\n"
            );
            assert_eq!(msgs[0].size, a.len() as u64);
            let served = serve(&file, &msgs[1], None);
            assert_eq!(
                served,
                b"Subject: two\r\nStatus: RO\r\n\r\nlast line without end\r\n.\r\n"
            );
            assert_eq!(msgs[1].size, b.len() as u64 + 2);
            assert_ne!(msgs[0].uid, msgs[1].uid);
        }
    }

    #[test]
    fn fingerprint_ignores_status_fields_and_numbers_duplicates() {
        let one = mbox(&[b"Subject: x\r\nStatus: O\r\n\r\nbody\r\n"]);
        let two = mbox(&[b"Subject: x\r\nStatus: RO\r\nX-UID: 5\r\n\r\nbody\r\n"]);
        let uid = |f: &[u8]| {
            let mut s = MboxScanner::new();
            s.feed(f);
            s.finish()[0].uid.clone()
        };
        assert_eq!(uid(&one), uid(&two));
        let dup = mbox(&[b"S: 1\r\n\r\nx\r\n", b"S: 1\r\n\r\nx\r\n"]);
        let mut s = MboxScanner::new();
        s.feed(&dup);
        let m = s.finish();
        assert_eq!(m[1].uid, format!("{}-2", m[0].uid));
    }

    #[test]
    fn top_limits_body_lines() {
        let file = mbox(&[b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"]);
        let mut s = MboxScanner::new();
        s.feed(&file);
        let m = &s.finish()[0];
        assert_eq!(serve(&file, m, Some(0)), b"A: 1\r\nB: 2\r\n\r\n.\r\n");
        assert_eq!(
            serve(&file, m, Some(2)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n"
        );
        assert_eq!(
            serve(&file, m, Some(10)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n"
        );
    }

    #[test]
    fn junk_before_first_from_line_is_skipped() {
        let mut file = b"garbage\n\n".to_vec();
        file.extend(mbox(&[b"S: 1\r\n\r\nx\r\n"]));
        let mut s = MboxScanner::new();
        s.feed(&file);
        assert_eq!(s.finish().len(), 1);
    }
}
