"""SMTP server behaviour, driven with Python's smtplib and raw sockets."""

import hashlib
import os
import smtplib
import socket
import subprocess
import threading
import time
import unittest

from harness import Server, insecure_tls


class SmtpBasics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(smtp={"max_message_size": 200000, "max_recipients": 5}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20)
        return s

    def test_ehlo_advertises_extensions(self):
        with self.smtp() as s:
            code, _ = s.ehlo("client.example")
            self.assertEqual(code, 250)
            for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "starttls", "smtputf8",
                        "chunking"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertEqual(s.esmtp_features["size"], "200000")
            self.assertFalse(s.has_extn("auth"))

    def test_greeting_names_host(self):
        c = self.srv.raw()
        code, lines = c.read_reply()
        self.assertEqual(code, 220)
        self.assertIn("mx.test.example", lines[0])
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_message_larger_than_the_spool_buffer_arrives_whole(self):
        # 150 KB: more than the 64 KiB a spool holds in memory, so the queue file is
        # written out in parts (and, in the smol runtime, on the blocking pool).
        lines = [f"line {i:05d} " + hashlib.sha256(str(i).encode()).hexdigest() * 2
                 for i in range(1100)]
        body = "\r\n".join(lines) + "\r\n"
        msg = "Subject: larger than the buffer\r\n\r\n" + body
        self.assertGreater(len(msg), 140_000)
        with self.smtp() as s:
            s.ehlo("client.example")
            self.assertEqual(s.sendmail("carol@else.example", ["bob@test.example"], msg), {})
        m = self.srv.wait_subject("bob", "larger than the buffer")
        self.assertEqual(m.get_payload(), body.replace("\r\n", "\n"))

    def test_delivery_headers_and_quoting(self):
        body = "Subject: headers test\r\nFrom: carol@else.example\r\n\r\nFrom the start\r\n>From quoted\r\n.leading dot\r\n"
        with self.smtp() as s:
            s.ehlo("client.example")
            s.sendmail("carol@else.example", ["bob@test.example"], body)
        msgs = self.srv.wait_messages("bob", 1)
        m = [x for x in msgs if x["Subject"] == "headers test"][0]
        keys = [k.lower() for k in m.keys()]
        self.assertEqual(keys[:3], ["return-path", "delivered-to", "received"])
        self.assertEqual(m["Return-Path"], "<carol@else.example>")
        self.assertEqual(m["Delivered-To"], "bob@test.example")
        rcv = " ".join(m["Received"].split())
        self.assertIn("from client.example ([127.0.0.1])", rcv)
        self.assertIn("by mx.test.example with ESMTP id ", rcv)
        self.assertIn("for <bob@test.example>", rcv)
        # mboxrd quoting on disk (Python's mailbox module does not unquote it).
        payload = m.get_payload()
        self.assertIn(">From the start\n>>From quoted\n.leading dot\n", payload)

    def test_unknown_user_rejected_at_rcpt(self):
        with self.smtp() as s:
            s.ehlo("c")
            s.mail("x@else.example")
            code, msg = s.rcpt("nosuchuser@test.example")
            self.assertEqual(code, 550)
            self.assertTrue(msg.startswith(b"5.1.1"), msg)

    def test_no_open_relay(self):
        before = self.srv.queue_ids()
        with self.smtp() as s:
            s.ehlo("c")
            s.mail("x@else.example")
            code, msg = s.rcpt("victim@remote.example")
            self.assertEqual(code, 554)
            self.assertTrue(msg.startswith(b"5.7.1"), msg)
            code, _ = s.docmd("DATA")
            self.assertEqual(code, 554)
        time.sleep(0.2)
        # Nothing new was queued (an earlier test's message may have left meanwhile).
        new = set(self.srv.queue_ids()) - set(before)
        self.assertEqual(new, set(), self.srv.log()[-6000:])

    def test_postmaster_always_accepted(self):
        with self.smtp() as s:
            s.ehlo("c")
            s.mail("x@else.example")
            self.assertEqual(s.rcpt("<Postmaster>")[0], 250)
            self.assertEqual(s.rcpt("postmaster@test.example")[0], 250)

    def test_command_order(self):
        c = self.srv.raw()
        c.read_reply()
        code, lines = c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual((code, lines[0][4:9]), (503, "5.5.1"))
        self.assertEqual(c.cmd("EHLO c")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 554)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_garbage_and_long_lines(self):
        c = self.srv.raw()
        c.read_reply()
        code, lines = c.cmd("FOO BAR")
        self.assertEqual(code, 500)
        self.assertIn("5.5.2", lines[0])
        code, lines = c.cmd("NOOP " + "x" * 600)
        self.assertEqual(code, 500)
        self.assertIn("5.5.2", lines[0])
        c.send(b"\x00\xff\xfe garbage \x01\r\n")
        self.assertEqual(c.read_reply()[0], 500)
        code, _ = c.cmd("MAIL FROM:<broken")
        self.assertEqual(code, 501)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()

    def test_size_declared_and_actual(self):
        with self.smtp() as s:
            s.ehlo("c")
            code, msg = s.docmd("MAIL FROM:<a@b.example> SIZE=999999999")
            self.assertEqual(code, 552)
            self.assertTrue(msg.startswith(b"5.3.4"), msg)
            s.mail("a@b.example")
            s.rcpt("alice@test.example")
            big = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 300
            code, msg = s.data(big)
            self.assertEqual(code, 552)
            self.assertTrue(msg.startswith(b"5.3.4"), msg)
            self.assertEqual(s.noop()[0], 250)
        time.sleep(0.3)
        self.assertFalse(any(m["Subject"] == "big" for m in self.srv.messages("alice")))

    def test_max_recipients_and_duplicates(self):
        with self.smtp() as s:
            s.ehlo("c")
            s.mail("a@b.example")
            for _ in range(3):
                self.assertEqual(s.rcpt("alice@test.example")[0], 250)
            self.assertEqual(s.rcpt("bob@test.example")[0], 250)
            for extra in ("postmaster@test.example", "ALICE@TEST.EXAMPLE", "bob@localhost"):
                self.assertEqual(s.rcpt(extra)[0], 250, extra)
            code, msg = s.rcpt("alice@localhost")
            self.assertEqual(code, 452)
            self.assertTrue(msg.startswith(b"4.5.3"), msg)
            code, _ = s.data("Subject: dup-test\r\n\r\nonce\r\n")
            self.assertEqual(code, 250)
        self.srv.find_subject("bob", "dup-test")
        time.sleep(0.5)
        # Several spellings of one mailbox give one copy, as with Postfix local(8).
        for user in ("alice", "bob"):
            dup = [m for m in self.srv.messages(user) if m["Subject"] == "dup-test"]
            self.assertEqual(len(dup), 1, user)

    def test_bare_lf_in_data_is_rejected(self):
        c = self.srv.raw()
        c.read_reply()
        c.cmd("EHLO c")
        c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        # A smuggling attempt: "\n.\n" must not end the data.
        c.send(b"Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<bob@test.example>\r\n\r\n.\r\n")
        code, lines = c.read_reply()
        self.assertEqual(code, 550)
        self.assertIn("5.5.2", lines[0])
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()
        time.sleep(0.3)
        self.assertFalse(any(m["Subject"] == "smuggle" for m in self.srv.messages("alice")))
        self.assertFalse(any("evil" in str(m["Return-Path"]) for m in self.srv.messages("bob")))

    def test_bdat_chunks(self):
        c = self.srv.raw()
        c.read_reply()
        code, lines = c.cmd("EHLO c")
        self.assertIn("250-CHUNKING", lines)
        # No transaction yet: refused, and the chunk is read and dropped, not run.
        c.send(b"BDAT 6\r\nQUIT\r\n")
        self.assertEqual(c.read_reply()[0], 503)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        head = b"Subject: chunked\r\n\r\n"
        c.send(b"BDAT %d\r\n" % len(head) + head)
        self.assertEqual(c.read_reply(), (250, [f"250 2.0.0 Ok: {len(head)} octets received"]))
        # DATA cannot follow BDAT in one message.
        self.assertEqual(c.cmd("DATA")[0], 503)
        c.send(b"BDAT 9 LAST\r\nbare\nlfs\n")
        code, lines = c.read_reply()
        self.assertEqual(code, 250)
        self.assertIn("queued as", lines[0])
        # Larger than the limit: refused whole, the octets read and dropped.
        c.cmd("MAIL FROM:<a@b.example>")
        c.cmd("RCPT TO:<alice@test.example>")
        c.send(b"BDAT 200001 LAST\r\n" + b"x" * 200001)
        self.assertEqual(c.read_reply()[0], 552)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()
        msg = self.srv.wait_subject("alice", "chunked")
        self.assertEqual(msg.get_payload(), "bare\nlfs\n")

    def test_binarymime_by_bdat_is_stored_as_sent(self):
        c = self.srv.raw()
        c.read_reply()
        self.assertIn("250-BINARYMIME", c.cmd("EHLO c")[1])
        c.cmd("MAIL FROM:<a@b.example> BODY=BINARYMIME")
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 503)
        body = b"Subject: binary\r\n\r\nNUL \x00 CR \r alone\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        self.assertEqual(c.read_reply()[0], 250)
        c.close()
        self.srv.wait_subject("alice", "binary")
        with open(self.srv.mbox_path("alice"), "rb") as f:
            self.assertIn(b"NUL \x00 CR \r alone", f.read())

    def test_smtp_smuggling_variants_run_no_second_transaction(self):
        # CVE-2023-51764 class: only CRLF . CRLF ends the data. Each variant is sent in one
        # write with a smuggled transaction after it; the server must answer the DATA once
        # (550 5.5.2, at the real end) and never run the smuggled MAIL/RCPT/DATA.
        variants = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r",
                    b"\r\n.\r\r\n", b"\x00\xe9\n.\r\n\x00"]
        before = len(self.srv.queue_ids())
        for i, v in enumerate(variants):
            c = self.srv.raw()
            c.read_reply()
            c.cmd("EHLO c")
            c.cmd("MAIL FROM:<a@b.example>")
            self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"Subject: first " + str(i).encode() + b"\r\n\r\nbody" + v +
                   b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\n"
                   b"Subject: smuggled " + str(i).encode() + b"\r\n\r\nforged\r\n.\r\nNOOP\r\n")
            code, lines = c.read_reply()
            self.assertEqual(code, 550, (v, lines))
            self.assertIn("5.5.2", lines[0])
            self.assertEqual(c.read_reply()[0], 250, v)  # the NOOP after the real end
            self.assertEqual(c.cmd("QUIT")[0], 221)
            c.close()
        time.sleep(0.5)
        self.assertEqual(len(self.srv.queue_ids()), before)
        for user in ("alice", "bob"):
            subjects = [str(m["Subject"]) for m in self.srv.messages(user)]
            self.assertFalse([s for s in subjects if s.startswith(("first ", "smuggled "))], user)

    def test_pipelining(self):
        c = self.srv.raw()
        c.read_reply()
        c.cmd("EHLO pipeliner")
        c.send("MAIL FROM:<p@b.example>\r\nRCPT TO:<alice@test.example>\r\nRCPT TO:<nobody@test.example>\r\nDATA\r\n")
        self.assertEqual(c.read_reply()[0], 250)
        self.assertEqual(c.read_reply()[0], 250)
        self.assertEqual(c.read_reply()[0], 550)
        self.assertEqual(c.read_reply()[0], 354)
        c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        code, lines = c.read_reply()
        self.assertEqual(code, 250)
        self.assertIn("queued as", lines[0])
        self.assertEqual(c.read_reply()[0], 250)
        self.assertEqual(c.read_reply()[0], 221)
        c.close()
        self.srv.find_subject("alice", "pipelined")

    def test_starttls_discards_pipelined_plaintext(self):
        c = self.srv.raw()
        c.read_reply()
        c.cmd("EHLO c")
        c.send("STARTTLS\r\nRSET\r\n")
        code, _ = c.read_reply()
        self.assertEqual(code, 220)
        c.starttls()
        code, lines = c.cmd("EHLO again")
        self.assertEqual(code, 250)
        self.assertTrue(lines[0].startswith("250-mx.test.example"), lines)
        self.assertNotIn("250-STARTTLS", lines)
        self.assertEqual(c.cmd("STARTTLS")[0], 554)
        c.close()

    def test_starttls_received_says_esmtps(self):
        with self.smtp() as s:
            s.starttls(context=insecure_tls())
            s.ehlo("tls.example")
            s.sendmail("t@b.example", ["bob@test.example"], "Subject: over tls\r\n\r\nsecret\r\n")
        ms = self.srv.find_subject("bob", "over tls")
        self.assertIn("with ESMTPS id", " ".join(ms[0]["Received"].split()))

    def test_smtputf8_and_8bit(self):
        c = self.srv.raw()
        c.read_reply()
        c.cmd("EHLO c")
        c.send("MAIL FROM:<jörg@else.example> SMTPUTF8 BODY=8BITMIME\r\n".encode())
        self.assertEqual(c.read_reply()[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: utf8\r\n\r\nGrüße\r\n.\r\n".encode())
        self.assertEqual(c.read_reply()[0], 250)
        c.close()
        def delivered():
            path = self.srv.mbox_path("alice")
            data = open(path, "rb").read() if os.path.exists(path) else b""
            return data if "Grüße".encode() in data else None
        data = self.srv.wait_until("the 8-bit message never arrived", delivered)
        self.assertIn("Return-Path: <jörg@else.example>".encode(), data)

    def test_unsupported_parameter(self):
        with self.smtp() as s:
            s.ehlo("c")
            code, msg = s.docmd("MAIL FROM:<a@b.example> FROBNICATE=1")
            self.assertEqual(code, 555)
            self.assertTrue(msg.startswith(b"5.5.4"))

    def test_auth_on_port_25_only_after_starttls(self):
        with self.smtp() as s:
            s.ehlo("c")
            self.assertFalse(s.has_extn("auth"))
            code, msg = s.docmd("AUTH PLAIN AGFsaWNlAHB3")
            self.assertEqual(code, 530)
            self.assertTrue(msg.startswith(b"5.7.0"), msg)
            s.starttls(context=insecure_tls())
            s.ehlo("c")
            self.assertEqual(s.esmtp_features["auth"].split(), ["PLAIN", "LOGIN"])

    def test_submission_requires_auth(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["sub"], timeout=20)
        s.starttls(context=insecure_tls())
        s.ehlo("c")
        code, msg = s.docmd("MAIL FROM:<alice@test.example>")
        self.assertEqual(code, 530)
        self.assertTrue(msg.startswith(b"5.7.0"))
        s.quit()
        s = smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["subs"], timeout=20, context=insecure_tls())
        s.ehlo("c")
        self.assertFalse(s.has_extn("starttls"))
        self.assertEqual(s.docmd("MAIL FROM:<alice@test.example>")[0], 530)
        s.quit()

    def test_user_added_while_running(self):
        with self.smtp() as s:
            s.ehlo("c")
            s.mail("a@b.example")
            self.assertEqual(s.rcpt("latecomer@test.example")[0], 550)
        self.srv.cli("user", "add", "latecomer", "--password-stdin", input="pw\n")
        with self.smtp() as s:
            s.ehlo("c")
            s.mail("a@b.example")
            self.assertEqual(s.rcpt("latecomer@test.example")[0], 250)
            s.data("Subject: welcome\r\n\r\nhi\r\n")
        self.srv.wait_messages("latecomer", 1)


class SmtpLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(smtp={"max_errors": 3, "command_timeout": '"1s"', "max_recipients": 1,
                               "max_connections_per_ip": 3,
                               "trusted_networks": '["127.0.0.1/32"]'}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_error_budget_closes_with_421(self):
        c = self.srv.raw()
        c.read_reply()
        self.assertEqual(c.cmd("BAD1")[0], 500)
        self.assertEqual(c.cmd("BAD2")[0], 500)
        c.send("BAD3\r\n")
        self.assertEqual(c.read_reply()[0], 500)
        code, lines = c.read_reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.0", lines[0])
        self.assertTrue(c.is_closed())
        c.close()

    def test_too_many_recipients_does_not_count_as_error(self):
        c = self.srv.raw()
        c.read_reply()
        c.cmd("EHLO c")
        c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(c.cmd("RCPT TO:<alice@test.example>")[0], 250)
        for _ in range(4):
            self.assertEqual(c.cmd("RCPT TO:<bob@test.example>")[0], 452)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()

    def test_idle_timeout(self):
        c = self.srv.raw()
        c.read_reply()
        code, lines = c.read_reply()
        self.assertEqual(code, 421)
        self.assertIn("4.4.2", lines[0])
        self.assertTrue(c.is_closed())
        c.close()

    def test_connection_limit_per_ip(self):
        time.sleep(1.0)  # let the harness's readiness probe connection end
        # 127.0.0.2 is not in trusted_networks: three connections at most.
        clients = [self.srv.raw(source="127.0.0.2") for _ in range(3)]
        for c in clients:
            self.assertEqual(c.read_reply()[0], 220)
        extra = self.srv.raw(source="127.0.0.2")
        code, _ = extra.read_reply()
        self.assertEqual(code, 421)
        # A trusted client (127.0.0.1) has no per-address limit, as Postfix's mynetworks.
        trusted = [self.srv.raw() for _ in range(4)]
        for c in trusted:
            self.assertEqual(c.read_reply()[0], 220)
        for c in clients + [extra] + trusted:
            c.close()
        deadline = time.time() + 5
        while True:
            again = self.srv.raw(source="127.0.0.2")
            code = again.read_reply()[0]
            again.close()
            if code == 220 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(code, 220)

    def test_trusted_network_may_relay(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as s:
            s.ehlo("c")
            s.mail("a@b.example")
            self.assertEqual(s.rcpt("someone@remote.example")[0], 250)
            self.assertEqual(s.data("Subject: relay\r\n\r\nx\r\n")[0], 250)
        out = self.srv.wait_mailq("next attempt")
        self.assertIn("someone@remote.example", out)
        self.assertIn("Name service error for name=remote.example type=MX", out)


class TlsFiles(unittest.TestCase):
    def test_configured_certificate_is_used(self):
        import shutil
        import ssl
        first = Server(users=()).start()
        try:
            cert = os.path.join(first.data, "tls", "cert.pem")
            key = os.path.join(first.data, "tls", "key.pem")
            self.assertTrue(os.path.exists(cert) and os.path.exists(key))
            self.assertEqual(os.stat(key).st_mode & 0o077, 0)
            keep = os.path.join(first.dir, "keep")
            os.makedirs(keep)
            shutil.copy(cert, keep)
            shutil.copy(key, keep)
        finally:
            first.stop()
        second = Server(users=(), extra=f'[tls]\ncert = "{keep}/cert.pem"\nkey = "{keep}/key.pem"\n').start()
        try:
            with smtplib.SMTP("127.0.0.1", second.ports["smtp"], timeout=20) as s:
                s.starttls(context=insecure_tls())
                der = s.sock.getpeercert(binary_form=True)
            with open(os.path.join(keep, "cert.pem")) as f:
                self.assertEqual(der, ssl.PEM_cert_to_DER_cert(f.read()))
            self.assertFalse(os.path.exists(os.path.join(second.data, "tls", "cert.pem")))
        finally:
            second.cleanup()
            first.cleanup()

    def test_bad_certificate_config_fails_clearly(self):
        srv = Server(users=(), extra='[tls]\ncert = "/nonexistent/cert.pem"\nkey = "/nonexistent/key.pem"\n')
        try:
            r = subprocess.run([srv_bin(), "-c", srv.config, "serve"], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("/nonexistent/cert.pem", r.stderr.decode())
        finally:
            srv.cleanup()


def srv_bin():
    from harness import BIN
    return BIN


class Concurrency(unittest.TestCase):
    def test_50_clients_10_messages_each(self):
        srv = Server(users=("sink",)).start()
        try:
            errors = []

            def client(n):
                try:
                    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
                        s.ehlo(f"client{n}")
                        for i in range(10):
                            body = f"Subject: c{n}-m{i}\r\nX-Check: {hashlib.sha256(f'{n}/{i}'.encode()).hexdigest()}\r\n\r\n"
                            body += "".join(f"line {k} of message {n}/{i}\r\n" for k in range(20))
                            s.sendmail(f"c{n}@else.example", ["sink@test.example"], body)
                except Exception as e:  # noqa: BLE001 - collected and asserted below
                    errors.append(repr(e))

            threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            msgs = srv.wait_messages("sink", 500, timeout=120)
            time.sleep(0.5)
            msgs = srv.messages("sink")
            self.assertEqual(len(msgs), 500)
            seen = set()
            for m in msgs:
                n, i = m["Subject"][1:].split("-m")
                self.assertEqual(m["X-Check"], hashlib.sha256(f"{n}/{i}".encode()).hexdigest())
                body = m.get_payload()
                self.assertEqual(body, "".join(f"line {k} of message {n}/{i}\n" for k in range(20)))
                seen.add(m["Subject"])
            self.assertEqual(len(seen), 500)
            self.assertEqual(srv.queue_ids(), [])
        finally:
            srv.cleanup()


class Durability(unittest.TestCase):
    def test_sigkill_after_250_delivers_exactly_once(self):
        for maildir in (False, True):
            with self.subTest(maildir=maildir):
                self.sigkill_after_250(maildir)

    def sigkill_after_250(self, maildir):
        srv = Server(users=("dora",), maildir=maildir).start()
        try:
            for round_ in range(5):
                with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=20) as s:
                    s.ehlo("c")
                    s.mail("k@else.example")
                    s.rcpt("dora@test.example")
                    code, _ = s.data(f"Subject: crash-{round_}\r\n\r\nsurvive\r\n")
                    self.assertEqual(code, 250)
                    srv.kill()
                srv.start()
                msgs = srv.wait_messages("dora", round_ + 1)
            time.sleep(1.0)
            subjects = sorted(m["Subject"] for m in srv.messages("dora"))
            self.assertEqual(subjects, [f"crash-{i}" for i in range(5)])
        finally:
            srv.cleanup()

    def test_sigterm_exits_zero(self):
        srv = Server(users=()).start()
        try:
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
