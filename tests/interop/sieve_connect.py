#!/usr/bin/env python3
"""ManageSieve (RFC 5804) with Debian's sieve-connect, the command-line client: STARTTLS,
AUTHENTICATE PLAIN, upload, list, activate, download (byte for byte), checkscript and
upload of a broken script (refused with the line:column error), deactivate, delete; and
mail delivered while the uploaded script is active lands where the script says.

Usage: tests/interop/sieve_connect.py BINARY..."""

import os
import smtplib
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from interop_suite import run_for_binaries  # noqa: E402

SCRIPT = 'require ["fileinto"];\nif header :contains "subject" "sorted" { fileinto "Sorted"; }\n'
BROKEN = 'keep;\nfrobnicate;\n'


class SieveConnect(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Server(users=("alice",)).start()
        self.tmp = tempfile.mkdtemp(prefix="postrider-sc-")

    def tearDown(self):
        import shutil
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def sieve_connect(self, *args):
        """Runs sieve-connect as alice (password on a pipe); (exit status, stdout, stderr)."""
        r, w = os.pipe()
        os.write(w, b"pw-alice\n")
        os.close(w)
        try:
            p = subprocess.run(
                ["sieve-connect", "--server", "127.0.0.1", "--port", str(self.srv.ports["sieve"]),
                 "--user", "alice", "--passwordfd", str(r), "--notlsverify", *args],
                pass_fds=(r,), capture_output=True, text=True, timeout=60)
        finally:
            os.close(r)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args):
        code, out, err = self.sieve_connect(*args)
        self.assertEqual(code, 0, f"{args}: {err}")
        return out

    def test_sieve_connect_manages_scripts(self):
        self.ok("--upload", "--localsieve", self.file("main.sieve", SCRIPT), "--remotesieve", "main")
        self.assertEqual(self.ok("--list").split(), ['"main"'])
        self.ok("--activate", "--remotesieve", "main")
        self.assertEqual(self.ok("--list").split(), ['"main"', "ACTIVE"])
        out = os.path.join(self.tmp, "downloaded.sieve")
        self.ok("--download", "--remotesieve", "main", "--localsieve", out)
        with open(out) as f:
            self.assertEqual(f.read(), SCRIPT)
        broken = self.file("broken.sieve", BROKEN)
        code, _, err = self.sieve_connect("--checkscript", "--localsieve", broken)
        self.assertNotEqual(code, 0)
        self.assertIn("line 2:1:", err)
        code, _, err = self.sieve_connect("--upload", "--localsieve", broken, "--remotesieve", "bad")
        self.assertNotEqual(code, 0)
        self.assertIn("line 2:1:", err)
        self.assertEqual(self.ok("--list").split(), ['"main"', "ACTIVE"])
        # The active script files alice's mail.
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("x@else.example", ["alice@test.example"], "Subject: sorted\r\n\r\nhi\r\n")
        self.srv.wait_log("delivered to folder Sorted of alice")
        self.ok("--deactivate")
        self.assertEqual(self.ok("--list").split(), ['"main"'])
        self.ok("--delete", "--remotesieve", "main")
        self.assertEqual(self.ok("--list").split(), [])


def main():
    return run_for_binaries(SieveConnect, os.path.basename(__file__),
                            "ManageSieve with sieve-connect", sys.argv[1:], needs_root=False)


if __name__ == "__main__":
    sys.exit(main())
