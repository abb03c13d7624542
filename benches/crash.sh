#!/usr/bin/env bash
# Crash campaign: SMTP load against one postrider binary, SIGKILL of the server at random
# moments N times (restart after each), then: every message that got 250 (recorded by
# postrider-load) is in the mailbox exactly once and no message is there twice. Also kills
# the server while POP3 sessions delete messages (QUIT) and while IMAP sessions EXPUNGE,
# and checks the mailbox again; after the IMAP kills, a new IMAP session must see exactly
# the mailbox's messages, with distinct increasing UIDs.
# With BACKEND "files" (the default) the mailbox is read from the mbox file (it must parse
# with Python's mailbox module); with "postgres" the server keeps everything in a new
# database made on the cluster of $POSTRIDER_PG_URL (dropped afterwards) and the mailbox is
# read over IMAP; with "maildir", files with Maildir mailboxes, read over IMAP too.
# Checks: benches/crash_check.py.
# Usage: benches/crash.sh path/to/binary path/to/postrider-load [N=50] [files|maildir|postgres]
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
bin=$(readlink -f "$1")
load=$(readlink -f "$2")
rounds=${3:-50}
backend=${4:-files}
dir=$(mktemp -d)
pid=
db=
psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1 || true)
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "$db" ] && "$psql_bin" -q "$POSTRIDER_PG_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp=$(port); pop3s=$(port); imaps=$(port)
storage=""
source="mbox:$dir/data/mail/sink"
if [ "$backend" = postgres ]; then
  [ -n "${POSTRIDER_PG_URL:-}" ] && [ -n "$psql_bin" ] \
    || { echo "FAIL: the postgres campaign needs \$POSTRIDER_PG_URL and psql" >&2; exit 1; }
  db="crash_$$_$RANDOM"
  "$psql_bin" -q "$POSTRIDER_PG_URL" -c "CREATE DATABASE $db" >/dev/null
  storage=$(printf '[storage]\nbackend = "postgres"\nurl = "%s"\n' "${POSTRIDER_PG_URL%/*}/$db")
  source="imap:$imaps"
elif [ "$backend" = maildir ]; then
  storage=$(printf '[storage]\nmailbox_format = "maildir"\n')
  source="imap:$imaps"
elif [ "$backend" != files ]; then
  echo "FAIL: unknown backend $backend (files, maildir or postgres)" >&2; exit 1
fi
cat > "$dir/postrider.toml" <<TOML
hostname = "mx.crash.example"
domains = ["crash.example"]
data_dir = "$dir/data"
[smtp]
listen = ["127.0.0.1:$smtp"]
[submission]
listen = []
listen_tls = []
[dns]
servers = ["127.0.0.1:9"]
[pop3]
listen = []
listen_tls = ["127.0.0.1:$pop3s"]
[imap]
listen = []
listen_tls = ["127.0.0.1:$imaps"]
[web]
listen = []
listen_tls = []
[lmtp]
listen = []
[managesieve]
listen = []
$storage
TOML
echo pw | "$bin" -c "$dir/postrider.toml" user add sink --password-stdin
check() { python3 "$here/crash_check.py" "$source" "$@"; }
drain() {
  for _ in $(seq 600); do
    [ "$("$bin" -c "$dir/postrider.toml" mailq)" = "Mail queue is empty" ] && return
    sleep 0.1
  done
  echo "FAIL: queue did not drain" >&2; exit 1
}
start() {
  "$bin" -c "$dir/postrider.toml" serve 2>>"$dir/server.log" &
  pid=$!
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$smtp) 2>/dev/null && return; sleep 0.05; done
  echo "FAIL: server did not start" >&2; tail -n 20 "$dir/server.log" >&2; exit 1
}
start
for i in $(seq "$rounds"); do
  "$load" smtp --port "$smtp" --clients 4 --messages 400 --size 2048 --pipelining \
    --to sink@crash.example --record "$dir/accepted" >/dev/null 2>&1 &
  lpid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  wait "$lpid" 2>/dev/null || true
  start
done
drain
check delivered "$dir/accepted"
# SIGKILL while POP3 sessions delete messages at QUIT.
for i in $(seq $(( rounds / 5 + 1 ))); do
  python3 - "$pop3s" <<'PY' >/dev/null 2>&1 &
import poplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for _ in range(20):
    try:
        p = poplib.POP3_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=5)
        p.user("sink"); p.pass_("pw")
        n = p.stat()[0]
        for k in range(1, min(n, 30) + 1):
            p.dele(k)
        p.quit()
    except Exception:
        pass
PY
  ppid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  kill "$ppid" 2>/dev/null || true; wait "$ppid" 2>/dev/null || true
  start
done
check unique
# SIGKILL while IMAP sessions expunge (the mbox rewrite and the index update).
"$load" smtp --port "$smtp" --clients 2 --messages 300 --size 1024 --pipelining \
  --to sink@crash.example >/dev/null
drain
before_imap=$(check count)
for i in $(seq $(( rounds / 5 + 1 ))); do
  python3 - "$imaps" <<'PY' >/dev/null 2>&1 &
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for _ in range(50):
    try:
        m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx, timeout=5)
        m.login("sink", "pw")
        m.select("INBOX")
        m.store("1:5", "+FLAGS", "(\\Deleted)")
        m.store("6", "+FLAGS", "(\\Flagged)")
        m.expunge()
        m.logout()
    except Exception:
        pass
PY
  ipid=$!
  sleep "1.$(( RANDOM % 9 ))"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  kill "$ipid" 2>/dev/null || true; wait "$ipid" 2>/dev/null || true
  start
done
check unique
check imap-agrees "$before_imap" "$imaps"
echo "$(basename "$bin") crash campaign, $backend backend ($rounds kills): passed"
