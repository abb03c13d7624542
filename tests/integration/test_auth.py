"""Submission (RFC 6409) on 587/465, SMTP AUTH (RFC 4954), relay policy, DSN parameters,
per-connection limits and certificate reload, driven with Python's smtplib and raw
sockets. Every refusal is checked for its exact code and for nothing queued."""

import base64
import os
import signal
import smtplib
import socket
import ssl
import time
import unittest

from harness import Server, insecure_tls


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


class Submission(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(auth={"max_failures": 3, "failure_delay": '"200ms"'},
                         extra='').start()
        # An alias that leads only to alice lets her send as it.
        with open(os.path.join(cls.srv.data, "aliases"), "a") as f:
            f.write("alice.smith: alice\nteam: alice, bob\n")
        cls.srv.cli("newaliases")

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def sub(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["sub"], timeout=20)
        s.starttls(context=insecure_tls())
        s.ehlo("client.example")
        return s

    def assertNothingQueued(self, before):
        """No message entered the queue since `before` (ones delivered meanwhile may
        have left it)."""
        time.sleep(0.2)
        self.assertEqual(set(self.srv.queue_ids()) - set(before), set())

    def test_starttls_login_sendmail_with_fixups(self):
        with self.sub() as s:
            self.assertEqual(s.esmtp_features["auth"].split(), ["PLAIN", "LOGIN"])
            code, msg = s.login("alice", "pw-alice")
            self.assertEqual(code, 235)
            self.assertTrue(msg.startswith(b"2.7.0"))
            # No Date, no Message-ID, a Bcc, and an unqualified To.
            body = ("From: Alice <alice@test.example>\r\nTo: bob\r\nBcc: secret@test.example\r\n"
                    "Subject: submitted\r\n\r\nhello\r\n")
            s.sendmail("alice@test.example", ["bob@test.example"], body)
        m = self.srv.wait_subject("bob", "submitted")
        self.assertIsNone(m["Bcc"])
        self.assertEqual(m["To"], "bob@mx.test.example")
        self.assertRegex(m["Message-ID"], r"^<[^@>]+@mx\.test\.example>$")
        self.assertIsNotNone(m["Date"])
        rcv = " ".join(m["Received"].split())
        self.assertIn("(Authenticated sender: alice)", rcv)
        self.assertIn("with ESMTPSA id", rcv)
        self.assertIn("using TLSv1.", rcv)
        self.assertEqual(m.get_payload(), "hello\n")

    def test_existing_fields_are_kept(self):
        body = ("From: alice@test.example\r\nTo: bob@test.example\r\nSubject: kept\r\n"
                "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <keep-me@client>\r\n\r\nx\r\n")
        with self.sub() as s:
            s.login("alice", "pw-alice")
            s.sendmail("alice@test.example", ["bob@test.example"], body)
        m = self.srv.wait_subject("bob", "kept")
        self.assertEqual(m["Message-ID"], "<keep-me@client>")
        self.assertEqual(m["Date"], "Mon, 1 Jan 2024 00:00:00 +0000")

    def test_smtps_465_with_auth_login(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["subs"], timeout=20, context=insecure_tls())
        s.ehlo("client.example")
        self.assertFalse(s.has_extn("starttls"))
        s.user, s.password = "bob", "pw-bob"
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(code, 235)
        s.sendmail("bob@test.example", ["alice@test.example"],
                   "From: bob@test.example\r\nSubject: via 465\r\n\r\nhi\r\n")
        s.quit()
        self.srv.wait_subject("alice", "via 465")

    def test_wrong_password_is_delayed_then_disconnected(self):
        before = self.srv.queue_ids()
        c = self.srv.raw("sub")
        c.read_reply()
        c.cmd("EHLO c")
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls()
        c.cmd("EHLO c")
        for attempt in range(1, 4):
            start = time.monotonic()
            code, lines = c.cmd("AUTH PLAIN " + plain("alice", "wrong"))
            elapsed = time.monotonic() - start
            self.assertEqual(code, 535)
            self.assertTrue(lines[0].startswith("535 5.7.8"), lines)
            # The n-th failure waits n x 200 ms (a lower bound: never flaky).
            self.assertGreaterEqual(elapsed, 0.2 * attempt * 0.9)
        code, lines = c.read_reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.0", lines[0])
        self.assertTrue(c.is_closed())
        c.close()
        self.assertNothingQueued(before)
        self.assertNotIn("wrong", self.srv.log())

    def test_smtplib_wrong_password_raises(self):
        with self.sub() as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.login("alice", "nope")
            self.assertEqual(e.exception.smtp_code, 535)
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                s.login("nobody", "nope")

    def test_auth_before_starttls_is_refused(self):
        before = self.srv.queue_ids()
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["sub"], timeout=20)
        s.ehlo("c")
        self.assertTrue(s.has_extn("starttls"))
        self.assertFalse(s.has_extn("auth"))
        code, msg = s.docmd("AUTH", "PLAIN " + plain("alice", "pw-alice"))
        self.assertEqual(code, 530)
        self.assertTrue(msg.startswith(b"5.7.0"), msg)
        code, msg = s.docmd("MAIL FROM:<alice@test.example>")
        self.assertEqual(code, 530)
        s.quit()
        self.assertNothingQueued(before)

    def test_mail_before_auth_is_refused(self):
        before = self.srv.queue_ids()
        with self.sub() as s:
            code, msg = s.docmd("MAIL FROM:<alice@test.example>")
            self.assertEqual(code, 530)
            self.assertTrue(msg.startswith(b"5.7.0"))
            code, _ = s.docmd("RCPT TO:<bob@test.example>")
            self.assertEqual(code, 503)
        self.assertNothingQueued(before)

    def test_foreign_mail_from_is_refused(self):
        before = self.srv.queue_ids()
        with self.sub() as s:
            s.login("alice", "pw-alice")
            for sender in ("bob@test.example", "alice@elsewhere.example", "team@test.example"):
                code, msg = s.docmd(f"MAIL FROM:<{sender}>")
                self.assertEqual(code, 553, sender)
                self.assertTrue(msg.startswith(b"5.7.1"), msg)
            # Her own address in any case, an alias that is only hers, and <> are fine.
            for sender in ("ALICE@Test.Example", "alice.smith@test.example", ""):
                self.assertEqual(s.docmd(f"MAIL FROM:<{sender}>")[0], 250, sender)
                s.rset()
        self.assertNothingQueued(before)

    def test_authenticated_user_may_relay(self):
        with self.sub() as s:
            s.login("alice", "pw-alice")
            s.mail("alice@test.example", ["RET=HDRS", "ENVID=QQ314159"])
            code, _ = s.rcpt("friend@remote.example", ["NOTIFY=FAILURE,DELAY",
                                                       "ORCPT=rfc822;friend@remote.example"])
            self.assertEqual(code, 250)
            code, msg = s.data("From: alice@test.example\r\nSubject: out\r\n\r\nbye\r\n")
            self.assertEqual(code, 250)
        qid = msg.decode().rsplit(" ", 1)[-1]
        shown = self.srv.cli("queue", "show", qid).stdout.decode()
        self.assertIn('ret = "HDRS"', shown)
        self.assertIn('envid = "QQ314159"', shown)
        self.assertIn('notify = "FAILURE,DELAY"', shown)
        self.assertIn('orcpt = "rfc822;friend@remote.example"', shown)
        self.assertIn('auth = "alice"', shown)
        self.srv.cli("queue", "delete", qid)

    def test_unauthenticated_relay_is_refused_on_every_port(self):
        before = self.srv.queue_ids()
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as s:
            s.ehlo("c")
            s.mail("spammer@remote.example")
            code, msg = s.rcpt("victim@other.example")
            self.assertEqual(code, 554)
            self.assertTrue(msg.startswith(b"5.7.1"))
            s.starttls(context=insecure_tls())
            s.ehlo("c")
            s.mail("spammer@remote.example")
            self.assertEqual(s.rcpt("victim@other.example")[0], 554)
        self.assertNothingQueued(before)
        # Port 25 with AUTH after STARTTLS may relay.
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as s:
            s.starttls(context=insecure_tls())
            s.login("bob", "pw-bob")
            s.mail("bob@test.example")
            self.assertEqual(s.rcpt("friend@remote.example")[0], 250)
            s.rset()

    def test_pipelined_injection_after_starttls_is_discarded(self):
        before = self.srv.queue_ids()
        c = self.srv.raw("sub")
        c.read_reply()
        c.cmd("EHLO c")
        c.send("STARTTLS\r\nAUTH PLAIN " + plain("alice", "pw-alice") + "\r\nMAIL FROM:<alice@test.example>\r\n")
        self.assertEqual(c.read_reply()[0], 220)
        c.starttls()
        code, lines = c.cmd("EHLO c")
        self.assertEqual(code, 250)
        self.assertIn("AUTH PLAIN LOGIN", " ".join(lines))
        # Not authenticated by the injected AUTH: MAIL still needs a login.
        self.assertEqual(c.cmd("MAIL FROM:<alice@test.example>")[0], 530)
        c.close()
        self.assertNothingQueued(before)

    def test_sasl_cancel_and_bad_base64(self):
        with self.sub() as s:
            self.assertEqual(s.docmd("AUTH", "LOGIN")[0], 334)
            code, msg = s.docmd("*")
            self.assertEqual(code, 501)
            self.assertEqual(s.docmd("AUTH", "PLAIN !!notbase64!!")[0], 501)
            self.assertEqual(s.docmd("AUTH", "CRAM-MD5")[0], 504)
            self.assertEqual(s.login("alice", "pw-alice")[0], 235)

    def test_vrfy_reveals_nothing_by_default(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as s:
            s.ehlo("c")
            self.assertEqual(s.verify("alice")[0], 252)
            self.assertEqual(s.verify("nobody-here")[0], 252)


class SessionLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(smtp={"command_timeout": '"3s"', "max_messages_per_connection": 2,
                               "vrfy": '"verify"'},
                         submission={"max_connections_per_ip": 2}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_slow_drip_is_closed_at_the_timeout(self):
        c = self.srv.raw()
        c.read_reply()
        start = time.monotonic()
        closed_with = None
        for b in "EHLO a-very-slow-client.example".encode():
            try:
                c.sock.sendall(bytes([b]))
            except OSError:
                break
            c.sock.settimeout(1.0)
            try:
                data = c.sock.recv(4096)
            except socket.timeout:
                continue
            closed_with = data
            break
        elapsed = time.monotonic() - start
        self.assertIsNotNone(closed_with, "the server never answered the drip")
        self.assertTrue(closed_with.startswith(b"421 4.4.2"), closed_with)
        self.assertLess(elapsed, 20)
        self.assertTrue(c.is_closed())
        c.close()

    def test_message_limit_per_connection(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as s:
            s.ehlo("c")
            for i in range(2):
                s.sendmail("a@remote.example", ["alice@test.example"], f"Subject: n{i}\r\n\r\nx\r\n")
            code, msg = s.docmd("MAIL FROM:<a@remote.example>")
            self.assertEqual(code, 421)
            self.assertTrue(msg.startswith(b"4.7.0"))

    def test_vrfy_verify_mode(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as s:
            s.ehlo("c")
            self.assertEqual(s.verify("alice")[0], 252)
            self.assertEqual(s.verify("<nobody@test.example>")[0], 550)

    def test_submission_connection_limit(self):
        time.sleep(0.5)
        held = [self.srv.raw("sub") for _ in range(2)]
        for c in held:
            self.assertEqual(c.read_reply()[0], 220)
        extra = self.srv.raw("sub")
        code, lines = extra.read_reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.0", lines[0])
        for c in held + [extra]:
            c.close()


class CertificateReload(unittest.TestCase):
    def test_sighup_reloads_certificate_without_dropping_connections(self):
        srv = Server().start()
        try:
            def peer_cert():
                with smtplib.SMTP_SSL("127.0.0.1", srv.ports["subs"], timeout=20,
                                      context=insecure_tls()) as s:
                    return s.sock.getpeercert(binary_form=True)

            first = peer_cert()
            held = smtplib.SMTP_SSL("127.0.0.1", srv.ports["subs"], timeout=20, context=insecure_tls())
            held.login("alice", "pw-alice")
            for name in ("cert.pem", "key.pem"):
                os.remove(os.path.join(srv.data, "tls", name))
            srv.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            second = first
            while second == first and time.time() < deadline:
                time.sleep(0.1)
                second = peer_cert()
            self.assertNotEqual(first, second, "the certificate was not reloaded")
            with open(os.path.join(srv.data, "tls", "cert.pem")) as f:
                self.assertEqual(second, ssl.PEM_cert_to_DER_cert(f.read()))
            # The connection opened before the reload still works.
            held.sendmail("alice@test.example", ["bob@test.example"],
                          "Subject: after reload\r\n\r\nstill here\r\n")
            held.quit()
            srv.wait_subject("bob", "after reload")
            self.assertIn("SIGHUP: configuration reloaded", srv.log())
            self.assertIsNone(srv.proc.poll())
        finally:
            srv.cleanup()


class LoginPenalty(unittest.TestCase):
    """Failed logins are penalised across connections and protocols, per client and per
    account (as Dovecot's auth penalty): parallel guessing from one client gets one answer
    per penalty period, and the real user from another address still gets in."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(auth={"max_failures": 1, "failure_delay": '"100ms"',
                               "max_penalty": '"2s"'}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def attempt(self, password, source="127.0.0.1"):
        """One login on 465; returns (SMTP code, seconds the answer took)."""
        s = smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["subs"], timeout=30,
                             context=insecure_tls(), source_address=(source, 0))
        try:
            s.ehlo("client.example")
            start = time.monotonic()
            code, _ = s.docmd("AUTH", "PLAIN " + plain("alice", password))
            return code, time.monotonic() - start
        finally:
            try:
                s.close()
            except OSError:
                pass

    def test_1_penalty_grows_across_connections_and_holds_the_right_password_too(self):
        for _ in range(4):
            self.assertEqual(self.attempt("wrong")[0], 535)
        # Four failures from this client: its next answer waits 0.1 s * 2^3.
        code, took = self.attempt("pw-alice")
        self.assertEqual(code, 235)
        self.assertGreaterEqual(took, 0.75)
        self.assertIn("auth penalty: answer held", self.srv.log())
        # The success cleared the penalty.
        code, took = self.attempt("pw-alice")
        self.assertEqual(code, 235)

    def test_2_parallel_guesses_are_serialised_and_the_real_user_gets_in(self):
        import threading
        for _ in range(3):
            self.assertEqual(self.attempt("wrong")[0], 535)
        results = []

        def guess(i):
            results.append(self.attempt(f"guess-{i}"))
        threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(c for c, _ in results), [535] * 12)
        # Each answer waited at least one penalty period (0.4 s); answers were given one
        # per period until the queue reached 2 s, the rest refused without a check.
        self.assertGreaterEqual(min(t for _, t in results), 0.35)
        self.assertGreaterEqual(self.srv.log().count("refused unchecked"), 5)
        # alice herself, from another address, waits at most the maximum and gets in.
        code, took = self.attempt("pw-alice", source="127.0.0.2")
        self.assertEqual(code, 235)

    def test_3_failures_over_smtp_hold_an_imap_and_a_pop3_login(self):
        import imaplib
        import poplib
        for _ in range(4):
            self.assertEqual(self.attempt("wrong", source="127.0.0.3")[0], 535)
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls())
        start = time.monotonic()
        self.assertEqual(imap.login("alice", "pw-alice")[0], "OK")
        self.assertGreaterEqual(time.monotonic() - start, 0.75)
        imap.logout()
        for _ in range(4):
            self.assertEqual(self.attempt("wrong", source="127.0.0.3")[0], 535)
        pop = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], context=insecure_tls())
        start = time.monotonic()
        pop.user("alice")
        self.assertTrue(pop.pass_("pw-alice").startswith(b"+OK"))
        self.assertGreaterEqual(time.monotonic() - start, 0.75)
        pop.quit()


class TlsHandshakeTimeout(unittest.TestCase):
    """A client that never finishes its TLS handshake is dropped after
    [tls] handshake_timeout, on implicit TLS and after STARTTLS, however slowly it drips."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(extra='[tls]\nhandshake_timeout = "1s"\n').start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_silent_clients_are_dropped_on_every_tls_listener(self):
        for port in ("subs", "pop3s", "imaps"):
            c = self.srv.raw(port)
            self.assertTrue(c.is_closed(timeout=15), port)
            c.close()

    def test_a_dripping_handshake_is_dropped_after_starttls(self):
        c = self.srv.raw("sub")
        c.read_reply()
        c.cmd("EHLO c")
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        hello = bytes.fromhex("16030100f4010000f00303") + bytes(32)
        start = time.monotonic()
        closed = False
        for b in hello:
            try:
                c.send(bytes([b]))
            except OSError:
                closed = True
                break
            if c.is_closed(timeout=0.3):
                closed = True
                break
        # 43 bytes at 0.3 s each would take 13 s; the handshake may take 1 s.
        self.assertTrue(closed, f"still open after {time.monotonic() - start:.1f} s")
        c.close()


if __name__ == "__main__":
    unittest.main()
