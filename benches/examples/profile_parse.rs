//! Profiling helper: parses one of the bench messages many times
//! (`cargo run --release --example profile_parse -p postrider-benches -- deep 20000`);
//! prefix the message name with `mp-` to run mail-parser instead, e.g. for callgrind
//! instruction counts, which are repeatable on a noisy machine.

use postrider_benches::{
    deep_multipart, large_attachment, newsletter, postrider_parse, small_text,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("small");
    let peer = which.starts_with("mp-");
    let which = which.trim_start_matches("mp-");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let msg = match which {
        "deep" => deep_multipart(),
        "news" => newsletter(),
        "big" => large_attachment(),
        _ => small_text(),
    };
    let mut total = 0;
    for _ in 0..n {
        total += if peer {
            mail_parser::MessageParser::default()
                .parse(std::hint::black_box(&msg[..]))
                .map_or(0, |m| {
                    m.subject().map_or(0, str::len) + m.parts.iter().map(|p| p.len()).sum::<usize>()
                })
        } else {
            postrider_parse(std::hint::black_box(&msg))
        };
    }
    println!("{total}");
}
