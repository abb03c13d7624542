#!/usr/bin/env bash
# Fuzzing campaign: runs fuzz targets for the same time each (default 600 s = 10
# minutes), JOBS at a time (default 1), each with its dictionary (dicts/) and its seed
# corpus (seeds/TARGET, committed) besides the working corpus (corpus/TARGET, not
# committed). A crash fails the run (the others finish); the reproducer is under
# fuzz/artifacts/TARGET/, the output in fuzz/logs/TARGET.log.
# Every crash found becomes a regression test in the crate it came from.
# Usage: fuzz/run-all.sh [seconds-per-target] [jobs] [target...]
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); works on stable Rust (-s none).
set -euo pipefail
secs=${1:-600}
jobs=${2:-1}
shift $(( $# > 2 ? 2 : $# ))
cd "$(dirname "$0")"
cargo fuzz build -s none
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(cargo fuzz list)
mkdir -p logs

dict_of() {
  case "$1" in
    smtp_*|sasl) echo smtp ;;
    imf_*|mime_*|mbox_scan|dkim_canon) echo imf ;;
    imap_*) echo imap ;;
    pop3_*) echo pop3 ;;
    http_*|web_*) echo http ;;
    sieve) echo sieve ;;
    managesieve_*) echo managesieve ;;
    dkim_verify|spf|dmarc) echo auth ;;
    aliases) echo aliases ;;
    dns_*) echo dns ;;
  esac
}

run_one() {
  local t=$1 args=() d
  d=$(dict_of "$t")
  [ -n "$d" ] && args+=(-dict="dicts/$d.dict")
  mkdir -p "corpus/$t" "seeds/$t"
  if cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" \
      -print_final_stats=1 "${args[@]}" > "logs/$t.log" 2>&1; then
    echo "== $t: clean for $secs s, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$') runs, $(ls "corpus/$t" | wc -l) corpus entries"
  else
    echo "== $t: FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t/)"
    tail -n 30 "logs/$t.log"
    return 1
  fi
}
export -f run_one dict_of
export secs
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
echo "all ${#targets[@]} targets ran clean for $secs s each"
