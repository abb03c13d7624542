//! Criterion benches of the IMAP side: the command parser on a typical client mix
//! (FETCH with sections, UID SEARCH, STORE, APPEND with a literal), and the response
//! parser on a FETCH response stream, with no IO.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use postrider_core::imap::command::parse_command;
use postrider_core::imap::response::parse_all;

const COMMANDS: &[&[u8]] = &[
    b"a1 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)])\r\n",
    b"a2 UID SEARCH UNDELETED SINCE 1-Feb-2024 OR FROM \"alice@example.org\" SUBJECT report\r\n",
    b"a3 UID STORE 100:200,305 +FLAGS.SILENT (\\Seen $Label1)\r\n",
    b"a4 SELECT \"Lists/dev team\"\r\n",
    b"a5 APPEND Sent (\\Seen) \"22-Feb-2008 17:06:23 +0000\" {60+}\r\nFrom: a@example.org\r\nSubject: x\r\n\r\nshort body line here.\r\n\r\n",
    b"a6 FETCH 1:50 (BODYSTRUCTURE ENVELOPE)\r\n",
];

fn parse_commands(c: &mut Criterion) {
    let total: usize = COMMANDS.iter().map(|x| x.len()).sum();
    let mut g = c.benchmark_group("imap_command_parser");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("6 commands", |b| {
        b.iter(|| {
            for cmd in COMMANDS {
                let _ = black_box(parse_command(black_box(cmd)));
            }
        })
    });
    g.finish();
}

fn parse_responses(c: &mut Criterion) {
    let mut wire = Vec::new();
    let header = "Subject: IMAP4rev1 WG mtg summary\r\n\r\n";
    for n in 1..=200 {
        wire.extend_from_slice(
            format!(
                "* {n} FETCH (UID {} FLAGS (\\Seen) RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \"IMAP4rev1 WG mtg summary\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODY[HEADER.FIELDS (SUBJECT)] {{{}}}\r\n{header})\r\n",
                n + 1000,
                header.len()
            )
            .as_bytes(),
        );
    }
    wire.extend_from_slice(b"a1 OK Fetch completed.\r\n");
    assert_eq!(
        parse_all(&wire).map(|r| r.len()),
        Ok(201),
        "the bench input must parse"
    );
    let mut g = c.benchmark_group("imap_response_parser");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("200 FETCH responses", |b| {
        b.iter(|| black_box(parse_all(black_box(&wire))).map(|r| r.len()))
    });
    g.finish();
}

#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default().sample_size(30);
        targets = parse_commands, parse_responses
    }
}
use group::benches;
criterion_main!(benches);
