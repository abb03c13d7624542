"""IMAP state that must stay right while other sessions and deliveries change a folder
(regressions found by Dovecot's imaptest and by real clients): INTERNALDATE of mail
delivered while the folder is selected, UIDVALIDITY never reused, messages expunged by
another session never shown as empty, RECENT never above EXISTS, LIST without
duplicates, sequence numbers beyond EXISTS refused, folder names that would collide with
the store's own files refused without revealing paths."""

import imaplib
import re
import time
import unittest

from harness import Server, insecure_tls


class ImapState(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol", "dave", "erin")).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def login(self, user):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls(),
                              timeout=30)
        m.login(user, f"pw-{user}")
        return m

    def test_mail_delivered_while_selected_has_todays_internaldate(self):
        m = self.login("alice")
        m.select("INBOX")
        for i in range(2):
            self.srv.cli("sendmail", "alice@localhost",
                         input=f"Subject: while selected {i}\n\nhello\n")
            self.srv.wait_subject("alice", f"while selected {i}")
            m.noop()
        typ, data = m.fetch("1:*", "(INTERNALDATE)")
        self.assertEqual(typ, "OK")
        years = [re.search(rb'INTERNALDATE "\d+-\w+-(\d{4})', d).group(1) for d in data]
        self.assertEqual(years, [time.strftime("%Y", time.gmtime()).encode()] * 2, data)
        typ, data = m.search(None, "SINCE", time.strftime("%d-%b-%Y", time.gmtime(time.time() - 86400)))
        self.assertEqual(data[0].split(), [b"1", b"2"])
        m.logout()
        # A new session reads the same from the saved index.
        m = self.login("alice")
        m.select("INBOX")
        typ, data = m.fetch("1:*", "(INTERNALDATE)")
        self.assertNotIn(b"1970", b" ".join(data))
        m.logout()

    def uidvalidity(self, m, name):
        typ, data = m.status(name, "(UIDVALIDITY)")
        self.assertEqual(typ, "OK", data)
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def test_uidvalidity_is_new_after_delete_and_create_and_after_a_restart(self):
        m = self.login("bob")
        seen = []
        for _ in range(3):
            self.assertEqual(m.create("again")[0], "OK")
            seen.append(self.uidvalidity(m, "again"))
            self.assertEqual(m.delete("again")[0], "OK")
        m.create("again")
        m.logout()
        self.assertEqual(len(set(seen)), 3, seen)
        before = self.uidvalidity(self.login("bob"), "again")
        self.srv.stop()
        self.srv.start()
        m = self.login("bob")
        self.assertEqual(self.uidvalidity(m, "again"), before, "kept across a restart")
        m.delete("again")
        m.create("again")
        self.assertGreater(self.uidvalidity(m, "again"), max(seen + [before]))
        m.logout()

    def test_folder_names_that_would_collide_with_internal_files_are_refused(self):
        m = self.login("carol")
        self.assertEqual(m.create("x")[0], "OK")
        for bad in ("x.lock", "x.index", "x.index/y", "~", "~x", "x~"):
            typ, data = m.create(bad)
            self.assertEqual(typ, "NO", bad)
            self.assertNotIn(b"/", data[0], f"{bad}: a path in the reply: {data}")
        self.assertEqual(m.select("x")[0], "OK")
        self.assertEqual(m.append("x", None, None, b"Subject: fine\r\n\r\nbody\r\n")[0], "OK")
        m.logout()

    def test_messages_expunged_by_another_session_are_never_served_empty(self):
        a = self.login("dave")
        a.create("box")
        for i in range(3):
            a.append("box", None, None, f"Subject: m{i}\r\n\r\nbody {i} findme\r\n".encode())
        a.select("box")
        b = self.login("dave")
        b.select("box")
        b.store("2", "+FLAGS", "(\\Deleted)")
        b.expunge()
        b.logout()
        # a has not been told: message 2 is still in its view.
        a.untagged_responses.pop("FETCH", None)
        typ, tagged = a._simple_command("FETCH", "1:3", "(RFC822.SIZE BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertIn(b"[EXPUNGEISSUED]", tagged[0])
        fetched = a.untagged_responses.pop("FETCH", [])
        heads = [f[0] if isinstance(f, tuple) else f for f in fetched if f != b")"]
        self.assertEqual([h.split()[0] for h in heads], [b"1", b"3"], fetched)
        self.assertNotIn(b"{0}", b" ".join(heads))
        typ, data = a.search(None, "TEXT", "findme")
        self.assertEqual((typ, data[0].split()), ("OK", [b"1", b"3"]))
        typ, data = a.copy("1:3", "INBOX")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[EXPUNGEISSUED]", data[0])
        a.logout()

    def test_recent_never_exceeds_exists(self):
        m = self.login("erin")
        m.create("fresh")
        m.select("fresh")
        for i in range(3):
            m.append("fresh", None, None, f"Subject: r{i}\r\n\r\nx\r\n".encode())
        m.store("1:2", "+FLAGS.SILENT", "(\\Deleted)")
        m.expunge()
        m.untagged_responses.clear()
        m.append("fresh", None, None, b"Subject: r3\r\n\r\nx\r\n")
        exists = int(m.untagged_responses["EXISTS"][-1])
        recent = int(m.untagged_responses["RECENT"][-1])
        self.assertEqual((exists, recent), (2, 2))
        m.logout()

    def test_list_inbox_once_with_children_and_protocol_errors(self):
        m = self.login("erin")
        self.assertEqual(m.create("INBOX/sub")[0], "OK")
        typ, data = m.list('""', "INBOX")
        self.assertEqual(len(data), 1, data)
        self.assertIn(b"\\HasChildren", data[0])
        typ, data = m.list('""', "INBOX/*")
        self.assertEqual([d.split(b'"/" ')[-1] for d in data], [b'"INBOX/sub"'])
        # CHECK needs a selected mailbox; sequence numbers past EXISTS are BAD.
        self.assertRaises(imaplib.IMAP4.error, m.check)
        m.select("INBOX/sub")
        m.append("INBOX/sub", None, None, b"Subject: one\r\n\r\nx\r\n")
        m.noop()
        self.assertRaises(imaplib.IMAP4.error, m.fetch, "99", "(FLAGS)")
        self.assertRaises(imaplib.IMAP4.error, m.fetch, "5", "(FLAGS)")
        self.assertEqual(m.uid("FETCH", "99", "(FLAGS)")[0], "OK")
        typ, data = m._simple_command("SEARCH", "CHARSET", "X-UNKNOWN", "TEXT", "x")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[BADCHARSET", data[0])
        m.logout()


if __name__ == "__main__":
    unittest.main()
