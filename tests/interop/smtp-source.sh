#!/usr/bin/env bash
# Interop and load check with Postfix's smtp-source against one postrider binary:
# 5 sessions x 200 messages (reusing connections), then every message must be in the
# mbox exactly once. Usage: tests/interop/smtp-source.sh path/to/binary
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(readlink -f "$1")
src=$(command -v smtp-source || echo /usr/sbin/smtp-source)
[ -x "$src" ] || { echo "smtp-source (package postfix) is not installed" >&2; exit 1; }

dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
smtp=$(port)
cat > "$dir/postrider.toml" <<TOML
hostname = "mx.interop.example"
domains = ["interop.example"]
data_dir = "$dir/data"
[smtp]
listen = ["127.0.0.1:$smtp"]
[submission]
listen = []
listen_tls = []
[dns]
servers = ["127.0.0.1:9"]   # never the machine's resolver
[pop3]
listen = []
listen_tls = []
[imap]
listen = []
listen_tls = []
[web]
listen = []
listen_tls = []
[lmtp]
listen = []
[managesieve]
listen = []
TOML
echo pw | "$bin" -c "$dir/postrider.toml" user add sink --password-stdin
"$bin" -c "$dir/postrider.toml" serve 2>"$dir/server.log" &
pid=$!
wait_port "$smtp"
fail() { echo "FAIL: $*" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }

start=$(date +%s.%N)
"$src" -s 5 -m 1000 -l 4000 -d -f sender@else.example -t sink@interop.example "127.0.0.1:$smtp" \
  || fail "smtp-source reported an error"
end=$(date +%s.%N)
mbox="$dir/data/mail/sink"
for _ in $(seq 300); do [ "$(grep -c '^From ' "$mbox" 2>/dev/null || true)" = 1000 ] && break; sleep 0.1; done
n=$(grep -c '^From ' "$mbox" || true)
[ "$n" = 1000 ] || fail "expected 1000 messages in the mbox, found $n"
python3 - "$mbox" <<'PY' || fail "mbox check"
import mailbox, sys
box = mailbox.mbox(sys.argv[1])
ids = [m["Message-Id"] for m in box]
assert len(ids) == 1000 and len(set(ids)) == 1000, (len(ids), len(set(ids)))
for m in box:
    assert m["Return-Path"] == "<sender@else.example>", m["Return-Path"]
    assert m.get_payload().count("X") >= 3000
PY
echo "ok - smtp-source: 1000 messages in $(python3 -c "print(round($end - $start, 2))") s, all delivered once"
if "$src" -s 1 -m 1 -f a@else.example -t nobody@interop.example "127.0.0.1:$smtp" 2>"$dir/err"; then
  fail "an unknown recipient was accepted"
fi
grep -q "550 5.1.1" "$dir/err" || fail "unknown recipient not refused with 550 5.1.1: $(cat "$dir/err")"
echo "ok - unknown recipient refused with 550 5.1.1"
kill -TERM "$pid"; wait "$pid" || fail "serve did not exit 0 on SIGTERM"
echo "$(basename "$bin") smtp-source interop: 2 passed, 0 failed"
