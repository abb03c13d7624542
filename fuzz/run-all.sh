#!/usr/bin/env bash
# Runs every fuzz target for the same time each (default 600 s = 10 minutes), one after
# the other, and stops at the first crash (the reproducer is under fuzz/artifacts/).
# Usage: fuzz/run-all.sh [seconds-per-target]
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); works on stable Rust (-s none).
set -euo pipefail
secs=${1:-600}
cd "$(dirname "$0")"
cargo fuzz build -s none
for t in $(cargo fuzz list); do
  echo "== $t ($secs s)"
  cargo fuzz run -s none "$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 | tail -n 3
done
echo "all targets ran clean for $secs s each"
