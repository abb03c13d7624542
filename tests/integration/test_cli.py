"""The command line of CONTRACT.md: sendmail, mailq, queue, user, check-config."""

import os
import re
import subprocess
import time
import unittest

from harness import BIN, Server, insecure_tls


class Sendmail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol")).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_t_takes_header_recipients_and_removes_bcc(self):
        msg = "To: alice@test.example\nCc: Bob <bob@test.example>\nBcc: carol@test.example\nSubject: minus-t\n\nhello\n"
        self.srv.cli("sendmail", "-t", "-f", "sender@test.example", "-F", "The Sender", input=msg)
        for user in ("alice", "bob", "carol"):
            m = self.srv.find_subject(user, "minus-t")[0]
            self.assertIsNone(m["Bcc"], user)
            self.assertEqual(m["Return-Path"], "<sender@test.example>")
            self.assertEqual(m["From"], '"The Sender" <sender@test.example>')
            self.assertIsNotNone(m["Date"])
            self.assertRegex(m["Message-ID"], r"^<[^@>]+@mx\.test\.example>$")
            self.assertEqual(m.get_payload(), "hello\n")

    def test_bp_bi_and_q_act_as_mailq_newaliases_and_flush(self):
        srv = self.srv
        srv.cli("sendmail", "-f", "alice@test.example", "dave@far.example",
                input="Subject: bp\n\nx\n")
        srv.wait_mailq("dave@far.example")
        listed = srv.cli("sendmail", "-bp", argv0="sendmail").stdout.decode()
        self.assertIn("dave@far.example", listed)
        self.assertEqual(listed, srv.cli("mailq").stdout.decode())
        with open(os.path.join(srv.data, "aliases"), "a") as f:
            f.write("bpteam: bob\n")
        out = srv.cli("-bi", argv0="sendmail").stdout.decode()
        self.assertIn("aliases", out)
        srv.cli("sendmail", "bpteam", input="Subject: via-bi\n\nx\n")
        srv.find_subject("bob", "via-bi")
        srv.cli("sendmail", "-q")
        srv.wait_log("flush requested by `postrider queue flush`")

    def test_t_survives_broken_address_header(self):
        msg = "To: alice@test.example, )broken(\nCc: ]x)\nSubject: broken-to\n\nx\n"
        self.srv.cli("sendmail", "-t", input=msg)
        self.srv.find_subject("alice", "broken-to")

    def test_recipients_on_command_line_and_dot_handling(self):
        self.srv.cli("sendmail", "alice", input="Subject: dot-ends\n\nbefore\n.\nafter\n")
        m = self.srv.find_subject("alice", "dot-ends")[0]
        self.assertEqual(m.get_payload(), "before\n")
        self.srv.cli("sendmail", "-oi", "alice@test.example", input="Subject: dot-kept\n\nbefore\n.\nafter\n")
        m = self.srv.find_subject("alice", "dot-kept")[0]
        self.assertEqual(m.get_payload(), "before\n.\nafter\n")
        self.assertIn("with local id", " ".join(m["Received"].split()))

    def test_invoked_as_sendmail(self):
        self.srv.cli("-i", "bob", argv0="sendmail", input="Subject: argv0\n\nvia argv0\n")
        self.srv.find_subject("bob", "argv0")

    def test_bs_smtp_on_stdin(self):
        script = ("EHLO local\r\nMAIL FROM:<me@test.example>\r\nRCPT TO:<alice@test.example>\r\n"
                  "RCPT TO:<far@remote.example>\r\nRCPT TO:<nobody@test.example>\r\nDATA\r\n"
                  "Subject: via-bs\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        r = self.srv.cli("sendmail", "-bs", input=script)
        lines = r.stdout.decode().split("\r\n")
        codes = [l[:3] for l in lines if l[3:4] == " "]
        # The local user may relay (far@remote.example), unknown local users are refused.
        self.assertEqual(codes, ["220", "250", "250", "250", "250", "550", "354", "250", "221"])
        self.srv.find_subject("alice", "via-bs")

    def test_sendmail_errors(self):
        r = self.srv.cli("sendmail", input="Subject: none\n\nx\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no recipients", r.stderr.decode())
        self.assertEqual(len(r.stderr.decode().strip().splitlines()), 1)
        r = self.srv.cli("sendmail", "-t", input="Subject: none\n\nx\n", check=False)
        self.assertEqual(r.returncode, 1)
        r = self.srv.cli("sendmail", "-Z", "bob", input="x\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("-Z", r.stderr.decode())


class QueueCommands(unittest.TestCase):
    def test_stopped_server_delivers_at_next_start(self):
        srv = Server(users=("alice",))
        try:
            srv.cli("sendmail", "alice", input="Subject: while-stopped\n\nqueued\n")
            ids = srv.queue_ids()
            self.assertEqual(len(ids), 1)
            out = srv.cli("mailq").stdout.decode()
            self.assertIn(ids[0], out)
            self.assertIn("alice@test.example", out)
            self.assertIn("1 Request.", out)
            show = srv.cli("queue", "show", ids[0]).stdout.decode()
            self.assertIn('status = "pending"', show)
            srv.start()
            msgs = srv.wait_messages("alice", 1)
            self.assertEqual(msgs[0]["Subject"], "while-stopped")
            srv.wait_until("the queue never emptied", lambda: not srv.queue_ids())
            self.assertIn("Mail queue is empty", srv.cli("mailq").stdout.decode())
        finally:
            srv.cleanup()

    def test_queue_delete_and_unknown_id(self):
        srv = Server(users=("alice",))
        try:
            srv.cli("sendmail", "alice", input="Subject: doomed\n\nx\n")
            (qid,) = srv.queue_ids()
            r = srv.cli("queue", "delete", qid)
            self.assertIn(qid, r.stdout.decode())
            self.assertEqual(srv.queue_ids(), [])
            r = srv.cli("queue", "show", "ABCDEF", check=False)
            self.assertEqual(r.returncode, 1)
            r = srv.cli("queue", "show", "../../etc/passwd", check=False)
            self.assertEqual(r.returncode, 1)
            srv.cli("queue", "flush")
        finally:
            srv.cleanup()


class UserCommands(unittest.TestCase):
    def test_add_list_passwd_del(self):
        srv = Server(users=())
        try:
            srv.cli("user", "add", "zoe", "--password-stdin", input="correct horse\r\n")
            self.assertEqual(srv.cli("user", "list").stdout.decode().split(), ["zoe"])
            with open(os.path.join(srv.data, "users")) as f:
                line = f.read().strip()
            self.assertTrue(line.startswith("zoe:$argon2id$"), line)
            self.assertNotIn("correct horse", line)
            r = srv.cli("user", "add", "zoe", "--password-stdin", input="x\n", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("already exists", r.stderr.decode())
            r = srv.cli("user", "add", "../evil", "--password-stdin", input="x\n", check=False)
            self.assertEqual(r.returncode, 1)
            srv.cli("user", "passwd", "zoe", "--password-stdin", input="new\n")
            with open(os.path.join(srv.data, "users")) as f:
                self.assertNotEqual(f.read().strip(), line)
            srv.cli("user", "del", "zoe")
            self.assertEqual(srv.cli("user", "list").stdout.decode().split(), [])
            r = srv.cli("user", "del", "zoe", check=False)
            self.assertEqual(r.returncode, 1)
            r = subprocess.run([BIN, "-c", srv.config, "user", "add", "nopw"], capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("--password-stdin", r.stderr.decode())
        finally:
            srv.cleanup()


class CheckConfig(unittest.TestCase):
    def run_bin(self, *args, cwd=None, env=None):
        e = dict(os.environ)
        e.pop("POSTRIDER_CONFIG", None)
        if env:
            e.update(env)
        return subprocess.run([BIN, *args], capture_output=True, timeout=30, cwd=cwd, env=e)

    def test_valid_config_before_and_after_subcommand(self):
        srv = Server(users=())
        try:
            for args in (["-c", srv.config, "check-config"], ["check-config", "-c", srv.config],
                         ["check-config", f"--config={srv.config}"]):
                r = self.run_bin(*args)
                self.assertEqual(r.returncode, 0, r.stderr)
                out = r.stdout.decode()
                self.assertIn('hostname = "mx.test.example"', out)
                self.assertIn("max_message_size = 10485760", out)
            r = self.run_bin("check-config", env={"POSTRIDER_CONFIG": srv.config})
            self.assertIn('hostname = "mx.test.example"', r.stdout.decode())
        finally:
            srv.cleanup()

    def test_embedded_defaults_and_local_file(self):
        import tempfile
        d = tempfile.mkdtemp()
        r = self.run_bin("check-config", cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertIn('"127.0.0.1:2525"', out)
        self.assertIn('"127.0.0.1:2993"', out)
        self.assertIn('data_dir = "./postrider-data"', out)
        with open(os.path.join(d, "postrider.toml"), "w") as f:
            f.write('hostname = "from-local-file.example"\n')
        r = self.run_bin("check-config", cwd=d)
        self.assertIn("from-local-file.example", r.stdout.decode())

    def test_configuration_reference_matches_check_config(self):
        # docs/configuration.md holds every key with its default: the same keys and
        # values as the effective configuration with no file (host name and domains
        # aside, which come from the machine).
        import re
        import tempfile
        import tomllib
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "docs", "configuration.md")) as f:
            block = re.search(r"```toml\n(.*?)```", f.read(), re.S).group(1)
        documented = tomllib.loads(block)
        r = self.run_bin("check-config", cwd=tempfile.mkdtemp())
        self.assertEqual(r.returncode, 0, r.stderr)
        effective = tomllib.loads(r.stdout.decode())
        for d in (documented, effective):
            d.pop("hostname")
            d.pop("domains")
        self.assertEqual(documented, effective)

    def test_errors_are_one_line_exit_1(self):
        import tempfile
        d = tempfile.mkdtemp()
        cases = {
            "bogus_key = 1\n": "bogus_key",
            "[smtp]\nmax_recipients = \"many\"\n": "max_recipients",
            "[delivery]\nretry = [\"5 minutes\"]\n": "retry",
            "[smtp]\nlisten = [\"not-an-address\"]\n": "listen",
            "[smtp]\nunknown = true\n": "unknown",
            "log_format = \"xml\"\n": "log_format",
            "recipient_delimiter = \"@\"\n": "recipient_delimiter",
            "[storage]\nbackend = \"oracle\"\n": "backend",
            "[storage]\nbackend = \"postgres\"\nurl = \"mysql://x\"\n": "url",
            "accounts = \"system\"\n[storage]\nbackend = \"postgres\"\nurl = \"postgres://a@b/c\"\n": "system",
            "[web]\nmetrics_networks = [\"nonsense\"]\n": "metrics_networks",
            "[tls]\nhandshake_timeout = \"0s\"\n": "handshake_timeout",
            "[auth]\nmax_penalty = \"soon\"\n": "max_penalty",
        }
        for text, word in cases.items():
            path = os.path.join(d, "bad.toml")
            with open(path, "w") as f:
                f.write(text)
            r = self.run_bin("-c", path, "check-config")
            err = r.stderr.decode()
            self.assertEqual(r.returncode, 1, text)
            self.assertIn(word, err, text)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertNotIn("panicked", err)
        r = self.run_bin("-c", os.path.join(d, "missing.toml"), "check-config")
        self.assertEqual(r.returncode, 1)
        r = self.run_bin("no-such-command")
        self.assertEqual(r.returncode, 1)


class Postmaster(unittest.TestCase):
    def test_user_add_postmaster_makes_root_mail_readable(self):
        srv = Server(users=("alice",))
        try:
            srv.start()
            self.assertIn("user add NAME --postmaster", srv.log())
            r = srv.cli("check-config")
            self.assertIn("--postmaster", r.stderr.decode())
            srv.cli("user", "add", "boss", "--password-stdin", "--postmaster", input="pw-boss\n")
            self.assertNotIn("--postmaster", srv.cli("check-config").stderr.decode())
            import smtplib
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                for rcpt in ("root", "postmaster", "MAILER-DAEMON"):
                    s.sendmail("x@else.example", [f"{rcpt}@test.example"],
                               f"Subject: for {rcpt}\r\n\r\nhi\r\n")
            for rcpt in ("root", "postmaster", "MAILER-DAEMON"):
                srv.wait_subject("boss", f"for {rcpt}")
        finally:
            srv.cleanup()


class Logging(unittest.TestCase):
    def test_sendmail_logins_and_queue_commands_reach_the_server_log(self):
        import imaplib
        import poplib
        from harness import insecure_tls
        srv = Server(users=("alice",))
        try:
            srv.cli("sendmail", "alice", input="Subject: doomed\n\nx\n")
            (doomed,) = srv.queue_ids()
            srv.cli("queue", "delete", doomed)
            r = srv.cli("queue", "delete", doomed, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.decode().strip(),
                             f"postrider: no such message in the queue: {doomed}")
            srv.start()
            srv.cli("sendmail", "-f", "me@test.example", "alice", input="Subject: logged\n\nx\n")
            srv.wait_subject("alice", "logged")
            srv.cli("queue", "flush")
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=insecure_tls())
            m.login("alice", "pw-alice")
            m.logout()
            p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=insecure_tls())
            p.user("alice")
            p.pass_("pw-alice")
            p.quit()
            srv.wait_log("flush requested")
            log = srv.log()
            self.assertIn(f"{doomed}: removed by `postrider queue delete`", log)
            self.assertIn("flush requested by `postrider queue flush`", log)
            self.assertRegex(log, r"[0-9A-F]+: from=<me@test\.example>, size=\d+, nrcpt=1 \(queue active\)")
            self.assertIn("imap login: sasl_method=PLAIN, sasl_username=alice", log)
            self.assertIn("pop3 login: sasl_method=PLAIN, sasl_username=alice", log)
        finally:
            srv.cleanup()


class JsonLog(unittest.TestCase):
    def test_json_lines_carry_the_queue_id(self):
        import json
        srv = Server(users=("alice",), top='log_format = "json"').start()
        try:
            srv.cli("sendmail", "-f", "me@test.example", "alice", input="Subject: j\n\nx\n")
            srv.wait_subject("alice", "j")
            srv.wait_log("status=sent")
            lines = [json.loads(l) for l in srv.log().splitlines() if l.startswith("{")]
            self.assertTrue(lines)
            self.assertTrue(all({"time", "level", "message"} <= set(l) for l in lines))
            sent = [l for l in lines if "status=sent" in l["message"]]
            self.assertTrue(sent, lines)
            qid = sent[0]["queue_id"]
            self.assertRegex(qid, r"^[0-9A-F]{16}$")
            self.assertTrue(sent[0]["message"].startswith("to=<alice@"), sent[0])
            about = [l for l in lines if l.get("queue_id") == qid]
            self.assertGreaterEqual(len(about), 2, about)
        finally:
            srv.cleanup()


class LogSummary(unittest.TestCase):
    """`postrider log-summary` over the server's own log, in both formats; and the few
    lines one message takes."""

    def traffic(self, srv):
        import smtplib
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.sendmail("bob@client.example", ["alice@test.example"], b"Subject: one\r\n\r\nx\r\n")
            s.mail("bob@client.example")
            self.assertEqual(s.rcpt("x@elsewhere.example")[0], 554)
        srv.cli("sendmail", "-f", "alice@test.example", "carol@far.example",
                input="Subject: far\n\nx\n")
        srv.cli("sendmail", "-f", "alice@test.example", "nobody@test.example",
                input="Subject: lost\n\nx\n")
        srv.wait_log("status=deferred")
        srv.wait_log("status=bounced")
        srv.wait_subject("alice", "Undelivered Mail Returned to Sender")

    def check(self, srv):
        r = srv.cli("log-summary", srv.log_path, "--top", "3")
        out = r.stdout.decode()
        # one, far, lost and the bounce of lost; one and the bounce delivered.
        for n, what in [(4, "received"), (2, "delivered"), (1, "deferred"), (1, "bounced"),
                        (1, "rejected")]:
            self.assertRegex(out, rf"(?m)^ +{n}  {what}\b")
        self.assertRegex(out, r"Senders \(top 3\)\n +2  alice@test\.example\n")
        self.assertRegex(out, r"Recipients \(top 3\)\n +2  alice@test\.example\n")
        self.assertIn("RCPT: 554 5.7.1 Relay access denied", out)
        # From standard input too.
        with open(srv.log_path, "rb") as f:
            again = srv.cli("log-summary", "--top", "3", input=f.read()).stdout.decode()
        self.assertEqual(again, out)
        # A file that cannot be read: a one-line error, exit 1.
        r = srv.cli("log-summary", os.path.join(srv.dir, "no-such.log"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.decode(), r"^postrider: .*no-such\.log: No such file")

    def test_text_log(self):
        srv = Server(users=("alice",), log="info").start()
        try:
            self.traffic(srv)
            self.check(srv)
            # One message received over SMTP and delivered locally: four lines with its
            # queue id (client, from, to, removed), none of its own without.
            qid = re.search(r"([0-9A-F]{16}): from=<bob@client\.example>", srv.log()).group(1)
            about = [l for l in srv.log().splitlines() if qid in l]
            self.assertEqual(len(about), 4, about)
        finally:
            srv.cleanup()

    def test_json_log(self):
        srv = Server(users=("alice",), log="info", top='log_format = "json"').start()
        try:
            self.traffic(srv)
            self.check(srv)
        finally:
            srv.cleanup()


class Lifecycle(unittest.TestCase):
    """data_dir/format-version, the pid file, `postrider reload` and `postrider stop`."""

    def test_pid_file_reload_and_stop(self):
        import signal
        import socket
        srv = Server(users=("alice",)).start()
        try:
            with open(os.path.join(srv.data, "format-version")) as f:
                self.assertEqual(f.read(), "1\n")
            with open(os.path.join(srv.data, "postrider.pid")) as f:
                self.assertEqual(int(f.read()), srv.proc.pid)
            r = srv.cli("reload")
            self.assertIn("reload requested", r.stdout.decode())
            srv.wait_log("SIGHUP: configuration reloaded")
            # A configuration that no longer validates is refused; the server goes on.
            with open(srv.config, "a") as f:
                f.write("\nno_such_key = 1\n")
            os.kill(srv.proc.pid, signal.SIGHUP)
            srv.wait_log("SIGHUP: the configuration does not validate")
            socket.create_connection(("127.0.0.1", srv.ports["smtp"]), timeout=5).close()
            with open(srv.config) as f:
                text = f.read().replace("\nno_such_key = 1\n", "")
            with open(srv.config, "w") as f:
                f.write(text)
            r = srv.cli("stop")
            self.assertIn("stopped", r.stdout.decode())
            self.assertEqual(srv.proc.wait(timeout=30), 0)
            srv.proc = None
            self.assertFalse(os.path.exists(os.path.join(srv.data, "postrider.pid")))
            r = srv.cli("stop", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("no server is running", r.stderr.decode())
        finally:
            srv.cleanup()

    def test_a_data_dir_of_the_previous_format_is_upgraded(self):
        """Format 0: a data_dir as postrider wrote it before format-version existed (made
        here by a server whose stamp is then removed): mail, accounts and the queue are
        served as they were, and the data_dir is stamped with the current format."""
        import poplib
        srv = Server(users=("alice",)).start()
        try:
            srv.deliver("bob@client.example", "alice@test.example", b"Subject: old\r\n\r\nx\r\n")
            srv.cli("sendmail", "-f", "alice@test.example", "carol@far.example",
                    input="Subject: waiting\n\nx\n")
            srv.wait_log("status=deferred")
            self.assertEqual(srv.stop(), 0)
            os.remove(os.path.join(srv.data, "format-version"))
            srv.start()
            srv.wait_log("on-disk format 0 upgraded to 1")
            with open(os.path.join(srv.data, "format-version")) as f:
                self.assertEqual(f.read(), "1\n")
            self.assertIn("carol@far.example", srv.cli("mailq").stdout.decode())
            pop = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
            try:
                pop.stls(insecure_tls())
                pop.user("alice")
                pop.pass_("pw-alice")
                self.assertEqual(pop.stat()[0], 1)
                self.assertIn(b"Subject: old", b"\n".join(pop.retr(1)[1]))
            finally:
                pop.quit()
        finally:
            srv.cleanup()

    def test_a_data_dir_of_a_newer_format_is_refused(self):
        srv = Server(users=("alice",))
        try:
            with open(os.path.join(srv.data, "format-version"), "w") as f:
                f.write("99\n")
            r = subprocess.run([BIN, "serve", "-c", srv.config], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("on-disk format 99, newer than this postrider", r.stderr.decode())
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
