"""DKIM: `dkim keygen` output and key files, and signing of mail from authenticated users
and the sendmail command (never of unauthenticated port-25 mail); a message signed by one
instance verifies (Authentication-Results dkim=pass) at another that finds the key
through the test DNS server, and a tampered copy fails; SPF results for the MAIL FROM
domain (from the same DNS stub) are recorded in the same field, and so is DMARC; with
`dmarc_policy = "enforce"` a p=reject domain's failing mail gets 550 5.7.1 and a
p=quarantine domain's lands in the Junk folder; Authentication-Results fields claiming the
receiving host are removed. tests/interop/dkim.sh verifies the signatures with dkimpy."""

import imaplib
import os
import re
import smtplib
import socket
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
            dns.set("sign.example", "TXT", ["v=spf1 ip4:127.0.0.0/8 -all"])
            dns.set("else.example", "TXT", ["v=spf1 ip4:192.0.2.1 ~all"])
            dns.set("_dmarc.sign.example", "TXT", ["v=DMARC1; p=reject; rua=mailto:d@sign.example"])
            r = signer.cli("dkim", "keygen", "simple.example", "--selector", "s2", "--algorithm", "rsa")
            dns.set("s2._domainkey.simple.example", "TXT", [re.search(r'IN TXT "(.*)"', r.stdout.decode()).group(1)])
            key = os.path.join(signer.data, "dkim", "sign.example.e1.pem")
            simple_key = os.path.join(signer.data, "dkim", "simple.example.s2.pem")
            with open(signer.config, "a") as f:
                f.write(f'\n[[dkim.sign]]\ndomain = "sign.example"\nselector = "e1"\nkey = "{key}"\n')
                f.write(f'\n[[dkim.sign]]\ndomain = "simple.example"\nselector = "s2"\nkey = "{simple_key}"\n'
                        'canonicalization = "simple/simple"\n')
            signer.start()
            receiver.start()
            with smtplib.SMTP("127.0.0.1", signer.ports["sub"], timeout=30) as s:
                s.starttls(context=insecure_tls())
                s.login("alice", "pw-alice")
                s.sendmail("alice@sign.example", ["alice@sign.example"],
                           "From: Alice <alice@sign.example>\r\nTo: bob@recv.example\r\n"
                           "Subject: travels\r\n\r\nThe body  with  spaces.\r\n")
                s.sendmail("alice@sign.example", ["alice@sign.example"],
                           "From: alice@simple.example\r\nSubject: simple canon\r\n\r\nBody  kept\t as is.\r\n")
            signed = signer.wait_subject("alice", "travels").as_string()
            simple = signer.wait_subject("alice", "simple canon")
            self.assertRegex(simple["DKIM-Signature"], r"a=rsa-sha256; c=simple/simple; d=simple\.example; s=s2;")
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
                s.sendmail("alice@sign.example", ["bob@recv.example"], simple.as_string())
            got = [receiver.wait_subject("bob", "travels"), receiver.wait_subject("bob", "travels too")]
            results = [m["Authentication-Results"] for m in got]
            self.assertRegex(results[0], r"^mx\.recv\.example;\s+dkim=pass header\.d=sign\.example header\.s=e1")
            self.assertRegex(results[1], r"dkim=fail \(body hash did not verify\) header\.d=sign\.example")
            # Delivered mail still starts with Return-Path, Delivered-To, this host's
            # Received, then the Authentication-Results.
            keys = [k.lower() for k in got[0].keys()]
            self.assertEqual(keys[:4], ["return-path", "delivered-to", "received", "authentication-results"])
            # SPF for the MAIL FROM domain goes into the same field.
            self.assertRegex(results[0], r"dkim=pass[^;]*;\s+spf=pass smtp\.mailfrom=alice@sign\.example;")
            # DMARC: the signature's d= and the MAIL FROM domain are aligned with From.
            self.assertRegex(results[0], r";\s+dmarc=pass \(p=reject dis=none\) header\.from=sign\.example$")
            # The tampered copy still passes DMARC through aligned SPF.
            self.assertRegex(results[1], r"spf=pass [^;]*;\s+dmarc=pass ")
            simple_ar = receiver.wait_subject("bob", "simple canon")["Authentication-Results"]
            self.assertRegex(simple_ar, r"dkim=pass header\.d=simple\.example header\.s=s2")
            plain = receiver.wait_subject("bob", "plain")["Authentication-Results"]
            # No signature: dkim=none says the check was made (RFC 8601 §2.7.1).
            self.assertRegex(plain, r"^mx\.recv\.example;\s+dkim=none;"
                                    r"\s+spf=softfail smtp\.mailfrom=x@else\.example;"
                                    r"\s+dmarc=none header\.from=else\.example$")
            self.assertTrue(any(q[0] == "e1._domainkey.sign.example" for q in dns.queries))
        finally:
            signer.cleanup()
            receiver.cleanup()
            dns.close()

    def test_dmarc_policies_and_forged_results(self):
        dns = DnsStub()
        dns.set("good.example", "TXT", ["v=spf1 ip4:127.0.0.0/8 -all"])
        dns.set("_dmarc.good.example", "TXT", ["v=DMARC1; p=reject"])
        dns.set("_dmarc.bank.example", "TXT", ["v=DMARC1; p=reject"])
        dns.set("_dmarc.shop.example", "TXT", ["v=DMARC1; p=none; sp=quarantine"])
        dns.set("_dmarc.monitor.example", "TXT", ["v=DMARC1; p=none"])
        receivers = {
            mode: Server(users=("bob",), domains=("recv.example",), hostname="mx.recv.example",
                         dns_port=dns.port, smtp={"dmarc_policy": f'"{mode}"'})
            for mode in ("record", "enforce")
        }
        try:
            for r in receivers.values():
                r.start()

            def send(srv, sender, from_, subject, extra=""):
                with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                    s.sendmail(sender, ["bob@recv.example"],
                               f"From: {from_}\r\n{extra}Subject: {subject}\r\n\r\nbody\r\n")

            for mode, srv in receivers.items():
                # SPF passes for good.example and is aligned with From.
                forged = ("Authentication-Results: MX.recv.example; dmarc=pass header.from=bank.example\r\n"
                          "Authentication-Results: elsewhere.example; spf=pass\r\n")
                send(srv, "a@good.example", "a@good.example", "aligned", forged)
                aligned = srv.wait_subject("bob", "aligned")
                ours = aligned.get_all("Authentication-Results")
                # The forged field claiming this host is gone; the other host's stays.
                self.assertEqual(len(ours), 2, ours)
                self.assertRegex(ours[0], r"^mx\.recv\.example;\s+dkim=none;\s+spf=pass smtp\.mailfrom=a@good\.example;"
                                          r"\s+dmarc=pass \(p=reject dis=none\) header\.from=good\.example$")
                self.assertTrue(ours[1].startswith("elsewhere.example;"))
                # Unaligned: SPF passes for good.example but From is bank.example (p=reject).
                if mode == "enforce":
                    with self.assertRaises(smtplib.SMTPDataError) as e:
                        send(srv, "a@good.example", "ceo@bank.example", "phish")
                    self.assertEqual(e.exception.smtp_code, 550)
                    self.assertIn(b"5.7.1", e.exception.smtp_error)
                    self.assertIn(b"DMARC policy of bank.example", e.exception.smtp_error)
                else:
                    send(srv, "a@good.example", "ceo@bank.example", "phish")
                    phish = srv.wait_subject("bob", "phish")["Authentication-Results"]
                    self.assertRegex(phish, r"dmarc=fail \(p=reject dis=none\) header\.from=bank\.example$")
                # A subdomain of shop.example: sp=quarantine from the organizational record.
                send(srv, "a@good.example", "news@mail.shop.example", "offer")
                # p=none never changes delivery.
                send(srv, "a@good.example", "x@monitor.example", "monitored")
                mon = srv.wait_subject("bob", "monitored")["Authentication-Results"]
                self.assertRegex(mon, r"dmarc=fail \(p=none dis=none\) header\.from=monitor\.example$")
                imap = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=insecure_tls())
                try:
                    imap.login("bob", "pw-bob")
                    typ, data = imap.select("Junk")
                    self.assertEqual(typ, "OK")
                    typ, data = imap.search(None, "SUBJECT", "offer")
                    in_junk = data[0].split()
                    typ, data = imap.select("INBOX")
                    typ, data = imap.search(None, "SUBJECT", "offer")
                    in_inbox = data[0].split()
                    if mode == "enforce":
                        self.assertEqual((len(in_junk), len(in_inbox)), (1, 0))
                        typ, data = imap.select("Junk")
                        typ, data = imap.fetch(in_junk[0], "(BODY.PEEK[HEADER.FIELDS (AUTHENTICATION-RESULTS)])")
                        self.assertRegex(data[0][1].decode(),
                                         r"dmarc=fail \(p=quarantine dis=quarantine\) header\.from=mail\.shop\.example")
                    else:
                        self.assertEqual((len(in_junk), len(in_inbox)), (0, 1))
                finally:
                    imap.logout()
        finally:
            for r in receivers.values():
                r.cleanup()
            dns.close()

    def test_dns_that_never_answers_gives_temperror_and_mail_still_flows(self):
        # A resolver that swallows every query: the checks give up (one short round, then
        # a back-off), record temperror, and the messages are delivered.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        srv = Server(users=("bob",), domains=("recv.example",), hostname="mx.recv.example",
                     dns_port=silent.getsockname()[1])
        try:
            srv.start()
            for i in range(3):
                with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
                    s.sendmail("a@far.example", ["bob@recv.example"],
                               f"From: a@far.example\r\nSubject: quiet {i}\r\n\r\nhi\r\n")
            for i in range(3):
                ar = srv.wait_subject("bob", f"quiet {i}")["Authentication-Results"]
                self.assertRegex(ar, r"spf=temperror smtp\.mailfrom=a@far\.example;\s+"
                                     r"dmarc=temperror header\.from=far\.example$")
            # The checks of a message are on its from= line, not lines of their own.
            checks = re.findall(r"[0-9A-F]{16}: from=<a@far\.example>, size=\d+, nrcpt=1, "
                                r"spf=temperror smtp\.mailfrom=a@far\.example, "
                                r"dmarc=temperror header\.from=far\.example \(queue active\)\n",
                                srv.log())
            self.assertEqual(len(checks), 3, srv.log()[-2000:])
            self.assertNotRegex(srv.log(), r"[0-9A-F]{16}: (dmarc|spf)=")
        finally:
            srv.cleanup()
            silent.close()


if __name__ == "__main__":
    unittest.main()
