"""IMAP behaviours that Dovecot's imaptest scripts check, found by running those scripts
(tests/interop/imapscript.py) against postrider: identical messages keep their UIDs and
flags through another session's EXPUNGE and a restart, EXAMINE shows \\Recent without
claiming it, INTERNALDATE keeps the zone it was APPENDed with and date searches use it
(SINCE includes the day), sections of a message whose top level is message/rfc822, and
address searches that see through comments."""

import imaplib
import re
import unittest

from harness import Server, insecure_tls

SAME = b"\r\nidentical body\r\n"
DATE = '"22-Feb-2008 17:06:23 +0000"'


class ImapCompliance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("frank", "grace", "heidi", "ivan", "judy")).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def login(self, user):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls(), timeout=30)
        m.login(user, f"pw-{user}")
        return m

    def uids_and_flags(self, m):
        m.untagged_responses.pop("FETCH", None)  # flag updates announced earlier
        typ, data = m.fetch("1:*", "(UID FLAGS)")
        self.assertEqual(typ, "OK")
        out = []
        for row in data:
            uid = int(re.search(rb"UID (\d+)", row).group(1))
            flags = sorted(re.search(rb"FLAGS \(([^)]*)\)", row).group(1).replace(b"\\Recent", b"").split())
            out.append((uid, flags))
        return out

    def test_identical_messages_keep_uids_through_expunge_and_restart(self):
        a = self.login("frank")
        a.create("same")
        for _ in range(4):
            self.assertEqual(a.append("same", None, DATE, SAME)[0], "OK")
        a.select("same")
        b = self.login("frank")
        b.select("same")
        a.store("3", "+FLAGS", "(\\Flagged)")
        a.store("4", "+FLAGS", "(\\Answered)")
        a.store("2", "+FLAGS", "(\\Deleted)")
        typ, data = a.expunge()
        self.assertEqual(data, [b"2"])
        expected = [(1, []), (3, [b"\\Flagged"]), (4, [b"\\Answered"])]
        self.assertEqual(self.uids_and_flags(a), expected)
        typ, _ = b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"2"])
        self.assertEqual(self.uids_and_flags(b), expected)
        a.logout()
        b.logout()
        self.srv.stop()
        self.srv.start()
        c = self.login("frank")
        c.select("same")
        self.assertEqual(self.uids_and_flags(c), expected)
        c.store("1", "+FLAGS", "(\\Deleted)")
        c.expunge()
        self.assertEqual(self.uids_and_flags(c), expected[1:])
        c.logout()

    def test_examine_shows_recent_without_claiming_it(self):
        m = self.login("grace")
        m.create("fresh")
        m.append("fresh", None, None, b"Subject: a\r\n\r\nx\r\n")
        m.append("fresh", None, None, b"Subject: b\r\n\r\ny\r\n")
        m.select("fresh", readonly=True)
        self.assertEqual(m.untagged_responses.get("RECENT"), [b"2"])
        m.close()
        self.assertIn(b"RECENT 2", m.status("fresh", "(RECENT)")[1][0])
        m.select("fresh")
        self.assertEqual(m.untagged_responses.get("RECENT"), [b"2"])
        m.close()
        self.assertIn(b"RECENT 0", m.status("fresh", "(RECENT)")[1][0])
        m.logout()

    def test_internaldate_keeps_its_zone_and_date_searches_use_it(self):
        m = self.login("heidi")
        m.create("dates")
        cases = [("24-Mar-2007 23:00:00 +0200", "Sat, 24 Mar 2007 23:00:00 +0200"),
                 ("25-Mar-2007 04:00:00 +0300", "Sun, 25 Mar 2007 04:00:00 +0300"),
                 ("26-Mar-2007 00:00:00 +0300", "Mon, 26 Mar 2007 00:00:00 +0300")]
        for internal, sent in cases:
            msg = f"Date: {sent}\r\nSubject: d\r\n\r\nbody\r\n".encode()
            self.assertEqual(m.append("dates", None, f'"{internal}"', msg)[0], "OK")
        m.select("dates")
        typ, data = m.fetch("1:*", "(INTERNALDATE)")
        shown = [re.search(rb'INTERNALDATE "([^"]+)"', r).group(1).decode() for r in data]
        self.assertEqual(shown, [c[0] for c in cases])
        def search(*q):
            return m.search(None, *q)[1][0].split()
        self.assertEqual(search("ON", "24-Mar-2007"), [b"1"])
        self.assertEqual(search("ON", "25-Mar-2007"), [b"2"])
        self.assertEqual(search("BEFORE", "25-Mar-2007"), [b"1"])
        self.assertEqual(search("SINCE", "25-Mar-2007"), [b"2", b"3"])
        self.assertEqual(search("SINCE", "24-Mar-2007"), [b"1", b"2", b"3"])
        self.assertEqual(search("SINCE", "27-Mar-2007"), [])
        self.assertEqual(search("SENTON", "24-Mar-2007"), [b"1"])
        self.assertEqual(search("SENTSINCE", "25-Mar-2007"), [b"2", b"3"])
        self.assertEqual(search("SENTBEFORE", "26-Mar-2007"), [b"1", b"2"])
        m.logout()

    def test_sections_of_a_top_level_message_rfc822(self):
        m = self.login("ivan")
        inner = b"From: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world\r\n"
        outer = b"From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n" + inner
        m.append("INBOX", None, None, outer)
        m.select("INBOX")
        def part(section):
            typ, data = m.fetch("1", f"(BODY.PEEK[{section}])")
            self.assertEqual(typ, "OK")
            return data[0][1]
        self.assertEqual(part("1"), inner)
        self.assertEqual(part("TEXT"), inner)
        self.assertEqual(part("1.HEADER"), b"From: sub@domain.org\r\nSubject: submsg\r\n\r\n")
        self.assertEqual(part("1.HEADER.FIELDS (SUBJECT)"), b"Subject: submsg\r\n\r\n")
        self.assertEqual(part("1.TEXT"), b"Hello world\r\n")
        self.assertEqual(part("1.1"), b"Hello world\r\n")
        m.logout()

    def test_address_searches_see_through_comments_and_groups(self):
        m = self.login("judy")
        m.append("INBOX", None, None,
                 b"From: <user-from (comment)@ (comment) domain.org>\r\nSubject: one\r\n\r\nx\r\n")
        m.append("INBOX", None, None,
                 b"To: groupname: groupuser1@domain.org, groupuser2@domain.org;\r\nSubject: two\r\n\r\ny\r\n")
        m.select("INBOX")
        def search(*q):
            return m.search(None, *q)[1][0].split()
        self.assertEqual(search("FROM", "user-from@domain.org"), [b"1"])
        self.assertEqual(search("FROM", "comment"), [b"1"])
        self.assertEqual(search("TO", "groupname"), [b"2"])
        self.assertEqual(search("TO", "groupuser2@domain.org"), [b"2"])
        self.assertEqual(search("TO", "groupuser3"), [])
        m.logout()


if __name__ == "__main__":
    unittest.main()
