//! Encoders for SMTP commands and replies: the inverse of `parse.rs`.

use super::types::{Command, ForwardPath, Parameter, Reply, ReversePath};

/// Appends the wire form of `params` (each preceded by a space).
fn encode_params(out: &mut Vec<u8>, params: &[Parameter]) {
    for p in params {
        out.push(b' ');
        out.extend_from_slice(p.keyword.as_bytes());
        if let Some(v) = &p.value {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// Appends `cmd` as one command line ending in CRLF (RFC 5321 §4.1.1).
pub fn encode_command(out: &mut Vec<u8>, cmd: &Command) {
    let text = |out: &mut Vec<u8>, verb: &str, arg: Option<&str>| {
        out.extend_from_slice(verb.as_bytes());
        if let Some(a) = arg {
            out.push(b' ');
            out.extend_from_slice(a.as_bytes());
        }
    };
    match cmd {
        Command::Ehlo(d) => text(out, "EHLO", Some(d)),
        Command::Helo(d) => text(out, "HELO", Some(d)),
        Command::Lhlo(d) => text(out, "LHLO", Some(d)),
        Command::Mail { from, params } => {
            out.extend_from_slice(b"MAIL FROM:<");
            if let ReversePath::Mailbox(m) = from {
                out.extend_from_slice(m.to_string().as_bytes());
            }
            out.push(b'>');
            encode_params(out, params);
        }
        Command::Rcpt { to, params } => {
            out.extend_from_slice(b"RCPT TO:<");
            match to {
                ForwardPath::Postmaster => out.extend_from_slice(b"Postmaster"),
                ForwardPath::Mailbox(m) => out.extend_from_slice(m.to_string().as_bytes()),
            }
            out.push(b'>');
            encode_params(out, params);
        }
        Command::Data => text(out, "DATA", None),
        Command::Bdat { size, last } => {
            let args = if *last {
                format!("{size} LAST")
            } else {
                size.to_string()
            };
            text(out, "BDAT", Some(&args))
        }
        Command::Rset => text(out, "RSET", None),
        Command::Noop(s) => text(out, "NOOP", s.as_deref()),
        Command::Quit => text(out, "QUIT", None),
        Command::Vrfy(s) => text(out, "VRFY", Some(s)),
        Command::Expn(s) => text(out, "EXPN", Some(s)),
        Command::Help(s) => text(out, "HELP", s.as_deref()),
        Command::StartTls => text(out, "STARTTLS", None),
        Command::Auth {
            mechanism,
            initial_response,
        } => {
            text(out, "AUTH", Some(mechanism));
            if let Some(r) = initial_response {
                out.push(b' ');
                out.extend_from_slice(r.as_bytes());
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `reply` in its wire form: `code-text` lines then `code text`, each line carrying
/// the enhanced status code when there is one (RFC 5321 §4.2.1, RFC 2034 §4).
pub fn encode_reply(out: &mut Vec<u8>, reply: &Reply) {
    let code = reply.code.to_string();
    let empty = [String::new()];
    let lines: &[String] = if reply.lines.is_empty() {
        &empty
    } else {
        &reply.lines
    };
    for (n, line) in lines.iter().enumerate() {
        out.extend_from_slice(code.as_bytes());
        out.push(if n + 1 == lines.len() { b' ' } else { b'-' });
        if let Some(e) = reply.enhanced {
            out.extend_from_slice(e.to_string().as_bytes());
            if !line.is_empty() {
                out.push(b' ');
            }
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Convenience: the wire form of one command.
pub fn command_bytes(cmd: &Command) -> Vec<u8> {
    let mut v = Vec::new();
    encode_command(&mut v, cmd);
    v
}

/// Convenience: the wire form of one reply.
pub fn reply_bytes(reply: &Reply) -> Vec<u8> {
    let mut v = Vec::new();
    encode_reply(&mut v, reply);
    v
}
