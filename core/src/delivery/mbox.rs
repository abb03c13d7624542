//! mboxrd formatting (the `From ` separator line and `>From ` quoting), as written by
//! Postfix local(8) and read by Dovecot, mutt and Python's `mailbox` module.
//!
//! Messages are stored with LF line ends, as is usual for mbox files on Unix.

use crate::imf::datetime::WallClock;

/// The separator line `From SENDER DATE\n`; the null sender is written `MAILER-DAEMON`.
/// Spaces and control characters in the sender are replaced so the line stays parseable.
pub fn from_line(sender: &str, when: WallClock) -> String {
    let sender: String = if sender.is_empty() {
        "MAILER-DAEMON".to_string()
    } else {
        sender
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    };
    format!("From {} {}\n", sender, when.asctime())
}

/// Whether `line` needs one more `>` under mboxrd rules: it matches `^>*From `.
fn needs_quoting(line: &[u8]) -> bool {
    let rest = &line[line.iter().take_while(|&&b| b == b'>').count()..];
    rest.starts_with(b"From ")
}

/// Appends one complete mbox entry to `out`: the `From ` line, `message` with CRLF turned
/// into LF and `>From ` quoting applied, a final LF if missing, and the empty separator line.
pub fn append_entry(out: &mut Vec<u8>, sender: &str, when: WallClock, message: &[u8]) {
    out.extend_from_slice(from_line(sender, when).as_bytes());
    out.reserve(message.len() + 2);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if needs_quoting(line) {
            out.push(b'>');
        }
        match line.strip_suffix(b"\r\n") {
            Some(content) => {
                out.extend_from_slice(content);
                out.push(b'\n');
            }
            None => out.extend_from_slice(line),
        }
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Reverses mboxrd quoting of one body line: removes one `>` from `^>+From `.
pub fn unquote_line(line: &[u8]) -> &[u8] {
    if line.first() == Some(&b'>') && needs_quoting(line) {
        &line[1..]
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_entry_with_quoting() {
        let mut out = Vec::new();
        let msg = b"Subject: t\r\n\r\nFrom here\r\n>From there\r\nFromage\r\nlast";
        append_entry(&mut out, "a@b", WallClock::utc(0), msg);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From a@b Thu Jan  1 00:00:00 1970\nSubject: t\n\n>From here\n>>From there\nFromage\nlast\n\n"
        );
    }

    #[test]
    fn null_sender_and_unquote() {
        assert!(from_line("", WallClock::utc(0)).starts_with("From MAILER-DAEMON "));
        assert_eq!(unquote_line(b">>From x"), b">From x");
        assert_eq!(unquote_line(b">Fro"), b">Fro");
    }
}
