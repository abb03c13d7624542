"""The webmail and admin pages with the PostgreSQL backend, on two nodes sharing one
database: what one node's web pages change, the other node's IMAP serves (flags, moves,
delete to Trash, folders, Sent copies, Sieve rules, vacation replies, accounts, aliases),
and storage limits set on one node enforced on the other.
Run by tests/pg/run.sh with a throwaway cluster ($POSTRIDER_PG_URL) for each binary."""

import imaplib
import os
import re
import smtplib
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Server, insecure_tls, wait_port  # noqa: E402
from test_two_nodes import fresh_database, imap, storage, wait_for  # noqa: E402
from test_web import Browser  # noqa: E402


def subjects(srv, user, folder="INBOX"):
    """The subjects in a folder, over IMAP (None without the folder)."""
    m = imap(srv, user)
    try:
        if m.select(f'"{folder}"', readonly=True)[0] != "OK":
            return None
        _, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                subject = item[1].decode().strip().removeprefix("Subject: ")
                out[subject] = set(flags.group(1).decode().split()) if flags else set()
        return out
    finally:
        m.logout()


def send(srv, sender, rcpt, subject, body="text"):
    with smtplib.SMTP(srv.smtp_ip, srv.ports["smtp"], timeout=30) as s:
        s.sendmail(sender, [rcpt], f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\n{body}\r\n")


class WebOnPostgresTest(unittest.TestCase):
    def setUp(self):
        url = fresh_database()
        self.a = Server(users=("alice", "bob", "carol"), web={"admins": '["carol"]'},
                        extra=storage(url, "node-a")).start()
        self.addCleanup(self.a.cleanup)
        self.b = Server(users=(), extra=storage(url, "node-b"), smtp_ip="127.0.0.2").start()
        self.addCleanup(self.b.cleanup)
        wait_port(self.a.ports["https"])

    def browser(self, user):
        br = Browser(self.a.ports["https"])
        self.assertEqual(br.login(user, f"pw-{user}")[0].status, 303)
        return br

    def test_mail_pages_change_what_the_other_node_serves(self):
        for s in ("one", "two", "three"):
            send(self.a, "bob@test.example", "alice@test.example", s)
        wait_for("three messages", lambda: len(subjects(self.b, "alice") or {}) == 3)
        br = self.browser("alice")
        _, page = br.get("/mail")
        token = br.form_token(page)
        uid = {s: int(u) for u, s in re.findall(r'uid=(\d+)">(one|two|three)<', page.decode())}
        self.assertEqual(br.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid["one"],
                                          "action": "flag"})[0].status, 303)
        self.assertIn("\\Flagged", subjects(self.b, "alice")["one"])
        self.assertEqual(br.post("/folders", {"csrf": token, "action": "create",
                                              "name": "Archiv"})[0].status, 303)
        br.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid["two"], "action": "move",
                         "to": "Archiv"})
        br.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid["three"], "action": "delete"})
        self.assertEqual(set(subjects(self.b, "alice")), {"one"})
        self.assertEqual(set(subjects(self.b, "alice", "Archiv")), {"two"})
        self.assertEqual(set(subjects(self.b, "alice", "Trash")), {"three"})
        _, page = br.get("/mail?folder=INBOX&q=one&field=subject")
        self.assertEqual(len(re.findall(r'name="uid" value="\d+"', page.decode())), 1)
        # Compose: bob gets it, the Sent copy is in the database.
        _, page = br.get("/compose")
        r, _ = br.post_multipart("/send", {"csrf": br.form_token(page), "to": "bob@test.example",
                                           "subject": "from the web", "body": "hello bob"},
                                 [("attachments", "a.bin", b"\x00\x01")])
        self.assertEqual(r.status, 303)
        wait_for("bob's copy", lambda: "from the web" in (subjects(self.b, "bob") or {}))
        self.assertIn("from the web", subjects(self.b, "alice", "Sent"))

    def test_settings_and_admin_on_the_database(self):
        br = self.browser("bob")
        _, page = br.get("/settings")
        token = br.form_token(page)
        script = 'require "fileinto";\nif header :contains "subject" "[list]" { fileinto "Lists"; }\n'
        self.assertEqual(br.post("/settings/sieve", {"csrf": token, "script": script})[0].status, 303)
        self.assertEqual(br.post("/settings/vacation", {"csrf": token, "enabled": "1",
                                                        "subject": "Away", "text": "Back soon."})[0].status, 303)
        send(self.b, "alice@test.example", "bob@test.example", "[list] news")
        wait_for("the Sieve rule", lambda: "[list] news" in (subjects(self.b, "bob", "Lists") or {}))
        wait_for("the vacation reply", lambda: "Away" in (subjects(self.b, "alice") or {}))
        admin = self.browser("carol")
        _, page = admin.get("/admin/accounts")
        token = admin.form_token(page)
        self.assertEqual(admin.post("/admin/accounts", {"csrf": token, "action": "add", "name": "dave",
                                                        "password": "dave-secret"})[0].status, 303)
        m = imaplib.IMAP4_SSL("127.0.0.1", self.b.ports["imaps"], ssl_context=insecure_tls())
        self.assertEqual(m.login("dave", "dave-secret")[0], "OK", "the other node knows dave")
        m.logout()
        self.assertEqual(Browser(self.a.ports["https"]).login("dave", "dave-secret")[0].status, 303)
        _, page = admin.get("/admin/aliases")
        text = re.search(rb'<textarea name="text"[^>]*>(.*?)</textarea>', page, re.S).group(1).decode()
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        r, _ = admin.post("/admin/aliases", {"csrf": token, "text": text + "sales: alice\n"})
        self.assertEqual(r.status, 303)
        send(self.b, "bob@test.example", "sales@test.example", "for sales")
        wait_for("the alias on the other node", lambda: "for sales" in (subjects(self.b, "alice") or {}))
        r, page = admin.get("/admin")
        self.assertEqual(r.status, 200)
        self.assertIn(b"/admin/plot/received.svg", page)


    def test_quota_on_the_database(self):
        send(self.a, "bob@test.example", "alice@test.example", "counted", ("x" * 70 + "\r\n") * 30)
        wait_for("the message", lambda: "counted" in (subjects(self.b, "alice") or {}))
        out = self.a.cli("user", "quota", "alice", "3K").stdout.decode()
        self.assertIn("of 3072 bytes used", out)
        m = imap(self.b, "alice")
        typ, data = m.getquotaroot("INBOX")
        self.assertIn(b"STORAGE", b" ".join(d for d in sum(data, []) if isinstance(d, bytes)))
        typ, data = m.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"y" * 3000)
        self.assertEqual(typ, "NO")
        self.assertIn(b"OVERQUOTA", data[0])
        m.logout()
        self.a.cli("user", "quota", "alice", "none")
        m = imap(self.b, "alice")
        self.assertEqual(m.append("INBOX", None, None, b"Subject: big\r\n\r\nfits now")[0], "OK")
        m.logout()


if __name__ == "__main__":
    unittest.main()
