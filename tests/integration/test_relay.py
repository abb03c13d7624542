"""Remote delivery between two postrider instances on loopback (a.test on 127.0.0.1 sends,
b.test listens on 127.0.0.2), routed by MX records from a DNS stub inside the test:
relay with both Received lines, a dead preferred MX skipped, the implicit MX, null MX,
remote 550 → an RFC 3464 bounce, deferral then expiry, 451 then 250 delivered once, and
a restart in the middle of retries."""

import re
import smtplib
import time
import unittest

from dnsstub import DnsStub
from harness import Server, SmtpSink, free_port


class SinkServer(SmtpSink):
    """The MX on 127.0.0.4: the first RCPT of each message gets 451, later ones 250; it
    keeps the messages it accepted."""

    def __init__(self, port):
        self.accepted = []
        super().__init__("127.0.0.4", port, name="sink.f.test")

    def rcpt_reply(self, n):
        return "451 4.3.0 Try again later" if n == 1 else "250 2.1.5 Ok"

    def on_message(self, body):
        self.accepted.append(body)


def delivery_status(msg):
    """The per-recipient blocks of a multipart/report bounce, as header dicts."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"][0]
    blocks = status.get_payload()
    return blocks[0], blocks[1:]


class Relay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.dns = DnsStub({
            ("b.test", "MX"): [(10, "mx.b.test")],
            ("mx.b.test", "A"): ["127.0.0.2"],
            ("c.test", "MX"): [(10, "mx1.c.test"), (20, "mx2.c.test")],
            ("mx1.c.test", "A"): ["127.0.0.3"],
            ("mx2.c.test", "A"): ["127.0.0.2"],
            ("d.test", "A"): ["127.0.0.2"],
            ("f.test", "MX"): [(10, "mx.f.test")],
            ("mx.f.test", "A"): ["127.0.0.4"],
            ("g.test", "MX"): [(10, "mx.g.test")],
            ("mx.g.test", "A"): ["127.0.0.3"],
            ("h.test", "MX"): [(0, ".")],
        })
        cls.b = Server(hostname="mx.b.test", domains=("b.test", "c.test", "d.test", "g.test"),
                       users=("bob", "carol"), smtp_ip="127.0.0.2", smtp_port=cls.port).start()
        cls.a = Server(hostname="mx.a.test", domains=("a.test",), users=("alice",),
                       smtp={"trusted_networks": '["127.0.0.0/8"]'}, dns_port=cls.dns.port,
                       delivery={"remote_port": cls.port, "retry": '["1s"]', "max_age": '"1h"'}).start()
        cls.sink = SinkServer(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()
        cls.sink.close()
        cls.dns.close()

    def send(self, rcpts, subject, sender="alice@a.test", mail_options=(), rcpt_options=()):
        with smtplib.SMTP("127.0.0.1", self.a.ports["smtp"], timeout=30) as s:
            s.ehlo("client.a.test")
            s.mail(sender, list(mail_options))
            for r in rcpts:
                code, msg = s.rcpt(r, list(rcpt_options))
                self.assertEqual(code, 250, msg)
            code, msg = s.data(f"From: {sender or 'nobody'}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n")
            self.assertEqual(code, 250)
            return msg.decode().rsplit(" ", 1)[-1]

    def wait_bounce(self, rcpt):
        def bounce():
            for m in self.a.messages("alice"):
                if m.get_content_type() != "multipart/report":
                    continue
                _, blocks = delivery_status(m)
                if any(b["Final-Recipient"] == f"rfc822; {rcpt}" for b in blocks):
                    return m
            return None
        return self.a.wait_until(f"no bounce for {rcpt}", bounce)

    def test_relay_by_mx_carries_both_received_lines(self):
        self.send(["bob@b.test"], "relayed")
        m = self.b.wait_subject("bob", "relayed")
        received = [" ".join(r.split()) for r in m.get_all("Received")]
        self.assertEqual(len(received), 2, received)
        self.assertIn("from mx.a.test ([127.0.0.1])", received[0])
        self.assertIn("by mx.b.test (using TLSv1.3", received[0])
        self.assertIn("with ESMTPS id", received[0])
        self.assertIn("by mx.a.test", received[1])
        self.assertEqual(m["Return-Path"], "<alice@a.test>")
        self.assertRegex(self.a.log(), r"to=<bob@b.test>, relay=mx.b.test\[127.0.0.2\]:\d+, .*status=sent")
        self.assertRegex(self.a.log(), r"TLS to mx.b.test\[127.0.0.2\]:\d+: TLSv1.3")

    def test_dead_preferred_mx_is_skipped(self):
        self.send(["bob@c.test"], "via the backup MX")
        self.b.wait_subject("bob", "via the backup MX")
        self.assertIn("mx1.c.test[127.0.0.3]: trying the next address", self.a.log())

    def test_no_mx_falls_back_to_the_address(self):
        self.send(["carol@d.test"], "implicit MX")
        self.b.wait_subject("carol", "implicit MX")

    def test_remote_550_bounces_with_rfc3464_report(self):
        qid = self.send(["nobody@b.test"], "to a stranger",
                        mail_options=["ENVID=env-42"],
                        rcpt_options=["ORCPT=rfc822;Nobody@b.test"])
        bounce = self.wait_bounce("nobody@b.test")
        self.assertEqual(bounce["To"], "alice@a.test")
        self.assertEqual(bounce["Auto-Submitted"], "auto-replied")
        self.assertIn("<>", bounce["Return-Path"])
        per_message, blocks = delivery_status(bounce)
        self.assertEqual(per_message["Reporting-MTA"], "dns; mx.a.test")
        self.assertEqual(per_message["Original-Envelope-Id"], "env-42")
        b = blocks[0]
        self.assertEqual(b["Action"], "failed")
        self.assertEqual(b["Status"], "5.1.1")
        self.assertEqual(b["Original-Recipient"], "rfc822; Nobody@b.test")
        self.assertEqual(b["Remote-MTA"], "dns; mx.b.test")
        self.assertTrue(b["Diagnostic-Code"].startswith("smtp; 550 5.1.1"), b["Diagnostic-Code"])
        returned = bounce.get_payload()[2]
        self.assertEqual(returned.get_content_type(), "message/rfc822")
        self.assertEqual(returned.get_payload()[0]["Subject"], "to a stranger")
        self.assertIn(f"{qid}: sender non-delivery notification", self.a.log())

    def test_null_mx_fails_at_once(self):
        self.send(["x@h.test"], "null mx")
        bounce = self.wait_bounce("x@h.test")
        _, blocks = delivery_status(bounce)
        self.assertEqual(blocks[0]["Status"], "5.1.10")

    def test_notify_never_and_null_sender_get_no_bounce(self):
        before = len(self.a.messages("alice"))
        q1 = self.send(["nobody@b.test"], "never tell", rcpt_options=["NOTIFY=NEVER"])
        q2 = self.send(["nobody@b.test"], "from the null sender", sender="")
        self.a.wait_until("both left the queue",
                          lambda: q1 not in self.a.queue_ids() and q2 not in self.a.queue_ids())
        log = self.a.log()
        self.assertIn(f"{q2}: undeliverable bounce to the null sender: discarded", log)
        self.assertNotIn(f"{q1}: sender non-delivery notification", log)
        time.sleep(0.5)
        subjects = [m["Subject"] for m in self.a.messages("alice")[before:]]
        self.assertFalse(any(s and "Undelivered" in s for s in subjects), subjects)

    def test_451_then_250_delivered_exactly_once(self):
        self.send(["someone@f.test"], "after a 451")
        self.a.wait_until("nothing reached the sink", lambda: self.sink.accepted)
        self.assertEqual(len(self.sink.accepted), 1)
        self.assertGreaterEqual(self.sink.rcpt_tries, 2)
        self.assertIn(b"Subject: after a 451", self.sink.accepted[0])
        time.sleep(2.5)  # further retries would have happened by now
        self.assertEqual(len(self.sink.accepted), 1)
        self.assertRegex(self.a.log(), r"to=<someone@f.test>.*status=deferred \(.*451 4.3.0")

    def test_restart_in_the_middle_of_retries_loses_nothing(self):
        qid = self.send(["carol@g.test"], "survives a restart")
        out = self.a.wait_mailq("next attempt", qid)
        self.assertIn("carol@g.test", out)
        self.assertIn("connect to mx.g.test[127.0.0.3]", out)
        self.a.kill()
        self.assertIn(qid, self.a.queue_ids())
        self.dns.set("mx.g.test", "A", ["127.0.0.2"])
        self.a.start()
        self.b.wait_subject("carol", "survives a restart")
        self.a.wait_until(f"{qid} stayed in the queue", lambda: qid not in self.a.queue_ids())


class Expiry(unittest.TestCase):
    def test_deferred_then_bounced_after_max_age(self):
        dns = DnsStub({("e.test", "MX"): [(10, "mx.e.test")], ("mx.e.test", "A"): ["127.0.0.3"]})
        a = Server(hostname="mx.a.test", domains=("a.test",), users=("alice",),
                   smtp={"trusted_networks": '["127.0.0.0/8"]'}, dns_port=dns.port,
                   delivery={"remote_port": free_port(), "retry": '["1s"]', "max_age": '"8s"'}).start()
        try:
            with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=30) as s:
                s.sendmail("alice@a.test", ["x@e.test"], "Subject: doomed\r\n\r\nnever arrives\r\n")
            out = a.wait_mailq("next attempt")
            self.assertIn("x@e.test", out)
            self.assertRegex(out, r"connect to mx.e.test\[127.0.0.3\]:\d+: Connection refused")
            bounce = a.wait_subject("alice", "Undelivered Mail Returned to Sender", timeout=30)
            _, blocks = delivery_status(bounce)
            self.assertEqual(blocks[0]["Status"], "4.4.7")
            self.assertEqual(blocks[0]["Action"], "failed")
            self.assertIn("expired", bounce.get_payload()[0].get_payload())
            a.wait_until("the queue never emptied", lambda: not a.queue_ids())
            self.assertEqual(a.cli("mailq").stdout.decode().strip(), "Mail queue is empty")
        finally:
            a.cleanup()
            dns.close()


if __name__ == "__main__":
    unittest.main()
