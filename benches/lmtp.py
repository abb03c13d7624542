#!/usr/bin/env python3
"""LMTP delivery side by side: Postfix's `smtp-source -L` sends the same messages to
postrider's `[lmtp] listen` (an mbox INBOX, then a Maildir one) and to a private Dovecot
LMTP (Maildir: with an
mbox INBOX, its ten delivery processes queue on the mbox dotlock and it manages about 20
messages a second, which says more about dotlocks than about LMTP), its default fsync
policy, three runs each; prints messages per second and checks every message arrived. Needs root (Dovecot drops privileges), dovecot-lmtpd and postfix (for
smtp-source).

Usage: benches/lmtp.py BINARY [messages] [sessions] [size]"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from compare import NOBODY, free_port, wait_port  # noqa: E402


class DovecotLmtp:
    """A private Dovecot answering LMTP on loopback for any user, into one Maildir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dovecot-lmtp-")
        os.chmod(self.dir, 0o755)
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        os.makedirs(os.path.join(self.dir, "run"))
        self.port = free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
log_path = {self.dir}/dovecot.log
ssl = no
protocols = lmtp
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
postmaster_address = postmaster@bench.example
mail_location = maildir:{home}/Maildir
mail_uid = {NOBODY}
mail_gid = {NOBODY}
first_valid_uid = 1
passdb {{
  driver = static
  args = password=x
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={home}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
""")
        for p in (home,):
            os.chown(p, NOBODY, NOBODY)
        subprocess.run(["dovecot", "-c", self.conf], check=True)
        wait_port(self.port)

    def delivered(self):
        new = os.path.join(self.dir, "home", "Maildir", "new")
        return len(os.listdir(new)) if os.path.isdir(new) else 0

    def close(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(1)
        subprocess.run(["rm", "-rf", self.dir])


def runs(name, port, delivered, n, sessions, size, rcpt):
    for run in range(3):
        before = delivered()
        t0 = time.time()
        subprocess.run(["/usr/sbin/smtp-source", "-L", "-s", str(sessions), "-m", str(n),
                        "-l", str(size), "-f", "s@bench.example", "-t", rcpt,
                        f"127.0.0.1:{port}"], check=True, timeout=900)
        dt = time.time() - t0
        got = delivered() - before
        print(f"{name} run {run + 1}: {n} messages of {size} bytes over {sessions} sessions "
              f"in {dt:.2f} s: {n / dt:.0f} msg/s, {got} delivered")
        if got != n:
            raise SystemExit(f"{name}: {got} of {n} messages arrived")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    harness.BIN = os.path.abspath(sys.argv[1])
    n, sessions, size = (int(x) for x in (sys.argv[2:] + ["2000", "10", "1000"][len(sys.argv) - 2:])[:3])
    for maildir in (False, True):
        srv = harness.Server(users=("alice",), log="info", maildir=maildir).start()
        root = srv.mbox_path("alice")
        count = ((lambda: sum(len(os.listdir(os.path.join(root, d))) for d in ("new", "cur")
                              if os.path.isdir(os.path.join(root, d))))
                 if maildir else (lambda: len(srv.messages("alice"))))
        label = f"{os.path.basename(harness.BIN)} ({'Maildir' if maildir else 'mbox'})"
        try:
            runs(label, srv.ports["lmtp"], count, n, sessions, size, "alice@test.example")
        finally:
            srv.cleanup()
    dovecot = DovecotLmtp()
    try:
        runs("Dovecot", dovecot.port, dovecot.delivered, n, sessions, size, "sink@bench.example")
    finally:
        dovecot.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
