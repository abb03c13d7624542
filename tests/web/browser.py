#!/usr/bin/env python3
"""The webmail in a real browser: Debian's Chromium, headless, driven by Selenium through
chromium-driver, against a real server (both binaries). Logs in, reads a message
delivered by SMTP and downloads its attachment (bytes compared), writes a message with
an attachment and finds it in the recipient's mailbox, opens a hostile HTML message whose
scripts and onerror handlers must not run, posts a form without its CSRF token, tries to
reach another account's mail, flags, searches and deletes to Trash, gets a Sieve error
with its line:column, and watches the admin statistics' plots render and refresh without
a page reload. Writes screenshots of the main pages to SCREENSHOT_DIR when given.

Needs chromium, chromium-driver and python3-selenium (.ci/run installs them).
Usage: tests/web/browser.py POSTRIDER_BINARY [SCREENSHOT_DIR]"""

import email
import email.header
import email.policy
import mailbox
import os
import sys
import tempfile
import time
import unittest
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SCREENSHOTS = None
ATTACHMENT = os.urandom(20_000)


def decoded(value):
    return str(email.header.make_header(email.header.decode_header(value or "")))


def report_message():
    m = MIMEMultipart("mixed")
    m["From"] = "=?utf-8?q?Zo=C3=AB_Martin?= <zoe@test.example>"
    m["To"] = "alice@test.example"
    m["Subject"] = "=?utf-8?q?Quarterly_r=C3=A9sum=C3=A9?="
    m.attach(MIMEText("The figures are attached.\n", "plain", "utf-8"))
    att = MIMEApplication(ATTACHMENT, "octet-stream")
    att.add_header("Content-Disposition", "attachment", filename="figures.bin")
    m.attach(att)
    return m.as_bytes(policy=email.policy.SMTP)


HOSTILE = (b"From: mallory@test.example\r\nTo: alice@test.example\r\nSubject: hostile\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p id=hello>Hello</p><script>window.__pwned = 1; alert(1)</script>"
           b"<img src=x onerror=\"window.__pwned = 2; alert(2)\">"
           b"<a href=\"javascript:window.__pwned=3\" id=jslink>click</a>"
           b"<iframe src=\"https://evil.example/\"></iframe>"
           b"<svg onload=\"window.__pwned = 4\"></svg>\r\n")


class BrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(users=("alice", "bob", "carol"), web={"admins": '["carol"]'}).start()
        harness.wait_port(cls.srv.ports["https"])
        cls.base = f"https://127.0.0.1:{cls.srv.ports['https']}"
        cls.send("zoe@test.example", "alice@test.example", report_message())
        cls.send("mallory@test.example", "alice@test.example", HOSTILE)
        cls.downloads = tempfile.mkdtemp(prefix="postrider-dl-")
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                    "--window-size=1200,900", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {
            "download.default_directory": cls.downloads,
            "download.prompt_for_download": False,
        })
        cls.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        cls.driver.set_page_load_timeout(30)
        cls.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                   {"behavior": "allow", "downloadPath": cls.downloads})

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.srv.cleanup()

    @classmethod
    def send(cls, sender, rcpt, message):
        cls.srv.deliver(sender, rcpt, message)

    def shot(self, name):
        if SCREENSHOTS:
            self.driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))

    def login(self, user, password):
        d = self.driver
        d.delete_all_cookies()
        d.get(self.base + "/")
        self.shot("login")
        d.find_element(By.NAME, "username").send_keys(user)
        d.find_element(By.NAME, "password").send_keys(password)
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        # The answer replaces the page: /mail after a good login, /login after a bad one.
        WebDriverWait(d, 15).until(lambda d: d.current_url.endswith(("/mail", "/login")))

    def open_subject(self, subject):
        d = self.driver
        d.get(self.base + "/mail")
        d.find_element(By.LINK_TEXT, subject).click()

    def test_1_login_read_and_download(self):
        d = self.driver
        self.login("alice", "wrong")
        self.assertIn("Wrong user name or password", d.page_source)
        self.login("alice", "pw-alice")
        self.assertTrue(d.current_url.endswith("/mail"), d.current_url)
        self.assertIn("Quarterly résumé", d.page_source)
        self.assertIn("Zoë Martin", d.page_source)
        self.shot("mailbox")
        self.open_subject("Quarterly résumé")
        self.assertEqual(d.find_element(By.CSS_SELECTOR, "dd.from").text, "Zoë Martin <zoe@test.example>")
        self.shot("message")
        d.find_element(By.LINK_TEXT, "figures.bin").click()
        target = os.path.join(self.downloads, "figures.bin")
        deadline = time.time() + 20
        while time.time() < deadline and not os.path.exists(target):
            time.sleep(0.1)
        self.assertTrue(os.path.exists(target), os.listdir(self.downloads))
        with open(target, "rb") as f:
            self.assertEqual(f.read(), ATTACHMENT)

    def test_2_hostile_html_does_not_run(self):
        d = self.driver
        self.login("alice", "pw-alice")
        self.open_subject("hostile")
        self.assertIn("Hello", d.find_element(By.CSS_SELECTOR, "div.html").text)
        time.sleep(0.5)
        with self.assertRaises(NoAlertPresentException):
            d.switch_to.alert.text
        self.assertIsNone(d.execute_script("return window.__pwned === undefined ? null : window.__pwned"))
        for link in d.find_elements(By.ID, "jslink") + d.find_elements(By.LINK_TEXT, "click"):
            self.assertFalse((link.get_attribute("href") or "").startswith("javascript:"))
        self.assertEqual(d.find_elements(By.TAG_NAME, "iframe"), [])
        self.assertEqual(d.find_elements(By.TAG_NAME, "script"), [])

    def test_3_compose_with_an_attachment(self):
        d = self.driver
        self.login("alice", "pw-alice")
        d.get(self.base + "/mail")
        d.find_element(By.LINK_TEXT, "Write").click()
        path = os.path.join(self.downloads, "notes.bin")
        data = os.urandom(12_345)
        with open(path, "wb") as f:
            f.write(data)
        d.find_element(By.NAME, "to").send_keys("bob@test.example")
        d.find_element(By.NAME, "subject").send_keys("Notes für Bob")
        d.find_element(By.NAME, "body").send_keys("Hi Bob,\nthe notes.\n")
        d.find_element(By.NAME, "attachments").send_keys(path)
        self.shot("compose")
        d.find_element(By.CSS_SELECTOR, "section.compose button[type=submit]").click()
        WebDriverWait(d, 15).until(lambda d: "done=sent" in d.current_url)
        self.assertIn("Message sent.", d.page_source)
        deadline = time.time() + 20
        got = None
        while time.time() < deadline and got is None:
            if os.path.exists(self.srv.mbox_path("bob")):
                for m in mailbox.mbox(self.srv.mbox_path("bob")):
                    if decoded(m["Subject"]) == "Notes für Bob":
                        got = m
            time.sleep(0.1)
        self.assertIsNotNone(got)
        files = [p for p in got.walk() if p.get_filename() == "notes.bin"]
        self.assertEqual(files[0].get_payload(decode=True), data)

    def test_4_a_form_without_its_token_is_refused(self):
        d = self.driver
        self.login("alice", "pw-alice")
        d.get(self.base + "/mail")
        # A form a hostile page could make: same fields as the logout form, no token.
        d.execute_script("""
            const f = document.createElement('form');
            f.method = 'post'; f.action = '/logout';
            document.body.appendChild(f); f.submit();""")
        WebDriverWait(d, 15).until(lambda d: d.current_url.endswith("/logout"))
        self.assertIn("Forbidden", d.page_source)
        d.get(self.base + "/mail")
        self.assertTrue(d.current_url.endswith("/mail"), "still logged in: nothing changed")

    def test_5_another_account_is_out_of_reach(self):
        d = self.driver
        self.login("bob", "pw-bob")
        for path in ("/message?folder=../alice/INBOX&uid=1", "/mail?folder=..%2Falice%2FINBOX"):
            d.get(self.base + path)
            self.assertNotIn("Quarterly", d.page_source)
            self.assertIn("Not found", d.page_source)
        d.get(self.base + "/message?folder=INBOX&uid=1")
        self.assertNotIn("Quarterly", d.page_source)

    def test_6_flag_search_and_delete_to_trash(self):
        d = self.driver
        self.login("alice", "pw-alice")
        self.open_subject("Quarterly résumé")
        d.find_element(By.CSS_SELECTOR, "button[value=flag]").click()
        WebDriverWait(d, 15).until(lambda d: "done=changed" in d.current_url)
        self.assertIn("★ Flagged", d.page_source)
        d.get(self.base + "/mail")
        d.find_element(By.NAME, "q").send_keys("figures")
        Select(d.find_element(By.NAME, "field")).select_by_value("body")
        d.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
        WebDriverWait(d, 15).until(lambda d: "q=figures" in d.current_url)
        subjects = [e.text for e in d.find_elements(By.CSS_SELECTOR, "td.subject")]
        self.assertEqual(subjects, ["Quarterly résumé"])
        self.shot("search")
        d.get(self.base + "/mail")
        row = d.find_element(By.XPATH, "//tr[td[@class='subject']/a[text()='hostile']]")
        row.find_element(By.NAME, "uid").click()
        d.find_element(By.CSS_SELECTOR, "div.toolbar button[value=delete]").click()
        WebDriverWait(d, 15).until(lambda d: "done=deleted" in d.current_url)
        self.assertEqual(d.find_elements(By.LINK_TEXT, "hostile"), [])
        d.get(self.base + "/mail?folder=Trash")
        self.assertEqual(len(d.find_elements(By.LINK_TEXT, "hostile")), 1)

    def test_7_sieve_errors_show_line_and_column(self):
        d = self.driver
        self.login("bob", "pw-bob")
        d.get(self.base + "/settings")
        box = d.find_element(By.NAME, "script")
        box.clear()
        box.send_keys('require "fileinto";\nif header :is "subject" "x" {\n  fileinto;\n}\n')
        d.find_element(By.CSS_SELECTOR, "#sieve button[type=submit]").click()
        WebDriverWait(d, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sieve ul.error li"))
        error = d.find_element(By.CSS_SELECTOR, "#sieve ul.error li").text
        self.assertRegex(error, r"^3:\d+: ")
        self.shot("settings")

    def test_8_admin_plots_render_and_refresh_in_place(self):
        d = self.driver
        self.login("carol", "pw-carol")
        d.get(self.base + "/admin")
        loaded = "return Array.from(document.querySelectorAll('img.plot'))" \
                 ".map(i => i.complete && i.naturalWidth > 0)"
        WebDriverWait(d, 15).until(lambda d: all(d.execute_script(loaded)))
        self.assertEqual(len(d.execute_script(loaded)), 6)
        d.execute_script("window.__stayed = 42")
        first = d.find_element(By.CSS_SELECTOR, "img.plot").get_attribute("src")
        self.assertNotIn("?t=", first)
        WebDriverWait(d, 20).until(
            lambda d: "?t=" in d.find_element(By.CSS_SELECTOR, "img.plot").get_attribute("src"))
        WebDriverWait(d, 15).until(lambda d: all(d.execute_script(loaded)))
        self.assertEqual(d.execute_script("return window.__stayed"), 42, "no page reload")
        self.assertNotEqual(d.find_element(By.ID, "updated").text, "at load")
        self.shot("admin")
        d.get(self.base + "/admin/queue")
        self.assertIn("Queue", d.find_element(By.TAG_NAME, "h1").text)
        self.login("alice", "pw-alice")
        d.get(self.base + "/admin")
        self.assertIn("Forbidden", d.page_source)


def main():
    global SCREENSHOTS
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    harness.BIN = os.path.abspath(sys.argv[1])
    if len(sys.argv) > 2:
        SCREENSHOTS = os.path.abspath(sys.argv[2])
        os.makedirs(SCREENSHOTS, exist_ok=True)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(BrowserTest)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    ok = result.wasSuccessful() and not result.skipped
    print(f"{os.path.basename(harness.BIN)}: browser tests {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
