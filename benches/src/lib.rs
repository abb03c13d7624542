//! postrider benchmarks: see `benches/` for the criterion benches of the parsers and the
//! server state machine. Run them with `cargo bench -p postrider-benches`.
