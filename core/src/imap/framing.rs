//! Where one IMAP command ends in a buffer: at a line end that does not announce a
//! literal (`{n}` or LITERAL+ `{n+}`, RFC 7888); the server machine collects literals
//! before handing a complete command to the parser.

/// Where a command's framing stands after the bytes seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The command is complete, `n` bytes long.
    Complete(usize),
    /// A line ends with a literal announcement: `len` more bytes, then more line.
    /// `sync`: a synchronizing literal (send a continuation request).
    Literal {
        /// Where the literal's data starts in the buffer.
        data_at: usize,
        /// Its length.
        len: usize,
        /// Whether the client waits for `+`.
        sync: bool,
    },
    /// More bytes are needed (no line end yet).
    Incomplete,
}

/// Finds the end of the command starting at `from` (a position after which only whole
/// lines and literals follow): returns the framing state at the first line end.
pub fn frame_line(buf: &[u8], from: usize) -> Framing {
    let Some(lf) = memchr::memchr(b'\n', &buf[from..]).map(|i| from + i) else {
        return Framing::Incomplete;
    };
    let line = &buf[from..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.ends_with(b"}") {
        if let Some(open) = line.iter().rposition(|&b| b == b'{') {
            let inner = &line[open + 1..line.len() - 1];
            let (digits, sync) = match inner.strip_suffix(b"+") {
                Some(d) => (d, false),
                None => (inner, true),
            };
            if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                if let Some(len) = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                {
                    return Framing::Literal {
                        data_at: lf + 1,
                        len,
                        sync,
                    };
                }
            }
        }
    }
    Framing::Complete(lf + 1)
}
