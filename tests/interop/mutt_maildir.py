#!/usr/bin/env python3
"""Maildir with mutt, both ways: postrider delivers three messages and flags one over
IMAP; mutt (Debian's, driven by keystrokes on a pseudo-terminal) opens the Maildir,
copies the flagged messages to an mbox (so it must have read our flag from the file
name), flags another message and deletes a third; postrider then serves mutt's changes
over IMAP (the new flag, the message gone) with the UIDs unchanged.

Usage: tests/interop/mutt_maildir.py BINARY..."""

import mailbox
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from interop_suite import run_for_binaries  # noqa: E402

# Sorted by subject: m0 gets flagged, m1 deleted; the messages flagged before mutt
# starts are copied to OUT first.
MUTTRC = """set mbox_type=mbox
set sort=subject
set resolve=no
set confirmcreate=no
set confirmappend=no
set delete=yes
set quit=yes
set move=no
set wait_key=no
push "<tag-pattern>~F<enter><tag-prefix><copy-message>{out}<enter><untag-pattern>~A<enter>\
<first-entry><flag-message><next-entry><delete-message><sync-mailbox><quit>"
"""


def flags_by_subject(m):
    """{Subject: (UID, sorted flags)} of the selected folder."""
    typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
        flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()
        subject = item[1].decode().split(":", 1)[1].strip()
        out[subject] = (uid, sorted(f.decode() for f in flags if f != b"\\Recent"))
    return out


class MuttMaildir(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Server(users=("alice",), maildir=True).start()
        self.tmp = tempfile.mkdtemp(prefix="postrider-mutt-")

    def tearDown(self):
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_mutt_reads_our_flags_and_we_read_its_changes(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            for i in range(3):
                s.sendmail("bob@else.example", ["alice@test.example"],
                           f"Subject: m{i}\r\nFrom: bob@else.example\r\n\r\nbody of m{i}\r\n")
        self.srv.wait_messages("alice", 3)
        m = harness.imaps_login(self.srv)
        m.select("INBOX")
        before = flags_by_subject(m)
        self.assertEqual(sorted(before), ["m0", "m1", "m2"])
        self.assertEqual(m.uid("STORE", str(before["m2"][0]), "+FLAGS", r"(\Flagged)")[0], "OK")

        out = os.path.join(self.tmp, "flagged.mbox")
        rc = os.path.join(self.tmp, "muttrc")
        with open(rc, "w") as f:
            f.write(MUTTRC.format(out=out))
        maildir = self.srv.mbox_path("alice")
        p = subprocess.run(["script", "-qec", f"mutt -n -F {rc} -f {maildir}", "/dev/null"],
                           env={**os.environ, "TERM": "xterm"}, capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout[-2000:])

        # mutt read our flag and the message.
        copied = list(mailbox.mbox(out))
        self.assertEqual([c["Subject"] for c in copied], ["m2"])
        self.assertIn("body of m2", copied[0].get_payload())

        # We read mutt's changes.
        m.noop()
        after = flags_by_subject(m)
        self.assertEqual(sorted(after), ["m0", "m2"])
        self.assertEqual(after["m0"], (before["m0"][0], ["\\Flagged"]))
        self.assertEqual(after["m2"], (before["m2"][0], ["\\Flagged"]))
        m.logout()


def main():
    binaries = sys.argv[1:]
    if not binaries:
        print(__doc__)
        return 2
    return run_for_binaries(MuttMaildir, "mutt_maildir.py", "Maildir shared with mutt",
                            binaries, needs_root=False)


if __name__ == "__main__":
    sys.exit(main())
