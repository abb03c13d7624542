//! Criterion benches of the SMTP command parser, the DATA receiver and a whole server
//! session (commands plus 10 KB of DATA) through the state machine, with no IO.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use postrider_core::imf::datetime::WallClock;
use postrider_core::machine::{Machine, PeerInfo};
use postrider_core::smtp::data::{dot_stuff, DataReceiver};
use postrider_core::smtp::parse::command;
use postrider_core::smtp::{DataTicket, SmtpEvent, SmtpServer, SmtpServerConfig, Verdict};

const COMMANDS: &[&[u8]] = &[
    b"EHLO client.example.org\r\n",
    b"MAIL FROM:<sender.name@example.org> SIZE=10240 BODY=8BITMIME\r\n",
    b"RCPT TO:<recipient@example.net>\r\n",
    b"RCPT TO:<\"quoted local\"@[192.0.2.7]>\r\n",
    b"DATA\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
];

fn parse_commands(c: &mut Criterion) {
    let total: usize = COMMANDS.iter().map(|x| x.len()).sum();
    let mut g = c.benchmark_group("smtp_command_parser");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("7 commands", |b| {
        b.iter(|| {
            for cmd in COMMANDS {
                let _ = black_box(command(black_box(cmd)));
            }
        })
    });
    g.finish();
}

fn message(size: usize) -> Vec<u8> {
    let mut body = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n";
    while body.len() < size {
        body.extend_from_slice(line);
        if body.len() % 7 == 0 {
            body.extend_from_slice(b".leading dot line\r\n");
        }
    }
    body
}

fn data_receiver(c: &mut Criterion) {
    let mut wire = Vec::new();
    dot_stuff(&message(1 << 20), &mut wire);
    let mut g = c.benchmark_group("smtp_data_receiver");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("1 MiB", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            let mut rx = DataReceiver::new(u64::MAX, usize::MAX);
            black_box(rx.feed(black_box(&wire), &mut out));
        })
    });
    g.finish();
}

/// Runs one session to completion, answering every question with "yes".
fn run_session(input: &[u8], chunk: usize) -> usize {
    let peer = PeerInfo {
        remote: ([192, 0, 2, 1], 40000).into(),
        local: ([192, 0, 2, 2], 25).into(),
    };
    let now = Instant::now();
    let mut s = SmtpServer::new(SmtpServerConfig::default(), peer, now);
    let mut written = 0;
    let mut body = 0;
    let mut pump = |s: &mut SmtpServer| loop {
        let mut any = false;
        while let Some(out) = s.poll_transmit() {
            written += out.len();
            any = true;
        }
        while let Some(ev) = s.poll_event() {
            any = true;
            match ev {
                SmtpEvent::Helo { token, .. }
                | SmtpEvent::MailFrom { token, .. }
                | SmtpEvent::RcptTo { token, .. } => s.respond(token, Verdict::Accept),
                SmtpEvent::DataStart { token } => s.data_start(
                    token,
                    Ok(DataTicket {
                        queue_id: "BENCH".into(),
                        now: WallClock::utc(0),
                    }),
                ),
                SmtpEvent::BodyChunk(b) => body += b.len(),
                SmtpEvent::MessageComplete { token, .. } => s.message_queued(token, Ok(())),
                _ => {}
            }
        }
        if !any {
            break;
        }
    };
    pump(&mut s);
    for part in input.chunks(chunk) {
        s.handle_input(now, part);
        pump(&mut s);
    }
    written + body
}

fn server_session(c: &mut Criterion) {
    let mut input = b"EHLO client.example.org\r\nMAIL FROM:<a@example.org> SIZE=10240\r\nRCPT TO:<b@example.net>\r\nDATA\r\n".to_vec();
    dot_stuff(&message(10 * 1024), &mut input);
    input.extend_from_slice(b"QUIT\r\n");
    let mut g = c.benchmark_group("smtp_server_session");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("10 KB message, 4 KiB reads", |b| {
        b.iter(|| black_box(run_session(black_box(&input), 4096)))
    });
    g.finish();
}

#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default();
        targets = parse_commands, data_receiver, server_session
    }
}
use group::benches;
criterion_main!(benches);
