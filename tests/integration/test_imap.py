"""IMAP4rev1 with Python's imaplib against the mbox store: login rules, folders, FETCH,
SEARCH, STORE, COPY/MOVE with UIDPLUS, EXPUNGE, APPEND (10 MB literal), IDLE seeing a
delivery, two sessions seeing each other's changes, and flags/UIDs across a restart."""

import imaplib
import re
import smtplib
import socket
import threading
import time
import unittest

from harness import Server, insecure_tls


class Imap(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol", "dave", "erin", "frank")).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def deliver(self, user, subjects):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            for subj in subjects:
                s.sendmail("sender@else.example", [f"{user}@test.example"],
                           f"From: Sender <sender@else.example>\r\nTo: {user}@test.example\r\n"
                           f"Subject: {subj}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                           f"Message-ID: <{subj.replace(' ', '.')}@else.example>\r\n\r\nbody of {subj}\r\n")
        for subj in subjects:
            self.srv.wait_subject(user, subj)

    def login(self, user, ssl=True):
        if ssl:
            m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls(), timeout=30)
        else:
            m = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"], timeout=30)
            m.starttls(insecure_tls())
        m.login(user, f"pw-{user}")
        return m

    def test_login_disabled_without_tls(self):
        m = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"], timeout=30)
        self.assertIn("LOGINDISABLED", m.capabilities)
        self.assertIn("STARTTLS", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error):
            m.login("alice", "pw-alice")
        m.starttls(insecure_tls())
        self.assertNotIn("LOGINDISABLED", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login("alice", "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        self.assertEqual(m.login("alice", "pw-alice")[0], "OK")
        m.logout()

    def test_authenticate_plain(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls(), timeout=30)
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0bob\0pw-bob")
        self.assertEqual(typ, "OK")
        m.logout()

    def test_special_use_folders_and_hierarchy(self):
        m = self.login("carol")
        typ, lst = m.list()
        text = b"\n".join(lst).decode()
        for name, attr in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk")):
            self.assertRegex(text, rf"\(.*\{attr}.*\) \"/\" \"?{name}\"?")
        self.assertEqual(m.create("Projects/2024")[0], "OK")
        self.assertEqual(m.create("Projects/2024")[0], "NO")
        typ, lst = m.list("", "Projects/%")
        self.assertIn(b"Projects/2024", b"".join(lst))
        self.assertEqual(m.rename("Projects/2024", "Projects/Done")[0], "OK")
        self.assertEqual(m.subscribe("Projects/Done")[0], "OK")
        typ, lsub = m.lsub()
        self.assertIn(b"Projects/Done", b"".join(lsub))
        self.assertEqual(m.delete("Projects/Done")[0], "OK")
        self.assertEqual(m.select("Nope")[0], "NO")
        self.assertEqual(m.create("../escape")[0], "NO")
        # imaptest's `list` script: "box/" is a hierarchy level only.
        self.assertEqual(m.create("Box/")[0], "OK")
        self.assertEqual(m.create("Box/test")[0], "OK")
        self.assertEqual(m.create("Box/deep/")[0], "OK")
        self.assertEqual(m.create("Box/deep/er")[0], "OK")
        typ, lst = m.list("", "Box/%")
        names = b" ".join(lst)
        self.assertIn(b"Box/test", names)
        self.assertIn(b"Box/deep", names)
        self.assertNotIn(b"Box/deep/er", names)
        typ, lst = m.list("Box/", "*")
        self.assertIn(b"Box/deep/er", b" ".join(lst))
        # imaptest's `subscribe` script: LSUB with % shows the level above as \Noselect.
        self.assertEqual(m.subscribe("Box/deep/er")[0], "OK")
        typ, lst = m.lsub("", "Box/%")
        self.assertIn(b'(\\Noselect) "/" "Box/deep"', b" ".join(lst))
        # imaptest's `move` script: MOVE into the same mailbox gives a new UID.
        m.select("Box/test")
        m.append("Box/test", None, None, b"Subject: m\r\n\r\nx\r\n")
        typ, data = m._simple_command("MOVE", "1", "Box/test")
        self.assertEqual(typ, "OK")
        self.assertIn("COPYUID", str(m.untagged_responses.get("OK", [])))
        self.assertEqual(m.untagged_responses.get("EXISTS")[-1], b"1")
        m.logout()

    def test_fetch_search_store_expunge(self):
        self.deliver("alice", ["alpha", "beta", "gamma"])
        m = self.login("alice")
        typ, data = m.select("INBOX")
        n = int(data[0])
        self.assertGreaterEqual(n, 3)
        typ, data = m.fetch(f"{n}", "(UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b'"gamma"', data[0][0])
        self.assertEqual(data[0][1], b"Subject: gamma\r\n\r\n")
        self.assertRegex(data[0][0], rb"FLAGS \((\\Recent)?\)")
        typ, data = m.search(None, "SUBJECT", "beta")
        self.assertEqual(data[0], str(n - 1).encode())
        typ, data = m.search(None, "UNSEEN", "SINCE", "1-Jan-2020")
        self.assertEqual(len(data[0].split()), n)
        typ, data = m.fetch(f"{n}", "(BODY[TEXT])")
        self.assertEqual(data[0][1], b"body of gamma\r\n")
        self.assertIn(b"\\Seen", b"".join(x if isinstance(x, bytes) else x[0] for x in data))
        typ, data = m.search(None, "SEEN")
        self.assertEqual(data[0], str(n).encode())
        typ, data = m.store(f"{n - 2}", "+FLAGS", "(\\Deleted)")
        self.assertIn(b"\\Deleted", data[0])
        typ, data = m.uid("SEARCH", "DELETED")
        uid_deleted = data[0]
        typ, data = m.expunge()
        self.assertEqual(data[0], str(n - 2).encode())
        typ, data = m.uid("FETCH", uid_deleted, "(FLAGS)")
        self.assertEqual(data, [None])
        typ, data = m.search(None, "ALL")
        self.assertEqual(len(data[0].split()), n - 1)
        m.close()
        m.logout()

    def test_copy_move_append_uidplus(self):
        self.deliver("bob", ["to move", "to copy"])
        m = self.login("bob")
        m.select("INBOX")
        typ, data = m.uid("SEARCH", "SUBJECT", "\"to copy\"")
        uid_copy = data[0].decode()
        typ, data = m._simple_command("UID", "COPY", uid_copy, "Trash")
        self.assertRegex(data[0].decode(), r"\[COPYUID \d+ %s \d+\]" % uid_copy)
        typ, data = m.uid("SEARCH", "SUBJECT", "\"to move\"")
        uid_move = data[0].decode()
        typ, data = m._simple_command("UID", "MOVE", uid_move, "Drafts")
        self.assertEqual(typ, "OK")
        self.assertIn("COPYUID", str(m.untagged_responses.get("OK", [])))
        typ, data = m.uid("FETCH", uid_move, "(FLAGS)")
        self.assertEqual(data, [None])
        typ, data = m._simple_command("UID", "COPY", uid_copy, "Nowhere")
        self.assertEqual(typ, "NO")
        self.assertIn(b"TRYCREATE", data[0])
        big = b"Subject: big append\r\n\r\n" + (b"y" * 998 + b"\r\n") * 10_500
        self.assertGreater(len(big), 10 * 1024 * 1024)
        typ, data = m.append("Sent", "(\\Seen $Important)", imaplib.Time2Internaldate(time.time()), big)
        self.assertEqual(typ, "OK")
        appenduid = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
        self.assertIsNotNone(appenduid)
        m.select("Sent")
        typ, data = m.uid("FETCH", appenduid.group(2).decode(), "(FLAGS RFC822.SIZE BODY.PEEK[])")
        self.assertIn(b"$Important", data[0][0])
        self.assertEqual(data[0][1], big)
        m.select("Drafts")
        typ, data = m.search(None, "SUBJECT", "\"to move\"")
        self.assertNotEqual(data[0], b"")
        typ, data = m.status("Trash", "(MESSAGES UNSEEN UIDNEXT)")
        self.assertIn(b"MESSAGES 1", data[0])
        m.logout()

    def test_idle_sees_a_delivery(self):
        m = self.login("dave")
        m.select("INBOX")
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        self.assertTrue(m.readline().startswith(b"+"))
        threading.Timer(0.5, lambda: self.deliver("dave", ["during idle"])).start()
        deadline = time.time() + 15
        seen = b""
        m.sock.settimeout(15)
        while time.time() < deadline and b"EXISTS" not in seen:
            seen += m.readline()
        self.assertIn(b"EXISTS", seen)
        m.send(b"DONE\r\n")
        line = m.readline()
        while not line.startswith(tag):
            line = m.readline()
        self.assertIn(b"OK", line)
        m.logout()

    def test_two_sessions_see_each_others_changes(self):
        self.deliver("erin", ["shared one", "shared two"])
        a = self.login("erin")
        b = self.login("erin")
        a.select("INBOX")
        b.select("INBOX")
        a.store("1", "+FLAGS", "(\\Flagged)")
        typ, data = b.noop()
        updates = b"".join(x for x in b.untagged_responses.get("FETCH", []) if isinstance(x, bytes))
        self.assertIn(b"\\Flagged", updates)
        a.store("2", "+FLAGS", "(\\Deleted)")
        a.expunge()
        b.noop()
        self.assertIn(b"2", b"".join(b.untagged_responses.get("EXPUNGE", [b""])))
        a.logout()
        b.logout()

    def test_append_and_copy_into_the_selected_mailbox_announce_exists(self):
        m = self.login("bob")
        typ, data = m.select("Drafts")
        n = int(data[0])
        m.append("Drafts", None, None, b"Subject: draft one\r\n\r\nx\r\n")
        self.assertEqual(m.untagged_responses.get("EXISTS")[-1], str(n + 1).encode())
        typ, data = m._simple_command("COPY", str(n + 1), "Drafts")
        self.assertEqual(typ, "OK")
        self.assertIn(b"COPYUID", data[0])
        self.assertEqual(m.untagged_responses.get("EXISTS")[-1], str(n + 2).encode())
        m.logout()

    def test_recent_belongs_to_one_session(self):
        m = self.login("alice")
        m.select("Junk")
        m.logout()
        m = self.login("alice")
        m.append("Junk", None, None, b"Subject: fresh\r\n\r\nx\r\n")
        typ, data = m.status("Junk", "(RECENT MESSAGES)")
        self.assertIn(b"RECENT 1", data[0])
        typ, data = m.select("Junk")
        self.assertEqual(m.untagged_responses.get("RECENT"), [b"1"])
        typ, data = m.search(None, "RECENT")
        self.assertEqual(data[0], b"1")
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Recent", data[0])
        other = self.login("alice")
        other.select("Junk")
        self.assertEqual(other.untagged_responses.get("RECENT"), [b"0"])
        typ, data = other.search(None, "NEW")
        self.assertEqual(data[0], b"")
        other.logout()
        m.logout()

    def test_two_sessions_do_not_overwrite_each_others_flags(self):
        # imaptest's `store` script: changes are relative to the stored flags.
        self.deliver("erin", ["relative flags"])
        a = self.login("erin")
        b = self.login("erin")
        a.select("INBOX")
        b.select("INBOX")
        typ, data = a.search(None, "SUBJECT", '"relative flags"')
        n = data[0].split()[-1].decode()
        a.store(n, "FLAGS", "(\\Seen)")
        b.check()
        a.store(n, "+FLAGS", "(\\Draft)")
        b.store(n, "-FLAGS", "(\\Seen)")
        a.check()
        b.check()
        for m in (a, b):
            typ, data = m.fetch(n, "(FLAGS)")
            flags = re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).replace(b"\\Recent", b"").split()
            self.assertEqual(flags, [b"\\Draft"])
        a.logout()
        b.logout()

    def test_flags_and_uids_survive_a_restart(self):
        self.deliver("carol", ["persist one", "persist two"])
        m = self.login("carol")
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Answered kw1)")
        # A new keyword is announced in FLAGS (and PERMANENTFLAGS) before it is shown.
        self.assertIn(b"kw1", m.untagged_responses.get("FLAGS", [b""])[-1])
        unrecent = lambda rows: [r.replace(b" \\Recent", b"").replace(b"\\Recent", b"") for r in rows]
        before = unrecent(m.fetch("1:*", "(UID FLAGS)")[1])
        typ, data = m.status("INBOX", "(UIDVALIDITY)")
        validity = data[0]
        m.logout()
        self.srv.stop()
        self.srv.start()
        m = self.login("carol")
        m.select("INBOX")
        self.assertIn(b"kw1", m.untagged_responses.get("FLAGS", [b""])[-1])
        self.assertEqual(unrecent(m.fetch("1:*", "(UID FLAGS)")[1]), before)
        self.assertEqual(m.status("INBOX", "(UIDVALIDITY)")[1][0], validity)
        m.logout()

    def test_flag_log_survives_sigkill_follows_rename_and_dies_with_delete(self):
        # Flag changes go to a per-folder log (not fsynced, folded into the index later):
        # a SIGKILL must not lose them, a renamed folder keeps them, and a folder created
        # again under a deleted one's name must not inherit them.
        self.deliver("frank", ["log one", "log two"])
        m = self.login("frank")
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Flagged)")
        m.store("2", "+FLAGS", "(\\Seen kwlog)")
        m.store("2", "-FLAGS", "(\\Seen)")
        self.assertEqual(m.create("Keep")[0], "OK")
        self.assertEqual(m.append("Keep", None, None, b"Subject: kept\r\n\r\nkept\r\n")[0], "OK")
        m.select("Keep")
        m.store("1", "+FLAGS", "(kwkeep)")
        self.assertEqual(m.rename("Keep", "Kept")[0], "OK")
        m.select("Kept")
        self.assertIn(b"kwkeep", m.fetch("1", "(FLAGS)")[1][0])
        m.store("1", "+FLAGS", "(\\Answered)")
        m.logout()
        self.srv.kill()
        self.srv.start()
        m = self.login("frank")
        m.select("INBOX")
        flags = lambda n: re.search(rb"FLAGS \(([^)]*)\)", m.fetch(n, "(FLAGS)")[1][0]).group(1).split()
        self.assertIn(b"\\Flagged", flags("1"))
        self.assertIn(b"kwlog", flags("2"))
        self.assertNotIn(b"\\Seen", flags("2"))
        m.select("Kept")
        self.assertIn(b"kwkeep", flags("1"))
        self.assertIn(b"\\Answered", flags("1"))
        m.select("INBOX")
        self.assertEqual(m.delete("Kept")[0], "OK")
        self.assertEqual(m.create("Kept")[0], "OK")
        self.assertEqual(m.append("Kept", None, None, b"Subject: new\r\n\r\nnew\r\n")[0], "OK")
        m.select("Kept")
        self.assertEqual(flags("1"), [b"\\Recent"])
        m.logout()

    def test_bad_commands_and_literal_plus(self):
        s = socket.create_connection(("127.0.0.1", self.srv.ports["imaps"]), timeout=10)
        s = insecure_tls().wrap_socket(s)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"* OK"))
        s.sendall(b"a1 FROBNICATE\r\n")
        self.assertTrue(f.readline().startswith(b"a1 BAD"))
        s.sendall(b"a2 LOGIN {5+}\r\nalice {8+}\r\npw-alice\r\n")
        self.assertTrue(f.readline().startswith(b"a2 OK"))
        s.sendall(b"a3 FETCH 1 FLAGS\r\n")
        self.assertTrue(f.readline().startswith(b"a3 BAD"))
        s.sendall(b"a4 SELECT INBOX\r\na5 FETCH 1:* (FLAGS\r\n")
        lines = []
        while True:
            l = f.readline()
            lines.append(l)
            if l.startswith(b"a5"):
                break
        self.assertTrue(lines[-1].startswith(b"a5 BAD"), lines)
        s.sendall(b"a6 NOOP\r\n")
        while True:
            l = f.readline()
            if l.startswith(b"a6"):
                break
        self.assertTrue(l.startswith(b"a6 OK"))
        s.close()


if __name__ == "__main__":
    unittest.main()
