//! The sendmail(8)-compatible submission command: reads a message on stdin and writes it
//! straight into the queue (no network), where a running server picks it up within a
//! second, or a stopped one at its next start.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use postrider_core::machine::{Machine, PeerInfo};
use postrider_core::smtp::SmtpServer;

use postrider_core::delivery::trace::{received, Protocol, ReceivedInfo};
use postrider_core::submission::{fixup, qualify, FixupParams};

use crate::agent::{handle_events, Backlog, Flow};
use crate::config::Settings;
use crate::context::{wall_now, Context};
use crate::listener::ListenerKind;
use crate::session::{server_config, SmtpSession};
use postrider_store::queue::{unix_now, Envelope, Recipient};
use postrider_store::queue_store::MessageSpool;

/// Parsed sendmail options.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendmailArgs {
    /// `-t`: take recipients from To/Cc/Bcc.
    pub extract: bool,
    /// `-i` / `-oi`: a line with a single dot does not end the input.
    pub ignore_dots: bool,
    /// `-f SENDER` (or `-r`).
    pub sender: Option<String>,
    /// `-F NAME`.
    pub full_name: Option<String>,
    /// What to do: submit (the default), or another mode a `-b` or `-q` option chose.
    pub mode: Mode,
    /// Recipients from the command line.
    pub recipients: Vec<String>,
}

/// What a sendmail command line asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Submit the message on standard input (`-bm`, the default).
    #[default]
    Submit,
    /// `-bs`: an SMTP session on standard input and output.
    Smtp,
    /// `-bp`: list the queue, as `mailq`.
    ListQueue,
    /// `-bi`: rebuild the aliases db, as `newaliases`.
    RebuildAliases,
    /// `-q`: retry the deferred mail now, as `postrider queue flush`.
    Flush,
}

/// Parses sendmail's command line (everything after the command name). Unknown `-o`
/// options and common no-op flags are accepted and ignored, as Postfix does.
pub fn parse_args(args: &[String]) -> Result<SendmailArgs, String> {
    let mut a = SendmailArgs::default();
    let mut i = 0;
    let value = |i: &mut usize, flag: &str, inline: &str| -> Result<String, String> {
        if !inline.is_empty() {
            return Ok(inline.to_string());
        }
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("option {flag} needs a value"))
    };
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            a.recipients.extend(args[i + 1..].iter().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            a.recipients.push(arg.to_string());
            i += 1;
            continue;
        }
        match arg {
            "-t" => a.extract = true,
            "-i" | "-oi" => a.ignore_dots = true,
            "-bs" => a.mode = Mode::Smtp,
            "-bp" => a.mode = Mode::ListQueue,
            "-bi" => a.mode = Mode::RebuildAliases,
            "-q" => a.mode = Mode::Flush,
            "-bm" | "-v" | "-n" | "-U" | "-Am" | "-Ac" => {}
            _ if arg.starts_with("-f") || arg.starts_with("-r") => {
                let v = value(&mut i, &arg[..2], &arg[2..])?;
                a.sender = Some(v.trim_matches(|c| c == '<' || c == '>').to_string());
            }
            _ if arg.starts_with("-F") => a.full_name = Some(value(&mut i, "-F", &arg[2..])?),
            _ if arg.starts_with("-N")
                || arg.starts_with("-R")
                || arg.starts_with("-V")
                || arg.starts_with("-B") =>
            {
                let _ = value(&mut i, &arg[..2], &arg[2..])?;
            }
            _ if arg.starts_with("-o") || arg.starts_with("-d") => {}
            _ => return Err(format!("unsupported option {arg}")),
        }
        i += 1;
    }
    Ok(a)
}

/// Reads the message from `input`; without `-i`, a line consisting of a single dot ends it.
pub fn read_message(input: &mut dyn Read, ignore_dots: bool, max: u64) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    input
        .take(max + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read the message: {e}"))?;
    if raw.len() as u64 > max {
        return Err(format!("message is larger than the limit of {max} bytes"));
    }
    if !ignore_dots {
        let mut pos = 0;
        for line in raw.split_inclusive(|&b| b == b'\n') {
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content == b"." {
                raw.truncate(pos);
                break;
            }
            pos += line.len();
        }
    }
    Ok(raw)
}

/// The login name of the invoking user.
pub fn current_user() -> String {
    let uid = rustix::process::getuid().as_raw();
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid) {
                return f[0].to_string();
            }
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "nobody".into())
}

/// `sendmail -bs`: an SMTP session on `input`/`output` (as inetd-style MUAs use it). The
/// invoking user is trusted to relay; messages go into the queue like any other.
pub fn run_smtp_session(
    ctx: &Arc<Context>,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<(), String> {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let peer = PeerInfo {
        remote: local,
        local,
    };
    let mut config = server_config(ctx, ListenerKind::Smtp);
    config.starttls = false;
    let mut server = SmtpServer::new(config, peer, Instant::now());
    let mut session = SmtpSession::new_local(ctx.clone(), peer);
    let mut buf = vec![0u8; 64 * 1024];
    let io = |e: std::io::Error| format!("-bs: {e}");
    let mut out = Backlog::default();
    loop {
        let flow = handle_events(&mut session, &mut server, &mut out, |_, _| false);
        output.write_all(out.pending()).map_err(io)?;
        out.consume(out.len());
        output.flush().map_err(io)?;
        if flow == Flow::Close {
            return Ok(());
        }
        if server.has_event() {
            continue;
        }
        match input.read(&mut buf) {
            Ok(0) => server.handle_eof(Instant::now()),
            Ok(n) => server.handle_input(Instant::now(), &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
}

/// A message read and fixed up by `sendmail`, with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The envelope sender (`""` for the null sender).
    pub sender: String,
    /// The envelope recipients, qualified, without duplicates.
    pub recipients: Vec<String>,
    /// The message, CRLF line ends, fix-ups done (Date, Message-ID, From; no Bcc).
    pub message: Vec<u8>,
}

/// Reads the message on `input` and applies sendmail's rules: the sender (`-f`, else
/// the user running the command), the fix-ups, the recipients (the command line, and
/// the header's with `-t`). `unique` makes the Message-ID unique.
pub fn prepare(
    settings: &Settings,
    args: &SendmailArgs,
    input: &mut dyn Read,
    unique: &str,
) -> Result<Prepared, String> {
    let domain = settings.primary_domain();
    let raw = read_message(
        input,
        args.ignore_dots,
        settings.config.smtp.max_message_size,
    )?;
    let sender = match &args.sender {
        Some(s) if s.is_empty() => String::new(),
        Some(s) => qualify(s, domain),
        None => qualify(&current_user(), domain),
    };
    let fixed = fixup(
        &raw,
        &FixupParams {
            hostname: &settings.config.hostname,
            sender: if sender.is_empty() {
                "MAILER-DAEMON"
            } else {
                &sender
            },
            full_name: args.full_name.as_deref(),
            now: wall_now(),
            unique,
        },
    );
    let mut recipients: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        let r = qualify(r.trim(), domain);
        if !r.is_empty() && !recipients.iter().any(|x| x.eq_ignore_ascii_case(&r)) {
            recipients.push(r);
        }
    };
    for r in &args.recipients {
        for part in r.split(',') {
            add(part);
        }
    }
    if args.extract {
        for r in &fixed.header_recipients {
            add(r);
        }
    }
    if recipients.is_empty() {
        return Err(if args.extract {
            "no recipient addresses found in the message header".into()
        } else {
            "no recipients specified".into()
        });
    }
    Ok(Prepared {
        sender,
        recipients,
        message: fixed.message,
    })
}

/// Runs `sendmail`: returns the queue id on success.
pub fn run(ctx: &Context, args: &SendmailArgs, input: &mut dyn Read) -> Result<String, String> {
    let settings = ctx.settings();
    let spool_for_id = ctx
        .queue
        .create_spool()
        .map_err(|e| format!("cannot write to the queue: {e}"))?;
    let id = spool_for_id.id().to_string();
    let p = prepare(&settings, args, input, &format!("{}.{}", id, unix_now()))?;
    let uid = rustix::process::getuid().as_raw();
    queue_local(
        ctx,
        spool_for_id,
        &LocalSubmission {
            sender: &p.sender,
            recipients: &p.recipients,
            message: &p.message,
            received: ReceivedFrom {
                client_ip: None,
                authenticated: None,
                protocol: Protocol::Local,
                comment: &format!("postrider, from userid {uid}"),
            },
            log_origin: &format!("uid={uid}"),
        },
    )?;
    Ok(id)
}

/// Whether this user may not write the queue itself (the packaged server's data_dir
/// belongs to the `postrider` user): `sendmail` then hands the message to the local SMTP
/// listener instead ([`run_over_smtp`]).
pub fn queue_closed(settings: &Settings) -> bool {
    // A data_dir closed to this user makes its queue directory unreadable too.
    let queue = settings.config.data_dir.join("queue");
    matches!(std::fs::read_dir(&queue), Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied)
}

/// `sendmail` for a user who cannot write the queue: the same message and envelope,
/// handed over SMTP to the server's first `[smtp]` listener (on loopback when it listens
/// on every address), which must accept it (local domains, or relaying for
/// `trusted_networks`, where the packaged configuration puts loopback).
pub fn run_over_smtp(
    settings: &Settings,
    args: &SendmailArgs,
    input: &mut dyn Read,
) -> Result<(), String> {
    use postrider_core::smtp::client::{ClientMessage, ClientRecipient, RecipientResult};
    let mut addr = crate::reload::smtp_addresses(settings)
        .into_iter()
        .next()
        .ok_or("cannot write to the queue, and no [smtp] listener to hand the message to")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let unique = format!("{}.{}", std::process::id(), unix_now());
    let p = prepare(settings, args, input, &unique)?;
    let message = ClientMessage {
        sender: p.sender,
        recipients: p
            .recipients
            .iter()
            .map(|r| ClientRecipient {
                address: r.clone(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        ret: None,
        envid: None,
        content: bytes::Bytes::from(p.message),
        binary: false,
        require_tls: false,
    };
    let plain = crate::remote::OutboundTls {
        policy: postrider_core::smtp::client::TlsPolicy::Never,
        config: None,
        verified: None,
    };
    let hostname = &settings.config.hostname;
    let (outcome, _) =
        crate::remote::session("sendmail", &plain, hostname, hostname, addr, message);
    let refused: Vec<String> = outcome
        .recipients
        .iter()
        .zip(&p.recipients)
        .filter_map(|(result, rcpt)| match result {
            RecipientResult::Delivered(_) => None,
            RecipientResult::Deferred(e) | RecipientResult::Failed(e, _) => {
                Some(format!("<{rcpt}>: {e}"))
            }
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the server at {addr} did not take it: {}",
            refused.join("; ")
        ))
    }
}

/// Who handed a locally submitted message over, for its Received field.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedFrom<'a> {
    /// The client's address (the webmail's browser), if any.
    pub client_ip: Option<std::net::IpAddr>,
    /// The account that submitted it, if logged in.
    pub authenticated: Option<&'a str>,
    /// How it came.
    pub protocol: Protocol,
    /// The comment after the host name (the submitting uid, the webmail).
    pub comment: &'a str,
}

/// A message submitted on this host (the sendmail command, the webmail), fixed up
/// already.
#[derive(Debug, Clone, Copy)]
pub struct LocalSubmission<'a> {
    /// The envelope sender.
    pub sender: &'a str,
    /// The envelope recipients.
    pub recipients: &'a [String],
    /// The message, CRLF line ends, fix-ups done (no Bcc).
    pub message: &'a [u8],
    /// Its Received field's origin.
    pub received: ReceivedFrom<'a>,
    /// Who submitted it, for the log line (`uid=1000`, `web user alice`).
    pub log_origin: &'a str,
}

/// Queues a local submission into `spool`: a Received field, a DKIM signature for its
/// From domain, the envelope; durable when this returns Ok (the queue id).
pub fn queue_local(
    ctx: &Context,
    mut spool: Box<dyn MessageSpool>,
    m: &LocalSubmission<'_>,
) -> Result<String, String> {
    let id = spool.id().to_string();
    let trace = received(&ReceivedInfo {
        helo: None,
        client_ip: m.received.client_ip,
        authenticated: m.received.authenticated,
        by_host: &ctx.settings().config.hostname,
        protocol: m.received.protocol,
        comment: Some(m.received.comment),
        id: &id,
        for_rcpt: match m.recipients {
            [only] => Some(only.as_str()),
            _ => None,
        },
        when: wall_now(),
    });
    let dkim = crate::dkim::sign(&ctx.settings(), m.message, unix_now());
    let write = |spool: &mut dyn MessageSpool| -> std::io::Result<()> {
        spool.write(trace.as_bytes())?;
        spool.write(m.message)
    };
    write(&mut *spool).map_err(|e| format!("cannot write to the queue: {e}"))?;
    let env = Envelope {
        dkim,
        ..Envelope::local(
            &id,
            m.sender,
            m.recipients.iter().map(Recipient::new).collect(),
            m.message.len() as u64,
            unix_now(),
        )
    };
    spool
        .commit(&env)
        .map_err(|e| format!("cannot write to the queue: {e}"))?;
    tracing::info!(
        "{id}: from=<{}>, size={}, nrcpt={} (queue active, {})",
        m.sender,
        env.size,
        env.recipients.len(),
        m.log_origin
    );
    ctx.metrics.received();
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_common_invocations() {
        let a = parse_args(&s(&[
            "-t", "-oi", "-f", "me@x", "-FMe Too", "bob", "--", "-weird",
        ]))
        .unwrap();
        assert!(a.extract && a.ignore_dots);
        assert_eq!(a.sender.as_deref(), Some("me@x"));
        assert_eq!(a.full_name.as_deref(), Some("Me Too"));
        assert_eq!(a.recipients, ["bob", "-weird"]);
        assert_eq!(
            parse_args(&s(&["-f<>"])).unwrap().sender.as_deref(),
            Some("")
        );
        assert!(parse_args(&s(&["-X"])).is_err());
        assert!(parse_args(&s(&["-f"])).is_err());
    }

    #[test]
    fn dot_ends_input_unless_i() {
        let mut input: &[u8] = b"Subject: a\n\nline\n.\nafter\n";
        assert_eq!(
            read_message(&mut input, false, 1000).unwrap(),
            b"Subject: a\n\nline\n"
        );
        let mut input: &[u8] = b"a\n.\nb\n";
        assert_eq!(read_message(&mut input, true, 1000).unwrap(), b"a\n.\nb\n");
        let mut input: &[u8] = b"0123456789";
        assert!(read_message(&mut input, true, 5).is_err());
    }
}
