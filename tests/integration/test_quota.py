"""Storage limits (`postrider user quota`): reported by IMAP QUOTA (RFC 9208), enforced
by APPEND and COPY (NO [OVERQUOTA]), by local delivery (deferred with 4.2.2 until there
is room) and at RCPT for a full account (452 4.2.2); `none` lifts the limit."""

import re
import smtplib
import time
import unittest

from harness import Server, imaps_login


def message(subject, size):
    body = ("x" * 70 + "\r\n") * (size // 72 + 1)
    return f"From: bob@test.example\r\nTo: alice@test.example\r\nSubject: {subject}\r\n\r\n{body}"


class QuotaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def imap(self):
        m = imaps_login(self.srv)
        return m

    def used(self):
        out = self.srv.cli("user", "quota", "alice").stdout.decode()
        return int(re.search(r"alice: (\d+)", out).group(1))

    def test_limits_everywhere_mail_arrives(self):
        out = self.srv.cli("user", "quota", "alice", "4K").stdout.decode()
        self.assertIn("of 4096 bytes used", out)
        self.assertNotEqual(self.srv.cli("user", "quota", "alice", "12X", check=False).returncode, 0)
        self.srv.deliver("bob@test.example", "alice@test.example", message("small", 1500).encode())
        used = self.used()
        self.assertGreater(used, 1500)
        m = self.imap()
        self.assertIn("QUOTA", m.capabilities)
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        text = b" ".join(d for d in sum(data, []) if isinstance(d, bytes)).decode()
        self.assertRegex(text, r'^"?INBOX"? ""')
        self.assertIn(f"(STORAGE {used // 1024} 4)", text)
        typ, data = m.getquota('""')
        self.assertIn(b"STORAGE", data[0])
        typ, data = m.append("INBOX", None, None, message("big", 3000).encode())
        self.assertEqual(typ, "NO")
        self.assertIn(b"[OVERQUOTA]", data[0])
        typ, data = m._simple_command("SETQUOTA", '""', "(STORAGE 99999)")
        self.assertEqual(typ, "NO")
        m.select("INBOX")
        m.create("Copies")
        typ, data = m.copy("1", "Copies")
        self.assertEqual(typ, "OK", "one more copy still fits")
        typ, data = m.copy("1", "Copies")
        self.assertEqual(typ, "NO", "a second copy does not")
        self.assertIn(b"[OVERQUOTA]", data[0])
        m.logout()
        # Delivery: accepted at RCPT (not full yet), deferred at delivery for quota.
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("bob@test.example", ["alice@test.example"], message("deferred", 3000))
        deadline = time.time() + 15
        while time.time() < deadline and "quota" not in self.srv.cli("mailq").stdout.decode():
            time.sleep(0.2)
        self.assertIn("quota exceeded", self.srv.cli("mailq").stdout.decode())
        # Full to the byte: RCPT itself is refused for a while.
        self.srv.cli("user", "quota", "alice", str(self.used()))
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo()
            s.mail("bob@test.example")
            code, text = s.rcpt("alice@test.example")
            self.assertEqual(code, 452)
            self.assertIn(b"4.2.2", text)
            self.assertEqual(s.rcpt("bob@test.example")[0], 250, "other accounts are not affected")
        # No limit: the deferred message goes in at the next attempt.
        self.srv.cli("user", "quota", "alice", "none")
        self.srv.cli("queue", "flush")
        deadline = time.time() + 20
        while time.time() < deadline and not any(
                (x["Subject"] or "") == "deferred" for x in self.srv.messages("alice")):
            time.sleep(0.2)
        self.assertTrue(any((x["Subject"] or "") == "deferred" for x in self.srv.messages("alice")))


if __name__ == "__main__":
    unittest.main()
