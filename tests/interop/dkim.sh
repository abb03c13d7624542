#!/usr/bin/env bash
# DKIM interop: keys made by `postrider dkim keygen` (RSA and Ed25519), mail submitted on
# 587 with AUTH and by the sendmail command, then every delivered signature verified by
# dkimpy (an independent implementation) against the TXT records keygen printed; a
# tampered copy must fail. Needs dkimpy and PyNaCl (pip). Usage: tests/interop/dkim.sh BIN
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(readlink -f "$1")
python3 -c "import dkim, nacl" 2>/dev/null || { echo "dkimpy and PyNaCl are not installed (pip install dkimpy pynacl)" >&2; exit 1; }
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$dir"' EXIT
smtp=$(port); sub=$(port)
base() {
cat <<TOML
hostname = "mx.sign.example"
domains = ["rsa.example", "ed.example"]
data_dir = "$dir/data"
[smtp]
listen = ["127.0.0.1:$smtp"]
[submission]
listen = ["127.0.0.1:$sub"]
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
TOML
}
base > "$dir/postrider.toml"
"$bin" -c "$dir/postrider.toml" dkim keygen rsa.example --selector s1 --algorithm rsa > "$dir/rsa.txt"
"$bin" -c "$dir/postrider.toml" dkim keygen ed.example --selector s2 --algorithm ed25519 > "$dir/ed.txt"
{ base; cat <<TOML
[[dkim.sign]]
domain = "rsa.example"
selector = "s1"
key = "$dir/data/dkim/rsa.example.s1.pem"
[[dkim.sign]]
domain = "ed.example"
selector = "s2"
key = "$dir/data/dkim/ed.example.s2.pem"
TOML
} > "$dir/postrider.toml"
echo pw | "$bin" -c "$dir/postrider.toml" user add alice --password-stdin
"$bin" -c "$dir/postrider.toml" serve 2>"$dir/server.log" &
pid=$!
wait_port "$sub"
SUB=$sub python3 - <<'PY'
import os, smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", int(os.environ["SUB"])) as s:
    s.starttls(context=ctx); s.login("alice", "pw")
    for dom in ("rsa.example", "ed.example"):
        s.sendmail(f"alice@{dom}", [f"alice@{dom}"],
                   f"From: Alice <alice@{dom}>\r\nTo: alice@{dom}\r\nSubject: signed by {dom}\r\n\r\nHello  there \r\n\r\n\r\n")
PY
printf 'From: alice@ed.example\nTo: alice@ed.example\nSubject: signed by sendmail\n\nvia the command\n' \
  | "$bin" -c "$dir/postrider.toml" sendmail -f alice@ed.example alice@ed.example
wait_until count_is "$dir/data/mail/alice" '^DKIM-Signature' 3
RSA="$dir/rsa.txt" ED="$dir/ed.txt" MBOX="$dir/data/mail/alice" python3 - <<'PY'
import mailbox, os, re, dkim
records = {}
for f, name in ((os.environ["RSA"], b"s1._domainkey.rsa.example."), (os.environ["ED"], b"s2._domainkey.ed.example.")):
    txt = open(f).read().splitlines()[0]
    records[name] = re.search(r'"(.*)"', txt).group(1).encode()
dnsfunc = lambda name, timeout=5: records.get(name if name.endswith(b".") else name + b".")
msgs = [m for m in mailbox.mbox(os.environ["MBOX"])]
assert len(msgs) == 3, len(msgs)
for m in msgs:
    raw = m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert dkim.verify(raw, dnsfunc=dnsfunc), f"signature does not verify: {m['Subject']}"
    print(f"ok - dkimpy verifies {m['DKIM-Signature'].split(';')[1].strip()} on {m['Subject']!r}")
    bad = raw.replace(b"Hello", b"Jello").replace(b"via the", b"via thy")
    assert not dkim.verify(bad, dnsfunc=dnsfunc), "a tampered body still verifies"
print("ok - tampered bodies fail")
PY
kill -TERM "$pid"; wait "$pid"; pid=
echo "$(basename "$bin") dkim interop: passed"
