"""Memory stays bounded when sessions read a very large message: FETCH ENVELOPE reads only
the header, SEARCH TEXT streams the message through the matcher in chunks. Ten sessions
at once on a 32 MB message must not hold copies of it (before: each session held the
whole message, and its lower-cased copy, at once)."""

import imaplib
import threading
import unittest

from harness import Server, insecure_tls

MB = 32


def rss_mb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class LargeMessageMemory(unittest.TestCase):
    def test_envelope_and_search_text_on_a_large_message_in_ten_sessions(self):
        srv = Server(users=("alice",)).start()
        try:
            line = b"y" * 75 + b"\n"
            with open(srv.mbox_path("alice"), "ab") as f:
                f.write(b"From big@example.org Fri Dec  4 20:00:00 2026\n"
                        b"From: Big <big@example.org>\nSubject: a big one\n\n")
                chunk = line * (1024 * 1024 // len(line))
                for _ in range(MB):
                    f.write(chunk)
                f.write(b"the end\n\n")
            base = rss_mb(srv.proc.pid, "VmRSS:")
            errors = []

            def session():
                try:
                    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"],
                                          ssl_context=insecure_tls(), timeout=600)
                    m.login("alice", "pw-alice")
                    m.select("INBOX")
                    typ, data = m.fetch("1", "(ENVELOPE)")
                    assert typ == "OK" and b'"a big one"' in data[0], data
                    typ, data = m.search(None, "TEXT", "notpresent")
                    assert (typ, data) == ("OK", [b""]), data
                    typ, data = m.search(None, "BODY", "\"THE END\"")
                    assert (typ, data) == ("OK", [b"1"]), data
                    m.logout()
                except Exception as e:  # reported below, with the others
                    errors.append(repr(e))
            threads = [threading.Thread(target=session) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            peak = rss_mb(srv.proc.pid, "VmHWM:")
            # Two copies of the message would be 64 MB; ten sessions holding it, 320.
            self.assertLess(peak - base, 2 * MB, f"RSS {base} MB at the start, peak {peak} MB")
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
