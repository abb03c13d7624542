//! The physical limits the parser figures are read against: memory copy bandwidth
//! (1 MiB `copy_from_slice`) and the rate of 4 KiB write + fsync on the disk holding
//! the system temporary directory (or `$POSTRIDER_BENCH_DIR`).

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn memcpy(c: &mut Criterion) {
    let src = vec![0x5au8; 1 << 20];
    let mut dst = vec![0u8; 1 << 20];
    let mut g = c.benchmark_group("limits_memcpy");
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.bench_function("1 MiB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    g.finish();
}

fn fsync(c: &mut Criterion) {
    let dir = std::env::var_os("POSTRIDER_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("postrider-fsync-bench-{}", std::process::id()));
    let mut file = match std::fs::File::create(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "cannot create {}: {e}; skipping the fsync bench",
                path.display()
            );
            return;
        }
    };
    let block = [0x5au8; 4096];
    let mut g = c.benchmark_group("limits_fsync");
    g.throughput(Throughput::Elements(1));
    g.bench_function("4 KiB write + fsync", |b| {
        b.iter(|| {
            file.write_all(&block).expect("write to the bench file");
            file.sync_all().expect("fsync the bench file");
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default().sample_size(20);
        targets = memcpy, fsync
    }
}
use group::benches;
criterion_main!(benches);
