"""POP3 (RFC 1939, CAPA, STLS, AUTH) against the mbox INBOX, with Python's poplib and raw
sockets: the contents served must be byte-identical to what was delivered."""

import os
import poplib
import smtplib
import socket
import time
import unittest

from harness import Server, insecure_tls


def stored_messages(path):
    """The messages of an mbox file as POP3 must serve them: From lines and separators
    removed, mboxrd quoting undone, CRLF line ends."""
    if not os.path.exists(path):
        return []
    data = open(path, "rb").read()
    out, cur = [], None
    for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        if line.startswith(b"From "):
            if cur is not None:
                out.append(cur)
            cur = []
            continue
        if cur is not None:
            cur.append(line)
    if cur is not None:
        out.append(cur)
    msgs = []
    for lines in out:
        if lines and lines[-1] == b"":
            lines = lines[:-1]
        fixed = []
        for l in lines:
            stripped = l.lstrip(b">")
            if l.startswith(b">") and stripped.startswith(b"From "):
                l = l[1:]
            fixed.append(l)
        msgs.append(b"".join(l + b"\r\n" for l in fixed))
    return msgs


class Pop3(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol", "dave")).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def deliver(self, user, subjects, body="Hello.\r\nFrom the start of a line\r\n.a dot line\r\n"):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            for subj in subjects:
                s.sendmail("sender@else.example", [f"{user}@test.example"],
                           f"From: sender@else.example\r\nSubject: {subj}\r\n\r\n{body}")
        for subj in subjects:
            self.srv.wait_subject(user, subj)

    def login(self, user, stls=True):
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        if stls:
            p.stls(context=insecure_tls())
        p.user(user)
        p.pass_(f"pw-{user}")
        return p

    def test_capa_and_plaintext_refused(self):
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        caps = p.capa()
        for c in ("STLS", "TOP", "UIDL", "RESP-CODES", "PIPELINING"):
            self.assertIn(c, caps)
        self.assertNotIn("USER", caps)
        with self.assertRaises(poplib.error_proto) as e:
            p.user("alice")
        self.assertIn(b"[AUTH]", e.exception.args[0])
        p.stls(context=insecure_tls())
        caps = p.capa()
        self.assertIn("USER", caps)
        self.assertNotIn("STLS", caps)
        self.assertEqual(caps["SASL"], ["PLAIN", "LOGIN"])
        p.quit()

    def test_stat_list_uidl_top_retr_are_exact(self):
        self.deliver("alice", ["pop one", "pop two"])
        p = self.login("alice")
        stored = stored_messages(self.srv.mbox_path("alice"))
        count, size = p.stat()
        self.assertEqual(count, len(stored))
        self.assertEqual(size, sum(len(m) for m in stored))
        _, listing, _ = p.list()
        self.assertEqual([int(l.split()[1]) for l in listing], [len(m) for m in stored])
        for i, m in enumerate(stored, 1):
            _, lines, octets = p.retr(i)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines), m)
        _, top, _ = p.top(1, 1)
        header = stored[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        self.assertEqual(top[:len(header)], header)
        self.assertEqual(top[len(header)], b"")
        self.assertEqual(len(top), len(header) + 2)
        _, uidl, _ = p.uidl()
        uids = [l.split()[1] for l in uidl]
        self.assertEqual(len(set(uids)), len(uids))
        p.quit()

    def test_uidl_stable_across_reconnect_and_restart(self):
        self.deliver("bob", ["u1", "u2", "u3"])
        p = self.login("bob")
        first = p.uidl()[1]
        p.quit()
        p = self.login("bob")
        self.assertEqual(p.uidl()[1], first)
        p.quit()
        self.srv.stop()
        self.srv.start()
        p = self.login("bob")
        self.assertEqual(p.uidl()[1], first)
        p.quit()

    def test_dele_quit_removes_rset_and_drop_keep(self):
        self.deliver("carol", ["c1", "c2", "c3"])
        p = self.login("carol")
        n = p.stat()[0]
        p.dele(1)
        p.rset()
        p.quit()
        p = self.login("carol")
        self.assertEqual(p.stat()[0], n)
        p.dele(1)
        # Dropped without QUIT: nothing deleted.
        p.sock.shutdown(socket.SHUT_RDWR)
        p.sock.close()
        time.sleep(0.5)
        p = self.login("carol")
        self.assertEqual(p.stat()[0], n)
        subjects = [m["Subject"] for m in self.srv.messages("carol")]
        p.dele(1)
        p.dele(3)
        p.quit()
        left = [m["Subject"] for m in self.srv.messages("carol")]
        self.assertEqual(left, [subjects[1]] + subjects[3:])

    def test_second_session_is_in_use_and_delivery_goes_on(self):
        self.deliver("dave", ["d1", "d2"])
        p = self.login("dave")
        n = p.stat()[0]
        q = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        q.stls(context=insecure_tls())
        q.user("dave")
        with self.assertRaises(poplib.error_proto) as e:
            q.pass_("pw-dave")
        self.assertIn(b"[IN-USE]", e.exception.args[0])
        q.quit()
        # Mail arriving during the session is delivered and kept after the deletion.
        self.deliver("dave", ["during the session"])
        p.dele(1)
        p.quit()
        subjects = [m["Subject"] for m in self.srv.messages("dave")]
        self.assertEqual(len(subjects), n)
        self.assertIn("during the session", subjects)
        self.assertNotIn("d1", subjects)

    def test_wrong_password_and_bad_commands(self):
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        p.stls(context=insecure_tls())
        p.user("alice")
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_("wrong")
        self.assertIn(b"[AUTH]", e.exception.args[0])
        for bad in ("FOO", "RETR 1", "LIST x"):
            with self.assertRaises(poplib.error_proto):
                p._shortcmd(bad)
        p.user("alice")
        p.pass_("pw-alice")
        with self.assertRaises(poplib.error_proto):
            p.retr(999)
        with self.assertRaises(poplib.error_proto):
            p._shortcmd("TOP 1")
        self.assertTrue(p.noop().startswith(b"+OK"))
        p.quit()

    def test_pop3s_and_auth_plain(self):
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], timeout=30, context=insecure_tls())
        self.assertNotIn("STLS", p.capa())
        import base64
        token = base64.b64encode(b"\0alice\0pw-alice").decode()
        resp = p._shortcmd(f"AUTH PLAIN {token}")
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertGreaterEqual(p.stat()[0], 0)
        p.quit()

    def test_raw_pipelining_and_byte_stuffing(self):
        c = socket.create_connection(("127.0.0.1", self.srv.ports["pop3s"]), timeout=10)
        c = insecure_tls().wrap_socket(c)
        f = c.makefile("rb")
        self.assertTrue(f.readline().startswith(b"+OK"))
        c.sendall(b"USER alice\r\nPASS pw-alice\r\nSTAT\r\nQUIT\r\n")
        lines = [f.readline() for _ in range(4)]
        self.assertTrue(all(l.startswith(b"+OK") for l in lines), lines)
        c.close()


class LargeMailbox(unittest.TestCase):
    def test_100_mb_mailbox_is_served_with_bounded_memory(self):
        srv = Server(users=("big",)).start()
        try:
            # Deliver one message normally, then grow the mbox directly to ~100 MB.
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                s.sendmail("x@else.example", ["big@test.example"], "Subject: seed\r\n\r\nseed\r\n")
            srv.wait_subject("big", "seed")
            line = b"x" * 76 + b"\n"
            body = line * (1024 * 1024 // len(line))
            with open(srv.mbox_path("big"), "ab") as f:
                for i in range(100):
                    f.write(b"From big@else.example Thu Jan  1 00:00:00 2026\n")
                    f.write(f"Subject: big {i}\n\n".encode())
                    f.write(body)
                    f.write(b"\n")
            p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], timeout=120, context=insecure_tls())
            p.user("big")
            p.pass_("pw-big")
            count, size = p.stat()
            self.assertEqual(count, 101)
            self.assertGreater(size, 100 * 1024 * 1024)
            total = 0
            for i in (2, 50, 101):
                _, lines, octets = p.retr(i)
                total += octets
            p.quit()
            self.assertGreater(total, 3 * 1024 * 1024)
            with open(f"/proc/{srv.proc.pid}/status") as st:
                hwm = [l for l in st if l.startswith("VmHWM")][0]
            peak_kb = int(hwm.split()[1])
            # The whole mailbox is 100 MB; the server's peak memory must stay far below it.
            self.assertLess(peak_kb, 60 * 1024, hwm)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
