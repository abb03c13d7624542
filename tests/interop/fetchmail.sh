#!/usr/bin/env bash
# POP3 interop with fetchmail: five messages delivered to postrider are pulled over POP3
# (once with STLS on the plain port, once over implicit TLS) into an mda that appends to
# a file; fetchmail deletes them, so the maildrop must be empty afterwards.
# Usage: tests/interop/fetchmail.sh path/to/binary
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(readlink -f "$1")
command -v fetchmail >/dev/null || { echo "fetchmail is not installed" >&2; exit 1; }

dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$dir"' EXIT
smtp=$(port); pop3=$(port); pop3s=$(port)
cat > "$dir/postrider.toml" <<TOML
hostname = "mx.fetch.example"
domains = ["fetch.example"]
data_dir = "$dir/data"
[smtp]
listen = ["127.0.0.1:$smtp"]
[submission]
listen = []
listen_tls = []
[dns]
servers = ["127.0.0.1:9"]   # never the machine's resolver
[pop3]
listen = ["127.0.0.1:$pop3"]
listen_tls = ["127.0.0.1:$pop3s"]
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
echo secret | "$bin" -c "$dir/postrider.toml" user add alice --password-stdin
"$bin" -c "$dir/postrider.toml" serve 2>"$dir/server.log" &
pid=$!
wait_port "$smtp"
fail() { echo "FAIL: $*" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }

deliver() {
  SMTP=$smtp TAG=$1 python3 - <<'PY' || fail "delivering"
import os, smtplib
with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP"])) as s:
    for i in range(5):
        s.sendmail("x@else.example", ["alice@fetch.example"],
                   f"Subject: fetch-{os.environ['TAG']}-{i}\r\n\r\nFrom here\r\n.dot\r\nbody {i}\r\n")
PY
  wait_until count_is "$dir/data/mail/alice" "^Subject: fetch-$1-" 5
}

run() {
  local name=$1
  local rc=$dir/fetchmailrc-$name
  shift
  printf '%s\n' "$@" > "$rc"
  chmod 600 "$rc"
  HOME=$dir fetchmail -f "$rc" --nodetach --nosyslog -s >"$dir/fetchmail-$name.log" 2>&1 \
    || fail "$name: fetchmail failed: $(cat "$dir/fetchmail-$name.log")"
}

deliver stls
run stls "poll 127.0.0.1 service $pop3 protocol pop3 user alice password secret sslproto tls1.2+ no sslcertck mda \"cat >> $dir/fetched\""
[ "$(grep -c '^Subject: fetch-stls-' "$dir/fetched")" = 5 ] || fail "stls: expected 5 fetched messages"
grep -q '^>From here' "$dir/fetched" && fail "stls: mboxrd quoting leaked to the client"
ok=$(python3 -c "import mailbox,sys; print(sum(1 for _ in mailbox.mbox('$dir/data/mail/alice')))")
[ "$ok" = 0 ] || fail "stls: $ok messages left in the maildrop after fetchmail deleted them"
echo "ok - fetchmail over STLS pulled 5 messages and deleted them"

deliver ssl
run ssl "poll 127.0.0.1 service $pop3s protocol pop3 user alice password secret ssl no sslcertck mda \"cat >> $dir/fetched\""
[ "$(grep -c '^Subject: fetch-ssl-' "$dir/fetched")" = 5 ] || fail "ssl: expected 5 fetched messages"
echo "ok - fetchmail over implicit TLS pulled 5 messages"
kill -TERM "$pid"; wait "$pid" || fail "serve did not exit 0"; pid=
echo "$(basename "$bin") fetchmail interop: passed"
