"""MTA-STS (RFC 8461) and REQUIRETLS (RFC 8689) for outbound mail: policies served over HTTPS on 127.0.0.1:443 by a
test server whose certificate a test CA signed (the sending server trusts it through
SSL_CERT_FILE), records from the DNS stub. `enforce`: delivered over verified TLS to an
MX the policy names; deferred when the MX offers no STARTTLS, presents a certificate for
another name, or is not named by the policy. `testing`: delivered anyway. A policy is
cached with its id and used again without a new fetch. REQUIRETLS: accepted only over
TLS, passed on to an MX that offers it (over verified TLS, the MX vouched for by a
policy), else the message bounces with 5.7.30; `TLS-Required: No` waives a policy.

Port 443 needs root (as CI runs); elsewhere the test fails saying so."""

import gzip
import http.server
import json
import os
import shutil
import smtplib
import socket
import ssl
import tempfile
import threading
import unittest

from dnsstub import DnsStub
from harness import Server, SmtpSink, free_port
from testca import TestCa

POLICIES = {
    "b.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.b.test\r\nmax_age: 86400\r\n",
    "e.test": "version: STSv1\r\nmode: enforce\r\nmx: *.e.test\r\nmax_age: 86400\r\n",
    "m.test": "version: STSv1\r\nmode: enforce\r\nmx: other.m.test\r\nmax_age: 86400\r\n",
    "x.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.x.test\r\nmax_age: 86400\r\n",
    "t.test": "version: STSv1\r\nmode: testing\r\nmx: mx.b.test\r\nmax_age: 86400\r\n",
    "r.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.r.test\r\nmax_age: 86400\r\n",
    "n.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.n.test\r\nmax_age: 86400\r\n",
}
# Domains that publish an _mta-sts record whose policy the web server does not have (404).
UNFETCHABLE = ("nf.test",)


class PolicyServer:
    """HTTPS on 127.0.0.1:443 answering /.well-known/mta-sts.txt by Host."""

    def __init__(self, cert, key):
        self.fetches = []
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = (self.headers.get("Host") or "").removeprefix("mta-sts.")
                outer.fetches.append((host, self.path))
                body = POLICIES.get(host)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                outer.posts.append((self.path, self.headers.get("Content-Type"),
                                    self.rfile.read(n)))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PlainSink(SmtpSink):
    """An MX without STARTTLS (on 127.0.0.5) keeping what it accepts."""

    def __init__(self, port):
        self.accepted = []
        super().__init__("127.0.0.5", port, name="mx.e.test")

    def on_message(self, body):
        self.accepted.append(body)


class TlsSink(SmtpSink):
    """An MX with STARTTLS (certificate from the test CA) that offers REQUIRETLS after it
    when `requiretls`; it keeps the MAIL lines and messages it accepted."""

    def __init__(self, ip, port, cert, key, requiretls):
        self.requiretls = requiretls
        self.mail_lines, self.accepted = [], []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        super().__init__(ip, port)

    def _session(self, conn):
        tls = False
        try:
            f = conn.makefile("rb")
            conn.sendall(b"220 sink ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip()
                verb = cmd.upper()
                if verb.startswith("EHLO"):
                    ext = ["sink", "PIPELINING", "ENHANCEDSTATUSCODES"]
                    ext += ["REQUIRETLS"] if tls and self.requiretls else []
                    ext += [] if tls else ["STARTTLS"]
                    conn.sendall("".join(f"250{' ' if i == len(ext) - 1 else '-'}{e}\r\n"
                                         for i, e in enumerate(ext)).encode())
                elif verb == "STARTTLS":
                    conn.sendall(b"220 2.0.0 go ahead\r\n")
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                    f, tls = conn.makefile("rb"), True
                elif verb.startswith("MAIL"):
                    self.mail_lines.append(cmd)
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    body = b""
                    while not body.endswith(b"\r\n.\r\n"):
                        chunk = f.readline()
                        if not chunk:
                            return
                        body += chunk
                    self.accepted.append(body)
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


class MtaSts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postrider-sts-")
        ca = cls.ca = TestCa(cls.tmp)
        try:
            cls.https = PolicyServer(*ca.leaf(
                "mta-sts.b.test", *(f"mta-sts.{d}" for d in (*POLICIES, *UNFETCHABLE))))
        except PermissionError:
            raise AssertionError("the MTA-STS test serves policies on 127.0.0.1:443: run it "
                                 "as root (CI does)") from None
        cls.port = free_port()
        mx_cert, mx_key = ca.leaf("mx.b.test")
        cls.dns = DnsStub({
            ("b.test", "MX"): [(10, "mx.b.test")],
            ("mx.b.test", "A"): ["127.0.0.2"],
            ("e.test", "MX"): [(10, "mx.e.test")],
            ("mx.e.test", "A"): ["127.0.0.5"],
            ("m.test", "MX"): [(10, "mx.m.test")],
            ("mx.m.test", "A"): ["127.0.0.2"],
            ("x.test", "MX"): [(10, "mx.x.test")],
            ("mx.x.test", "A"): ["127.0.0.2"],
            ("t.test", "MX"): [(10, "mx.e.test")],
            ("r.test", "MX"): [(10, "mx.r.test")],
            ("mx.r.test", "A"): ["127.0.0.6"],
            ("n.test", "MX"): [(10, "mx.n.test")],
            ("mx.n.test", "A"): ["127.0.0.7"],
            ("nopolicy.test", "MX"): [(10, "mx.r.test")],
            **{(f"_mta-sts.{d}", "TXT"): ["v=STSv1; id=20261206T1;"]
               for d in (*POLICIES, *UNFETCHABLE)},
            **{(f"mta-sts.{d}", "A"): ["127.0.0.1"] for d in (*POLICIES, *UNFETCHABLE)},
            ("nf.test", "MX"): [(10, "mx.e.test")],
            ("_smtp._tls.e.test", "TXT"): ["v=TLSRPTv1; rua=mailto:alice@a.test"],
            ("_smtp._tls.b.test", "TXT"): ["v=TLSRPTv1; rua=https://mta-sts.b.test/tlsrpt"],
        })
        cls.b = Server(hostname="mx.b.test", domains=("b.test", "m.test", "x.test"),
                       users=("bob",), smtp_ip="127.0.0.2", smtp_port=cls.port,
                       top=f'[tls]\ncert = "{mx_cert}"\nkey = "{mx_key}"\n').start()
        cls.sink = PlainSink(cls.port)
        tls_cert, tls_key = ca.leaf("mx.r.test", "mx.n.test")
        cls.rsink = TlsSink("127.0.0.6", cls.port, tls_cert, tls_key, requiretls=True)
        cls.nsink = TlsSink("127.0.0.7", cls.port, tls_cert, tls_key, requiretls=False)
        cls.a = Server(hostname="mx.a.test", domains=("a.test",), users=("alice",),
                       smtp={"trusted_networks": '["127.0.0.0/8"]'}, dns_port=cls.dns.port,
                       delivery={"remote_port": cls.port, "retry": '["1h"]'},
                       env={"SSL_CERT_FILE": ca.cert}).start()

    @classmethod
    def tearDownClass(cls):
        for c in ("a", "b"):
            if hasattr(cls, c):
                getattr(cls, c).cleanup()
        for c in ("sink", "rsink", "nsink", "https", "dns"):
            if hasattr(cls, c):
                getattr(cls, c).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def send(self, rcpt, subject):
        with smtplib.SMTP("127.0.0.1", self.a.ports["smtp"], timeout=30) as s:
            s.sendmail("alice@a.test", [rcpt],
                       f"From: alice@a.test\r\nSubject: {subject}\r\n\r\nbody\r\n")

    def wait_deferred(self, rcpt, reason):
        """Waits for the log line deferring `rcpt` with `reason` in it."""
        def deferred():
            return any(f"to=<{rcpt}>" in line and "status=deferred" in line and reason in line
                       for line in self.a.log().splitlines())
        self.a.wait_until(f"{rcpt} never deferred for {reason!r}", deferred)

    def test_enforce_delivers_over_verified_tls_to_a_named_mx(self):
        self.send("bob@b.test", "sts-ok")
        msg = self.b.wait_subject("bob", "sts-ok")
        received = msg.get_all("Received")[0]
        self.assertIn("ESMTPS", received)
        self.a.wait_log("TLS to mx.b.test")
        self.assertTrue(os.path.exists(os.path.join(self.a.data, "mta-sts", "b.test")))
        # Cached with its id: a second message fetches nothing.
        before = len(self.https.fetches)
        self.send("bob@b.test", "sts-ok-2")
        self.b.wait_subject("bob", "sts-ok-2")
        self.assertEqual([f for f in self.https.fetches[before:] if f[0] == "b.test"], [])

    def test_enforce_defers_without_starttls(self):
        self.send("eve@e.test", "sts-plain")
        self.wait_deferred("eve@e.test", "TLS is required, but the server does not offer STARTTLS")
        self.assertIn("eve@e.test", self.a.cli("mailq").stdout.decode())
        self.assertEqual([m for m in self.sink.accepted if b"sts-plain" in m], [])

    def test_enforce_defers_when_no_mx_is_named(self):
        self.send("bob@m.test", "sts-unnamed")
        self.a.wait_log("none of the MX hosts of m.test is named by its policy")
        self.assertIn("bob@m.test", self.a.cli("mailq").stdout.decode())

    def test_enforce_defers_on_a_certificate_for_another_name(self):
        self.send("bob@x.test", "sts-wrong-name")
        self.wait_deferred("bob@x.test", "certificate")
        self.assertNotIn("sts-wrong-name", [m["Subject"] for m in self.b.messages("bob")])

    def send_requiretls(self, rcpt, subject):
        with smtplib.SMTP("127.0.0.1", self.a.ports["smtp"], timeout=30) as s:
            s.ehlo("client.a.test")
            self.assertNotIn("requiretls", s.esmtp_features)
            code, msg = s.mail("alice@a.test", ["REQUIRETLS"])
            self.assertEqual(code, 530, msg)
            self.assertIn(b"5.7.10", msg)
            s.starttls(context=ssl._create_unverified_context())
            s.ehlo("client.a.test")
            self.assertIn("requiretls", s.esmtp_features)
            s.sendmail("alice@a.test", [rcpt],
                       f"From: alice@a.test\r\nSubject: {subject}\r\n\r\nbody\r\n",
                       mail_options=["REQUIRETLS"])

    def wait_bounce_status(self, subject, status):
        def bounce():
            for m in self.a.messages("alice"):
                if m.get_content_type() == "multipart/report" and subject in m.as_string():
                    return m
            return None
        m = self.a.wait_until(f"no bounce for {subject}", bounce)
        self.assertIn(f"Status: {status}", m.as_string())

    def test_requiretls_is_passed_on_to_an_mx_that_offers_it(self):
        self.send_requiretls("rob@r.test", "rtls-ok")
        self.a.wait_until("the REQUIRETLS message reaches mx.r.test",
                          lambda: any(b"rtls-ok" in m for m in self.rsink.accepted))
        self.assertTrue(any(l.endswith(" REQUIRETLS") or " REQUIRETLS " in l
                            for l in self.rsink.mail_lines), self.rsink.mail_lines)

    def test_requiretls_bounces_when_the_mx_does_not_offer_it(self):
        self.send_requiretls("nat@n.test", "rtls-unsupported")
        self.wait_bounce_status("rtls-unsupported", "5.7.30")
        self.assertFalse(any(b"rtls-unsupported" in m for m in self.nsink.accepted))

    def test_requiretls_bounces_without_a_policy_vouching_for_the_mx(self):
        self.send_requiretls("rob@nopolicy.test", "rtls-nopolicy")
        self.wait_bounce_status("rtls-nopolicy", "5.7.30")
        self.assertFalse(any(b"rtls-nopolicy" in m for m in self.rsink.accepted))

    def test_tls_required_no_waives_the_policy(self):
        with smtplib.SMTP("127.0.0.1", self.a.ports["smtp"], timeout=30) as s:
            s.sendmail("alice@a.test", ["eve@e.test"],
                       "From: alice@a.test\r\nSubject: waived\r\nTLS-Required: No\r\n\r\nbody\r\n")
        self.a.wait_until("the waived message reaches the plain MX",
                          lambda: any(b"Subject: waived" in m for m in self.sink.accepted))

    def test_zz_tls_rpt_reports_go_to_mailto_and_https(self):
        # RFC 8460: a session that failed (no STARTTLS at mx.e.test) and ones that
        # succeeded (mx.b.test), then the day's reports sent at once.
        self.send("eve@e.test", "rpt-fail")
        self.wait_deferred("eve@e.test", "does not offer STARTTLS")
        self.send("bob@b.test", "rpt-ok")
        self.b.wait_subject("bob", "rpt-ok")
        out = self.a.cli("tls-rpt", "send", "--today", env={"SSL_CERT_FILE": self.ca.cert})
        self.assertIn("report(s) sent", out.stdout.decode())
        report = self.a.wait_until(
            "no TLS report for e.test in alice's mailbox",
            lambda: [m for m in self.a.messages("alice") if m["TLS-Report-Domain"] == "e.test"])[0]
        self.assertEqual(report.get_content_type(), "multipart/report")
        self.assertEqual(report.get_param("report-type"), "tlsrpt")
        self.assertIn("Report Domain: e.test", report["Subject"])
        gz = [p for p in report.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
        self.assertTrue(gz.get_filename().endswith(".json.gz"))
        data = json.loads(gzip.decompress(gz.get_payload(decode=True)))
        policy = data["policies"][0]
        self.assertEqual(policy["policy"]["policy-domain"], "e.test")
        self.assertEqual(policy["policy"]["policy-type"], "sts")
        self.assertGreaterEqual(policy["summary"]["total-failure-session-count"], 1)
        kinds = {d["result-type"] for d in policy["failure-details"]}
        self.assertIn("starttls-not-supported", kinds)
        # b.test's report went to its https destination.
        posts = [p for p in self.https.posts if p[0] == "/tlsrpt"]
        self.assertTrue(posts, self.https.posts)
        self.assertEqual(posts[0][1], "application/tlsrpt+gzip")
        b = json.loads(gzip.decompress(posts[0][2]))
        self.assertEqual(b["policies"][0]["policy"]["policy-domain"], "b.test")
        self.assertGreaterEqual(b["policies"][0]["summary"]["total-successful-session-count"], 1)
        # Sent once: the records are gone.
        again = self.a.cli("tls-rpt", "send", "--today", env={"SSL_CERT_FILE": self.ca.cert})
        self.assertIn("0 TLS-RPT report(s) sent", again.stdout.decode())

    def test_a_policy_that_cannot_be_fetched_is_logged_and_mail_goes_as_usual(self):
        # RFC 8461 §5: without a policy (none cached), delivery is as without MTA-STS.
        self.send("ned@nf.test", "sts-unfetchable")
        self.a.wait_until("the message reaches the plain MX",
                          lambda: any(b"sts-unfetchable" in m for m in self.sink.accepted))
        self.a.wait_log("MTA-STS: cannot fetch the policy of nf.test")
        self.assertFalse(os.path.exists(os.path.join(self.a.data, "mta-sts", "nf.test")))

    def test_doctor_fetches_each_policy_and_checks_it_names_the_mx(self):
        r = self.a.cli("doctor", "b.test", "m.test", "nf.test", check=False,
                       env={"SSL_CERT_FILE": self.ca.cert})
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(out, r"(?m)^ok +mta-sts +b\.test: mode enforce, id 20261206T1, "
                              r"names every MX$")
        self.assertRegex(out, r"(?m)^ok +tls-rpt +b\.test: reports to https://mta-sts\.b\.test/")
        self.assertRegex(out, r"(?m)^fail +mta-sts +m\.test: the policy \(mode enforce\) "
                              r"does not name MX mx\.m\.test")
        self.assertRegex(out, r"(?m)^warn +tls-rpt +m\.test: MTA-STS without TLS-RPT")
        self.assertRegex(out, r"(?m)^fail +mta-sts +nf\.test: policy id 20261206T1 cannot be had")

    def test_testing_mode_delivers_anyway(self):
        self.send("tom@t.test", "sts-testing")
        self.a.wait_until("the testing-mode message reaches the plain MX",
                          lambda: any(b"sts-testing" in m for m in self.sink.accepted))
        self.a.wait_log("MTA-STS (testing): mx.e.test is not an MX host")


if __name__ == "__main__":
    unittest.main()
