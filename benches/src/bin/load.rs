//! `postrider-load`: a load generator for SMTP, IMAP and POP3 servers (postrider or any
//! other). N concurrent clients each do M operations; prints throughput and latency
//! percentiles and exits non-zero on any protocol error.
//!
//! ```text
//! postrider-load smtp --port 2525 --clients 20 --messages 500 --size 4096 --pipelining
//! postrider-load imap --port 2993 --tls --user bench --password pw --clients 10 --messages 200
//! postrider-load pop3 --port 2995 --tls --user bench --password pw --clients 1
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Smtp,
    Imap,
    Pop3,
}

/// Load generator for SMTP, IMAP and POP3.
#[derive(Debug, Parser, Clone)]
#[command(name = "postrider-load")]
struct Args {
    /// Protocol.
    mode: Mode,
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long)]
    port: u16,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Operations per client (messages for SMTP, command rounds for IMAP/POP3).
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Message size in bytes (SMTP).
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Send MAIL, RCPT and DATA in one write (RFC 2920).
    #[arg(long)]
    pipelining: bool,
    /// SMTP: STARTTLS first; IMAP/POP3: implicit TLS on the port given.
    #[arg(long)]
    tls: bool,
    /// SMTP envelope sender.
    #[arg(long, default_value = "load@client.example")]
    from: String,
    /// SMTP recipient.
    #[arg(long, default_value = "sink@localhost")]
    to: String,
    /// IMAP/POP3 user.
    #[arg(long, default_value = "bench")]
    user: String,
    /// IMAP/POP3 password.
    #[arg(long, default_value = "pw")]
    password: String,
    /// Append the Message-ID of every message that got 250 to this file (SMTP).
    #[arg(long)]
    record: Option<std::path::PathBuf>,
}

enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<StreamOwned<ClientConnection, TcpStream>>>),
}

impl Conn {
    fn connect(a: &Args) -> io::Result<Conn> {
        let tcp = TcpStream::connect((a.host.as_str(), a.port))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn::Plain(BufReader::new(tcp)))
    }

    fn tls(self, config: Arc<ClientConfig>, host: &str) -> io::Result<Conn> {
        let tcp = match self {
            Conn::Plain(r) => r.into_inner(),
            Conn::Tls(_) => return Err(io::Error::other("TLS already on")),
        };
        let name = ServerName::try_from(host.to_string()).map_err(io::Error::other)?;
        let c = ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(Conn::Tls(Box::new(BufReader::new(StreamOwned::new(
            c, tcp,
        )))))
    }

    fn line(&mut self) -> io::Result<String> {
        let mut s = String::new();
        let n = match self {
            Conn::Plain(r) => r.read_line(&mut s)?,
            Conn::Tls(r) => r.read_line(&mut s)?,
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(s)
    }

    fn read_exact(&mut self, n: usize) -> io::Result<()> {
        let mut buf = vec![0u8; n];
        match self {
            Conn::Plain(r) => r.read_exact(&mut buf),
            Conn::Tls(r) => r.read_exact(&mut buf),
        }
    }

    fn send(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(r) => {
                r.get_mut().write_all(b)?;
                r.get_mut().flush()
            }
            Conn::Tls(r) => {
                r.get_mut().write_all(b)?;
                r.get_mut().flush()
            }
        }
    }

    /// One SMTP reply (multi-line aware); error unless its code starts with `want`.
    fn smtp_reply(&mut self, want: char) -> io::Result<String> {
        loop {
            let l = self.line()?;
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                if !l.starts_with(want) {
                    return Err(io::Error::other(format!(
                        "unexpected reply: {}",
                        l.trim_end()
                    )));
                }
                return Ok(l);
            }
        }
    }
}

fn protocol_error(what: String) -> io::Error {
    io::Error::other(what)
}

fn smtp_client(a: &Args, id: usize, tls: Option<Arc<ClientConfig>>) -> io::Result<Vec<Duration>> {
    let mut c = Conn::connect(a)?;
    c.smtp_reply('2')?;
    c.send(b"EHLO load.client.example\r\n")?;
    c.smtp_reply('2')?;
    if let Some(cfg) = tls {
        c.send(b"STARTTLS\r\n")?;
        c.smtp_reply('2')?;
        c = c.tls(cfg, "localhost")?;
        c.send(b"EHLO load.client.example\r\n")?;
        c.smtp_reply('2')?;
    }
    let filler_line = "x".repeat(76);
    let mut lat = Vec::with_capacity(a.messages);
    // Each accepted Message-ID is written as soon as its 250 arrives, so a run cut short
    // (the server killed) still records everything the server acknowledged.
    let mut record = match &a.record {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => None,
    };
    for m in 0..a.messages {
        let mid = format!("<load.{id}.{m}.{}@client.example>", std::process::id());
        let mut body = format!(
            "From: {}\r\nTo: {}\r\nSubject: load {id}/{m}\r\nMessage-ID: {mid}\r\n\r\n",
            a.from, a.to
        );
        while body.len() < a.size {
            body.push_str(&filler_line);
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        let t = Instant::now();
        let envelope = format!("MAIL FROM:<{}>\r\nRCPT TO:<{}>\r\nDATA\r\n", a.from, a.to);
        if a.pipelining {
            c.send(envelope.as_bytes())?;
            c.smtp_reply('2')?;
            c.smtp_reply('2')?;
            c.smtp_reply('3')?;
        } else {
            for cmd in envelope.split_inclusive("\r\n") {
                c.send(cmd.as_bytes())?;
                c.smtp_reply(if cmd.starts_with("DATA") { '3' } else { '2' })?;
            }
        }
        c.send(body.as_bytes())?;
        c.smtp_reply('2')?;
        lat.push(t.elapsed());
        if let Some(f) = record.as_mut() {
            // One write per line: O_APPEND keeps concurrent clients' lines whole.
            f.write_all(format!("{mid}\n").as_bytes())?;
        }
    }
    c.send(b"QUIT\r\n")?;
    let _ = c.smtp_reply('2');
    Ok(lat)
}

/// Reads IMAP responses to `tag`, skipping literals; error unless OK.
fn imap_done(c: &mut Conn, tag: &str) -> io::Result<()> {
    loop {
        let l = c.line()?;
        if let Some(n) = l
            .trim_end()
            .strip_suffix('}')
            .and_then(|x| x.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok())
        {
            c.read_exact(n)?;
            continue;
        }
        if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
            if rest.starts_with("OK") {
                return Ok(());
            }
            return Err(protocol_error(format!("{tag}: {}", rest.trim_end())));
        }
    }
}

fn imap_client(a: &Args, tls: Option<Arc<ClientConfig>>) -> io::Result<Vec<Duration>> {
    let mut c = Conn::connect(a)?;
    if let Some(cfg) = tls {
        c = c.tls(cfg, "localhost")?;
    }
    c.line()?;
    c.send(format!("l LOGIN \"{}\" \"{}\"\r\n", a.user, a.password).as_bytes())?;
    imap_done(&mut c, "l")?;
    c.send(b"s SELECT INBOX\r\n")?;
    imap_done(&mut c, "s")?;
    let ops = [
        "FETCH 1:* (FLAGS)",
        "FETCH 1 (BODY.PEEK[] ENVELOPE)",
        "STORE 1 +FLAGS (\\Seen)",
        "NOOP",
        "STORE 1 -FLAGS (\\Seen)",
    ];
    let mut lat = Vec::new();
    for i in 0..a.messages {
        let op = ops[i % ops.len()];
        let tag = format!("t{i}");
        let t = Instant::now();
        c.send(format!("{tag} {op}\r\n").as_bytes())?;
        imap_done(&mut c, &tag)?;
        lat.push(t.elapsed());
    }
    c.send(b"z LOGOUT\r\n")?;
    let _ = imap_done(&mut c, "z");
    Ok(lat)
}

fn pop3_ok(c: &mut Conn) -> io::Result<String> {
    let l = c.line()?;
    if !l.starts_with("+OK") {
        return Err(protocol_error(format!("unexpected: {}", l.trim_end())));
    }
    Ok(l)
}

fn pop3_client(a: &Args, tls: Option<Arc<ClientConfig>>) -> io::Result<Vec<Duration>> {
    let mut c = Conn::connect(a)?;
    if let Some(cfg) = tls {
        c = c.tls(cfg, "localhost")?;
    }
    pop3_ok(&mut c)?;
    c.send(format!("USER {}\r\n", a.user).as_bytes())?;
    pop3_ok(&mut c)?;
    c.send(format!("PASS {}\r\n", a.password).as_bytes())?;
    pop3_ok(&mut c)?;
    c.send(b"STAT\r\n")?;
    let stat = pop3_ok(&mut c)?;
    let count: usize = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut lat = Vec::new();
    for i in 0..a.messages.min(count) {
        let t = Instant::now();
        c.send(format!("RETR {}\r\n", i + 1).as_bytes())?;
        pop3_ok(&mut c)?;
        loop {
            if c.line()? == ".\r\n" {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    c.send(b"QUIT\r\n")?;
    let _ = pop3_ok(&mut c);
    Ok(lat)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let a = Args::parse();
    let tls = if a.tls {
        match postrider_agents::remote::insecure_client_config() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("postrider-load: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let start = Instant::now();
    let handles: Vec<_> = (0..a.clients)
        .map(|id| {
            let (a, tls) = (a.clone(), tls.clone());
            std::thread::spawn(move || match a.mode {
                Mode::Smtp => smtp_client(&a, id, tls),
                Mode::Imap => imap_client(&a, tls),
                Mode::Pop3 => pop3_client(&a, tls),
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => {
                eprintln!("postrider-load: client error: {e}");
                errors += 1;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed();
    all.sort();
    let ops = all.len();
    let unit = match a.mode {
        Mode::Smtp => "msgs",
        Mode::Imap => "cmds",
        Mode::Pop3 => "retrs",
    };
    println!(
        "{:?} clients={} ops={ops} time={:.2}s rate={:.1} {unit}/s p50={:.2}ms p99={:.2}ms max={:.2}ms errors={errors}",
        a.mode,
        a.clients,
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64().max(1e-9),
        percentile(&all, 0.5).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
