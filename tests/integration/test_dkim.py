"""DKIM: `dkim keygen` output and key files, and signing of mail from authenticated users
and the sendmail command (never of unauthenticated port-25 mail); a message signed by one
instance verifies (Authentication-Results dkim=pass) at another that finds the key
through the test DNS server, and a tampered copy fails. tests/interop/dkim.sh verifies
the signatures with dkimpy."""

import os
import re
import smtplib
import stat
import unittest

from dnsstub import DnsStub
from harness import Server, insecure_tls


class Dkim(unittest.TestCase):
    def test_keygen_and_signing(self):
        srv = Server(users=("alice",), domains=("sign.example",))
        try:
            r = srv.cli("dkim", "keygen", "sign.example", "--selector", "s1", "--algorithm", "ed25519")
            out = r.stdout.decode()
            self.assertRegex(out, r'^s1\._domainkey\.sign\.example\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/=]{44}"')
            key = os.path.join(srv.data, "dkim", "sign.example.s1.pem")
            self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
            again = srv.cli("dkim", "keygen", "sign.example", "--selector", "s1", check=False)
            self.assertEqual(again.returncode, 1)
            self.assertIn("already exists", again.stderr.decode())
            r = srv.cli("dkim", "keygen", "sign.example", "--selector", "r1", "--algorithm", "rsa")
            self.assertRegex(r.stdout.decode(), r'k=rsa; p=MIIBIjAN')
            with open(srv.config, "a") as f:
                f.write(f'\n[[dkim.sign]]\ndomain = "sign.example"\nselector = "s1"\nkey = "{key}"\n')
            srv.start()
            with smtplib.SMTP("127.0.0.1", srv.ports["sub"], timeout=30) as s:
                s.starttls(context=insecure_tls())
                s.login("alice", "pw-alice")
                s.sendmail("alice@sign.example", ["alice@sign.example"],
                           "From: alice@sign.example\r\nSubject: signed\r\n\r\nhi\r\n")
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                s.sendmail("alice@sign.example", ["alice@sign.example"],
                           "From: alice@sign.example\r\nSubject: not signed\r\n\r\nhi\r\n")
            srv.cli("sendmail", "alice@sign.example",
                    input="From: alice@sign.example\nSubject: signed locally\n\nhi\n")
            signed = srv.wait_subject("alice", "signed")
            # The contract's order survives the signature: Return-Path, Delivered-To,
            # this host's Received, then the rest.
            keys = [k.lower() for k in signed.keys()]
            self.assertEqual(keys[:4], ["return-path", "delivered-to", "received", "dkim-signature"])
            self.assertRegex(signed["DKIM-Signature"], r"v=1; a=ed25519-sha256; c=relaxed/relaxed; d=sign\.example; s=s1;")
            h = re.search(r"h=([^;]+);", re.sub(r"\s", "", signed["DKIM-Signature"])).group(1).split(":")
            # Every From is signed, plus one more (oversigning); the Subject is signed.
            self.assertEqual(h.count("from"), 2)
            self.assertIn("subject", h)
            self.assertIsNone(srv.wait_subject("alice", "not signed")["DKIM-Signature"])
            self.assertIsNotNone(srv.wait_subject("alice", "signed locally")["DKIM-Signature"])
        finally:
            srv.cleanup()


    def test_signed_at_one_instance_verified_at_another(self):
        signer = Server(users=("alice",), domains=("sign.example",))
        dns = DnsStub()
        receiver = Server(users=("bob",), domains=("recv.example",), hostname="mx.recv.example",
                          dns_port=dns.port)
        try:
            for algorithm, selector in (("ed25519", "e1"), ("rsa", "r1")):
                r = signer.cli("dkim", "keygen", "sign.example", "--selector", selector,
                               "--algorithm", algorithm)
                record = re.search(r'IN TXT "(.*)"', r.stdout.decode()).group(1)
                dns.set(f"{selector}._domainkey.sign.example", "TXT", [record])
            key = os.path.join(signer.data, "dkim", "sign.example.e1.pem")
            with open(signer.config, "a") as f:
                f.write(f'\n[[dkim.sign]]\ndomain = "sign.example"\nselector = "e1"\nkey = "{key}"\n')
            signer.start()
            receiver.start()
            with smtplib.SMTP("127.0.0.1", signer.ports["sub"], timeout=30) as s:
                s.starttls(context=insecure_tls())
                s.login("alice", "pw-alice")
                s.sendmail("alice@sign.example", ["alice@sign.example"],
                           "From: Alice <alice@sign.example>\r\nTo: bob@recv.example\r\n"
                           "Subject: travels\r\n\r\nThe body  with  spaces.\r\n")
            signed = signer.wait_subject("alice", "travels").as_string()
            # The same message to the receiver's port 25, as another MTA would relay it.
            tampered = signed.replace("The body", "The tampered body")
            unsigned = "From: x@else.example\r\nSubject: plain\r\n\r\nno signature\r\n"
            with smtplib.SMTP("127.0.0.1", receiver.ports["smtp"], timeout=30) as s:
                s.sendmail("alice@sign.example", ["bob@recv.example"], signed)
                # (The body is checked before the header, so the changed Subject that
                # tells the copies apart does not change the reason.)
                s.sendmail("alice@sign.example", ["bob@recv.example"],
                           tampered.replace("Subject: travels", "Subject: travels too"))
                s.sendmail("x@else.example", ["bob@recv.example"], unsigned)
            got = [receiver.wait_subject("bob", "travels"), receiver.wait_subject("bob", "travels too")]
            results = [m["Authentication-Results"] for m in got]
            self.assertRegex(results[0], r"^mx\.recv\.example;\s+dkim=pass header\.d=sign\.example header\.s=e1")
            self.assertRegex(results[1], r"dkim=fail \(body hash did not verify\) header\.d=sign\.example")
            # Delivered mail still starts with Return-Path, Delivered-To, this host's
            # Received, then the Authentication-Results.
            keys = [k.lower() for k in got[0].keys()]
            self.assertEqual(keys[:4], ["return-path", "delivered-to", "received", "authentication-results"])
            self.assertIsNone(receiver.wait_subject("bob", "plain")["Authentication-Results"])
            self.assertTrue(any(q[0] == "e1._domainkey.sign.example" for q in dns.queries))
        finally:
            signer.cleanup()
            receiver.cleanup()
            dns.close()


if __name__ == "__main__":
    unittest.main()
