"""The webmail over HTTPS with Python's http.client: the plain listener's redirect,
login (token, delay, cookie flags), reading mail delivered by SMTP (decoded fields,
sanitised HTML under a CSP, attachment bytes), CSRF refusals, one account unable to reach
another's mail, and HTTP framing attacks refused."""

import email.header
import email.policy
import http.client
import os
import re
import socket
import time
import unittest
import urllib.parse
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from harness import Server, insecure_tls


class Browser:
    """A minimal browser: one HTTPS connection per request, cookies kept."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, fields=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=insecure_tls(),
                                           timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields, doseq=True)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        for value in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            val = rest.split(";", 1)[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = val
        conn.close()
        return r, data

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        return self.request("POST", path, fields)

    def post_multipart(self, path, fields, files):
        """POSTs multipart/form-data as a browser does: text fields, then files."""
        boundary = "----postriderTestBoundary" + os.urandom(8).hex()
        body = b""
        for name, value in fields.items():
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        for name, filename, data in files:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                     f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
            body += data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=insecure_tls(),
                                           timeout=30)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r, data

    def form_token(self, page):
        m = re.search(rb'name="csrf" value="([^"]+)"', page)
        return m.group(1).decode() if m else None

    def login(self, user, password):
        _, page = self.get("/")
        return self.post("/login", {"csrf": self.form_token(page), "username": user,
                                    "password": password})


ATTACHMENT = bytes(range(256)) * 12 + b"\r\n\x00end"


def hostile_message():
    m = MIMEMultipart("mixed")
    m["From"] = "=?utf-8?q?=C3=89lise?= <elise@test.example>"
    m["To"] = "alice@test.example"
    m["Subject"] = "=?utf-8?q?Caf=C3=A9_menu?="
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText("plain menu", "plain", "utf-8"))
    alt.attach(MIMEText('<p>menu<img src="x" onerror="alert(1)"><script>alert(2)</script>'
                        '<img src="http://tracker.example/p.gif"></p>', "html", "utf-8"))
    m.attach(alt)
    att = MIMEApplication(ATTACHMENT, "octet-stream")
    att.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "données.bin"))
    m.attach(att)
    return m.as_bytes(policy=email.policy.SMTP)


class WebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        from harness import wait_port
        wait_port(cls.srv.ports["https"])
        cls.send("carol@test.example", "bob@test.example",
                 b"From: carol@test.example\r\nSubject: bob's secret\r\n\r\nfor bob only\r\n")

    @classmethod
    def send(cls, sender, rcpt, message):
        cls.srv.deliver(sender, rcpt, message)

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def browser(self):
        return Browser(self.srv.ports["https"])

    def test_plain_http_only_redirects_to_https(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.ports["http"], timeout=10)
        conn.request("GET", "/mail?folder=INBOX", headers={"Host": f"127.0.0.1:{self.srv.ports['http']}"})
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 301)
        self.assertEqual(r.headers["Location"],
                         f"https://127.0.0.1:{self.srv.ports['https']}/mail?folder=INBOX")
        conn.request("POST", "/login", body="x=1", headers={"Host": "evil.example/x"})
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 308)
        self.assertTrue(r.headers["Location"].startswith("https://mx.test.example:"),
                        r.headers["Location"])

    def test_login_page_and_a_wrong_password(self):
        b = self.browser()
        r, page = b.get("/")
        self.assertEqual(r.status, 200)
        for name in (b'name="username"', b'name="password"', b'type="submit"'):
            self.assertIn(name, page)
        self.assertIn("default-src 'none'", r.headers["Content-Security-Policy"])
        self.assertEqual(r.headers["X-Frame-Options"], "DENY")
        login_cookie = r.headers["Set-Cookie"]
        for flag in ("HttpOnly", "Secure", "SameSite=Strict"):
            self.assertIn(flag, login_cookie)
        started = time.monotonic()
        r, page = b.post("/login", {"csrf": b.form_token(page), "username": "alice",
                                    "password": "wrong"})
        self.assertEqual(r.status, 401)
        self.assertIn(b"Wrong user name or password", page)
        self.assertGreaterEqual(time.monotonic() - started, 0.09, "failed logins are delayed")
        self.assertNotIn("postrider_session", b.cookies)

    def test_login_without_the_form_token_is_refused(self):
        b = self.browser()
        r, _ = b.post("/login", {"username": "alice", "password": "pw-alice"})
        self.assertEqual(r.status, 403)
        self.assertNotIn("postrider_session", b.cookies)

    def test_reading_a_message_and_its_attachment(self):
        self.send("elise@test.example", "alice@test.example", hostile_message())
        b = self.browser()
        r, _ = b.login("alice", "pw-alice")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.headers["Location"], "/mail")
        cookie = r.headers.get_all("Set-Cookie")[0]
        self.assertTrue(cookie.startswith("postrider_session="), cookie)
        for flag in ("HttpOnly", "Secure", "SameSite=Strict"):
            self.assertIn(flag, cookie)
        r, page = b.get("/mail")
        self.assertEqual(r.status, 200)
        text = page.decode()
        self.assertIn("Café menu", text)
        self.assertIn("Élise", text)
        uid = max(int(u) for u in re.findall(r'/message\?folder=INBOX&amp;uid=(\d+)', text))
        row = (f'<tr class="unseen"><td class="pick"><input type="checkbox" name="uid" value="{uid}" '
               'aria-label="Choose"></td><td class="from">Élise</td><td class="subject">'
               f'<a href="/message?folder=INBOX&amp;uid={uid}">')
        self.assertIn(row, text, "a new message is listed as unseen")
        r, page = b.get(f"/message?folder=INBOX&uid={uid}")
        self.assertEqual(r.status, 200)
        text = page.decode()
        self.assertIn("Café menu", text)
        self.assertIn("menu", text)
        self.assertNotIn("<script", text)
        self.assertNotIn("onerror", text)
        self.assertNotIn("tracker.example", text)
        self.assertIn("Remote images were not loaded", text)
        self.assertIn("default-src 'none'", r.headers["Content-Security-Policy"])
        self.assertNotIn("script-src", r.headers["Content-Security-Policy"])
        link = re.search(r'href="(/attachment\?[^"]+)"', text).group(1).replace("&amp;", "&")
        self.assertIn("données.bin", text)
        r, data = b.get(link)
        self.assertEqual(r.status, 200)
        self.assertEqual(data, ATTACHMENT)
        disposition = r.headers["Content-Disposition"]
        self.assertTrue(disposition.startswith("attachment;"), disposition)
        self.assertIn("filename*=UTF-8''donn%C3%A9es.bin", disposition)
        self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        _, page = b.get("/mail")
        self.assertNotIn(row, page.decode(), "reading marks it seen")
        r, page = b.get(f"/message?folder=INBOX&uid={uid}&images=1")
        self.assertIn(b"tracker.example", page)
        self.assertIn("img-src 'self' data: https: http:", r.headers["Content-Security-Policy"])

    def test_csrf_token_is_required_to_log_out(self):
        b = self.browser()
        b.login("alice", "pw-alice")
        r, _ = b.post("/logout", {})
        self.assertEqual(r.status, 403)
        r, page = b.get("/mail")
        self.assertEqual(r.status, 200, "the session survives a forged logout")
        r, _ = b.post("/logout", {"csrf": "forged"})
        self.assertEqual(r.status, 403)
        r, _ = b.post("/logout", {"csrf": b.form_token(page)})
        self.assertEqual(r.status, 303)
        r, _ = b.get("/mail")
        self.assertEqual((r.status, r.headers["Location"]), (303, "/"))

    def test_one_account_never_reaches_another(self):
        b = self.browser()
        b.login("alice", "pw-alice")
        for path in ("/message?folder=../bob/INBOX&uid=1", "/mail?folder=../bob/INBOX",
                     "/mail?folder=%2Fetc", "/attachment?folder=..%2Fbob%2FINBOX&uid=1&part=1"):
            r, page = b.get(path)
            self.assertEqual(r.status, 404, path)
            self.assertNotIn(b"bob's secret", page)
            self.assertNotIn(b"for bob only", page)
        for uid in range(1, 4):
            _, page = b.get(f"/message?folder=INBOX&uid={uid}")
            self.assertNotIn(b"for bob only", page)
        r, _ = self.browser().get("/message?folder=INBOX&uid=1")
        self.assertEqual((r.status, r.headers["Location"]), (303, "/"), "no session, no mail")

    def test_compose_and_send_with_an_attachment(self):
        import email
        import mailbox
        b = self.browser()
        b.login("alice", "pw-alice")
        r, page = b.get("/compose")
        self.assertEqual(r.status, 200)
        for name in ("to", "cc", "bcc", "subject", "body", "attachments"):
            self.assertIn(f'name="{name}"'.encode(), page)
        token = b.form_token(page)
        data = os.urandom(7000)
        fields = {"to": "bob@test.example", "cc": "", "bcc": "alice@test.example",
                  "subject": "Plan für morgen", "body": "Hallo Bob,\nanbei der Plan.\n"}
        files = [("attachments", "plän.bin", data)]
        r, _ = b.post_multipart("/send", dict(fields), files)
        self.assertEqual(r.status, 403, "no token, no mail")
        r, page = b.post_multipart("/send", {**fields, "to": "", "bcc": "", "csrf": token}, files)
        self.assertEqual(r.status, 400, "no recipient, no mail")
        self.assertIn(b"Give at least one recipient", page)
        self.assertIn("Plan für morgen".encode(), page, "the form comes back filled in")
        r, _ = b.post_multipart("/send", {**fields, "csrf": token}, files)
        self.assertEqual((r.status, r.headers["Location"]), (303, "/mail?done=sent"))
        deadline = time.time() + 15
        got = None
        while time.time() < deadline and got is None:
            for m in mailbox.mbox(self.srv.mbox_path("bob")):
                if "Plan" in str(email.header.make_header(email.header.decode_header(m["Subject"] or ""))):
                    got = m
            time.sleep(0.1)
        self.assertIsNotNone(got, "bob received the message")
        self.assertIsNone(got["Bcc"], "Bcc never reaches the recipients")
        self.assertEqual(str(email.header.make_header(email.header.decode_header(got["Subject"]))),
                         "Plan für morgen")
        parts = [p for p in got.walk() if p.get_filename()]
        self.assertEqual(len(parts), 1)
        self.assertEqual(parts[0].get_filename(), "plän.bin")
        self.assertEqual(parts[0].get_payload(decode=True), data)
        text = [p for p in got.walk() if p.get_content_type() == "text/plain"][0]
        self.assertEqual(text.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n"),
                         "Hallo Bob,\nanbei der Plan.\n")
        self.assertTrue(got["Message-ID"] and got["Date"])
        _, sent = b.get("/mail?folder=Sent")
        self.assertIn("Plan für morgen", sent.decode())
        # The blind copy reached alice, without a Bcc field either.
        deadline = time.time() + 15
        while time.time() < deadline:
            mine = [m for m in mailbox.mbox(self.srv.mbox_path("alice")) if m["Subject"] and "Plan" in
                    str(email.header.make_header(email.header.decode_header(m["Subject"])))]
            if mine:
                break
            time.sleep(0.1)
        self.assertTrue(mine)
        self.assertIsNone(mine[0]["Bcc"])

    def test_reply_is_prefilled_and_threaded(self):
        self.send("carol@test.example", "alice@test.example",
                  b"From: Carol <carol@test.example>\r\nTo: alice@test.example, dan@test.example\r\n"
                  b"Message-ID: <thread-1@test.example>\r\nSubject: lunch?\r\n\r\nat noon\r\n")
        b = self.browser()
        b.login("alice", "pw-alice")
        _, page = b.get("/mail")
        uid = max(int(u) for u in re.findall(r'uid=(\d+)">lunch\?', page.decode()))
        _, page = b.get(f"/compose?folder=INBOX&reply={uid}&all=1")
        text = page.decode()
        self.assertIn('name="subject" value="Re: lunch?"', text)
        self.assertIn("Carol &lt;carol@test.example&gt;", text)
        self.assertIn('name="cc" value="dan@test.example"', text)
        self.assertIn('name="in_reply_to" value="&lt;thread-1@test.example&gt;"', text)
        self.assertIn("&gt; at noon", text)

    def test_metrics_count_what_happened(self):
        b = self.browser()
        b.login("alice", "wrong")
        deadline = time.time() + 15
        while True:
            r, body = b.get("/metrics")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            values = {}
            for line in body.decode().splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    values[name] = float(value)
            if values.get("postrider_messages_delivered_total", 0) >= 1 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(values["postrider_messages_received_total"], 1)
        self.assertGreaterEqual(values["postrider_messages_delivered_total"], 1)
        self.assertGreaterEqual(values['postrider_connections_total{protocol="smtp"}'], 1)
        self.assertGreaterEqual(values['postrider_logins_total{protocol="web",result="failure"}'], 1)
        self.assertIn("postrider_queue_size", values)
        self.assertGreaterEqual(values['postrider_delivery_latency_seconds_bucket{le="+Inf"}'], 1)

    def test_metrics_are_closed_to_other_networks(self):
        srv = Server(users=("alice",), web={"metrics_networks": '["10.0.0.0/8"]'}).start()
        try:
            from harness import wait_port
            wait_port(srv.ports["https"])
            r, body = Browser(srv.ports["https"]).get("/metrics")
            self.assertEqual(r.status, 403)
            self.assertNotIn(b"postrider_", body)
        finally:
            srv.cleanup()

    def test_requests_that_could_be_smuggled_are_refused(self):
        ctx = insecure_tls()
        with socket.create_connection(("127.0.0.1", self.srv.ports["https"]), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /mail HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:100])
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, "the smuggled request is never answered")


if __name__ == "__main__":
    unittest.main()
