"""Sieve at delivery (~/.sieve): fileinto lands in an IMAP-visible folder with its flags,
discard stores nothing, redirect re-queues, reject bounces, vacation answers once, a
broken script still delivers to INBOX; `sieve check` reports errors with line:column."""

import imaplib
import os
import smtplib
import time
import unittest

from harness import Server, insecure_tls

SCRIPT = r'''require ["fileinto", "imap4flags", "vacation", "reject", "copy", "envelope", "subaddress", "mailbox", "variables", "editheader"];
# The header edited before the message is filed (RFC 5293).
if header :contains "subject" "tag me" { addheader "X-Sieve" "tagged"; deleteheader "X-Remove"; fileinto "Tagged"; stop; }
# A folder named by a match variable (RFC 5229).
if header :matches "subject" "project *: *" { set :lower "p" "${1}"; fileinto "Projects/${p}"; stop; }
if header :is "subject" "exists check" {
    if mailboxexists "Nope" { fileinto "Wrong"; } else { fileinto :create "Right"; }
    stop;
}
# carol+shop@: a folder by the address's detail (RFC 5233).
if envelope :detail :is "to" "shop" { fileinto "Shopping"; stop; }
# Lists go to their folder, flagged.
if header :contains "List-Id" "dev.example" {
    fileinto :flags "\\Flagged $List" "Lists/dev";
    stop;
}
if header :matches "subject" "*[SPAM]*" { discard; stop; }
if header :is "subject" "draft" { fileinto "Entwürfe/日本"; stop; }
if address :is :domain "from" "forward.example" { redirect :copy "bob@test.example"; }
if header :is "subject" "go away" { reject "Not interested."; stop; }
if header :contains "subject" "vacation" {
    vacation :days 1 :subject "Away" text:
I am away this week.
.
;
}
'''


class Sieve(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("carol", "bob", "alice"))
        home = os.path.join(cls.srv.data, "home", "carol")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, ".sieve"), "w", encoding="utf-8") as f:
            f.write(SCRIPT)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def send(self, subject, sender="x@else.example", headers="", rcpt="carol@test.example"):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail(sender, [rcpt], f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
                                       f"Message-ID: <{abs(hash(subject))}@else.example>\r\n{headers}\r\nhi\r\n")

    def test_fileinto_folder_with_flags_visible_over_imap(self):
        self.send("list mail", headers="List-Id: <dev.example>\r\n")
        self.srv.wait_log("delivered to folder Lists/dev of carol")
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls())
        m.login("carol", "pw-carol")
        typ, lst = m.list("", "Lists/*")
        self.assertIn(b"Lists/dev", b"".join(lst))
        m.select("Lists/dev")
        typ, data = m.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"\\Flagged", data[0][0])
        self.assertIn(b"$List", data[0][0])
        self.assertIn(b"list mail", data[0][1])
        m.logout()
        self.assertFalse(any(x["Subject"] == "list mail" for x in self.srv.messages("carol")))

    def test_editheader_changes_the_stored_message(self):
        self.send("please tag me", headers="X-Remove: secret\r\n")
        self.srv.wait_log("delivered to folder Tagged of carol")
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls())
        m.login("carol", "pw-carol")
        m.select("Tagged")
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER])")
        header = data[0][1]
        m.logout()
        self.assertIn(b"X-Sieve: tagged\r\n", header)
        self.assertNotIn(b"X-Remove", header)
        self.assertIn(b"Subject: please tag me", header)

    def test_match_variables_name_the_folder(self):
        self.send("Project APOLLO: status")
        self.srv.wait_log("delivered to folder Projects/apollo of carol")

    def test_subaddress_detail_files_the_message(self):
        self.send("new order", rcpt="carol+shop@test.example")
        self.srv.wait_log("delivered to folder Shopping of carol")
        self.assertFalse(any(x["Subject"] == "new order" for x in self.srv.messages("carol")))

    def test_mailboxexists_sees_the_users_folders(self):
        self.send("exists check")
        self.srv.wait_log("delivered to folder Right of carol")

    def test_fileinto_utf8_folder_is_modified_utf7_over_imap(self):
        # Sieve names folders in UTF-8; IMAP shows them in modified UTF-7 (RFC 3501 §5.1.3).
        self.send("draft")
        self.srv.wait_log("delivered to folder Entw&APw-rfe/&ZeVnLA- of carol")
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls())
        m.login("carol", "pw-carol")
        typ, lst = m.list("", "Entw*")
        self.assertIn(b'"/" "Entw&APw-rfe/&ZeVnLA-"', b"\n".join(lst))
        typ, data = m.select("Entw&APw-rfe/&ZeVnLA-")
        self.assertEqual((typ, data), ("OK", [b"1"]))
        # Names that are not modified UTF-7 are refused.
        m.send(b'u1 CREATE "Entw\xc3\xbcrfe"\r\n')
        self.assertRegex(m.readline(), rb"^u1 (NO|BAD) ")
        typ, data = m.create("a&b")
        self.assertEqual(typ, "NO")
        self.assertEqual(m.create('"Tom &- Jerry"')[0], "OK")
        m.logout()

    def test_discard_stores_nothing_and_keep_is_implicit(self):
        self.send("buy now [SPAM] cheap")
        self.send("a normal message")
        self.srv.wait_subject("carol", "a normal message")
        self.srv.wait_log("discarded by the filter of carol")
        self.assertFalse(any("[SPAM]" in (x["Subject"] or "") for x in self.srv.messages("carol")))

    def test_redirect_copy_requeues(self):
        self.send("forward me", sender="friend@forward.example")
        self.srv.wait_subject("bob", "forward me")
        self.srv.wait_subject("carol", "forward me")

    def test_reject_bounces(self):
        self.send("go away", sender="alice@test.example")
        bounce = self.srv.wait_subject("alice", "Undelivered Mail Returned to Sender")
        self.assertIn("Not interested.", bounce.get_payload()[0].get_payload())

    def test_vacation_answers_once(self):
        self.send("about your vacation", sender="alice@test.example")
        self.send("another vacation question", sender="alice@test.example")
        self.srv.wait_subject("carol", "another vacation question")
        reply = self.srv.wait_subject("alice", "Away")
        self.assertEqual(reply["Auto-Submitted"], "auto-replied")
        self.assertIn("I am away this week.", reply.get_payload())
        time.sleep(1.5)
        self.assertEqual(sum(1 for x in self.srv.messages("alice") if x["Subject"] == "Away"), 1)


class BrokenScript(unittest.TestCase):
    def test_broken_script_still_delivers_and_check_reports(self):
        srv = Server(users=("dave",))
        try:
            home = os.path.join(srv.data, "home", "dave")
            os.makedirs(home, exist_ok=True)
            path = os.path.join(home, ".sieve")
            with open(path, "w") as f:
                f.write('require "fileinto";\nif header :is "subject" "x" {\n  fileinto "A";\n')
            r = srv.cli("sieve", "check", path, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr.decode(), r"\.sieve:\d+:\d+: missing '}'")
            srv.start()
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                s.sendmail("x@else.example", ["dave@test.example"], "Subject: x\r\n\r\nhi\r\n")
            srv.wait_subject("dave", "x")
            self.assertIn("keeping the message", srv.log())
            with open(path, "w") as f:
                f.write('require "fileinto";\nfileinto "A";\n')
            r = srv.cli("sieve", "check", path)
            self.assertIn("OK", r.stdout.decode())
        finally:
            srv.cleanup()


class RedirectLoop(unittest.TestCase):
    def test_a_redirect_loop_between_two_users_bounces_once(self):
        srv = Server(users=("alice", "bob", "carol"))
        try:
            for user, target in (("alice", "bob@test.example"), ("bob", "alice@localhost")):
                home = os.path.join(srv.data, "home", user)
                os.makedirs(home, exist_ok=True)
                with open(os.path.join(home, ".sieve"), "w") as f:
                    f.write(f'redirect "{target}";\n')
            srv.start()
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                s.sendmail("carol@test.example", ["alice@test.example"],
                           "From: carol@test.example\r\nSubject: round\r\n\r\nhi\r\n")
            srv.wait_subject("carol", "Undelivered Mail Returned to Sender")
            # Give any further copy time to go round and bounce again.
            deadline = time.time() + 4
            while time.time() < deadline and srv.queue_ids():
                time.sleep(0.1)
            time.sleep(1)
            bounces = [m for m in srv.messages("carol")
                       if m["Subject"] == "Undelivered Mail Returned to Sender"]
            self.assertEqual(len(bounces), 1, srv.log()[-3000:])
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
