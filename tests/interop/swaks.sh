#!/usr/bin/env bash
# Interop check with real third-party clients against one postrider binary: swaks (plain,
# STARTTLS, pipelining, relay denial, submission with AUTH PLAIN/LOGIN on 587 and 465, wrong
# passwords) and openssl s_client (STARTTLS and implicit TLS handshakes).
# Usage: tests/interop/swaks.sh path/to/binary
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(readlink -f "$1")
command -v swaks >/dev/null || { echo "swaks is not installed" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is not installed" >&2; exit 1; }

dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
smtp=$(port); sub=$(port); subs=$(port)
cat > "$dir/postrider.toml" <<TOML
hostname = "mx.interop.example"
domains = ["interop.example"]
data_dir = "$dir/data"
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
listen_tls = []
[web]
listen = []
listen_tls = []
[lmtp]
listen = []
[managesieve]
listen = []
TOML
echo pw | "$bin" -c "$dir/postrider.toml" user add alice --password-stdin
"$bin" -c "$dir/postrider.toml" serve 2>"$dir/server.log" &
pid=$!
wait_port "$smtp"

fail() { echo "FAIL: $*" >&2; tail -n 30 "$dir/server.log" >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }

swaks --server 127.0.0.1 --port "$smtp" --to alice@interop.example --from bob@else.example \
  --header "Subject: swaks-plain" --silent 2 || fail "plain delivery"
ok "swaks plain delivery"
swaks --server 127.0.0.1 --port "$smtp" --to alice@interop.example --from bob@else.example \
  --tls --header "Subject: swaks-tls" --silent 2 || fail "STARTTLS delivery"
ok "swaks STARTTLS delivery"
swaks --server 127.0.0.1 --port "$smtp" --to alice@interop.example --from bob@else.example \
  --pipeline --header "Subject: swaks-pipelined" --silent 2 || fail "pipelined delivery"
ok "swaks pipelined delivery"
if swaks --server 127.0.0.1 --port "$smtp" --to victim@remote.example --from bob@else.example \
  --silent 2 >"$dir/relay.out" 2>&1; then fail "relay to a remote domain was accepted"; fi
grep -q "554 5.7.1" "$dir/relay.out" || fail "relay denial is not 554 5.7.1"
ok "swaks relay denied with 554 5.7.1"

swaks --server 127.0.0.1 --port "$sub" --tls --auth PLAIN --auth-user alice --auth-password pw \
  --from alice@interop.example --to alice@interop.example --header "Subject: swaks-submission" \
  --silent 2 || fail "submission with STARTTLS + AUTH PLAIN"
ok "swaks submission: STARTTLS + AUTH PLAIN"
swaks --server 127.0.0.1 --port "$subs" --tls-on-connect --auth LOGIN --auth-user alice \
  --auth-password pw --from alice@interop.example --to alice@interop.example \
  --header "Subject: swaks-smtps" --silent 2 || fail "submissions with implicit TLS + AUTH LOGIN"
ok "swaks submissions: implicit TLS + AUTH LOGIN"
if swaks --server 127.0.0.1 --port "$sub" --tls --auth PLAIN --auth-user alice \
  --auth-password wrong --from alice@interop.example --to alice@interop.example \
  >"$dir/badauth.out" 2>&1; then fail "a wrong password was accepted"; fi
grep -q "535 5.7.8" "$dir/badauth.out" || fail "wrong password is not 535 5.7.8: $(cat "$dir/badauth.out")"
ok "swaks wrong password refused with 535 5.7.8"
if swaks --server 127.0.0.1 --port "$sub" --from alice@interop.example --to alice@interop.example \
  >"$dir/noauth.out" 2>&1; then fail "submission without AUTH was accepted"; fi
grep -q "530 5.7.0" "$dir/noauth.out" || fail "MAIL without AUTH is not 530 5.7.0"
ok "swaks submission without AUTH refused with 530 5.7.0"
swaks --server 127.0.0.1 --port "$sub" --tls --auth PLAIN --auth-user alice --auth-password pw \
  --from alice@interop.example --to friend@remote.example --silent 2 \
  || fail "authenticated relay was refused"
ok "swaks authenticated relay accepted"

echo QUIT | openssl s_client -starttls smtp -connect "127.0.0.1:$smtp" -brief >"$dir/ossl1" 2>&1 \
  || fail "openssl STARTTLS handshake"
grep -qE "Protocol version: TLSv1\.[23]" "$dir/ossl1" || fail "no TLS 1.2+ via STARTTLS: $(cat "$dir/ossl1")"
ok "openssl s_client -starttls smtp"
echo QUIT | openssl s_client -starttls smtp -connect "127.0.0.1:$sub" -brief >"$dir/ossl3" 2>&1 \
  || fail "openssl STARTTLS handshake on submission"
grep -qE "Protocol version: TLSv1\.[23]" "$dir/ossl3" || fail "no TLS 1.2+ via STARTTLS on submission"
ok "openssl s_client -starttls smtp (submission)"
echo QUIT | openssl s_client -connect "127.0.0.1:$subs" -brief >"$dir/ossl2" 2>&1 \
  || fail "openssl implicit TLS handshake"
grep -qE "Protocol version: TLSv1\.[23]" "$dir/ossl2" || fail "no TLS on the submissions port"
ok "openssl s_client implicit TLS (submissions)"
if echo QUIT | openssl s_client -starttls smtp -connect "127.0.0.1:$smtp" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -brief >/dev/null 2>&1; then
  fail "TLS 1.1 was accepted"
fi
ok "TLS 1.1 refused"
# msmtp and others send the IP address as SNI: handled, and not a warning every time.
echo QUIT | openssl s_client -connect "127.0.0.1:$subs" -servername 127.0.0.1 -brief >"$dir/ossl4" 2>&1 \
  || fail "openssl implicit TLS with an IP address as SNI"
sleep 0.2
if grep -q "WARN.*SNI" "$dir/server.log"; then fail "an IP address as SNI is logged as a warning"; fi
ok "IP address as SNI: accepted, no warning"

mbox="$dir/data/mail/alice"
wait_until count_is "$mbox" '^Subject: swaks-' 5
[ "$(grep -c '^Subject: swaks-' "$mbox")" = 5 ] || fail "expected 5 swaks messages in the mbox"
grep -q "with ESMTPS id" "$mbox" || fail "no ESMTPS Received line for the STARTTLS message"
grep -q "with ESMTPSA id" "$mbox" || fail "no ESMTPSA Received line for the submitted message"
ok "5 messages in the mbox, ESMTPS and ESMTPSA recorded"

kill -TERM "$pid"
wait "$pid" || fail "serve did not exit 0 on SIGTERM"
ok "SIGTERM exits 0"
echo "$(basename "$bin") interop: $passed passed, 0 failed"
