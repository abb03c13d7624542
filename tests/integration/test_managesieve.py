"""ManageSieve (RFC 5804) on `[managesieve] listen`: capabilities, STARTTLS then
AUTHENTICATE PLAIN (refused without TLS), PUTSCRIPT checked by the Sieve compiler (errors
with line:column), LISTSCRIPTS, GETSCRIPT, SETACTIVE, RENAMESCRIPT, DELETESCRIPT,
HAVESPACE, CHECKSCRIPT; the active script is what delivery runs (in place of ~/.sieve);
one user never sees another's scripts."""

import base64
import os
import re
import smtplib
import socket
import ssl
import unittest

from harness import Server, insecure_tls


class SieveClient:
    """A small ManageSieve client: strings quoted or as `{n+}` literals, responses read
    up to their OK/NO/BYE line (literals in them read whole)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")

    def response(self):
        """(status line, the lines before it) with literals joined in."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("connection closed")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            m = re.search(r"\{(\d+)\}$", text)
            if m:
                data = self.file.read(int(m.group(1)))
                rest = self.file.readline().decode().rstrip("\r\n")
                lines.append(data.decode("utf-8", "replace") + rest)
                continue
            if text.startswith(("OK", "NO", "BYE")):
                return text, lines
            lines.append(text)

    def send(self, line, *literals):
        data = line.encode()
        for lit in literals:
            b = lit.encode() if isinstance(lit, str) else lit
            data += b" {%d+}\r\n" % len(b) + b
        self.sock.sendall(data + b"\r\n")
        return self.response()

    def starttls(self):
        status, _ = self.send("STARTTLS")
        assert status.startswith("OK"), status
        self.sock = insecure_tls().wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        return self.response()

    def login(self, user, password):
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.send(f'AUTHENTICATE "PLAIN" "{token}"')

    def close(self):
        try:
            self.send("LOGOUT")
        finally:
            self.sock.close()


MAIN = 'require ["fileinto"];\r\nif header :contains "subject" "sorted" { fileinto "Sorted"; }\r\n'


class ManageSieve(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob"))
        home = os.path.join(cls.srv.data, "home", "alice")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, ".sieve"), "w") as f:
            f.write('require ["fileinto"];\nfileinto "FromHome";\n')
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def client(self, user="alice", password="pw-alice"):
        c = SieveClient(self.srv.ports["sieve"])
        status, caps = c.response()
        self.assertTrue(status.startswith("OK"), status)
        self.assertIn('"STARTTLS"', caps)
        self.assertIn('"SASL" ""', caps)
        status, caps = c.starttls()
        self.assertEqual(status, 'OK "TLS negotiation successful."')
        self.assertIn('"SASL" "PLAIN LOGIN"', caps)
        self.assertNotIn('"STARTTLS"', caps)
        status, _ = c.login(user, password)
        self.assertEqual(status, 'OK "Logged in."')
        return c

    def send_mail(self, subject):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("x@else.example", ["alice@test.example"], f"Subject: {subject}\r\n\r\nhi\r\n")

    def test_no_login_without_tls_and_no_login_with_a_wrong_password(self):
        c = SieveClient(self.srv.ports["sieve"])
        c.response()
        status, _ = c.login("alice", "pw-alice")
        self.assertTrue(status.startswith("NO (ENCRYPT-NEEDED)"), status)
        c.starttls()
        status, _ = c.login("alice", "wrong")
        self.assertTrue(status.startswith("NO"), status)
        c.close()

    def test_scripts_are_managed_and_the_active_one_filters_mail(self):
        c = self.client()
        status, caps = c.send("CAPABILITY")
        self.assertIn('"OWNER" "alice"', caps)
        self.assertRegex(" ".join(caps), r'"SIEVE" "[^"]*fileinto')
        self.assertEqual(c.send('HAVESPACE "main" 200')[0], 'OK "Havespace completed."')
        self.assertTrue(c.send('HAVESPACE "main" 99999999')[0].startswith("NO (QUOTA/MAXSIZE)"))
        self.assertTrue(c.send('PUTSCRIPT "main"', MAIN)[0].startswith("OK"))
        self.assertTrue(c.send('PUTSCRIPT "spare"', "keep;\r\n")[0].startswith("OK"))
        status, _ = c.send('PUTSCRIPT "broken"', 'keep;\r\nif true { frobnicate; }\r\n')
        self.assertRegex(status, r'^NO "line 2:\d+: ')
        self.assertTrue(c.send('CHECKSCRIPT', "discard;")[0].startswith("OK"))
        self.assertEqual(c.send('SETACTIVE "main"')[0], 'OK "Setactive completed."')
        status, listing = c.send("LISTSCRIPTS")
        self.assertEqual(sorted(listing), ['"main" ACTIVE', '"spare"'])
        status, body = c.send('GETSCRIPT "main"')
        self.assertEqual(status, 'OK "Getscript completed."')
        self.assertEqual(body, [MAIN])
        self.assertTrue(c.send('DELETESCRIPT "main"')[0].startswith("NO (ACTIVE)"))
        self.assertTrue(c.send('GETSCRIPT "nope"')[0].startswith("NO (NONEXISTENT)"))
        self.assertTrue(c.send('RENAMESCRIPT "spare" "main"')[0].startswith("NO (ALREADYEXISTS)"))
        # The active script, not ~/.sieve, sorts alice's mail.
        self.send_mail("to be sorted")
        self.srv.wait_log("delivered to folder Sorted of alice")
        self.assertNotIn("folder FromHome", self.srv.log())
        # Renamed, it stays active.
        self.assertTrue(c.send('RENAMESCRIPT "main" "primary"')[0].startswith("OK"))
        status, listing = c.send("LISTSCRIPTS")
        self.assertIn('"primary" ACTIVE', listing)
        # With none active, ~/.sieve runs again.
        self.assertTrue(c.send('SETACTIVE ""')[0].startswith("OK"))
        self.send_mail("home again")
        self.srv.wait_log("delivered to folder FromHome of alice")
        self.assertTrue(c.send('DELETESCRIPT "primary"')[0].startswith("OK"))
        self.assertTrue(c.send('DELETESCRIPT "spare"')[0].startswith("OK"))
        self.assertEqual(c.send("LISTSCRIPTS")[1], [])
        c.close()

    def test_the_active_script_includes_personal_and_global_scripts(self):
        site = os.path.join(self.srv.data, "sieve-global")
        os.makedirs(site, exist_ok=True)
        with open(os.path.join(site, "site-rules.sieve"), "w") as f:
            f.write('require ["fileinto", "include", "variables"];\n'
                    'global "tag";\n'
                    'if header :contains "subject" "global" { fileinto "Site-${tag}"; stop; }\n')
        c = self.client()
        helper = 'require ["fileinto", "include"];\r\nif header :contains "subject" "helper" { fileinto "Helped"; return; }\r\n'
        main = ('require ["include", "variables", "fileinto"];\r\nglobal "tag";\r\nset "tag" "x";\r\n'
                'include :personal "helper";\r\ninclude :global "site-rules";\r\n'
                'include :optional "missing";\r\n')
        self.assertTrue(c.send('PUTSCRIPT "helper"', helper)[0].startswith("OK"))
        self.assertTrue(c.send('PUTSCRIPT "inc-main"', main)[0].startswith("OK"))
        self.assertTrue(c.send('SETACTIVE "inc-main"')[0].startswith("OK"))
        self.send_mail("via helper")
        self.srv.wait_log("delivered to folder Helped of alice")
        self.send_mail("a global rule")
        self.srv.wait_log("delivered to folder Site-x of alice")
        self.assertTrue(c.send('SETACTIVE ""')[0].startswith("OK"))
        for name in ("helper", "inc-main"):
            self.assertTrue(c.send(f'DELETESCRIPT "{name}"')[0].startswith("OK"))
        c.close()

    def test_one_user_never_sees_anothers_scripts(self):
        a = self.client()
        self.assertTrue(a.send('PUTSCRIPT "private"', "keep;\r\n")[0].startswith("OK"))
        b = self.client("bob", "pw-bob")
        self.assertEqual(b.send("LISTSCRIPTS")[1], [])
        self.assertTrue(b.send('GETSCRIPT "private"')[0].startswith("NO (NONEXISTENT)"))
        self.assertTrue(b.send('DELETESCRIPT "private"')[0].startswith("NO (NONEXISTENT)"))
        b.close()
        self.assertTrue(a.send('DELETESCRIPT "private"')[0].startswith("OK"))
        a.close()

    def test_a_literal_over_the_limit_is_refused_and_skipped(self):
        c = self.client()
        big = "#" * (300 * 1024)
        status, _ = c.send('PUTSCRIPT "big"', big)
        self.assertTrue(status.startswith("NO (QUOTA/MAXSIZE)"), status)
        self.assertEqual(c.send('NOOP "still"')[0], 'OK (TAG "still") "Done"')
        c.close()


if __name__ == "__main__":
    unittest.main()
