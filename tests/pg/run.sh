#!/usr/bin/env bash
# The PostgreSQL backend's tests against a throwaway cluster: the storage conformance
# rules (store/tests/pg_conformance.rs), the two-node tests (test_two_nodes.py), the
# webmail and admin pages on the database (test_web_pg.py) and the SIGKILL campaign
# (benches/crash.sh, postgres backend), for both binaries. Called by .ci/run; runnable by
# hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/pg/cluster.sh
trap pg_cluster_stop EXIT
cargo test -p postrider-store --test pg_conformance -- --ignored --test-threads 2
cargo build -q --bin postrider --bin postrider-std --bin postrider-load
export PG_BIN=$pg_bin
for b in target/debug/postrider target/debug/postrider-std; do
  echo "== two nodes on one database: $b"
  POSTRIDER_BIN=$b python3 -W ignore::ResourceWarning tests/pg/test_two_nodes.py -v
  echo "== webmail and admin pages on the database: $b"
  POSTRIDER_BIN=$b python3 -W ignore::ResourceWarning tests/pg/test_web_pg.py -v
done
for b in target/debug/postrider target/debug/postrider-std; do
  echo "== crash campaign on the database (3 SIGKILLs under load, POP3 and IMAP kills): $b"
  bash benches/crash.sh "$b" target/debug/postrider-load 3 postgres
done
echo "postgres backend tests: passed"
