"""The local delivery agent: aliases(5) lists, nesting, :include:, files, programs
(exit 75 defers, 1 bounces), remote targets, ~/.forward (\\user, unsafe files ignored),
alias and Delivered-To loops, the aliases db, and vacation."""

import os
import pwd
import smtplib
import stat
import subprocess
import time
import unittest

from harness import BIN, Server

AS_ROOT = os.geteuid() == 0


def unprivileged_uid():
    """The uid user programs and files must get: [delivery] default_user (nobody) when the
    server runs as root, else the server's own."""
    return pwd.getpwnam("nobody").pw_uid if AS_ROOT else os.geteuid()


def open_to_everyone(path):
    """Lets the unprivileged identity of delivery reach a test directory."""
    os.chmod(path, 0o1777 if os.path.basename(path) == "out" else 0o755)


class LocalDelivery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol", "dave", "erin"),
                         delivery={"retry": '["1s"]'})
        d = cls.srv.dir
        cls.out = os.path.join(d, "out")
        os.makedirs(cls.out)
        open_to_everyone(d)
        open_to_everyone(cls.out)
        with open(os.path.join(d, "list.txt"), "w") as f:
            f.write("# the list\nalice\nbob, carol\n")
        os.chmod(os.path.join(d, "list.txt"), 0o644)
        o = cls.out
        with open(os.path.join(cls.srv.data, "aliases"), "a") as f:
            f.write(f"""team: alice, bob
everyone: team, carol, alice
inc: :include:{d}/list.txt
archive: {o}/archive.mbox
prog: "|env > {o}/prog.env; cat > {o}/prog.msg"
tempfail: "|echo busy >&2; exit 75"
permfail: "|echo no such thing >&2; exit 1"
far: someone@remote.example
loop1: loop2
loop2: loop1
alice+special: carol
""")
        cls.srv.start()
        cls.srv.cli("newaliases")

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def send(self, rcpts, subject, sender="sender@else.example", extra_headers=""):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            s.sendmail(sender, rcpts,
                       f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
                       f"{extra_headers}\r\nbody of {subject}\r\n")

    def count(self, user, subject):
        return sum(1 for m in self.srv.messages(user) if m["Subject"] == subject)

    def test_list_alias(self):
        self.send(["team@test.example"], "to the team")
        self.srv.wait_subject("alice", "to the team")
        self.srv.wait_subject("bob", "to the team")
        m = self.srv.wait_subject("bob", "to the team")
        self.assertEqual(m["X-Original-To"], "team@test.example")
        self.assertEqual(m["Delivered-To"], "bob@test.example")

    def test_subaddresses_reach_the_user_and_keep_their_detail(self):
        self.send(["alice+lists@test.example"], "to a subaddress")
        m = self.srv.wait_subject("alice", "to a subaddress")
        self.assertEqual(m["Delivered-To"], "alice+lists@test.example")
        # An alias with the whole name wins over the subaddress.
        self.send(["alice+special@test.example"], "to an alias with a delimiter")
        self.srv.wait_subject("carol", "to an alias with a delimiter")
        self.assertEqual(self.count("alice", "to an alias with a delimiter"), 0)
        # The user part must exist.
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            s.mail("sender@else.example")
            self.assertEqual(s.rcpt("nobody+x@test.example")[0], 550)

    def test_nested_alias_delivers_each_mailbox_once(self):
        self.send(["everyone@test.example", "alice@test.example"], "to everyone")
        for u in ("alice", "bob", "carol"):
            self.srv.wait_subject(u, "to everyone")
        time.sleep(0.5)
        self.assertEqual(self.count("alice", "to everyone"), 1)
        self.assertEqual(self.count("bob", "to everyone"), 1)

    def test_include_file(self):
        self.send(["inc@test.example"], "included")
        for u in ("alice", "bob", "carol"):
            self.srv.wait_subject(u, "included")

    def test_file_target(self):
        self.send(["archive@test.example"], "archived")
        text = self.srv.wait_file(os.path.join(self.out, "archive.mbox"))
        self.assertTrue(text.startswith("From sender@else.example "), text[:80])
        self.assertIn("Subject: archived", text)
        self.assertIn("Delivered-To: archive@test.example", text)

    def test_program_target_gets_message_and_environment(self):
        self.send(["prog@test.example"], "piped")
        msg = self.srv.wait_file(os.path.join(self.out, "prog.msg"))
        env = self.srv.wait_file(os.path.join(self.out, "prog.env"))
        self.assertTrue(msg.startswith("From sender@else.example "), msg[:60])
        self.assertIn("Subject: piped\n", msg)
        self.assertNotIn("\r", msg)
        self.assertIn("SENDER=sender@else.example", env)
        self.assertIn("RECIPIENT=prog@test.example", env)
        self.assertIn("ORIGINAL_RECIPIENT=prog@test.example", env)
        # Never root: an alias program runs as [delivery] default_user under root.
        self.assertEqual(os.stat(os.path.join(self.out, "prog.msg")).st_uid, unprivileged_uid())

    def test_program_exit_75_defers(self):
        self.send(["tempfail@test.example"], "try later")
        self.srv.wait_log("status=deferred")
        out = self.srv.wait_mailq("tempfail@test.example", "busy")
        self.assertIn("exited with status 75: busy", out)

    def test_program_exit_1_bounces_with_stderr(self):
        self.send(["permfail@test.example"], "will bounce", sender="alice@test.example")
        bounce = self.srv.wait_subject("alice", "Undelivered Mail Returned to Sender")
        text = bounce.get_payload()[0].get_payload()
        self.assertIn("exited with status 1: no such thing", text)

    def test_remote_target_is_forwarded_through_the_queue(self):
        self.send(["far@test.example"], "going far")
        out = self.srv.wait_mailq("someone@remote.example")
        self.assertIn("sender@else.example", out)
        self.srv.wait_log("forwarded as")

    def test_alias_loop_bounces_once_and_server_survives(self):
        self.send(["loop1@test.example"], "round and round", sender="dave@test.example")
        bounce = self.srv.wait_subject("dave", "Undelivered Mail Returned to Sender")
        self.assertIn("alias expansion loop", bounce.get_payload()[0].get_payload())
        time.sleep(1)
        self.assertEqual(sum(1 for m in self.srv.messages("dave")
                             if m["Subject"] == "Undelivered Mail Returned to Sender"), 1)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10) as s:
            self.assertEqual(s.noop()[0], 250)

    def test_delivered_to_loop_bounces_with_546(self):
        self.send(["erin@test.example"], "seen before", sender="carol@test.example",
                  extra_headers="Delivered-To: erin@test.example\r\n")
        bounce = self.srv.wait_subject("carol", "Undelivered Mail Returned to Sender")
        status = [p for p in bounce.get_payload() if p.get_content_type() == "message/delivery-status"][0]
        self.assertEqual(status.get_payload()[1]["Status"], "5.4.6")
        self.assertEqual(self.count("erin", "seen before"), 0)


class Forward(unittest.TestCase):
    def setUp(self):
        self.srv = Server(users=("alice", "bob", "carol"))
        self.home = lambda u: os.path.join(self.srv.data, "home", u)

    def tearDown(self):
        self.srv.cleanup()

    def write_forward(self, user, text, mode=0o600):
        os.makedirs(self.home(user), exist_ok=True)
        os.chmod(self.home(user), 0o700)
        p = os.path.join(self.home(user), ".forward")
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def send(self, rcpt, subject, sender="x@else.example", headers=""):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail(sender, [rcpt], f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
                       f"Message-ID: <{subject.replace(' ', '.')}@else.example>\r\n{headers}\r\nhi\r\n")

    def test_forward_with_backslash_keeps_a_copy_and_stops_redirection(self):
        # bob forwards to alice and keeps a copy; \bob is not expanded again.
        self.write_forward("bob", "\\bob, alice\n")
        self.srv.start()
        self.send("bob@test.example", "forwarded")
        self.srv.wait_subject("alice", "forwarded")
        self.srv.wait_subject("bob", "forwarded")

    def test_world_writable_forward_is_ignored(self):
        self.write_forward("bob", "alice\n", mode=0o666)
        self.srv.start()
        self.send("bob@test.example", "not redirected")
        self.srv.wait_subject("bob", "not redirected")
        self.assertIn("is group- or world-writable", self.srv.log())
        self.assertEqual([m for m in self.srv.messages("alice") if m["Subject"] == "not redirected"], [])

    def test_vacation_answers_once_per_sender_and_never_bulk(self):
        self.write_forward("carol", f'\\carol, "|{BIN} vacation carol"\n')
        with open(os.path.join(self.home("carol"), ".vacation.msg"), "w") as f:
            f.write("Subject: Out of office: $SUBJECT\n\nI am away until Monday.\n")
        self.srv.start()
        self.send("carol@test.example", "first", sender="alice@test.example")
        self.send("carol@test.example", "second", sender="alice@test.example")
        self.send("carol@test.example", "newsletter", sender="bob@test.example",
                  headers="Precedence: bulk\r\n")
        for s in ("first", "second", "newsletter"):
            self.srv.wait_subject("carol", s)
        reply = self.srv.wait_subject("alice", "Out of office: first")
        self.assertEqual(reply["Auto-Submitted"], "auto-replied")
        self.assertEqual(reply["Return-Path"], "<>")
        self.assertIn("I am away until Monday.", reply.get_payload())
        self.assertEqual(reply["In-Reply-To"], "<first@else.example>")
        time.sleep(1.5)
        replies = [m for m in self.srv.messages("alice") if (m["Subject"] or "").startswith("Out of office")]
        self.assertEqual(len(replies), 1, [m["Subject"] for m in replies])
        self.assertEqual([m for m in self.srv.messages("bob") if (m["Subject"] or "").startswith("Out of office")], [])
        db = open(os.path.join(self.home("carol"), ".vacation.db")).read()
        self.assertIn("alice@test.example", db)
        self.assertNotIn("bob@test.example", db)


class Privileges(unittest.TestCase):
    """File accounts are not Unix users: under root their programs and files run as
    [delivery] default_user, and include files are never echoed to senders or logs."""

    def setUp(self):
        self.srv = Server(users=("alice", "bob", "carol"))
        d = self.srv.dir
        self.out = os.path.join(d, "out")
        os.makedirs(self.out)
        open_to_everyone(d)
        open_to_everyone(self.out)
        self.home = lambda u: os.path.join(self.srv.data, "home", u)

    def tearDown(self):
        self.srv.cleanup()

    def write_forward(self, user, text):
        os.makedirs(self.home(user), exist_ok=True)
        p = os.path.join(self.home(user), ".forward")
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o600)

    def send(self, rcpt, subject, sender="x@else.example"):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail(sender, [rcpt], f"From: {sender}\r\nSubject: {subject}\r\n\r\nhi\r\n")

    def test_forward_programs_and_files_never_run_as_root(self):
        o = self.out
        self.write_forward("bob", f'\\bob, "|id -u > {o}/uid; id -G > {o}/groups", {o}/bob.mbox\n')
        self.srv.start()
        self.send("bob@test.example", "who runs it")
        uid = int(self.srv.wait_file(os.path.join(o, "uid")).strip())
        self.assertEqual(uid, unprivileged_uid())
        if AS_ROOT:
            self.assertNotIn("0", self.srv.wait_file(os.path.join(o, "groups")).split())
        self.srv.wait_file(os.path.join(o, "bob.mbox"))
        self.assertEqual(os.stat(os.path.join(o, "bob.mbox")).st_uid, unprivileged_uid())
        self.srv.wait_subject("bob", "who runs it")

    def test_include_of_a_file_the_user_may_not_read_leaks_nothing(self):
        secret = os.path.join(self.srv.dir, "shadow-like")
        with open(secret, "w") as f:
            f.write("root:$6$SECRETHASH$xyz:19000:0:99999:7:::\n")
        os.chmod(secret, 0o600)
        self.write_forward("bob", f":include:{secret}\n")
        self.srv.start()
        self.send("bob@test.example", "include probe", sender="alice@test.example")
        deadline = time.time() + 20
        while time.time() < deadline and "include probe" not in self.srv.log() \
                and "status=" not in self.srv.log():
            time.sleep(0.1)
        time.sleep(1.5)
        mailq = self.srv.cli("mailq").stdout.decode()
        everything = self.srv.log() + mailq + "".join(
            m.as_string() for u in ("alice", "bob") for m in self.srv.messages(u))
        self.assertNotIn("SECRETHASH", everything)
        if AS_ROOT:
            # Read as default_user, which may not: the message waits in the queue.
            self.assertIn("cannot read :include:", mailq)

    def test_bad_lines_of_an_include_file_are_named_by_line_not_content(self):
        listing = os.path.join(self.srv.dir, "list.txt")
        with open(listing, "w") as f:
            f.write("# members\nalice\nSECRETNAME$6$HASH:19000:0\n")
        os.chmod(listing, 0o644)
        with open(os.path.join(self.srv.data, "aliases"), "a") as f:
            f.write(f"members: :include:{listing}\n")
        self.srv.start()
        self.srv.cli("newaliases")
        self.send("members@test.example", "to the members", sender="carol@test.example")
        self.srv.wait_subject("alice", "to the members")
        bounce = self.srv.wait_subject("carol", "Undelivered Mail Returned to Sender")
        self.assertIn(f"invalid address in include file {listing}, line 3", bounce.as_string())
        self.assertNotIn("SECRETNAME", bounce.as_string())
        self.assertNotIn("SECRETNAME", self.srv.log())


class RootWithoutDefaultUser(unittest.TestCase):
    def test_serve_refuses_to_run_as_root_without_an_unprivileged_default_user(self):
        srv = Server(users=("alice",), delivery={"default_user": '"no-such-user-here"'})
        try:
            if AS_ROOT:
                r = subprocess.run([BIN, "serve", "-c", srv.config], capture_output=True,
                                   timeout=30, cwd=srv.dir)
                self.assertEqual(r.returncode, 1)
                self.assertIn("default_user", r.stderr.decode())
                self.assertIn("refusing to run as root", r.stderr.decode())
            else:
                srv.start()  # not root: nothing runs with more privileges than the server
                with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
                    self.assertEqual(s.noop()[0], 250)
        finally:
            srv.cleanup()


class AliasesDb(unittest.TestCase):
    def test_newaliases_builds_the_db_and_a_stale_db_is_reported(self):
        srv = Server(users=("alice",))
        try:
            srv.start()
            db = os.path.join(srv.data, "aliases.db")
            self.assertTrue(os.path.exists(db), "the first start compiles the aliases")
            time.sleep(0.05)
            with open(os.path.join(srv.data, "aliases"), "a") as f:
                f.write("newname: alice\n")
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
                s.ehlo("c")
                s.mail("x@else.example")
                # The db is what counts: the new name is unknown until newaliases.
                self.assertEqual(s.rcpt("newname@test.example")[0], 550)
            self.assertIn("run `postrider newaliases`", srv.log())
            r = srv.cli("newaliases")
            self.assertIn("aliases, written to", r.stdout.decode())
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
                s.ehlo("c")
                s.mail("x@else.example")
                self.assertEqual(s.rcpt("newname@test.example")[0], 250)
                s.data("Subject: via new alias\r\n\r\nx\r\n")
            srv.wait_subject("alice", "via new alias")
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()


class NoRecipientDelimiter(unittest.TestCase):
    def test_an_empty_delimiter_turns_subaddresses_off(self):
        srv = Server(users=("alice",), top='recipient_delimiter = ""').start()
        self.addCleanup(srv.cleanup)
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            s.mail("sender@else.example")
            self.assertEqual(s.rcpt("alice+lists@test.example")[0], 550)
            self.assertEqual(s.rcpt("alice@test.example")[0], 250)
