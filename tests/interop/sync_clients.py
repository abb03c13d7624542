#!/usr/bin/env python3
"""Real IMAP sync clients against postrider: isync's mbsync (IMAPS, certificate checked)
and offlineimap3 mirror an account into local Maildirs, changes are made on both sides
(flags, deletions, new folders, moves, new mail), the clients sync again, and both sides
are compared message by message afterwards (Message-IDs and flags per folder).

Needs mbsync (Debian: isync) and offlineimap3. Usage: sync_clients.py BINARY..."""

import email
import imaplib
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402


def maildir_state(root):
    """{folder: {message-id: flags}} of a Maildir tree (mbsync's Verbatim layout:
    INBOX and sub-directories; offlineimap's: one directory per folder)."""
    out = {}
    for dirpath, dirnames, _ in os.walk(root):
        if not {"cur", "new"} <= set(dirnames):
            continue
        folder = os.path.relpath(dirpath, root)
        msgs = {}
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(dirpath, sub)):
                with open(os.path.join(dirpath, sub, name), "rb") as f:
                    mid = email.message_from_binary_file(f)["Message-ID"]
                info = name.split(":2,", 1)[1] if ":2," in name else ""
                msgs[mid] = "".join(sorted(c for c in info if c in "DFRST"))
        out[folder] = msgs
    return out


def server_state(srv, user="alice"):
    """{folder: {message-id: flags as Maildir letters}} read over IMAP."""
    letters = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S",
               "\\Deleted": "T"}
    m = harness.imaps_login(srv, user)
    out = {}
    try:
        _, boxes = m.list()
        for line in boxes:
            name = re.search(rb'"([^"]*)"$|(\S+)$', line)
            folder = (name.group(1) or name.group(2)).decode()
            if b"\\Noselect" in line:
                continue
            typ, count = m.select(f'"{folder}"', readonly=True)
            msgs = {}
            out[folder] = msgs
            if typ != "OK" or count[0] == b"0":
                continue
            typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            for item in data:
                if not isinstance(item, tuple):
                    continue
                mid = email.message_from_bytes(item[1])["Message-ID"]
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
                msgs[mid] = "".join(sorted(letters[f] for f in flags if f in letters))
    finally:
        m.logout()
    return out


class SyncClients(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Server(users=("alice",)).start()
        self.addCleanup(self.srv.cleanup)
        self.dir = tempfile.mkdtemp(prefix="postrider-sync-")
        for i in range(6):
            self.mail(f"start {i}")

    def mail(self, subject):
        mid = f"<{subject.replace(' ', '.')}.{time.time_ns()}@test.example>"
        self.srv.deliver("bob@test.example", "alice@test.example",
                         f"From: bob@test.example\r\nTo: alice@test.example\r\nSubject: {subject}\r\n"
                         f"Message-ID: {mid}\r\n\r\nbody of {subject}\r\n".encode())
        return mid

    def run_client(self, args):
        r = subprocess.run(args, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, (args, r.stdout.decode()[-2000:], r.stderr.decode()[-2000:]))
        return r

    def assert_same(self, local_root, folder_map=lambda f: f):
        local = {folder_map(f): v for f, v in maildir_state(local_root).items()}
        remote = server_state(self.srv)
        # What change_on_the_server did arrived: the moved message, the flag, new mail.
        self.assertEqual(len(local.get("Moved", {})), 1, local.keys())
        self.assertIn("F", "".join(local["INBOX"].values()))
        self.assertTrue(any("late.arrival" in mid for mid in local["INBOX"]))
        for folder, msgs in remote.items():
            if msgs or folder in local:
                self.assertEqual(local.get(folder), msgs, folder)
        for folder, msgs in local.items():
            self.assertEqual(remote.get(folder), msgs, folder)

    def change_on_the_server(self):
        m = harness.imaps_login(self.srv)
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Flagged)")
        m.create("Moved")
        m._simple_command("MOVE", "2", "Moved")
        m.logout()
        self.mail("late arrival")

    def test_mbsync_both_ways(self):
        cert = os.path.join(self.srv.data, "tls", "cert.pem")
        local = os.path.join(self.dir, "mail")
        os.makedirs(local)
        rc = os.path.join(self.dir, "mbsyncrc")
        with open(rc, "w") as f:
            f.write(f"""IMAPAccount test
Host localhost
Port {self.srv.ports['imaps']}
User alice
Pass pw-alice
SSLType IMAPS
CertificateFile {cert}

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
Remove Both
SyncState *
""")
        sync = ["mbsync", "-c", rc, "-a"]
        self.run_client(sync)
        self.assertEqual(len(maildir_state(local)["INBOX"]), 6)
        # Local changes: a message read, one deleted, a new folder with a message.
        cur = os.path.join(local, "INBOX", "cur")
        new = os.path.join(local, "INBOX", "new")
        files = sorted(os.listdir(new)) + sorted(os.listdir(cur))
        first = os.path.join(new if os.path.exists(os.path.join(new, files[0])) else cur, files[0])
        os.rename(first, os.path.join(cur, os.path.basename(first).split(":2,")[0] + ":2,S"))
        second = [os.path.join(d, n) for d in (new, cur) for n in os.listdir(d)
                  if n != os.path.basename(first).split(":2,")[0] + ":2,S"][0]
        os.remove(second)
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(local, "Archive", d))
        with open(os.path.join(local, "Archive", "cur", "1.local.x:2,S"), "w") as f:
            f.write("From: alice@test.example\nSubject: archived\nMessage-ID: <archived@x>\n\nold\n")
        self.run_client(sync)
        remote = server_state(self.srv)
        self.assertEqual(len(remote["INBOX"]), 5)
        self.assertEqual(list(remote["Archive"].values()), ["S"])
        self.assertIn("S", remote["INBOX"].values())
        # Server changes: a flag, a move, new mail.
        self.change_on_the_server()
        self.run_client(sync)
        self.assert_same(local)
        # Nothing left to do: a second run changes nothing on either side.
        before = (maildir_state(local), server_state(self.srv))
        self.run_client(sync)
        self.assertEqual((maildir_state(local), server_state(self.srv)), before)

    def test_offlineimap_both_ways(self):
        local = os.path.join(self.dir, "oi-mail")
        meta = os.path.join(self.dir, "oi-meta")
        cert = os.path.join(self.srv.data, "tls", "cert.pem")
        rc = os.path.join(self.dir, "offlineimaprc")
        with open(rc, "w") as f:
            f.write(f"""[general]
accounts = test
metadata = {meta}

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}
sep = /

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {self.srv.ports['imaps']}
remoteuser = alice
remotepass = pw-alice
ssl = yes
sslcacertfile = {cert}
""")
        sync = ["offlineimap", "-c", rc, "-o", "-u", "basic"]
        self.run_client(sync)
        self.assertEqual(len(maildir_state(local)["INBOX"]), 6)
        inbox = os.path.join(local, "INBOX")
        where, name = sorted((d, n) for d in ("cur", "new") for n in os.listdir(os.path.join(inbox, d)))[0]
        base = name.split(":2,")[0]
        os.rename(os.path.join(inbox, where, name), os.path.join(inbox, "cur", base + ":2,FS"))
        self.run_client(sync)
        self.assertIn("FS", server_state(self.srv)["INBOX"].values())
        self.change_on_the_server()
        self.run_client(sync)
        self.assert_same(local)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    ok = True
    for binary in sys.argv[1:]:
        harness.BIN = os.path.abspath(binary)
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(SyncClients)
        result = unittest.TextTestRunner(verbosity=2).run(suite)
        passed = result.wasSuccessful() and not result.skipped
        print(f"{os.path.basename(binary)}: sync clients {'passed' if passed else 'FAILED'}")
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
