#!/usr/bin/env bash
# Checks the IMAP ENVELOPE / BODYSTRUCTURE / BODY vectors in core/tests/data/*.dovecot
# against a live Dovecot: every core/tests/data/*.eml goes into an mbox, Dovecot (doveadm
# fetch) computes the three items, and the output must equal the stored vectors (which
# core/tests/imap_structure.rs compares postrider's output with).
# Usage: tests/interop/dovecot-structure.sh [--bless]   (--bless rewrites the vectors)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/../.."
command -v doveadm >/dev/null || { echo "doveadm (package dovecot-core) is not installed" >&2; exit 1; }
bless=${1:-}
dir=$(mktemp -d)
trap 'doveadm -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/home/mail"
chmod 777 "$dir"
write_dovecot_conf "$dir/dovecot.conf" "$dir" "$(port)" "mbox:$dir/home/mail:INBOX=$dir/inbox"
names=()
python3 - "$dir/inbox" core/tests/data/*.eml <<'PY'
import sys
out = open(sys.argv[1], "wb")
for f in sys.argv[2:]:
    data = open(f, "rb").read()
    out.write(b"From test@example Sat Nov 28 12:00:00 2026\n")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    for line in lines:
        if line.lstrip(b">").startswith(b"From "):
            line = b">" + line
        out.write(line + b"\n")
    out.write(b"\n")
PY
chown -R 65534:65534 "$dir/home" "$dir/inbox"
dovecot -c "$dir/dovecot.conf"
uid=0
fail=0
passed=0
for eml in core/tests/data/*.eml; do
  uid=$((uid + 1))
  ref="${eml%.eml}.dovecot"
  doveadm -c "$dir/dovecot.conf" fetch -u test 'imap.envelope imap.bodystructure imap.body' mailbox INBOX uid "$uid" \
    2>/dev/null > "$dir/out"
  if [ "$bless" = "--bless" ]; then
    cp "$dir/out" "$ref"
  elif ! cmp -s "$dir/out" "$ref"; then
    echo "FAIL: $ref differs from Dovecot $(dovecot --version):" >&2
    diff "$ref" "$dir/out" >&2 || true
    fail=1
    continue
  fi
  passed=$((passed + 1))
done
echo "dovecot structure vectors: $passed passed, $fail failed"
exit $fail
