"""Maildir mailboxes (`[storage] mailbox_format = "maildir"`): delivery into new/, the
files as IMAP and POP3 serve them, flags in the file names, UIDs kept in dovecot-uidlist
across restarts, Maildir++ folders, and changes made by another program (as mutt makes
them) seen by the server."""

import imaplib
import os
import poplib
import re
import smtplib
import unittest

from harness import Server, imaps_login, insecure_tls


def files(srv, user, sub, folder=""):
    d = os.path.join(srv.mbox_path(user), folder, sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def send(srv, rcpt, subject, body="hello\r\nworld\r\n"):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
        s.sendmail("sender@else.example", [rcpt], f"Subject: {subject}\r\n\r\n{body}")


class Maildir(unittest.TestCase):
    def setUp(self):
        self.srv = Server(users=("alice", "bob"), maildir=True).start()

    def tearDown(self):
        self.srv.cleanup()

    def test_delivery_writes_a_whole_file_into_new(self):
        srv = self.srv
        send(srv, "alice@test.example", "first")
        srv.wait_messages("alice", 1)
        new = files(srv, "alice", "new")
        self.assertEqual(len(new), 1, new)
        self.assertEqual(files(srv, "alice", "tmp"), [])
        name = new[0]
        # Unique name with the sizes Dovecot writes (S= on disk, W= as served).
        m = re.fullmatch(r"\d+\.M\d+P\d+Q\d+_[0-9A-F]+\.[^,:/]+,S=(\d+),W=(\d+)", name)
        self.assertTrue(m, name)
        with open(os.path.join(srv.mbox_path("alice"), "new", name), "rb") as f:
            data = f.read()
        self.assertEqual(int(m.group(1)), len(data))
        self.assertNotIn(b"\r\n", data)
        self.assertFalse(data.startswith(b"From "))
        self.assertIn(b"Delivered-To: alice@test.example\n", data)
        self.assertTrue(data.endswith(b"\nhello\nworld\n"), data[-40:])
        self.assertEqual(int(m.group(2)), len(data) + data.count(b"\n"))
        self.assertEqual(srv.messages("bob"), [])

    def test_imap_flags_live_in_file_names_and_uids_survive_restarts(self):
        srv = self.srv
        for i in range(3):
            send(srv, "alice@test.example", f"m{i}")
        srv.wait_messages("alice", 3)
        m = imaps_login(srv)
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data[0]), ("OK", b"3"))
        validity = m.response("UIDVALIDITY")[1][0]
        # Seen once, the messages moved to cur/ with an empty info part.
        self.assertEqual(files(srv, "alice", "new"), [])
        self.assertTrue(all(n.endswith(":2,") for n in files(srv, "alice", "cur")))
        typ, data = m.uid("FETCH", "1:*", "(UID RFC822.SIZE BODY.PEEK[])")
        bodies = [d[1] for d in data if isinstance(d, tuple)]
        self.assertEqual(len(bodies), 3)
        self.assertTrue(all(b.endswith(b"\r\nhello\r\nworld\r\n") for b in bodies))
        for d in data:
            if isinstance(d, tuple):
                size = int(re.search(rb"RFC822.SIZE (\d+)", d[0]).group(1))
                self.assertEqual(size, len(d[1]))
        typ, _ = m.uid("STORE", "2", "+FLAGS", r"(\Seen \Flagged $Work)")
        self.assertEqual(typ, "OK")
        cur = files(srv, "alice", "cur")
        self.assertEqual(sum(n.endswith(":2,FSa") for n in cur), 1, cur)
        with open(os.path.join(srv.mbox_path("alice"), "dovecot-keywords")) as f:
            self.assertEqual(f.read(), "0 $Work\n")
        with open(os.path.join(srv.mbox_path("alice"), "dovecot-uidlist")) as f:
            uidlist = f.read().splitlines()
        self.assertTrue(uidlist[0].startswith(f"3 V{validity.decode()} N4"), uidlist)
        self.assertEqual([l.split(" ")[0] for l in uidlist[1:]], ["1", "2", "3"])
        m.logout()

        srv.stop()
        srv.start()
        m = imaps_login(srv)
        m.select("INBOX")
        self.assertEqual(m.response("UIDVALIDITY")[1][0], validity)
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        flags = re.search(rb"UID 2 FLAGS \(([^)]*)\)", b" ".join(data)).group(1)
        self.assertEqual(sorted(flags.split()), [b"$Work", b"\\Flagged", b"\\Seen"])
        m.logout()

    def test_changes_by_another_program_are_seen(self):
        srv = self.srv
        send(srv, "alice@test.example", "outside")
        send(srv, "alice@test.example", "gone")
        srv.wait_messages("alice", 2)
        m = imaps_login(srv)
        m.enable("CONDSTORE")
        m.select("INBOX")
        _, data = m.uid("FETCH", "1", "(MODSEQ)")
        before = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
        cur = os.path.join(srv.mbox_path("alice"), "cur")
        first, second = files(srv, "alice", "cur")
        # mutt marks a message answered and read by renaming it, and deletes by unlinking.
        os.rename(os.path.join(cur, first), os.path.join(cur, first[:-len(":2,")] + ":2,RS"))
        os.unlink(os.path.join(cur, second))
        # A message dropped into new/ by another deliverer.
        with open(os.path.join(srv.mbox_path("alice"), "new", "1.outside.host"), "wb") as f:
            f.write(b"Subject: dropped\n\nin by hand\n")
        typ, data = m.noop()
        typ, data = m.uid("FETCH", "1:*", "(FLAGS MODSEQ)")
        text = b" ".join(d for d in data if isinstance(d, bytes))
        self.assertRegex(text, rb"UID 1 FLAGS \(\\Answered \\Seen[ )]")
        self.assertNotIn(b"UID 2 ", text)
        after = int(re.search(rb"UID 1 FLAGS \([^)]*\) MODSEQ \((\d+)\)", text).group(1))
        self.assertGreater(after, before)
        typ, data = m.uid("FETCH", "3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"Subject: dropped", data[0][1])
        m.logout()

    def test_folders_are_maildir_plus_plus(self):
        srv = self.srv
        m = imaps_login(srv)
        self.assertEqual(m.create("Work/2026")[0], "OK")
        folder = os.path.join(srv.mbox_path("alice"), ".Work.2026")
        for sub in ("cur", "new", "tmp", "maildirfolder"):
            self.assertTrue(os.path.exists(os.path.join(folder, sub)), sub)
        self.assertEqual(m.create("a.b")[0], "NO")
        typ, _ = m.append("Work/2026", r"(\Seen)", None,
                          b"Subject: appended\r\n\r\nbody\r\n")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(files(srv, "alice", "cur", ".Work.2026")), 1)
        self.assertTrue(files(srv, "alice", "cur", ".Work.2026")[0].endswith(":2,S"))
        typ, data = m.list()
        listing = b"\n".join(data)
        self.assertIn(b'"Work/2026"', listing)
        self.assertIn(b"Noselect", [l for l in data if l.endswith(b'"Work"')][0])
        m.select("Work/2026")
        typ, data = m.uid("MOVE", "1", "INBOX") if "MOVE" in m.capabilities else \
            (None, None)
        self.assertEqual(typ, "OK")
        self.assertEqual(files(srv, "alice", "cur", ".Work.2026"), [])
        self.assertEqual(len(files(srv, "alice", "cur")), 1)
        self.assertEqual(m.rename("Work/2026", "Old/2026")[0], "OK")
        self.assertTrue(os.path.isdir(os.path.join(srv.mbox_path("alice"), ".Old.2026")))
        self.assertEqual(m.delete("Old/2026")[0], "OK")
        self.assertFalse(os.path.exists(os.path.join(srv.mbox_path("alice"), ".Old.2026")))
        m.logout()

    def test_pop3_reads_and_deletes_files(self):
        srv = self.srv
        send(srv, "bob@test.example", "pop-1")
        send(srv, "bob@test.example", "pop-2")
        srv.wait_messages("bob", 2)
        p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=insecure_tls(), timeout=30)
        p.user("bob")
        p.pass_("pw-bob")
        count, _ = p.stat()
        self.assertEqual(count, 2)
        uidl = [l.split()[1] for l in p.uidl()[1]]
        self.assertTrue(all(re.fullmatch(rb"[0-9A-F]{16}", u) for u in uidl), uidl)
        lines = p.retr(1)[1]
        self.assertIn(b"Subject: pop-1", lines)
        p.dele(1)
        p.quit()
        left = srv.messages("bob")
        self.assertEqual([x["Subject"] for x in left], ["pop-2"])
        p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=insecure_tls(), timeout=30)
        p.user("bob")
        p.pass_("pw-bob")
        self.assertEqual([l.split()[1] for l in p.uidl()[1]], uidl[1:])
        p.quit()


if __name__ == "__main__":
    unittest.main()
