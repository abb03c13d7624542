#!/usr/bin/env bash
# Disk-full campaign: postrider's data_dir on a small tmpfs (root only: it mounts one).
# SMTP clients send 32 KB messages until the disk is full. Checks: the server answers
# 452 4.3.1 (never 250 for a message it could not store, never a dropped connection or a
# 5xx), every message that got 250 is either in the mbox or still queued, and the mbox
# parses. Then space is freed (a filler file is deleted) and, after `queue flush`, every
# accepted message must be in the mbox exactly once and new mail must be accepted again.
# Usage: benches/diskfull.sh path/to/binary
set -euo pipefail
bin=$(readlink -f "$1")
[ "$(id -u)" = 0 ] || { echo "NOT RUN: diskfull.sh mounts a tmpfs and needs root" >&2; exit 0; }
dir=$(mktemp -d)
fs="$dir/fs"
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  umount "$fs" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$fs"
mount -t tmpfs -o size=6m tmpfs "$fs"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp=$(port)
cat > "$dir/postrider.toml" <<TOML
hostname = "mx.full.example"
domains = ["full.example"]
data_dir = "$fs/data"
[smtp]
listen = ["127.0.0.1:$smtp"]
[submission]
listen = []
listen_tls = []
[dns]
servers = ["127.0.0.1:9"]
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
[delivery]
retry = ["1s"]
TOML
echo pw | "$bin" -c "$dir/postrider.toml" user add sink --password-stdin
# Space to give back later.
dd if=/dev/zero of="$fs/filler" bs=1M count=1 status=none
"$bin" -c "$dir/postrider.toml" serve 2>>"$dir/server.log" &
pid=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$smtp) 2>/dev/null && break; sleep 0.05; done
fail() { echo "FAIL: $*" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }

SMTP=$smtp OUT="$dir/accepted" python3 - <<'PY' || fail "while filling the disk"
import os, smtplib, sys
port = int(os.environ["SMTP"])
accepted, full = [], 0
body = ("x" * 76 + "\r\n") * 420  # about 32 KB
n = 0
while full < 5 and n < 2000:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        for _ in range(10):
            n += 1
            msg = f"Subject: full-{n}\r\nMessage-ID: <full-{n}@x>\r\n\r\n{body}"
            try:
                s.sendmail("a@else.example", ["sink@full.example"], msg)
                accepted.append(n)
            except smtplib.SMTPDataError as e:
                if e.smtp_code != 452 or b"4.3.1" not in e.smtp_error:
                    sys.exit(f"message {n}: expected 452 4.3.1, got {e.smtp_code} {e.smtp_error!r}")
                full += 1
            except smtplib.SMTPRecipientsRefused as e:
                codes = {c for c, _ in e.recipients.values()}
                if codes != {452}:
                    sys.exit(f"message {n}: RCPT refused with {e.recipients}")
                full += 1
if full == 0:
    sys.exit("the disk never filled up")
open(os.environ["OUT"], "w").write("\n".join(map(str, accepted)))
print(f"ok - {len(accepted)} accepted, then {full} refusals with 452 4.3.1 on a full disk")
PY
kill -0 "$pid" || fail "server died on a full disk"

check() {  # $1: "all" = every accepted message must be in the mbox exactly once
  local queued
  queued=$("$bin" -c "$dir/postrider.toml" mailq | grep -cE '^[0-9A-F]{16} ' || true)
  python3 - "$fs/data/mail/sink" "$dir/accepted" "$queued" "$1" <<'PY'
import mailbox, os, re, sys
mbox, accepted_file, queued, mode = sys.argv[1:]
queued = int(queued)
accepted = [int(x) for x in open(accepted_file).read().split()]
seen = {}
if os.path.exists(mbox):
    for m in mailbox.mbox(mbox):
        n = int(re.match(r"full-(\d+)", m["Subject"]).group(1))
        seen[n] = seen.get(n, 0) + 1
dups = [n for n, c in seen.items() if c > 1]
if dups:
    sys.exit(f"FAIL: delivered twice: {dups[:10]}")
missing = [n for n in accepted if n not in seen]
if mode == "all" and missing:
    sys.exit(f"FAIL: {len(missing)} accepted messages not delivered, e.g. {missing[:5]}")
if len(missing) > queued:
    sys.exit(f"FAIL: {len(missing)} accepted messages neither delivered nor queued ({queued} queued)")
print(f"ok - {len(seen)} in the mbox (parses), {queued} queued, none lost or doubled")
PY
}
check some || fail "after filling the disk"
rm -f "$fs/filler"
"$bin" -c "$dir/postrider.toml" queue flush
for _ in $(seq 300); do
  [ "$("$bin" -c "$dir/postrider.toml" mailq)" = "Mail queue is empty" ] && break
  sleep 0.1
done
check all || fail "after freeing space"
SMTP=$smtp python3 - <<'PY' || fail "new mail after freeing space"
import os, smtplib
with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP"]), timeout=30) as s:
    s.sendmail("a@else.example", ["sink@full.example"], "Subject: after\r\n\r\nroom again\r\n")
print("ok - mail accepted again once space was freed")
PY
kill -TERM "$pid"; wait "$pid" || fail "serve did not exit 0"; pid=
echo "$(basename "$bin") disk-full campaign: passed"
