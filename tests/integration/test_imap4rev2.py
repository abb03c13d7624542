"""IMAP4rev2 (RFC 9051) with Python's imaplib over IMAPS: ENABLE IMAP4rev2, UTF-8 mailbox
names (kept in modified UTF-7 for IMAP4rev1 clients), SEARCH answered as ESEARCH, no
\\Recent, STATUS DELETED."""

import unittest

from harness import Server, imaps_login


class Imap4rev2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice",)).start()
        for i in range(3):
            cls.srv.deliver("x@test.example", "alice@test.example",
                            f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode())

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def rev2(self):
        m = imaps_login(self.srv)
        self.assertIn("IMAP4REV2", m.capabilities)
        typ, _ = m._simple_command("ENABLE", "IMAP4rev2")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"IMAP4rev2"])
        m._encoding = "utf-8"  # UTF-8 names on the wire from now on
        return m

    def test_utf8_names_for_rev2_and_modified_utf7_for_rev1(self):
        m = self.rev2()
        typ, _ = m._simple_command("CREATE", '"Café & Co"')
        self.assertEqual(typ, "OK")
        typ, data = m.list('""', '"Caf*"')
        self.assertEqual(data, ['(\\HasNoChildren) "/" "Café & Co"'.encode()])
        typ, data = m._simple_command("STATUS", '"Café & Co"', "(MESSAGES)")
        self.assertEqual(m.untagged_responses.pop("STATUS"), ['"Café & Co" (MESSAGES 0)'.encode()])
        m.logout()
        old = imaps_login(self.srv)
        typ, data = old.list('""', "Caf*")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" "Caf&AOk- &- Co"'])
        old.logout()

    def test_select_search_and_status_the_rev2_way(self):
        m = self.rev2()
        typ, data = m._simple_command("SELECT", "INBOX")
        self.assertEqual(typ, "OK")
        self.assertNotIn("RECENT", m.untagged_responses)
        self.assertIn(b'() "/" "INBOX"', m.untagged_responses.pop("LIST"))
        m.state = "SELECTED"
        m.store("2", "+FLAGS", r"(\Deleted)")
        tag = m._command("SEARCH", "ALL")
        typ, _ = m._command_complete("SEARCH", tag)
        self.assertEqual(typ, "OK")
        (line,) = m.untagged_responses.pop("ESEARCH")
        self.assertEqual(line, f'(TAG "{tag.decode()}") ALL 1:3'.encode())
        typ, data = m.fetch("1:3", "(FLAGS)")
        self.assertFalse(any(b"Recent" in d for d in data), data)
        m._simple_command("STATUS", "INBOX", "(DELETED MESSAGES)")
        self.assertEqual(m.untagged_responses.pop("STATUS"), [b'"INBOX" (DELETED 1 MESSAGES 3)'])
        m.logout()


if __name__ == "__main__":
    unittest.main()
