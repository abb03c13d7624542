#!/usr/bin/env bash
# Outbound interop with Postfix's smtp-sink as the remote server: postrider relays through
# `[delivery] smarthost` to smtp-sink, once with PIPELINING offered and once without
# (-p), 30 messages each with 3 recipients per transaction and DSN parameters; every
# message must arrive once with all its recipients. Usage: tests/interop/smtp-sink.sh BIN
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(readlink -f "$1")
sink=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
[ -x "$sink" ] || { echo "smtp-sink (package postfix) is not installed" >&2; exit 1; }

dir=$(mktemp -d)
chmod 755 "$dir"
pid=; spid=
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$spid" ] && { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 30 "$dir/server.log" >&2 || true; exit 1; }
user=()
[ "$(id -u)" = 0 ] && user=(-u nobody)

queue_empty() { [ "$("$bin" -c "$dir/postrider.toml" mailq)" = "Mail queue is empty" ]; }
round() {
  local name=$1; shift
  local smtp sinkport dump
  smtp=$(port); sinkport=$(port)
  dump="$dir/$name"
  mkdir -p "$dump"; chmod 777 "$dump"
  "$sink" "${user[@]}" "$@" -D "$dump/dump" "127.0.0.1:$sinkport" 100 &
  spid=$!
  cat > "$dir/postrider.toml" <<TOML
hostname = "mx.out.example"
domains = ["out.example"]
data_dir = "$dir/data-$name"
[smtp]
listen = ["127.0.0.1:$smtp"]
trusted_networks = ["127.0.0.0/8"]
[submission]
listen = []
listen_tls = []
[dns]
servers = ["127.0.0.1:9"]   # never the machine's resolver
[delivery]
smarthost = "127.0.0.1:$sinkport"
retry = ["1s"]
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
  "$bin" -c "$dir/postrider.toml" serve 2>"$dir/server.log" &
  pid=$!
  wait_port "$smtp"
  SMTP=$smtp python3 - <<'PY' || fail "$name: submitting to postrider"
import os, smtplib
with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP"]), timeout=30) as s:
    s.ehlo("client.out.example")
    for i in range(30):
        s.mail("sender@out.example", ["RET=HDRS", f"ENVID=id{i}"])
        for r in ("a@one.example", "b@one.example", "c@one.example"):
            code, msg = s.rcpt(r, ["NOTIFY=FAILURE"])
            assert code == 250, msg
        code, msg = s.data(f"Subject: sink-test {i}\r\n\r\nmessage {i}\r\n")
        assert code == 250, msg
PY
  for _ in $(seq 200); do
    [ "$(grep -c '^Subject: sink-test' "$dump/dump" 2>/dev/null || true)" = 30 ] && break
    sleep 0.1
  done
  n=$(grep -c '^Subject: sink-test' "$dump/dump" || true)
  [ "$n" = 30 ] || fail "$name: expected 30 messages at smtp-sink, found $n"
  r=$(grep -c '^X-Rcpt-Args: <[abc]@one.example> NOTIFY=FAILURE' "$dump/dump" || true)
  [ "$r" = 90 ] || fail "$name: expected 90 recipients with NOTIFY at smtp-sink, found $r"
  grep -qE '^X-Mail-Args: <sender@out.example> (SIZE=[0-9]+ )?RET=HDRS ENVID=id0' "$dump/dump" \
    || fail "$name: MAIL FROM parameters not passed on: $(grep -m1 X-Mail-Args "$dump/dump")"
  wait_until queue_empty
  queue_empty || fail "$name: queue not empty"
  grep -q "status=sent" "$dir/server.log" || fail "$name: no status=sent in the log"
  kill -TERM "$pid"; wait "$pid" || fail "$name: serve did not exit 0"; pid=
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; spid=
  echo "ok - $name: 30 messages x 3 recipients relayed to smtp-sink, each once"
}

round pipelining
round no-pipelining -p
echo "$(basename "$bin") smtp-sink interop: passed"
