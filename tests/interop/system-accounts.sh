#!/usr/bin/env bash
# accounts = "system" against real /etc/passwd and /etc/shadow entries made by the system's
# own tools (useradd, chpasswd with SHA512 and YESCRYPT): SMTP AUTH on the submission port
# with each hash kind, a wrong password, delivery to /var/mail/USER (owned by the user),
# and privileges: a program in a user's .forward runs as that user, a program in the
# aliases as [delivery] default_user (nobody), never as root; a user's :include: of
# /etc/shadow is read with the user's privileges and its lines reach neither the log nor
# the queue; a user's Sieve vacation memory planted as a link to a root file leaves the
# root file untouched.
# Needs root (it creates and removes two throwaway users). Usage:
#   tests/interop/system-accounts.sh path/to/binary
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(readlink -f "$1")
[ "$(id -u)" = 0 ] || { echo "system-accounts.sh must run as root" >&2; exit 1; }
command -v useradd >/dev/null && command -v chpasswd >/dev/null \
  || { echo "useradd/chpasswd are not installed" >&2; exit 1; }

dir=$(mktemp -d)
users=(prsha512 pryescrypt)
all_users=(prsha512 pryescrypt princlude)
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for u in "${all_users[@]}"; do userdel "$u" 2>/dev/null || true; rm -f "/var/mail/$u" "/var/mail/$u.lock"; done
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
pid=
trap cleanup EXIT
chmod 755 "$dir"
mkdir -m 777 "$dir/out"
for u in "${all_users[@]}"; do
  userdel "$u" 2>/dev/null || true
  useradd -m -d "$dir/home/$u" -s /usr/sbin/nologin "$u"
done
# prsha512 keeps a copy and pipes to a command that records who ran it.
printf '\\prsha512, "|id -u > %s/out/forward.uid"\n' "$dir" > "$dir/home/prsha512/.forward"
# A .sieve longer than the 1 MiB read at delivery (comments only): read in part, as the
# user, without the reading helper hanging on its unread output; the message is kept.
python3 -c 'import sys; sys.stdout.write("# padding line for a large script\n" * 65536)' > "$dir/home/prsha512/.sieve"
chown prsha512: "$dir/home/prsha512/.sieve"
chown prsha512: "$dir/home/prsha512/.forward"
chmod 600 "$dir/home/prsha512/.forward"
printf 'runner: "|id -u > %s/out/alias.uid"\n' "$dir" > "$dir/aliases"
# princlude includes /etc/shadow, which it may not read.
printf ':include:/etc/shadow\n' > "$dir/home/princlude/.forward"
chown princlude: "$dir/home/princlude/.forward"; chmod 600 "$dir/home/princlude/.forward"
# prsha512 plants a link to /etc/shadow among its IMAP folders.
mkdir -p "$dir/home/prsha512/mail"
ln -s /etc/shadow "$dir/home/prsha512/mail/stolen"
chown -R -h prsha512: "$dir/home/prsha512/mail"
# pryescrypt's Sieve answers with a vacation whose memory is a link to a root-only file.
printf 'require "vacation";\nvacation :days 1 "away";\n' > "$dir/home/pryescrypt/.sieve"
chown pryescrypt: "$dir/home/pryescrypt/.sieve"
echo "root file, do not touch" > "$dir/victim"; chmod 600 "$dir/victim"
ln -s "$dir/victim" "$dir/home/pryescrypt/.sieve.vacation.db"
chown -h pryescrypt: "$dir/home/pryescrypt/.sieve.vacation.db"
echo "prsha512:pw-sha512" | chpasswd -c SHA512
echo "pryescrypt:pw-yescrypt" | chpasswd -c YESCRYPT
grep -q '^prsha512:\$6\$' /etc/shadow || { echo "chpasswd did not write a sha512-crypt hash" >&2; exit 1; }
grep -q '^pryescrypt:\$y\$' /etc/shadow || { echo "chpasswd did not write a yescrypt hash" >&2; exit 1; }

smtp=$(port); sub=$(port); subs=$(port); imaps=$(port)
cat > "$dir/postrider.toml" <<TOML
hostname = "mx.sys.example"
domains = ["sys.example"]
data_dir = "$dir/data"
accounts = "system"
[smtp]
listen = ["127.0.0.1:$smtp"]
[submission]
listen = ["127.0.0.1:$sub"]
listen_tls = ["127.0.0.1:$subs"]
[dns]
servers = ["127.0.0.1:9"]   # never the machine's resolver
[pop3]
listen = []
listen_tls = []
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
[auth]
failure_delay = "100ms"
[delivery]
aliases = "$dir/aliases"
TOML
"$bin" -c "$dir/postrider.toml" newaliases >/dev/null
"$bin" -c "$dir/postrider.toml" serve 2>"$dir/server.log" &
pid=$!
wait_port "$sub"

SUB=$sub python3 - <<'EOF' || { tail -n 30 "$dir/server.log" >&2; exit 1; }
import os, smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
port = int(os.environ["SUB"])
for user, pw in (("prsha512", "pw-sha512"), ("pryescrypt", "pw-yescrypt")):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.starttls(context=ctx)
        try:
            s.login(user, pw + "-wrong")
            raise SystemExit(f"FAIL: wrong password accepted for {user}")
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
        code, _ = s.login(user, pw)
        assert code == 235, code
        s.sendmail(f"{user}@sys.example", [f"{user}@sys.example"],
                   f"To: {user}@sys.example\r\nSubject: system account {user}\r\n\r\nhello\r\n")
    print(f"ok - {user}: wrong password 535, right password 235, message accepted")
EOF
for u in "${users[@]}"; do
  wait_until grep -qs "^Subject: system account $u" "/var/mail/$u"
  grep -q "^Subject: system account $u" "/var/mail/$u" || { echo "FAIL: nothing in /var/mail/$u" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }
  echo "ok - delivered to /var/mail/$u"
done
[ "$(stat -c %U /var/mail/prsha512)" = prsha512 ] || { echo "FAIL: /var/mail/prsha512 is not owned by prsha512" >&2; exit 1; }
echo "ok - /var/mail/prsha512 belongs to prsha512"
wait_until test -s "$dir/out/forward.uid"
[ "$(cat "$dir/out/forward.uid" 2>/dev/null)" = "$(id -u prsha512)" ] \
  || { echo "FAIL: the .forward program ran as uid $(cat "$dir/out/forward.uid" 2>/dev/null), not prsha512" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }
echo "ok - the .forward program ran as its user"
SMTP=$smtp python3 - <<'PY' || { tail -n 30 "$dir/server.log" >&2; exit 1; }
import os, smtplib
with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP"]), timeout=30) as s:
    s.sendmail("x@else.example", ["runner@sys.example"], "Subject: run\r\n\r\nhi\r\n")
PY
wait_until test -s "$dir/out/alias.uid"
[ "$(cat "$dir/out/alias.uid" 2>/dev/null)" = "$(id -u nobody)" ] \
  || { echo "FAIL: the aliases program ran as uid $(cat "$dir/out/alias.uid" 2>/dev/null), not nobody" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }
echo "ok - the aliases program ran as nobody"
[ "$(cat "$dir/victim")" = "root file, do not touch" ] \
  || { echo "FAIL: the vacation memory was written through a link into a root file" >&2; exit 1; }
echo "ok - a vacation memory linked to a root file left it untouched"
SMTP=$smtp python3 - <<'PY' || { tail -n 30 "$dir/server.log" >&2; exit 1; }
import os, smtplib
with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP"]), timeout=30) as s:
    s.sendmail("x@else.example", ["princlude@sys.example"], "Subject: include\r\n\r\nhi\r\n")
PY
wait_until grep -qs "princlude@sys.example.*status=" "$dir/server.log"
grep -q 'cannot read :include:/etc/shadow' "$dir/server.log" \
  || { echo "FAIL: the include of /etc/shadow was not refused" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }
if grep -q '\$6\$\|\$y\$' "$dir/server.log" || "$bin" -c "$dir/postrider.toml" mailq | grep -q '\$6\$\|\$y\$'; then
  echo "FAIL: shadow lines reached the log or the queue" >&2; exit 1
fi
echo "ok - :include:/etc/shadow read as the user: refused, nothing leaked"
IMAPS=$imaps python3 - <<'PY' || { tail -n 30 "$dir/server.log" >&2; exit 1; }
import imaplib, os, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["IMAPS"]), ssl_context=ctx)
m.login("prsha512", "pw-sha512")
typ, data = m.select("stolen")
assert typ == "NO", (typ, data)
typ, data = m.status("stolen", "(MESSAGES)")
assert typ == "NO", (typ, data)
m.logout()
PY
echo "ok - a folder planted as a link to /etc/shadow is refused over IMAP"
if grep -q "pw-sha512\|pw-yescrypt" "$dir/server.log"; then echo "FAIL: a password reached the log" >&2; exit 1; fi
echo "ok - no password in the log"
echo "$(basename "$bin") system accounts: passed"
