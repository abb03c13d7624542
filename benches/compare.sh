#!/usr/bin/env bash
# Side-by-side benchmark: installs Postfix and Dovecot from the distribution if missing,
# builds the release binaries and runs benches/compare.py, which loads Postfix
# (virtual(8) to mbox), Dovecot (mbox), postrider and postrider-std with the same SMTP
# (postrider-load at 1/5/20/50 clients, smtp-source at 20) and IMAP loads and writes
# benches/results/compare.md and compare.svg. Needs root. Everything stays on loopback
# (Postfix is configured without DNS).
# With --postgres, both binaries also run with the PostgreSQL backend on a throwaway
# cluster (tests/pg/cluster.sh).
# Usage: benches/compare.sh [--quick] [--postgres] [RESULTS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
flags=()
while [ "${1:-}" = "--quick" ] || [ "${1:-}" = "--postgres" ]; do flags+=("$1"); shift; done
results=${1:-benches/results}
export DEBIAN_FRONTEND=noninteractive
if ! [ -x /usr/sbin/smtp-source ] || ! command -v dovecot >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq postfix dovecot-imapd >/dev/null
fi
cargo build --release -q -p postrider-smol -p postrider-std --bin postrider --bin postrider-std
cargo build --release -q -p postrider-benches --bin postrider-load
if [[ " ${flags[*]} " == *" --postgres "* ]]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null
  source tests/pg/cluster.sh
  trap pg_cluster_stop EXIT
fi
python3 benches/compare.py target/release/postrider target/release/postrider-std \
  target/release/postrider-load "$results" "${flags[@]}"
