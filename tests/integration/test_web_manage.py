"""The webmail's changing pages over HTTPS with Python's http.client: flags, moves,
delete to Trash, folder management and search (checked again over IMAP), the settings
(password, vacation reply, Sieve rules with line:column errors), the admin pages (queue,
accounts, aliases, statistics plots) and the CSRF and admin checks in front of them."""

import imaplib
import os
import re
import time
import unittest

from harness import Server, insecure_tls, wait_port
from test_web import Browser


def uids_in(page):
    """The UIDs a message list page links to."""
    return sorted({int(u) for u in re.findall(r'/message\?folder=[^&"]*&amp;uid=(\d+)', page.decode())})


def imap_flags(srv, user, folder="INBOX"):
    """{uid: flags} of a folder, read over IMAP."""
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=insecure_tls())
    try:
        m.login(user, f"pw-{user}")
        typ, _ = m.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return None
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        out = {}
        for line in data:
            if not line:
                continue
            text = line.decode() if isinstance(line, bytes) else line[0].decode()
            u = re.search(r"UID (\d+)", text)
            f = re.search(r"FLAGS \(([^)]*)\)", text)
            if u and f:
                out[int(u.group(1))] = set(f.group(1).split())
        return out
    finally:
        m.logout()


class WebManageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol"), web={"admins": '["carol"]'}).start()
        wait_port(cls.srv.ports["https"])
        for subject, body in (("alpha report", "numbers inside"), ("beta notes", "zebra crossing"),
                              ("gamma plan", "nothing special")):
            cls.srv.deliver("bob@test.example", "alice@test.example",
                            f"From: Bob Builder <bob@test.example>\r\nTo: alice@test.example\r\n"
                            f"Subject: {subject}\r\n\r\n{body}\r\n".encode())

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def browser(self, user="alice"):
        b = Browser(self.srv.ports["https"])
        r, _ = b.login(user, f"pw-{user}")
        self.assertEqual(r.status, 303)
        return b

    def list_page(self, b, folder="INBOX", query=""):
        r, page = b.get(f"/mail?folder={folder}{query}")
        self.assertEqual(r.status, 200)
        return page

    def uid_of(self, b, subject, folder="INBOX"):
        """The UID of the message with this subject in the folder (None without one, or
        without the folder)."""
        r, page = b.get(f"/mail?folder={folder}")
        if r.status == 404:
            return None
        self.assertEqual(r.status, 200)
        m = re.search(r'uid=(\d+)">' + re.escape(subject), page.decode())
        return int(m.group(1)) if m else None

    def test_flags_change_here_and_over_imap(self):
        b = self.browser()
        page = self.list_page(b)
        token = b.form_token(page)
        uid = self.uid_of(b, "alpha report")
        r, _ = b.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid, "action": "flag",
                               "back": "/mail?folder=INBOX"})
        self.assertEqual(r.status, 303)
        self.assertEqual(r.headers["Location"], "/mail?folder=INBOX&done=changed")
        self.assertIn("\\Flagged", imap_flags(self.srv, "alice")[uid])
        self.assertIn(f'<tr class="unseen flagged">', self.list_page(b).decode())
        b.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid, "action": "read"})
        self.assertIn("\\Seen", imap_flags(self.srv, "alice")[uid])
        b.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid, "action": "unread"})
        b.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid, "action": "unflag"})
        flags = imap_flags(self.srv, "alice")[uid]
        self.assertNotIn("\\Seen", flags)
        self.assertNotIn("\\Flagged", flags)
        # A forged form changes nothing.
        r, _ = b.post("/act", {"folder": "INBOX", "uid": uid, "action": "flag"})
        self.assertEqual(r.status, 403)
        r, _ = b.post("/act", {"csrf": "forged", "folder": "INBOX", "uid": uid, "action": "flag"})
        self.assertEqual(r.status, 403)
        self.assertNotIn("\\Flagged", imap_flags(self.srv, "alice")[uid])
        # A move to a folder that does not exist is refused and changes nothing.
        r, page = b.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid, "action": "move",
                                  "to": "No such folder"})
        self.assertEqual(r.status, 400)
        self.assertIn(uid, imap_flags(self.srv, "alice"))
        # The way back never leaves the site.
        r, _ = b.post("/act", {"csrf": token, "folder": "INBOX", "uid": uid, "action": "read",
                               "back": "//evil.example/"})
        self.assertTrue(r.headers["Location"].startswith("/mail?folder=INBOX"), r.headers["Location"])

    def test_folders_move_delete_to_trash_and_for_good(self):
        b = self.browser("bob")
        for n in range(3):
            self.srv.deliver("alice@test.example", "bob@test.example",
                             f"From: alice@test.example\r\nSubject: item {n}\r\n\r\nbody {n}\r\n".encode())
        r, page = b.get("/folders")
        self.assertEqual(r.status, 200)
        token = b.form_token(page)
        r, _ = b.post("/folders", {"action": "create", "name": "Projekte/2027"})
        self.assertEqual(r.status, 403, "no token, no folder")
        r, _ = b.post("/folders", {"csrf": token, "action": "create", "name": "Projekte/2027"})
        self.assertEqual((r.status, r.headers["Location"]), (303, "/folders?done=created"))
        r, page = b.post("/folders", {"csrf": token, "action": "create", "name": "Projekte/2027"})
        self.assertEqual(r.status, 400, "an existing folder is not made twice")
        self.assertIn(b"already exists", page)
        r, _ = b.post("/folders", {"csrf": token, "action": "create", "name": "Réunions"})
        self.assertEqual(r.status, 303)
        _, page = b.get("/folders")
        self.assertIn("Réunions", page.decode())
        u0, u1, u2 = (self.uid_of(b, f"item {n}") for n in range(3))
        r, _ = b.post("/act", {"csrf": token, "folder": "INBOX", "uid": [u0, u1], "action": "move",
                               "to": "Projekte/2027"})
        self.assertEqual(r.status, 303)
        self.assertIsNone(self.uid_of(b, "item 0"))
        self.assertIsNotNone(self.uid_of(b, "item 0", "Projekte%2F2027"))
        self.assertEqual(len(imap_flags(self.srv, "bob", "Projekte/2027")), 2)
        # Delete goes to Trash; from Trash it is gone for good.
        r, _ = b.post("/act", {"csrf": token, "folder": "INBOX", "uid": u2, "action": "delete",
                               "back": f"/message?folder=INBOX&uid={u2}"})
        self.assertEqual(r.headers["Location"], "/mail?folder=INBOX&done=deleted")
        trash_uid = self.uid_of(b, "item 2", "Trash")
        self.assertIsNotNone(trash_uid)
        r, _ = b.post("/act", {"csrf": token, "folder": "Trash", "uid": trash_uid, "action": "delete"})
        self.assertEqual(r.status, 303)
        self.assertIsNone(self.uid_of(b, "item 2", "Trash"))
        self.assertEqual(imap_flags(self.srv, "bob", "Trash"), {})
        # Rename keeps the messages; delete removes the folder; INBOX stays.
        r, _ = b.post("/folders", {"csrf": token, "action": "rename", "folder": "Projekte/2027",
                                   "name": "Archiv"})
        self.assertEqual(r.status, 303)
        self.assertEqual(len(imap_flags(self.srv, "bob", "Archiv")), 2)
        self.assertIsNone(imap_flags(self.srv, "bob", "Projekte/2027"))
        r, _ = b.post("/folders", {"csrf": token, "action": "delete", "folder": "Archiv"})
        self.assertEqual(r.status, 303)
        self.assertIsNone(imap_flags(self.srv, "bob", "Archiv"))
        r, _ = b.post("/folders", {"csrf": token, "action": "delete", "folder": "INBOX"})
        self.assertEqual(r.status, 400)
        self.assertIsNotNone(imap_flags(self.srv, "bob", "INBOX"))
        r, _ = b.post("/folders", {"csrf": token, "action": "create", "name": "../../etc"})
        self.assertEqual(r.status, 400, "no folder outside the user's own")

    def test_search_by_from_subject_and_body(self):
        b = self.browser()
        page = self.list_page(b, query="&q=zebra&field=body")
        self.assertEqual(len(uids_in(page)), 1)
        self.assertIn(b"beta notes", page)
        page = self.list_page(b, query="&q=GAMMA&field=subject")
        self.assertEqual(len(uids_in(page)), 1)
        self.assertIn(b"gamma plan", page)
        page = self.list_page(b, query="&q=zebra&field=subject")
        self.assertEqual(uids_in(page), [])
        self.assertIn(b"No messages match", page)
        page = self.list_page(b, query="&q=builder&field=from")
        self.assertGreaterEqual(len(uids_in(page)), 3)
        page = self.list_page(b, query="&q=numbers")
        self.assertIn(b"alpha report", page)
        self.assertNotIn(b"gamma plan", page)

    def test_password_change_ends_other_sessions(self):
        self.srv.cli("user", "add", "erin", "--password-stdin", input="pw-erin\n")
        other = self.browser("erin")
        b = self.browser("erin")
        r, page = b.get("/settings")
        self.assertEqual(r.status, 200)
        token = b.form_token(page)
        fields = {"csrf": token, "current": "pw-erin", "new": "new-secret-1", "repeat": "new-secret-2"}
        r, page = b.post("/settings/password", fields)
        self.assertEqual(r.status, 400)
        self.assertIn(b"differ", page)
        r, page = b.post("/settings/password", {**fields, "current": "wrong", "repeat": "new-secret-1"})
        self.assertEqual(r.status, 400)
        self.assertIn(b"current password is wrong", page)
        r, _ = b.post("/settings/password", {**fields, "repeat": "new-secret-1", "csrf": ""})
        self.assertEqual(r.status, 403)
        r, _ = b.post("/settings/password", {**fields, "repeat": "new-secret-1"})
        self.assertEqual((r.status, r.headers["Location"]), (303, "/settings?done=password"))
        r, _ = b.get("/settings")
        self.assertEqual(r.status, 200, "this browser keeps a (new) session")
        r, _ = other.get("/mail")
        self.assertEqual(r.status, 303, "the other session was logged out")
        r, _ = Browser(self.srv.ports["https"]).login("erin", "pw-erin")
        self.assertEqual(r.status, 401)
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=insecure_tls())
        self.assertEqual(m.login("erin", "new-secret-1")[0], "OK")
        m.logout()

    def test_vacation_reply_on_and_off(self):
        b = self.browser()
        _, page = b.get("/settings")
        token = b.form_token(page)
        r, page = b.post("/settings/vacation", {"csrf": token, "enabled": "1", "subject": "Weg",
                                                "text": "  "})
        self.assertEqual(r.status, 400, "no reply text, no vacation")
        self.assertIn(b"Write the reply text first", page)
        self.assertFalse(os.path.exists(os.path.join(self.srv.data, "home", "alice", ".forward")))
        r, _ = b.post("/settings/vacation", {"csrf": token, "enabled": "1", "subject": "Weg: $SUBJECT",
                                             "text": "Bis Montag nicht da."})
        self.assertEqual(r.status, 303)
        forward = open(os.path.join(self.srv.data, "home", "alice", ".forward")).read()
        self.assertIn("\\alice", forward)
        self.assertIn("vacation alice", forward)
        _, page = b.get("/settings")
        self.assertIn(b'value="1" checked', page)
        self.assertIn(b"Bis Montag nicht da.", page)
        before = len(self.srv.messages("bob"))
        self.srv.deliver("bob@test.example", "alice@test.example",
                         b"From: bob@test.example\r\nTo: alice@test.example\r\nSubject: are you there\r\n\r\nhi\r\n")
        deadline = time.time() + 15
        replies = []
        while time.time() < deadline and not replies:
            replies = [m for m in self.srv.messages("bob")[before:] if "Weg:" in (m["Subject"] or "")]
            time.sleep(0.1)
        self.assertTrue(replies, "bob got the vacation reply")
        self.assertEqual(replies[0]["Subject"], "Weg: are you there")
        self.assertEqual(replies[0]["Auto-Submitted"], "auto-replied")
        r, _ = b.post("/settings/vacation", {"csrf": token, "subject": "Weg: $SUBJECT",
                                             "text": "Bis Montag nicht da."})
        self.assertEqual(r.status, 303)
        self.assertFalse(os.path.exists(os.path.join(self.srv.data, "home", "alice", ".forward")))
        _, page = b.get("/settings")
        self.assertNotIn(b'value="1" checked', page)
        self.assertIn(b"Bis Montag nicht da.", page, "the text is kept for next time")

    def test_sieve_rules_are_checked_then_run(self):
        b = self.browser("bob")
        _, page = b.get("/settings")
        token = b.form_token(page)
        bad = 'require "fileinto";\nif header :contains "subject" "[list]" {\n  fileinto;\n}\n'
        r, page = b.post("/settings/sieve", {"csrf": token, "script": bad})
        self.assertEqual(r.status, 400)
        self.assertRegex(page.decode(), r"<li>3:\d+: ")
        self.assertIn(b"fileinto;", page, "the script comes back for correction")
        sieve = os.path.join(self.srv.data, "home", "bob", ".sieve")
        self.assertFalse(os.path.exists(sieve))
        good = 'require "fileinto";\nif header :contains "subject" "[list]" {\n  fileinto "Lists";\n}\n'
        r, _ = b.post("/settings/sieve", {"csrf": token, "script": good})
        self.assertEqual((r.status, r.headers["Location"]), (303, "/settings?done=sieve"))
        self.assertEqual(open(sieve).read(), good)
        self.srv.cli("sendmail", "bob", input="Subject: [list] weekly\n\nnews\n")
        deadline = time.time() + 15
        while time.time() < deadline and self.uid_of(b, "[list] weekly", "Lists") is None:
            time.sleep(0.1)
        self.assertIsNotNone(self.uid_of(b, "[list] weekly", "Lists"))
        r, _ = b.post("/settings/sieve", {"csrf": token, "script": ""})
        self.assertEqual(r.status, 303)
        self.assertFalse(os.path.exists(sieve))

    def test_admin_pages_are_for_admins_only(self):
        b = self.browser("alice")
        for path in ("/admin", "/admin/queue", "/admin/accounts", "/admin/aliases",
                     "/admin/plot/received.svg"):
            r, page = b.get(path)
            self.assertEqual(r.status, 403, path)
        _, page = b.get("/mail")
        r, _ = b.post("/admin/accounts", {"csrf": b.form_token(page), "action": "add",
                                          "name": "mallory", "password": "mallory-pw"})
        self.assertEqual(r.status, 403)
        r, _ = Browser(self.srv.ports["https"]).login("mallory", "mallory-pw")
        self.assertEqual(r.status, 401)

    def test_admin_statistics_plots(self):
        b = self.browser("carol")
        r, page = b.get("/admin")
        self.assertEqual(r.status, 200)
        self.assertIn("script-src 'self'", r.headers["Content-Security-Policy"])
        for name in ("received", "delivered", "deferred", "bounced", "connections", "queue"):
            self.assertIn(f'/admin/plot/{name}.svg'.encode(), page)
            r, svg = b.get(f"/admin/plot/{name}.svg")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "image/svg+xml")
            self.assertTrue(svg.startswith(b"<svg ") and b"<script" not in svg)
        _, svg = b.get("/admin/plot/received.svg")
        total = int(re.search(rb"total (\d+)\)", svg).group(1))
        self.assertGreaterEqual(total, 3, "the messages delivered at start are counted")
        r, script = b.get("/admin.js")
        self.assertEqual(r.status, 200)
        self.assertIn(b"setInterval", script)
        r, _ = b.get("/admin/plot/nothing.svg")
        self.assertEqual(r.status, 404)

    def test_admin_queue_accounts_and_aliases(self):
        b = self.browser("carol")
        self.srv.cli("sendmail", "-f", "carol@test.example", "someone@unreachable.example",
                     input="Subject: stuck\n\nwaits in the queue\n")
        r, page = b.get("/admin/queue")
        self.assertEqual(r.status, 200)
        text = page.decode()
        self.assertIn("someone@unreachable.example", text)
        token = b.form_token(page)
        queue_id = re.search(r'name="id" value="([^"]+)"', text).group(1)
        r, _ = b.post("/admin/queue", {"csrf": token, "action": "flush"})
        self.assertEqual((r.status, r.headers["Location"]), (303, "/admin/queue?done=flush"))
        r, _ = b.post("/admin/queue", {"csrf": token, "action": "delete", "id": "../../etc/passwd"})
        self.assertEqual(r.status, 303)
        r, _ = b.post("/admin/queue", {"csrf": token, "action": "delete", "id": queue_id})
        self.assertEqual(r.status, 303)
        self.assertNotIn(queue_id, self.srv.cli("mailq").stdout.decode())
        # Accounts: add, reset, delete.
        r, _ = b.post("/admin/accounts", {"csrf": token, "action": "add", "name": "dave",
                                          "password": "short"})
        self.assertEqual(r.status, 400)
        r, _ = b.post("/admin/accounts", {"csrf": token, "action": "add", "name": "dave",
                                          "password": "dave-secret"})
        self.assertEqual(r.status, 303)
        dave = Browser(self.srv.ports["https"])
        self.assertEqual(dave.login("dave", "dave-secret")[0].status, 303)
        r, _ = b.post("/admin/accounts", {"csrf": token, "action": "password", "name": "dave",
                                          "password": "dave-other"})
        self.assertEqual(r.status, 303)
        self.assertEqual(dave.get("/mail")[0].status, 303, "the reset ended dave's session")
        self.assertEqual(Browser(self.srv.ports["https"]).login("dave", "dave-other")[0].status, 303)
        r, _ = b.post("/admin/accounts", {"csrf": token, "action": "delete", "name": "dave"})
        self.assertEqual(r.status, 303)
        self.assertEqual(Browser(self.srv.ports["https"]).login("dave", "dave-other")[0].status, 401)
        self.assertNotIn("dave", self.srv.cli("user", "list").stdout.decode().split())
        r, _ = b.post("/admin/accounts", {"csrf": token, "action": "delete", "name": "carol"})
        self.assertEqual(r.status, 400, "an admin cannot delete their own account")
        # Aliases: a bad line is shown, nothing saved; a good file is rebuilt at once.
        r, page = b.get("/admin/aliases")
        self.assertEqual(r.status, 200)
        original = re.search(rb'<textarea name="text"[^>]*>(.*?)</textarea>', page, re.S).group(1)
        r, page = b.post("/admin/aliases", {"csrf": token, "text": "this line has no colon\n"})
        self.assertEqual(r.status, 400)
        self.assertIn(b"line 1", page)
        text = original.decode().replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        r, _ = b.post("/admin/aliases", {"csrf": token, "text": text + "sales: alice, bob\n"})
        self.assertEqual(r.status, 303)
        self.assertTrue(r.headers["Location"].startswith("/admin/aliases?count="))
        before = len(self.srv.messages("bob"))
        import smtplib
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("carol@test.example", ["sales@test.example"],
                       b"From: carol@test.example\r\nSubject: to sales\r\n\r\nx\r\n")
        deadline = time.time() + 15
        while time.time() < deadline and len(self.srv.messages("bob")) == before:
            time.sleep(0.1)
        self.assertEqual(self.srv.messages("bob")[-1]["Subject"], "to sales")


if __name__ == "__main__":
    unittest.main()
