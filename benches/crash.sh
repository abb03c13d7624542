#!/usr/bin/env bash
# Crash campaign: SMTP load against one postrider binary, SIGKILL of the server at random
# moments N times (restart after each), then: every message that got 250 (recorded by
# postrider-load) is in the mbox exactly once, no message is there twice, and the mbox
# parses with Python's mailbox module. Also kills the server while POP3 sessions delete
# messages (the QUIT rewrite) and while IMAP sessions EXPUNGE (the folder rewrite), and
# checks the mbox again; after the IMAP kills, a new IMAP session must see exactly the
# messages of the mbox, with distinct increasing UIDs.
# Usage: benches/crash.sh path/to/binary path/to/postrider-load [N=50]
set -euo pipefail
bin=$(readlink -f "$1")
load=$(readlink -f "$2")
rounds=${3:-50}
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp=$(port); pop3s=$(port); imaps=$(port)
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
TOML
echo pw | "$bin" -c "$dir/postrider.toml" user add sink --password-stdin
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
# Let the queue drain.
for _ in $(seq 600); do
  [ "$("$bin" -c "$dir/postrider.toml" mailq)" = "Mail queue is empty" ] && break
  sleep 0.1
done
[ "$("$bin" -c "$dir/postrider.toml" mailq)" = "Mail queue is empty" ] || { echo "FAIL: queue did not drain" >&2; exit 1; }
check() {
  python3 - "$dir/data/mail/sink" "$dir/accepted" "$1" <<'PY'
import collections, mailbox, sys
box = mailbox.mbox(sys.argv[1], create=False)
ids = collections.Counter(m["Message-ID"] for m in box)
dups = [k for k, n in ids.items() if n > 1]
assert not dups, f"delivered twice: {dups[:5]}"
if sys.argv[3] == "all":
    accepted = [l.strip() for l in open(sys.argv[2]) if l.strip()]
    missing = [a for a in accepted if a not in ids]
    assert not missing, f"{len(missing)} messages got 250 but are missing, e.g. {missing[:3]}"
    print(f"ok - {len(accepted)} accepted messages, each in the mbox once ({len(ids)} messages there)")
else:
    print(f"ok - mbox parses, {len(ids)} messages, no duplicates")
PY
}
check all
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
check some
# SIGKILL while IMAP sessions expunge (the mbox rewrite and the index update).
"$load" smtp --port "$smtp" --clients 2 --messages 300 --size 1024 --pipelining \
  --to sink@crash.example >/dev/null
for _ in $(seq 300); do
  [ "$("$bin" -c "$dir/postrider.toml" mailq)" = "Mail queue is empty" ] && break
  sleep 0.1
done
before_imap=$(python3 -c "import mailbox,sys; print(len(mailbox.mbox(sys.argv[1], create=False)))" "$dir/data/mail/sink")
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
check some
python3 - "$imaps" "$dir/data/mail/sink" "$before_imap" <<'PY'
import imaplib, mailbox, re, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx, timeout=30)
m.login("sink", "pw")
typ, data = m.select("INBOX")
n = int(data[0])
ids = [x["Message-ID"] for x in mailbox.mbox(sys.argv[2], create=False)]
assert n == len(ids), f"IMAP shows {n} messages, the mbox holds {len(ids)}"
if n:
    typ, rows = m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    uids = [int(re.search(rb"UID (\d+)", r[0]).group(1)) for r in rows if isinstance(r, tuple)]
    got = [r[1].decode().split(":", 1)[1].strip() for r in rows if isinstance(r, tuple)]
    assert uids == sorted(set(uids)), "UIDs not distinct and increasing after the kills"
    assert got == ids, "IMAP's messages differ from the mbox's"
m.logout()
print(f"ok - after IMAP expunges were killed: {n} messages, IMAP and the mbox agree")
if len(sys.argv) > 3 and n >= int(sys.argv[3]):
    sys.exit("FAIL: no IMAP expunge took effect, the kills tested nothing")
PY
echo "$(basename "$bin") crash campaign ($rounds kills): passed"
