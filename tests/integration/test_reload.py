"""SIGHUP / `postrider reload`: the whole configuration is reloaded while sessions go on."""
import imaplib
import os
import signal
import smtplib
import socket
import unittest

from harness import Server, free_port


def refused(port):
    """Whether nothing listens on 127.0.0.1:port any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True


class Reload(unittest.TestCase):
    def setUp(self):
        self.srv = Server(users=("alice", "bob")).start()

    def tearDown(self):
        self.srv.cleanup()

    def edit_config(self, *pairs):
        with open(self.srv.config) as f:
            text = f.read()
        for old, new in pairs:
            self.assertIn(old, text)
            text = text.replace(old, new, 1)
        with open(self.srv.config, "w") as f:
            f.write(text)

    def reload(self, times=1, signal_by_hand=False):
        if signal_by_hand:
            os.kill(self.srv.proc.pid, signal.SIGHUP)
        else:
            self.srv.cli("reload")
        self.srv.wait_until("the reload", lambda: self.srv.log().count(
            "SIGHUP: configuration reloaded") >= times)

    def test_listeners_limits_domains_and_aliases_change_while_a_session_goes_on(self):
        srv = self.srv
        p = srv.ports
        aliases = os.path.join(srv.dir, "other-aliases")
        with open(aliases, "w") as f:
            f.write("team: bob\n")
        new_smtp = free_port()
        # A session opened before the reload, on a listener the reload removes.
        old = smtplib.SMTP("127.0.0.1", p["smtp"], timeout=30)
        old.ehlo("client.example")
        old.mail("a@client.example")
        self.edit_config(
            ('domains = ["test.example", "localhost"]',
             'domains = ["test.example", "localhost", "new.example"]'),
            (f'listen = ["127.0.0.1:{p["smtp"]}"]',
             f'listen = ["127.0.0.1:{new_smtp}"]\nmax_message_size = 12345'),
            (f'listen = ["127.0.0.1:{p["pop3"]}"]', "listen = []"),
            (f'listen_tls = ["127.0.0.1:{p["imaps"]}"]',
             f'listen_tls = ["127.0.0.1:{p["imaps"]}"]\nmax_connections_per_ip = 1'),
            ("[delivery]\n", f'[delivery]\naliases = "{aliases}"\n'),
        )
        self.reload()
        # The session in progress goes on to deliver.
        self.assertEqual(old.rcpt("alice@test.example")[0], 250)
        self.assertEqual(old.data(b"Subject: before\r\n\r\nbody\r\n")[0], 250)
        old.quit()
        srv.wait_subject("alice", "before")
        # Listeners: the new SMTP port answers, the removed ones are closed.
        self.assertTrue(refused(p["smtp"]))
        self.assertTrue(refused(p["pop3"]))
        with smtplib.SMTP("127.0.0.1", new_smtp, timeout=30) as s:
            s.ehlo("client.example")
            self.assertEqual(s.esmtp_features.get("size"), "12345")
            # A new local domain and the new aliases file.
            s.sendmail("a@client.example", ["team@new.example"],
                       b"Subject: after\r\n\r\nbody\r\n")
        srv.wait_subject("bob", "after")
        # A new limit: a second IMAP connection from this address is refused.
        first = imaplib.IMAP4("127.0.0.1", p["imap"])
        try:
            with socket.create_connection(("127.0.0.1", p["imap"]), timeout=10) as c:
                self.assertIn(b"* BYE [UNAVAILABLE]", c.recv(200))
        finally:
            first.logout()

    def test_the_log_level_changes(self):
        srv = self.srv
        socket.create_connection(("127.0.0.1", srv.ports["smtp"]), timeout=5).close()
        srv.wait_log("DEBUG connect from")
        self.edit_config(('log = "debug"', 'log = "info"'))
        self.reload()
        before = srv.log().count("DEBUG connect from")
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.noop()
        srv.wait_until("the disconnect", lambda: srv.log().count("disconnect from") >= 2)
        self.assertEqual(srv.log().count("DEBUG connect from"), before)

    def test_keys_naming_where_data_lives_wait_for_the_next_start(self):
        srv = self.srv
        self.edit_config((f'data_dir = "{srv.data}"',
                          f'data_dir = "{srv.data}-elsewhere"\nuser = "nobody"'),
                         ('domains = ["test.example", "localhost"]',
                          'domains = ["test.example", "localhost", "new.example"]'))
        # `postrider reload` would look for the pid file in the new data_dir.
        self.reload(signal_by_hand=True)
        srv.wait_log("SIGHUP: data_dir, user changed: takes effect at the next start")
        self.assertFalse(os.path.exists(srv.data + "-elsewhere"))
        # The rest of the file is in force, the data stays where it was.
        srv.deliver("a@client.example", "alice@new.example", b"Subject: here\r\n\r\nx\r\n")
        self.assertEqual(len(srv.messages("alice")), 1)

    def test_a_listener_that_cannot_be_opened_is_logged_and_the_rest_applied(self):
        srv = self.srv
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:
            self.edit_config(
                (f'[lmtp]\nlisten = ["127.0.0.1:{srv.ports["lmtp"]}"]',
                 f'[lmtp]\nlisten = ["127.0.0.1:{srv.ports["lmtp"]}", "127.0.0.1:{port}"]'),
                ('domains = ["test.example", "localhost"]',
                 'domains = ["test.example", "localhost", "new.example"]'))
            self.reload()
            srv.wait_log(f"reload: cannot listen on 127.0.0.1:{port} (lmtp)")
            srv.deliver("a@client.example", "bob@new.example", b"Subject: on\r\n\r\nx\r\n")
        finally:
            busy.close()
        # A second reload reads the file again too: the domain goes away.
        self.edit_config(('domains = ["test.example", "localhost", "new.example"]',
                          'domains = ["test.example", "localhost"]'))
        self.reload(times=2)
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            s.mail("a@client.example")
            self.assertGreaterEqual(s.rcpt("bob@new.example")[0], 500)

    def test_a_certificate_that_cannot_be_read_keeps_the_running_configuration(self):
        srv = self.srv
        self.edit_config(
            ('domains = ["test.example", "localhost"]',
             'domains = ["test.example", "localhost", "new.example"]'),
            ("[delivery]\n", '[tls]\ncert = "/nonexistent/cert.pem"\n'
                             'key = "/nonexistent/key.pem"\n\n[delivery]\n'))
        srv.cli("reload")
        srv.wait_log("SIGHUP: TLS cannot be set up, the running configuration stays")
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            s.mail("a@client.example")
            code, _ = s.rcpt("alice@new.example")
            self.assertGreaterEqual(code, 500)


if __name__ == "__main__":
    unittest.main()
