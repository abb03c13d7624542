"""`postrider doctor`: DNS and certificate checks of a mail domain, against the DNS stub."""
import os
import re
import unittest

from dnsstub import DnsStub
from harness import Server
from testca import TestCa

HOST = "mx.a.test"


class Doctor(unittest.TestCase):
    def setUp(self):
        self.dns = DnsStub()
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.cleanup()
        self.dns.close()

    def server(self, cert=None):
        """A configured (not started) server for a.test; `cert` = (cert.pem, key.pem)."""
        tls = f'\n[tls]\ncert = "{cert[0]}"\nkey = "{cert[1]}"\n' if cert else ""
        self.srv = Server(users=("alice",), hostname=HOST, domains=("a.test",),
                          dns_port=self.dns.port, extra=tls)
        return self.srv

    def dkim(self, selector="s1"):
        """Makes a DKIM key for a.test, adds its [[dkim.sign]]; returns the TXT value."""
        out = self.srv.cli("dkim", "keygen", "a.test", "--selector", selector).stdout.decode()
        record = re.search(r'IN TXT "([^"]+)"', out).group(1)
        with open(self.srv.config, "a") as f:
            f.write(f'\n[[dkim.sign]]\ndomain = "a.test"\nselector = "{selector}"\n'
                    f'key = "{self.srv.data}/dkim/a.test.{selector}.pem"\n')
        return record

    def publish_all(self, dkim_record):
        d = self.dns
        d.set("a.test", "MX", [(10, HOST)])
        d.set(HOST, "A", ["127.0.0.1"])
        d.set("1.0.0.127.in-addr.arpa", "PTR", [HOST])
        d.set("a.test", "TXT", ["v=spf1 mx -all"])
        d.set("s1._domainkey.a.test", "TXT", [dkim_record])
        d.set("_dmarc.a.test", "TXT", ["v=DMARC1; p=quarantine; rua=mailto:postmaster@a.test"])
        d.set("_smtp._tls.a.test", "TXT", ["v=TLSRPTv1; rua=mailto:postmaster@a.test"])

    def doctor(self, *args, ca=None):
        env = {"SSL_CERT_FILE": ca.cert} if ca else None
        r = self.srv.cli("doctor", *args, check=False, env=env)
        found = {}
        for ln in r.stdout.decode().splitlines():
            key = (ln.split()[1], ln.split()[2].rstrip(":"))
            found[key] = found[key] + "\n" + ln if key in found else ln
        return r, found

    def test_a_domain_published_as_it_should_be_is_all_ok(self):
        ca = TestCa(os.path.join(self.dns_dir(), "ca"))
        self.server(cert=ca.leaf(HOST, days=90))
        self.publish_all(self.dkim())
        r, lines = self.doctor(ca=ca)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        for key in [("address", HOST), ("ptr", "127.0.0.1"), ("tls", HOST), ("mx", "a.test"),
                    ("mx-addr", HOST), ("spf", "a.test"), ("dkim", "s1._domainkey.a.test"),
                    ("dmarc", "a.test"), ("mta-sts", "a.test"), ("tls-rpt", "a.test")]:
            self.assertIn(key, lines, r.stdout.decode())
        for line in r.stdout.decode().splitlines():
            self.assertTrue(line.startswith("ok "), line)
        self.assertIn("DMARC p=quarantine", lines[("dmarc", "a.test")])
        self.assertIn("chain verified", r.stdout.decode())

    def test_nothing_published_fails_and_says_what_to_publish(self):
        self.server()
        record = self.dkim()
        r, lines = self.doctor()
        self.assertEqual(r.returncode, 1)
        self.assertIn("check(s) failed", r.stderr.decode())
        self.assertRegex(lines[("mx", "a.test")],
                         r"^fail .*no MX record; publish: a\.test\. IN MX 10 mx\.a\.test\.$")
        self.assertIn(f'publish: s1._domainkey.a.test. IN TXT "{record}"',
                      lines[("dkim", "s1._domainkey.a.test")])
        self.assertIn('publish: a.test. IN TXT "v=spf1 ip4:127.0.0.1 -all"',
                      lines[("spf", "a.test")])
        self.assertIn('publish: _dmarc.a.test. IN TXT "v=DMARC1; p=none;',
                      lines[("dmarc", "a.test")])
        self.assertTrue(lines[("address", HOST)].startswith("fail "))
        # Never started: no certificate yet, which `serve` will make (self-signed).
        self.assertTrue(lines[("tls", HOST)].startswith("warn "), lines[("tls", HOST)])

    def test_wrong_records_and_certificate_fail(self):
        ca = TestCa(os.path.join(self.dns_dir(), "ca"))
        self.server(cert=ca.leaf("other.a.test"))
        self.dkim()
        self.publish_all("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
        self.dns.set("a.test", "MX", [(10, "mail.elsewhere.test")])
        self.dns.set("mail.elsewhere.test", "A", ["127.0.0.9"])
        self.dns.set("a.test", "TXT", ["v=spf1 ip4:192.0.2.1 -all"])
        self.dns.set("1.0.0.127.in-addr.arpa", "PTR", ["host.isp.test"])
        self.dns.set("_mta-sts.a.test", "TXT", ["v=STSv1; id=bad id!"])
        r, lines = self.doctor(ca=ca)
        self.assertEqual(r.returncode, 1)
        expect = {
            ("mx", "a.test"): "does not name this host (mx.a.test)",
            ("spf", "a.test"): "does not pass this host (127.0.0.1: fail)",
            ("dkim", "s1._domainkey.a.test"): "the published key is not the one in",
            ("ptr", "127.0.0.1"): "PTR names host.isp.test, not this host",
            ("tls", HOST): "certificate names other.a.test, not mx.a.test",
            ("mta-sts", "_mta-sts.a.test"): "not one valid",
        }
        for key, text in expect.items():
            self.assertIn(key, lines, r.stdout.decode())
            self.assertTrue(lines[key].startswith("fail "), lines[key])
            self.assertIn(text, lines[key])
        self.assertTrue(lines[("tls-rpt", "a.test")].startswith("ok "))
        # A certificate near its end is a warning.
        self.assertRegex(lines[("tls", HOST)], r"(?m)^warn .*certificate expires on ")

    def test_an_mx_elsewhere_two_spf_records_and_an_unreadable_key(self):
        self.server()
        self.publish_all(self.dkim())
        # This host's name resolves to another address than the one it listens on.
        self.dns.set(HOST, "A", ["127.0.0.9"])
        self.dns.set("a.test", "TXT", ["v=spf1 mx -all", "v=spf1 -all"])
        os.remove(os.path.join(self.srv.data, "dkim", "a.test.s1.pem"))
        r, lines = self.doctor()
        self.assertEqual(r.returncode, 1)
        self.assertRegex(lines[("mx-addr", HOST)],
                         r"^warn .*resolves to 127\.0\.0\.9, but \[smtp\] listens on 127\.0\.0\.1")
        self.assertRegex(lines[("ptr", "127.0.0.1")], r"^fail .*does not resolve to 127\.0\.0\.1")
        self.assertRegex(lines[("spf", "a.test")], r"^fail .*2 SPF records \(one is allowed\)")
        self.assertRegex(lines[("dkim", "s1._domainkey.a.test")],
                         r"^fail .*cannot read DKIM key")

    def test_a_self_signed_certificate_is_a_warning(self):
        self.server()
        self.publish_all(self.dkim())
        self.srv.start()
        self.srv.stop()
        r, lines = self.doctor()
        self.assertEqual(r.returncode, 0, r.stdout.decode())
        self.assertRegex(lines[("tls", HOST)], r"(?m)^warn .*self-signed")

    def dns_dir(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="postrider-it-ca-")
        self.addCleanup(__import__("shutil").rmtree, d, True)
        return d


if __name__ == "__main__":
    unittest.main()
