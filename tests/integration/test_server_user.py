"""`user = "..."`: started as root, serve binds its listeners (a port below 1024 here),
then runs as that user with no capability but CAP_NET_BIND_SERVICE; commands run by root
act as that user too. Needs root (CI runs as root); elsewhere it fails saying so."""
import os
import pwd
import re
import smtplib
import socket
import subprocess
import unittest

from harness import BIN, Server

USER = "nobody"


def privileged_port():
    """A free port below 1024."""
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port below 1024")


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class ServerUser(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            raise AssertionError("test_server_user starts the server as root: run it as root "
                                 "(CI does)")
        self.pw = pwd.getpwnam(USER)
        self.port = privileged_port()
        self.srv = Server(users=(), smtp_port=self.port, top=f'user = "{USER}"')
        # The user must be let through to its data_dir.
        os.chmod(self.srv.dir, 0o711)

    def tearDown(self):
        self.srv.cleanup()

    def test_root_binds_then_runs_as_the_user(self):
        srv = self.srv
        # `user add` run by root makes the data_dir, owned by the user.
        srv.cli("user", "add", "alice", "--password-stdin", input="pw-alice\n")
        self.assertEqual(os.stat(srv.data).st_uid, self.pw.pw_uid)
        self.assertEqual(os.stat(os.path.join(srv.data, "users")).st_uid, self.pw.pw_uid)
        # A data_dir someone else owns is refused, naming the fix.
        os.chown(srv.data, 0, 0)
        r = subprocess.run([BIN, "serve", "-c", srv.config], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"belongs to uid 0, not to {USER}: run `chown -R {USER}: {srv.data}`",
                      r.stderr.decode())
        os.chown(srv.data, self.pw.pw_uid, self.pw.pw_gid)
        outdir = os.path.join(srv.dir, "out")
        os.mkdir(outdir)
        os.chown(outdir, self.pw.pw_uid, self.pw.pw_gid)
        with open(os.path.join(srv.data, "aliases"), "a") as f:
            f.write(f'idtest: "|/bin/sh -c \'id -u > {outdir}/id.out\'"\n')
        srv.cli("newaliases")
        srv.start()
        srv.wait_log(f"running as {USER} (uid {self.pw.pw_uid}")
        # Every thread (the identity is per thread on Linux): the user, and of root's
        # capabilities only CAP_NET_BIND_SERVICE (bit 10).
        tasks = os.listdir(f"/proc/{srv.proc.pid}/task")
        self.assertGreater(len(tasks), 1)
        for task in tasks:
            status = status_of(f"{srv.proc.pid}/task/{task}")
            self.assertEqual(status["Uid"].split(), [str(self.pw.pw_uid)] * 4, task)
            self.assertEqual(status["Gid"].split(), [str(self.pw.pw_gid)] * 4, task)
            self.assertEqual(int(status["CapEff"], 16), 1 << 10, task)
            self.assertEqual(int(status["CapPrm"], 16), 1 << 10, task)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("bob@client.example", ["alice@test.example", "idtest@test.example"],
                       b"Subject: dropped\r\n\r\nx\r\n")
        srv.wait_subject("alice", "dropped")
        self.assertEqual(os.stat(srv.mbox_path("alice")).st_uid, self.pw.pw_uid)
        out = os.path.join(outdir, "id.out")
        srv.wait_file(out)
        srv.wait_until("id.out written", lambda: open(out).read().strip() != "")
        with open(out) as f:
            self.assertEqual(f.read().strip(), str(self.pw.pw_uid))
        # A user who cannot write the queue: sendmail hands the message to port 25's
        # listener (here the privileged port) instead.
        r = subprocess.run([BIN, "-c", srv.config, "sendmail", "-f", "daemon@test.example",
                            "alice@test.example"], input=b"Subject: from daemon\n\nx\n",
                           capture_output=True, timeout=60, user="daemon", cwd="/")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        msg = srv.wait_subject("alice", "from daemon")
        self.assertEqual(msg["Return-Path"], "<daemon@test.example>")
        self.assertIsNotNone(msg["Message-ID"])
        r = subprocess.run([BIN, "-c", srv.config, "sendmail", "nobody@elsewhere.example"],
                           input=b"Subject: relay\n\nx\n", capture_output=True, timeout=60,
                           user="daemon", cwd="/")
        self.assertEqual(r.returncode, 1)
        self.assertIn("did not take it", r.stderr.decode())
        # A command run by root writes as the server's user.
        srv.cli("user", "add", "carol", "--password-stdin", input="pw-carol\n")
        self.assertEqual(os.stat(os.path.join(srv.data, "users")).st_uid, self.pw.pw_uid)
        srv.deliver("bob@client.example", "carol@test.example", b"Subject: c\r\n\r\nx\r\n")
        # A reload may open another privileged port.
        second = privileged_port()
        with open(srv.config) as f:
            text = f.read()
        text = text.replace(f'listen = ["127.0.0.1:{self.port}"]',
                            f'listen = ["127.0.0.1:{self.port}", "127.0.0.1:{second}"]')
        with open(srv.config, "w") as f:
            f.write(text)
        srv.cli("reload")
        srv.wait_log(f"listening on 127.0.0.1:{second} (smtp)")
        with smtplib.SMTP("127.0.0.1", second, timeout=30) as s:
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(srv.stop(), 0)
        self.assertFalse(os.path.exists(os.path.join(srv.data, "postrider.pid")))

    def test_a_data_dir_the_user_cannot_reach_is_refused(self):
        os.chmod(self.srv.dir, 0o700)
        r = self.srv.cli("user", "add", "alice", "--password-stdin", input="pw\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{USER} cannot open data_dir {self.srv.data}", r.stderr.decode())
        self.assertIn(f"every directory above it must let {USER} through", r.stderr.decode())

    def test_system_accounts_cannot_drop(self):
        with open(self.srv.config) as f:
            text = f.read()
        with open(self.srv.config, "w") as f:
            f.write(text.replace(f'user = "{USER}"', f'user = "{USER}"\naccounts = "system"'))
        r = subprocess.run([BIN, "check-config", "-c", self.srv.config], capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn('with accounts = "system" the server stays root', r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
