"""CONDSTORE and QRESYNC (RFC 7162) with Python's imaplib over IMAPS, on messages
delivered over SMTP: HIGHESTMODSEQ, FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE
with [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ, changes of another session told
with their MODSEQ, and QRESYNC's SELECT, VANISHED (EARLIER) and UID FETCH VANISHED, also
after the server restarted (expunges are remembered on disk)."""

import re
import unittest

from harness import Server, imaps_login


def untagged(m, name):
    return [d.decode() if isinstance(d, bytes) else d
            for d in m.untagged_responses.pop(name, []) if d]


def fetches(m):
    """The FETCH responses imaplib kept, as text."""
    out = []
    for d in m.untagged_responses.pop("FETCH", []):
        if isinstance(d, tuple):
            d = d[0]
        if d:
            out.append(d.decode())
    return out


def modseq_of(lines, seq):
    for line in lines:
        mm = re.match(rf"{seq} \(.*MODSEQ \((\d+)\)", line)
        if mm:
            return int(mm.group(1))
    raise AssertionError(f"no MODSEQ for {seq} in {lines}")


class CondstoreTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(users=("alice",)).start()
        for i in range(1, 5):
            msg = f"From: x@test.example\r\nSubject: m{i}\r\n\r\nbody {i}\r\n"
            self.srv.deliver("x@test.example", "alice@test.example", msg.encode())

    def tearDown(self):
        self.srv.cleanup()

    def session(self, enable=None):
        m = imaps_login(self.srv)
        if enable:
            typ, _ = m._simple_command("ENABLE", enable)
            self.assertEqual(typ, "OK")
            self.assertIn(enable, " ".join(untagged(m, "ENABLED")))
        return m

    def select(self, m, *params):
        typ, data = m._simple_command("SELECT", "INBOX", *params)
        self.assertEqual(typ, "OK", data)
        m.state = "SELECTED"
        oks = " ".join(untagged(m, "OK"))
        mm = re.search(r"HIGHESTMODSEQ (\d+)", oks)
        return int(mm.group(1)) if mm else None

    def test_capabilities(self):
        m = self.session()
        self.assertIn("CONDSTORE", m.capabilities)
        self.assertIn("QRESYNC", m.capabilities)
        m.logout()

    def test_modseqs_change_with_flags_and_guard_stores(self):
        m = self.session()
        highest = self.select(m, "(CONDSTORE)")
        self.assertIsNotNone(highest)
        typ, _ = m._simple_command("FETCH", "1:*", "(FLAGS MODSEQ)")
        self.assertEqual(typ, "OK")
        before = fetches(m)
        self.assertEqual(len(before), 4)
        self.assertTrue(all(modseq_of(before, i) <= highest for i in range(1, 5)))

        typ, _ = m._simple_command("STORE", "2", "+FLAGS", r"(\Flagged)")
        self.assertEqual(typ, "OK")
        new = modseq_of(fetches(m), 2)
        self.assertGreater(new, highest)

        # CHANGEDSINCE names only what changed; FLAGS come with MODSEQ.
        typ, _ = m._simple_command("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {highest})")
        self.assertEqual(typ, "OK")
        changed = fetches(m)
        self.assertEqual(len(changed), 1, changed)
        self.assertRegex(changed[0], rf"^2 \(FLAGS \(\\Flagged \\Recent\) MODSEQ \({new}\)\)$")

        # UNCHANGEDSINCE: message 2 changed after `highest`, message 3 did not.
        typ, data = m._simple_command("STORE", "2:3", f"(UNCHANGEDSINCE {highest})", "+FLAGS",
                                      r"(\Seen)")
        self.assertEqual(typ, "OK")
        self.assertIn("[MODIFIED 2]", data[0].decode())
        stored = fetches(m)
        self.assertTrue(any(line.startswith("3 (") for line in stored), stored)
        self.assertFalse(any(line.startswith("2 (") for line in stored), stored)
        typ, data = m._simple_command("UID", "STORE", "1", "(UNCHANGEDSINCE 0)", "+FLAGS",
                                      r"(\Seen)")
        self.assertIn("[MODIFIED 1]", data[0].decode())

        # SEARCH MODSEQ tells the highest MODSEQ of what it found.
        typ, _ = m._simple_command("SEARCH", "MODSEQ", str(new))
        (line,) = untagged(m, "SEARCH")
        mm = re.match(r"^2 3 \(MODSEQ (\d+)\)$", line)
        self.assertTrue(mm, line)
        typ, _ = m._simple_command("STATUS", "INBOX", "(HIGHESTMODSEQ MESSAGES)")
        (status,) = untagged(m, "STATUS")
        self.assertIn(f"HIGHESTMODSEQ {mm.group(1)}", status)
        m.logout()

    def test_changes_of_another_session_come_with_modseq_only_when_enabled(self):
        watcher = self.session("CONDSTORE")
        self.select(watcher)
        plain = self.session()
        self.select(plain)
        writer = self.session()
        self.select(writer)
        writer.store("1", "+FLAGS", r"(\Answered)")
        watcher.noop()
        plain.noop()
        seen = fetches(watcher)
        self.assertTrue(any(re.match(r"1 \(UID 1 FLAGS \(.*\\Answered.*\) MODSEQ \(\d+\)\)", x)
                            for x in seen), seen)
        quiet = fetches(plain)
        self.assertTrue(quiet and all("MODSEQ" not in x for x in quiet), quiet)
        for m in (watcher, plain, writer):
            m.logout()

    def uid_validity(self):
        m = self.session()
        m._simple_command("STATUS", "INBOX", "(UIDVALIDITY)")
        (line,) = untagged(m, "STATUS")
        m.logout()
        return int(re.search(r"UIDVALIDITY (\d+)", line).group(1))

    def change_elsewhere(self):
        """Flags message 2, expunges message 3 (UID 3)."""
        w = self.session()
        self.select(w)
        w.store("2", "+FLAGS", r"(\Flagged)")
        w.store("3", "+FLAGS", r"(\Deleted)")
        w.expunge()
        w.logout()

    def resync(self, uid_validity, highest, extra=""):
        m = self.session("QRESYNC")
        params = f"(QRESYNC ({uid_validity} {highest}{extra}))"
        self.select(m, params)
        return m

    def test_qresync_select_tells_what_vanished_and_changed(self):
        uid_validity = self.uid_validity()
        m = self.session("QRESYNC")
        highest = self.select(m)
        m.logout()
        self.change_elsewhere()
        m = self.resync(uid_validity, highest)
        self.assertEqual(untagged(m, "VANISHED"), ["(EARLIER) 3"])
        changed = fetches(m)
        self.assertEqual(len(changed), 1, changed)
        self.assertRegex(changed[0], r"^2 \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$")
        # Known UIDs limit the answer.
        m.logout()
        m = self.resync(uid_validity, highest, " 1:2,4")
        self.assertEqual(untagged(m, "VANISHED"), [])
        m.logout()
        # A stale UIDVALIDITY gets a plain SELECT.
        m = self.resync(uid_validity + 1, highest)
        self.assertEqual(untagged(m, "VANISHED"), [])
        self.assertEqual(fetches(m), [])
        m.logout()

    def test_vanished_in_uid_fetch_and_instead_of_expunge(self):
        m = self.session("QRESYNC")
        highest = self.select(m)
        self.change_elsewhere()
        typ, _ = m._simple_command("UID", "FETCH", "1:*", "(FLAGS)",
                                   f"(CHANGEDSINCE {highest} VANISHED)")
        self.assertEqual(typ, "OK")
        self.assertIn("(EARLIER) 3", untagged(m, "VANISHED"))
        # VANISHED without QRESYNC is refused.
        plain = self.session()
        self.select(plain)
        with self.assertRaisesRegex(plain.error, "BAD"):
            plain._simple_command("UID", "FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE 1 VANISHED)")
        plain.logout()
        # This session's own EXPUNGE is told as VANISHED, with HIGHESTMODSEQ at the end.
        m.store("1", "+FLAGS", r"(\Deleted)")
        typ, data = m._simple_command("EXPUNGE")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r"\[HIGHESTMODSEQ \d+\]")
        self.assertIn("1", untagged(m, "VANISHED"))
        self.assertEqual(untagged(m, "EXPUNGE"), [])
        m.logout()

    def test_expunges_are_remembered_across_a_restart(self):
        uid_validity = self.uid_validity()
        m = self.session("QRESYNC")
        highest = self.select(m)
        m.logout()
        self.change_elsewhere()
        self.srv.stop()
        self.srv.start()
        m = self.resync(uid_validity, highest)
        self.assertEqual(untagged(m, "VANISHED"), ["(EARLIER) 3"])
        m.logout()


if __name__ == "__main__":
    unittest.main()
