#!/usr/bin/env python3
"""Maildir shared with Dovecot, both ways: a private Dovecot (Debian's dovecot-imapd)
serves the Maildir++ tree postrider writes (`mailbox_format = "maildir"`), and postrider
serves what Dovecot changed in it.

- Dovecot reads ours: the same UIDVALIDITY and UIDs (dovecot-uidlist), flags and
  keywords from the file names (dovecot-keywords), folders, message bytes.
- We read Dovecot's: a message Dovecot APPENDed (its UID, flags, keyword), a flag Dovecot
  STOREd, a message Dovecot EXPUNGEd, a folder Dovecot CREATEd; UIDVALIDITY unchanged.
- Mail postrider delivers while both run is seen by Dovecot with the next UID.

Usage: tests/interop/dovecot_maildir.py BINARY..."""

import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from interop_suite import run_for_binaries, wait_for  # noqa: E402


NOBODY = 65534


def hand_over(root):
    """Gives the Maildir tree to `nobody`, the user Dovecot reads it as (Dovecot refuses to
    access mail as root; postrider, running as root here, can read and write it either
    way). Sites sharing a Maildir run both servers as the same user."""
    for d, dirs, files in os.walk(root):
        for n in [d] + [os.path.join(d, f) for f in files]:
            os.lchown(n, NOBODY, NOBODY)


class Dovecot:
    """A private Dovecot on loopback serving `alice`'s Maildir (as `nobody`; password
    `pw-alice`; hierarchy separator `/` like ours)."""

    def __init__(self, maildir_root):
        self.root = maildir_root
        # The test's directories are private (0700): let nobody through to the Maildir.
        d = maildir_root
        while d != "/":
            os.chmod(d, os.stat(d).st_mode | 0o111)
            d = os.path.dirname(d)
        self.dir = tempfile.mkdtemp(prefix="dovecot-maildir-")
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "run"))
        self.port = harness.free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
log_path = {self.dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
protocols = imap
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{maildir_root}/%u
first_valid_uid = 1
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = password=pw-alice
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={self.dir}/home
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        subprocess.run(["dovecot", "-c", self.conf], check=True)
        harness.wait_port(self.port)

    def login(self):
        hand_over(self.root)
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        m.login("alice", "pw-alice")
        return m

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        shutil.rmtree(self.dir, ignore_errors=True)


def uid_flags(m, folder="INBOX"):
    """{UID: sorted flags} of a folder, and its UIDVALIDITY."""
    m.select(folder)
    validity = int(m.response("UIDVALIDITY")[1][0])
    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    out = {}
    for line in data:
        if not line:
            continue
        mm = re.search(rb"UID (\d+)", line)
        fl = re.search(rb"FLAGS \(([^)]*)\)", line)
        if mm and fl:
            flags = [f.decode() for f in fl.group(1).split() if f != b"\\Recent"]
            out[int(mm.group(1))] = sorted(flags)
    return out, validity


def listed(listing, name):
    """Whether a LIST response names `name` (quoted or not)."""
    return any(re.search(rb' "?' + re.escape(name) + rb'"?$', l) for l in listing)


def body_of(m, uid):
    typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
    return data[0][1]


class SharedMaildir(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Server(users=("alice",), maildir=True).start()
        self.dovecot = None

    def tearDown(self):
        if self.dovecot:
            if os.environ.get("POSTRIDER_KEEP"):
                print(self.dovecot.log()[-3000:])
            self.dovecot.close()
        self.srv.cleanup()

    def send(self, subject):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("bob@else.example", ["alice@test.example"],
                       f"Subject: {subject}\r\n\r\nbody of {subject}\r\n")

    def test_dovecot_and_postrider_share_one_maildir(self):
        for i in range(3):
            self.send(f"m{i}")
        self.srv.wait_messages("alice", 3)
        ours = harness.imaps_login(self.srv)
        ours.select("INBOX")
        self.assertEqual(ours.uid("STORE", "1", "+FLAGS", r"(\Seen)")[0], "OK")
        self.assertEqual(ours.uid("STORE", "2", "+FLAGS", "($Label \\Flagged)")[0], "OK")
        self.assertEqual(ours.create("Work/2026")[0], "OK")
        self.assertEqual(ours.uid("COPY", "3", "Work/2026")[0], "OK")
        our_view, our_validity = uid_flags(ours)
        our_bodies = {u: body_of(ours, u) for u in our_view}

        # Dovecot reads what we wrote.
        self.dovecot = Dovecot(os.path.join(self.srv.data, "maildir"))
        dove = self.dovecot.login()
        view, validity = uid_flags(dove)
        self.assertEqual(validity, our_validity)
        self.assertEqual(view, our_view)
        self.assertEqual(view[1], ["\\Seen"])
        self.assertEqual(view[2], ["$Label", "\\Flagged"])
        for u, b in our_bodies.items():
            self.assertEqual(body_of(dove, u), b)
        typ, listing = dove.list()
        self.assertTrue(listed(listing, b"Work/2026"), listing)
        work, _ = uid_flags(dove, "Work/2026")
        self.assertEqual(len(work), 1)

        # Dovecot writes; we read.
        dove.select("INBOX")
        self.assertEqual(dove.append("INBOX", r"(\Flagged $Other)", None,
                                     b"Subject: from dovecot\r\n\r\nappended\r\n")[0], "OK")
        self.assertEqual(dove.uid("STORE", "1", "+FLAGS", r"(\Answered)")[0], "OK")
        self.assertEqual(dove.uid("STORE", "2", "+FLAGS", r"(\Deleted)")[0], "OK")
        self.assertEqual(dove.expunge()[0], "OK")
        self.assertEqual(dove.create("Dove")[0], "OK")
        after_dove, _ = uid_flags(dove)
        dove.logout()

        ours.noop()
        view, validity = uid_flags(ours)
        self.assertEqual(validity, our_validity)
        self.assertEqual(view, after_dove)
        self.assertEqual(view[1], ["\\Answered", "\\Seen"])
        self.assertNotIn(2, view)
        new_uid = max(view)
        self.assertEqual(view[new_uid], ["$Other", "\\Flagged"])
        self.assertIn(b"appended", body_of(ours, new_uid))
        typ, listing = ours.list()
        self.assertTrue(listed(listing, b"Dove"), listing)

        # Delivered by us while both run: Dovecot gives it the UID we gave.
        self.send("late")
        self.srv.wait_messages("alice", 4)
        view, _ = uid_flags(ours)
        late = max(view)
        self.assertGreater(late, new_uid)
        dove = self.dovecot.login()
        dview, _ = uid_flags(dove)
        self.assertEqual(dview, view)
        self.assertIn(b"Subject: late", body_of(dove, late))
        dove.logout()
        ours.logout()


def main():
    binaries = sys.argv[1:]
    if not binaries:
        print(__doc__)
        return 2
    return run_for_binaries(SharedMaildir, "dovecot_maildir.py",
                            "Maildir shared with Dovecot", binaries)


if __name__ == "__main__":
    sys.exit(main())
