//! The DATA receiver: finds the end of mail data, removes dot-stuffing and enforces the
//! message limits while the body streams through (RFC 5321 §4.1.1.4, §4.5.2, §4.5.3.1).
//!
//! Only `CRLF "." CRLF` ends the data (the start of the data counts as a CRLF). A bare LF
//! or a bare CR anywhere in the data is remembered and the message is refused once, at
//! that real end; neither starts a line, so no dot after one can end the data: treating
//! either as a line end is what makes SMTP smuggling possible (CVE-2023-51764 class). Oversized messages and overlong lines are also
//! swallowed to the terminating dot and refused then, so the session stays in sync.

/// Where the receiver is inside the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (the start of the data counts as one).
    LineStart,
    /// Inside a line.
    Mid,
    /// A CR was seen inside a line; an LF must follow.
    Cr,
    /// The line started with a dot.
    Dot,
    /// The line is a dot followed by CR: an LF ends the data.
    DotCr,
    /// The terminating dot line has been consumed.
    Done,
}

/// Why a complete message was refused, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// A bare LF or bare CR was found (answer 550 5.5.2).
    #[error("bare CR or LF in the message")]
    BareNewline,
    /// The message is larger than the limit (answer 552 5.3.4).
    #[error("message too large")]
    TooLarge,
    /// A line was longer than the limit (answer 500 5.5.2).
    #[error("line too long")]
    LineTooLong,
}

/// Streaming DATA decoder. Feed it input with [`DataReceiver::feed`] until it reports done.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    state: State,
    size: u64,
    max_size: u64,
    line_len: usize,
    max_line: usize,
    error: Option<DataError>,
    eight_bit: bool,
}

impl DataReceiver {
    /// A receiver refusing messages over `max_size` octets (after unstuffing) and lines over
    /// `max_line` octets including their CRLF.
    pub fn new(max_size: u64, max_line: usize) -> Self {
        Self {
            state: State::LineStart,
            size: 0,
            max_size,
            line_len: 0,
            max_line,
            error: None,
            eight_bit: false,
        }
    }

    /// Whether the terminating `.` line has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The problem found so far, if any; once set, nothing more is written to `out`.
    pub fn error(&self) -> Option<DataError> {
        self.error
    }

    /// The message size so far (after unstuffing, CRLF line ends), counted even after an
    /// error.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether any octet above 127 was seen.
    pub fn saw_eight_bit(&self) -> bool {
        self.eight_bit
    }

    fn flag(&mut self, e: DataError) {
        // Keep the most important reason: bare newlines first, then size, then lines.
        self.error = match (self.error, e) {
            (Some(DataError::BareNewline), _) => Some(DataError::BareNewline),
            (_, DataError::BareNewline) => Some(DataError::BareNewline),
            (Some(DataError::TooLarge), _) => Some(DataError::TooLarge),
            (_, new) => Some(new),
        };
    }

    /// Counts `bytes` toward the size (always, so the verdict does not depend on how the
    /// input was chunked) and appends them to `out` while the message is still acceptable.
    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            self.flag(DataError::TooLarge);
        }
        if self.error.is_none() {
            out.extend_from_slice(bytes);
        }
    }

    fn count_line(&mut self, n: usize) {
        self.line_len += n;
        if self.line_len > self.max_line {
            self.flag(DataError::LineTooLong);
        }
    }

    /// Consumes bytes from `input`, appending message content to `out`. Returns how many
    /// bytes were consumed: all of `input`, or fewer when the end of data was reached, in
    /// which case the remaining bytes are the next commands (pipelining).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            match self.state {
                State::LineStart if input[i] == b'.' => {
                    i += 1;
                    self.count_line(1);
                    self.state = State::Dot;
                }
                State::Mid | State::LineStart => {
                    // Fast path: copy the run up to the next CR or LF.
                    let run_end = memchr::memchr2(b'\r', b'\n', &input[i..])
                        .map(|p| i + p)
                        .unwrap_or(input.len());
                    if run_end > i {
                        let run = &input[i..run_end];
                        if !self.eight_bit && run.iter().any(|&b| b >= 0x80) {
                            self.eight_bit = true;
                        }
                        self.count_line(run.len());
                        self.emit(out, run);
                        self.state = State::Mid;
                        i = run_end;
                        continue;
                    }
                    let b = input[i];
                    i += 1;
                    if b == b'\r' {
                        self.state = State::Cr;
                    } else {
                        // A bare LF: refused at the end, and it does not start a line, so a
                        // dot after it cannot end the data (`\n.\r\n` is smuggling).
                        self.flag(DataError::BareNewline);
                        self.state = State::Mid;
                    }
                }
                State::Cr => {
                    let b = input[i];
                    i += 1;
                    if b == b'\n' {
                        self.count_line(2);
                        self.emit(out, b"\r\n");
                        self.line_len = 0;
                        self.state = State::LineStart;
                    } else {
                        self.flag(DataError::BareNewline);
                        if b != b'\r' {
                            self.state = State::Mid;
                        }
                    }
                }
                State::Dot => {
                    let b = input[i];
                    if b == b'\r' {
                        i += 1;
                        self.state = State::DotCr;
                    } else {
                        // A stuffed dot: drop it and read the rest of the line normally (a
                        // bare LF after it is flagged there and starts no line).
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    let b = input[i];
                    i += 1;
                    if b == b'\n' {
                        self.state = State::Done;
                    } else {
                        self.flag(DataError::BareNewline);
                        self.state = if b == b'\r' { State::Cr } else { State::Mid };
                    }
                }
                State::Done => break,
            }
        }
        i
    }
}

/// Dot-stuffs `body` for transmission after DATA and appends the terminating
/// `CRLF . CRLF` (RFC 5321 §4.5.2). A body not ending in CRLF gets one.
pub fn dot_stuff(body: &[u8], out: &mut Vec<u8>) {
    let mut at_line_start = true;
    for chunk in body.split_inclusive(|&b| b == b'\n') {
        if at_line_start && chunk.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(chunk);
        at_line_start = chunk.ends_with(b"\n");
    }
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Vec<u8>, usize, DataReceiver) {
        let mut r = DataReceiver::new(1 << 20, 1000);
        let mut out = Vec::new();
        let n = r.feed(input, &mut out);
        (out, n, r)
    }

    #[test]
    fn unstuffs_and_stops_at_dot() {
        let (out, n, r) = run(b"Subject: x\r\n\r\n..hidden\r\n.\r\nQUIT\r\n");
        assert_eq!(out, b"Subject: x\r\n\r\n.hidden\r\n");
        assert_eq!(n, 27);
        assert!(r.is_done());
        assert_eq!(r.error(), None);
    }

    #[test]
    fn empty_message() {
        let (out, n, r) = run(b".\r\n");
        assert!(out.is_empty());
        assert_eq!(n, 3);
        assert!(r.is_done());
    }

    #[test]
    fn bare_lf_dot_does_not_end_data() {
        let (_, n, r) = run(b"a\n.\nMAIL FROM:<x@y>\r\n");
        assert!(!r.is_done());
        assert_eq!(n, 21);
        assert_eq!(r.error(), Some(DataError::BareNewline));
        let mut r = r;
        let mut out = Vec::new();
        r.feed(b"\r\n.\r\n", &mut out);
        assert!(r.is_done());
        assert_eq!(r.error(), Some(DataError::BareNewline));
    }

    /// Every smuggling variant: the "end" after a bare CR or LF is data, the commands after
    /// it are data, and only the real `CRLF . CRLF` ends the message, which is refused.
    #[test]
    fn smuggled_ends_do_not_end_data() {
        let variants: [&[u8]; 8] = [
            b"\n.\n",
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r.\r\n",
            b"\r\n.\r",
            b"\r\n.\r\r\n",
            b"\x00\n.\r\n\x00",
            b"\xff\r.\r\n\xfe",
        ];
        for v in variants {
            let mut input = b"first body".to_vec();
            input.extend_from_slice(v);
            input.extend_from_slice(b"MAIL FROM:<evil@x.example>\r\nDATA\r\nforged\r\n");
            let real_end = input.len();
            input.extend_from_slice(b".\r\nQUIT\r\n");
            let (_, n, r) = run(&input);
            assert!(r.is_done(), "{v:?}");
            assert_eq!(n, real_end + 3, "{v:?} ended the data early");
            assert_eq!(r.error(), Some(DataError::BareNewline), "{v:?}");
        }
    }

    #[test]
    fn bare_cr_is_refused() {
        let (_, _, r) = run(b"a\rb\r\n.\r\n");
        assert!(r.is_done());
        assert_eq!(r.error(), Some(DataError::BareNewline));
    }

    #[test]
    fn too_large_is_swallowed() {
        let mut r = DataReceiver::new(10, 1000);
        let mut out = Vec::new();
        r.feed(b"0123456789abcdef\r\n.\r\n", &mut out);
        assert!(r.is_done());
        assert_eq!(r.error(), Some(DataError::TooLarge));
    }

    #[test]
    fn long_line_is_refused() {
        let mut r = DataReceiver::new(1 << 20, 10);
        let mut out = Vec::new();
        r.feed(b"01234567890123\r\n.\r\n", &mut out);
        assert_eq!(r.error(), Some(DataError::LineTooLong));
        let mut r = DataReceiver::new(1 << 20, 10);
        r.feed(b"01234567\r\n.\r\n", &mut out);
        assert_eq!(r.error(), None);
    }

    #[test]
    fn byte_at_a_time_matches_whole() {
        let input = b"From: a\r\n\r\n.x\r\n..\r\nend\r\n.\r\n";
        let (whole, _, _) = run(input);
        let mut r = DataReceiver::new(1 << 20, 1000);
        let mut out = Vec::new();
        for b in input.iter() {
            r.feed(std::slice::from_ref(b), &mut out);
        }
        assert!(r.is_done());
        assert_eq!(out, whole);
    }

    #[test]
    fn stuff_then_unstuff_round_trips() {
        let body = b".a\r\n..b\r\nc\r\n.\r\n";
        let mut wire = Vec::new();
        dot_stuff(body, &mut wire);
        let (out, n, r) = run(&wire);
        assert!(r.is_done());
        assert_eq!(n, wire.len());
        assert_eq!(out, body);
    }
}
