#!/usr/bin/env python3
"""CHUNKING (RFC 3030) against Postfix. A private Postfix (smtpd, which offers CHUNKING,
and virtual delivery; its log in a file) is postrider's smarthost: postrider relays two
messages to it, and Postfix's own accounting (`bdat=N` on its disconnect line) must show
they came by BDAT (and none by DATA), their text unchanged. Then a raw client sends
postrider a message in three chunks, one with bare LFs. (Postfix's own client does not
send BDAT, so postrider's server side is checked with that raw client and the tests of
tests/integration/test_smtp.py.)

Needs root (Postfix drops privileges) and the postfix package.
Usage: tests/interop/postfix_chunking.py BINARY..."""

import os
import smtplib
import socket
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "benches"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from compare import Postfix  # noqa: E402
from interop_suite import run_for_binaries, wait_for  # noqa: E402


class Chunking(unittest.TestCase):
    def setUp(self):
        import tempfile
        self.logdir = tempfile.mkdtemp(prefix="postfix-log-")
        self.log = os.path.join(self.logdir, "maillog")
        self.pf = Postfix(main_cf=f"maillog_file_prefixes = {self.logdir}\nmaillog_file = {self.log}\n")
        self.srv = harness.Server(
            users=("alice",),
            smtp={"trusted_networks": '["127.0.0.0/8"]'},
            delivery={"smarthost": f'"127.0.0.1:{self.pf.smtp}"', "retry": '["1s"]'},
        ).start()

    def tearDown(self):
        import shutil
        self.srv.cleanup()
        self.pf.close()
        shutil.rmtree(self.logdir, ignore_errors=True)

    def test_postrider_relays_to_postfix_by_bdat(self):
        bodies = []
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            self.assertIn("chunking", s.esmtp_features)
            for i in range(2):
                body = (f"Subject: chunked {i}\r\n\r\n" + f"line {i}\r\n" * 2000).encode()
                bodies.append(body)
                s.sendmail("alice@test.example", ["sink@bench.example"], body)

        def arrived():
            try:
                with open(self.pf.mbox, "rb") as f:
                    return f.read().count(b"Subject: chunked") == 2
            except OSError:
                return False

        wait_for("two messages at Postfix", arrived)
        with open(self.pf.mbox, "rb") as f:
            text = f.read().replace(b"\r\n", b"\n")
        for i, body in enumerate(bodies):
            # The text after the header, byte for byte (postrider may add header fields).
            after = body.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n")
            self.assertTrue(b"\n\n" + after in text, f"message {i} altered on the way")
        wait_for("Postfix's accounting", lambda: os.path.exists(self.log) and
                 b" bdat=" in open(self.log, "rb").read())
        with open(self.log, "rb") as f:
            log = f.read().decode(errors="replace")
        lines = [l for l in log.splitlines() if "disconnect from" in l and "mail=" in l]
        self.assertTrue(lines and all("bdat=" in l and "data=" not in l for l in lines), log)

    def test_postrider_takes_chunks_from_a_raw_client(self):
        c = socket.create_connection(("127.0.0.1", self.srv.ports["smtp"]), timeout=30)
        f = c.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    return b"".join(lines)

        reply()
        c.sendall(b"EHLO raw.example\r\n")
        self.assertIn(b"CHUNKING", reply())
        parts = [b"Subject: three chunks\r\n\r\n", b"one\ntwo\n", b"three\r\n"]
        c.sendall(b"MAIL FROM:<x@raw.example>\r\nRCPT TO:<alice@test.example>\r\n")
        for i, p in enumerate(parts):
            last = b" LAST" if i == len(parts) - 1 else b""
            c.sendall(b"BDAT %d%s\r\n" % (len(p), last) + p)
        for _ in range(2):
            self.assertTrue(reply().startswith(b"250"))
        for _ in range(2):
            self.assertTrue(reply().startswith(b"250 2.0.0 Ok: "))
        self.assertIn(b"queued as", reply())
        c.sendall(b"QUIT\r\n")
        c.close()
        self.srv.wait_messages("alice", 1)
        with open(self.srv.mbox_path("alice"), "rb") as f:
            self.assertIn(b"Subject: three chunks\n\none\ntwo\nthree\n", f.read())


def main():
    return run_for_binaries(Chunking, os.path.basename(__file__), "CHUNKING with Postfix",
                            sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
