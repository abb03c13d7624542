#!/usr/bin/env python3
"""LMTP (RFC 2033) behind Postfix. A private Postfix takes mail for test.example on SMTP
and hands it to postrider with its `lmtp` client (`virtual_transport =
lmtp:inet:127.0.0.1:PORT`). One message to four recipients must come out as Postfix's
own accounting says per recipient: two delivered (status=sent, in postrider's mailboxes,
with postrider's Delivered-To), one deferred (an alias to a program exiting 75:
status=deferred, still in Postfix's queue) and one bounced (a program exiting 1:
status=bounced, and Postfix's bounce comes back to the sender through LMTP too).

Needs root (Postfix drops privileges) and the postfix package.
Usage: tests/interop/postfix_lmtp.py BINARY..."""

import os
import smtplib
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "benches"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from compare import Postfix  # noqa: E402
from interop_suite import run_for_binaries, wait_for  # noqa: E402


class PostfixLmtp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postfix-log-")
        os.chmod(self.tmp, 0o755)
        self.log = os.path.join(self.tmp, "maillog")
        self.srv = harness.Server(users=("alice", "bob"))
        with open(os.path.join(self.srv.data, "aliases"), "a") as f:
            f.write('tempfail: "|echo busy >&2; exit 75"\n'
                    'permfail: "|echo no such thing >&2; exit 1"\n')
        self.srv.start()
        self.srv.cli("newaliases")
        users = os.path.join(self.tmp, "lmtp-users")
        with open(users, "w") as f:
            for u in ("alice", "bob", "tempfail", "permfail"):
                f.write(f"{u}@test.example ok\n")
        lmtp = self.srv.ports["lmtp"]
        self.pf = Postfix(main_cf=f"""maillog_file_prefixes = {self.tmp}
maillog_file = {self.log}
virtual_mailbox_domains = test.example
virtual_mailbox_maps = texthash:{users}
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
""")

    def tearDown(self):
        import shutil
        self.pf.close()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def postfix_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def status(self, rcpt):
        """Postfix's last status= for `rcpt` through the lmtp client, if any."""
        found = None
        for line in self.postfix_log().splitlines():
            if f"to=<{rcpt}>" in line and "/lmtp[" in line and "status=" in line:
                found = line.split("status=", 1)[1].split()[0]
        return found

    def test_postfix_delivers_through_lmtp_per_recipient(self):
        rcpts = [f"{u}@test.example" for u in ("alice", "bob", "tempfail", "permfail")]
        with smtplib.SMTP("127.0.0.1", self.pf.smtp, timeout=30) as s:
            s.sendmail("alice@test.example", rcpts,
                       "From: alice@test.example\r\nTo: team\r\nSubject: through postfix\r\n"
                       "\r\nhello over lmtp\r\n")
        wait_for("Postfix's four statuses", lambda: all(self.status(r) for r in rcpts))
        log = self.postfix_log()
        self.assertEqual(self.status("alice@test.example"), "sent", log)
        self.assertEqual(self.status("bob@test.example"), "sent", log)
        self.assertEqual(self.status("tempfail@test.example"), "deferred", log)
        self.assertEqual(self.status("permfail@test.example"), "bounced", log)
        self.assertRegex(log, r"to=<tempfail@test.example>.*status=deferred \(host 127.0.0.1"
                              r"\[127.0.0.1\] said: 451 4\.\d\.\d <tempfail@test.example>")
        self.assertRegex(log, r"to=<permfail@test.example>.*status=bounced .*no such thing")
        m = self.srv.wait_subject("bob", "through postfix")
        self.assertEqual(m["Delivered-To"], "bob@test.example")
        self.assertIn("with LMTP", m["Received"])
        self.assertEqual(m.get_payload().strip(), "hello over lmtp")
        self.srv.wait_subject("alice", "through postfix")
        # Postfix bounces the failed recipient to the sender, again through LMTP.
        bounce = self.srv.wait_subject("alice", "Undelivered Mail Returned to Sender")
        self.assertIn("permfail@test.example", bounce.as_string())
        # The deferred recipient waits in Postfix's queue, not in postrider's.
        q = subprocess.run(["postqueue", "-c", self.pf.conf, "-p"], capture_output=True,
                           text=True).stdout
        self.assertIn("tempfail@test.example", q)
        self.assertNotIn("tempfail", self.srv.cli("mailq").stdout.decode())


def main():
    return run_for_binaries(PostfixLmtp, os.path.basename(__file__), "LMTP behind Postfix",
                            sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
