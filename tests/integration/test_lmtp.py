"""LMTP (RFC 2033) on `[lmtp] listen`: LHLO, one reply per accepted recipient after DATA
and BDAT (delivered, deferred by a program exiting 75, bounced by one exiting 1), the same
delivery as queued mail (aliases, Sieve, subaddresses), nothing left in the queue, no
relaying, and only trusted clients."""

import os
import socket
import time
import unittest

from harness import Server


class LmtpClient:
    """A plain LMTP client: Python's smtplib.LMTP reads one reply after DATA, not one per
    recipient, so the replies are read here line by line."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("connection closed")
            lines.append(line.decode().rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def send_raw(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.cmd("QUIT")
        finally:
            self.sock.close()


def message(subject, to="alice@test.example"):
    return (f"From: s@else.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject))}@else.example>\r\n\r\nbody of {subject}\r\n")


class Lmtp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol"))
        with open(os.path.join(cls.srv.data, "aliases"), "a") as f:
            f.write('team: alice, bob\ntempfail: "|echo busy >&2; exit 75"\n'
                    'permfail: "|echo no such thing >&2; exit 1"\n')
        home = os.path.join(cls.srv.data, "home", "carol")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, ".sieve"), "w") as f:
            f.write('require ["fileinto", "subaddress", "envelope"];\n'
                    'if envelope :detail "to" "lists" { fileinto "Lists"; stop; }\n')
        cls.srv.start()
        cls.srv.cli("newaliases")

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def client(self):
        c = LmtpClient(self.srv.ports["lmtp"])
        code, text = c.reply()
        self.assertEqual(code, 220, text)
        self.assertIn("LMTP", text)
        code, text = c.cmd("LHLO relay.example")
        self.assertEqual(code, 250, text)
        return c, text

    def transaction(self, c, rcpts, sender="s@else.example"):
        self.assertEqual(c.cmd(f"MAIL FROM:<{sender}>")[0], 250)
        return [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]

    def test_each_recipient_gets_its_own_reply_after_data(self):
        c, caps = self.client()
        self.assertIn("PIPELINING", caps)
        self.assertIn("ENHANCEDSTATUSCODES", caps)
        self.assertNotIn("AUTH", caps)
        rcpts = ["alice@test.example", "nobody@test.example", "tempfail@test.example",
                 "permfail@test.example", "team@test.example"]
        codes = [r[0] for r in self.transaction(c, rcpts)]
        self.assertEqual(codes, [250, 550, 250, 250, 250])
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send_raw(message("per recipient").encode() + b".\r\n")
        replies = [c.reply() for _ in range(4)]
        self.assertEqual([r[0] for r in replies], [250, 451, 550, 250], replies)
        self.assertIn("<alice@test.example>", replies[0][1])
        self.assertIn("4.", replies[1][1])
        self.assertIn("busy", replies[1][1])
        self.assertRegex(replies[2][1], r"^550 5\.\d\.\d <permfail@test.example> .*no such thing")
        # The session goes on after the replies.
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()
        m = self.srv.wait_subject("alice", "per recipient")
        self.srv.wait_subject("bob", "per recipient")
        self.assertEqual(m["Delivered-To"], "alice@test.example")
        self.assertEqual(m["Return-Path"], "<s@else.example>")
        self.assertIn("with LMTP", m["Received"])
        self.assertIn("from relay.example", m["Received"])
        # Nothing of it waits in the queue: the client retries and bounces itself.
        time.sleep(0.3)
        self.assertNotIn("tempfail", self.srv.cli("mailq").stdout.decode())
        self.assertEqual(
            sum(1 for x in self.srv.messages("alice") if x["Subject"] == "per recipient"), 1)

    def test_bdat_last_is_answered_per_recipient(self):
        c, caps = self.client()
        self.assertIn("CHUNKING", caps)
        self.transaction(c, ["alice@test.example", "bob@test.example"])
        body = message("chunked lmtp").encode()
        c.send_raw(f"BDAT {len(body)} LAST\r\n".encode() + body)
        replies = [c.reply() for _ in range(2)]
        self.assertEqual([r[0] for r in replies], [250, 250], replies)
        c.close()
        self.srv.wait_subject("alice", "chunked lmtp")
        self.srv.wait_subject("bob", "chunked lmtp")

    def test_sieve_and_subaddress_run_as_for_queued_mail(self):
        c, _ = self.client()
        self.transaction(c, ["carol+lists@test.example"])
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send_raw(message("to a list", "carol+lists@test.example").encode() + b".\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        c.close()
        self.srv.wait_log("delivered to folder Lists of carol")

    def test_ehlo_is_refused_and_nothing_is_relayed(self):
        c = LmtpClient(self.srv.ports["lmtp"])
        c.reply()
        code, text = c.cmd("EHLO relay.example")
        self.assertEqual(code, 500, text)
        self.assertEqual(c.cmd("LHLO relay.example")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<s@else.example>")[0], 250)
        code, text = c.cmd("RCPT TO:<x@elsewhere.example>")
        self.assertEqual(code, 550, text)
        self.assertIn("5.1.2", text)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 503, text)
        c.close()


class LmtpUntrusted(unittest.TestCase):
    def test_clients_outside_trusted_networks_are_refused(self):
        srv = Server(smtp={"trusted_networks": '["10.0.0.0/8"]'})
        try:
            srv.start()
            c = LmtpClient(srv.ports["lmtp"])
            code, text = c.reply()
            self.assertEqual(code, 421, text)
            self.assertIn("trusted", text)
            c.sock.close()
            # The SMTP listener is not affected.
            s = LmtpClient(srv.ports["smtp"])
            self.assertEqual(s.reply()[0], 220)
            s.close()
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
