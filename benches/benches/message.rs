//! Criterion benches of the message layer against the `mail-parser` crate on the same
//! bytes in the same run: a small text message, a large base64 attachment, a deep
//! multipart and a many-part newsletter. Both sides do comparable work: parse the MIME
//! tree, decode the main header fields, and decode every leaf body to text or bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mail_parser::MessageParser;
use postrider_benches::{
    deep_multipart, large_attachment, newsletter, postrider_parse, small_text,
};

/// mail-parser: its parse does the same work eagerly.
fn mail_parser_parse(msg: &[u8]) -> usize {
    let parsed = MessageParser::default().parse(msg);
    parsed.map_or(0, |m| {
        m.subject().map_or(0, str::len) + m.parts.iter().map(|p| p.len()).sum::<usize>()
    })
}

fn compare(c: &mut Criterion) {
    let inputs = [
        ("small text", small_text()),
        ("2 MiB attachment", large_attachment()),
        ("20-deep multipart", deep_multipart()),
        ("50-part newsletter", newsletter()),
    ];
    let mut g = c.benchmark_group("message_parse");
    for (name, msg) in &inputs {
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_with_input(BenchmarkId::new("postrider", name), msg, |b, m| {
            b.iter(|| postrider_parse(black_box(m)))
        });
        g.bench_with_input(BenchmarkId::new("mail-parser", name), msg, |b, m| {
            b.iter(|| mail_parser_parse(black_box(m)))
        });
    }
    g.finish();
}

#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default().sample_size(30);
        targets = compare
    }
}
use group::benches;
criterion_main!(benches);
