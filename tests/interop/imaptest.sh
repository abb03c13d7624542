#!/usr/bin/env bash
# Dovecot's imaptest against postrider, in one command: its whole scripted suite, then
# three stress runs (sessions that stay logged in; the default mix with copy, search,
# UID FETCH, NOOP, CHECK, random disconnects and mailbox create/delete; a realistic mix
# of all of those), each of which must report no error line. The same stress runs go to
# a live Dovecot first when `dovecot` is installed, so the load is known to be clean.
#
# imaptest is not in this repository (and cannot be fetched by CI): build it from a
# checkout of dovecot/imaptest (branch release-2.3) with Debian's dovecot-dev, e.g.
#   ./autogen.sh && ./configure --with-dovecot=/usr/lib/dovecot && make
# (Debian's 2.3.19 headers want a fourth, NULL argument to imap_parser_create() in
# src/commands.c, src/imap-client.c and src/test-parser.c.)
#
# Usage: [MAILBOX_FORMAT=maildir] tests/interop/imaptest.sh IMAPTEST_SRC_DIR BINARY... [SECONDS]
#   IMAPTEST_SRC_DIR: the imaptest checkout (its src/imaptest and src/tests are used)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
src=$(readlink -f "$1"); shift
secs=60
bins=()
for a in "$@"; do
  if [[ "$a" =~ ^[0-9]+$ ]]; then secs=$a; else bins+=("$(readlink -f "$a")"); fi
done
imaptest="$src/src/imaptest"
[ -x "$imaptest" ] || { echo "no imaptest binary at $imaptest" >&2; exit 1; }
export LD_LIBRARY_PATH=/usr/lib/dovecot
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -f "$dir/dovecot.conf" ] && doveadm -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

# The messages imaptest appends: varied, each with its own Message-ID (imaptest tracks
# messages by Message-ID; different messages sharing one make it report changed
# contents against any server).
python3 - "$dir/source.mbox" <<'EOF'
import random, sys, time, email.utils
rng = random.Random(7)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau".split()
with open(sys.argv[1], "w") as out:
    for i in range(400):
        t = 1700000000 + i * 3600
        out.write(f"From sender@example.org {time.asctime(time.gmtime(t))}\n")
        out.write(f"Message-ID: <gen{i}@example.org>\nDate: {email.utils.formatdate(t)}\n")
        out.write(f"From: {rng.choice(words)} <{rng.choice(words)}{i}@example.org>\n")
        out.write("To: " + ", ".join(f"{rng.choice(words)}@example.org" for _ in range(rng.randint(1, 3))) + "\n")
        out.write("Subject: " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + "\n")
        if rng.random() < 0.3:
            out.write(f"References: <gen{max(0, i - 1)}@example.org>\n")
        body = "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
                         for _ in range(rng.randint(1, 30)))
        if rng.random() < 0.4:
            out.write(f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
                      f"Content-Type: text/plain; charset=utf-8\n\n{body}\n--b{i}\n"
                      "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
                      f"AAECAwQFBgcICQ==\n--b{i}--\n\n")
        else:
            out.write(f"\n{body}\n\n")
EOF

modes=(
  "logout=0"
  "copybox=Trash search uidfetch noop check disconnect mcreate mdelete"
  "copybox=Trash search=30 uidfetch=30 noop=30 check=30 disconnect=2 mcreate=5 mdelete=5"
)
failed=0
stress() {
  local name=$1 p=$2 user=$3 pass=$4
  for m in "${modes[@]}"; do
    # shellcheck disable=SC2086 # the mode is a list of imaptest arguments
    timeout $((secs + 120)) "$imaptest" host=127.0.0.1 port="$p" user="$user" pass="$pass" \
      mbox="$dir/source.mbox" clients=10 secs="$secs" $m >"$dir/stress.log" 2>&1 || true
    local errors
    errors=$(grep -c '^Error' "$dir/stress.log" || true)
    echo "$name: stress ($m, 10 clients, $secs s): $errors error lines; totals: $(tail -1 "$dir/stress.log" | tr -s ' ')"
    if [ "$errors" != 0 ]; then
      grep '^Error' "$dir/stress.log" | head -5
      if [ "$name" = "${name#Dovecot}" ]; then failed=1; fi
    fi
  done
}

if command -v dovecot >/dev/null; then
  mkdir -p "$dir/dovecot/home"
  chmod 777 "$dir" "$dir/dovecot"
  dport=$(port)
  write_dovecot_conf "$dir/dovecot.conf" "$dir/dovecot" "$dport" "maildir:$dir/dovecot/home/Maildir" '
protocol imap {
  mail_max_userip_connections = 1000
}
namespace inbox {
  inbox = yes
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
}'
  chown -R 65534:65534 "$dir/dovecot/home"
  dovecot -c "$dir/dovecot.conf"
  wait_port "$dport"
  stress "Dovecot $(dovecot --version | cut -d' ' -f1) (Maildir)" "$dport" tester secret
fi

for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  d="$dir/$name"
  # trusted_networks: no per-address connection limit for the test client
  start_imap_postrider "$bin" "$d" imaptest.example 'trusted_networks = ["127.0.0.0/8"]'
  echo "== $name: imaptest's scripted suite ($src/src/tests)"
  "$imaptest" host=127.0.0.1 port="$imap" user=tester pass=secret test="$src/src/tests" \
    >"$d/scripted.log" 2>&1 || true
  tail -3 "$d/scripted.log"
  grep -q "test groups: 0 failed" "$d/scripted.log" || failed=1
  grep -q "base protocol: 0/" "$d/scripted.log" || failed=1
  grep -q "extensions: 0/" "$d/scripted.log" || failed=1
  stress "$name" "$imap" tester secret
done
if [ "$failed" != 0 ]; then
  echo "FAIL: imaptest found errors (see above)" >&2
  exit 1
fi
echo "imaptest: passed"
