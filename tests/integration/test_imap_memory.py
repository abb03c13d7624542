"""Memory stays bounded when sessions read a very large message: FETCH ENVELOPE reads only
the header, SEARCH TEXT streams the message through the matcher in chunks, FETCH BODY[]
streams it from the store into the literal. Ten sessions at once on a 32 MB message
must not hold copies of it (before: each session held the whole message, and its
lower-cased copy, at once; a FETCH BODY[] loaded it whole)."""

import hashlib
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


HEADER = b"From: Big <big@example.org>\nSubject: a big one\n\n"
LINE = b"y" * 75 + b"\n"


def write_big_message(srv):
    """Appends the 32 MB message to alice's mbox; returns it as IMAP serves it (CRLF)."""
    chunk = LINE * (1024 * 1024 // len(LINE))
    with open(srv.mbox_path("alice"), "ab") as f:
        f.write(b"From big@example.org Fri Dec  4 20:00:00 2026\n" + HEADER)
        for _ in range(MB):
            f.write(chunk)
        f.write(b"the end\n\n")
    body = chunk.replace(b"\n", b"\r\n") * MB + b"the end\r\n"
    return HEADER.replace(b"\n", b"\r\n"), body


def run_sessions(n, session):
    errors = []

    def one():
        try:
            session()
        except Exception as e:  # reported below, with the others
            errors.append(repr(e))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def login(srv):
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=insecure_tls(),
                          timeout=600)
    m.login("alice", "pw-alice")
    m.select("INBOX")
    return m


class LargeMessageMemory(unittest.TestCase):
    def test_fetch_body_of_a_large_message_is_streamed_in_ten_sessions(self):
        srv = Server(users=("alice",)).start()
        try:
            header, body = write_big_message(srv)
            whole = header + body

            def warm_up():
                m = login(srv)
                typ, data = m.fetch("1", "(FLAGS)")
                assert typ == "OK", data
                m.logout()
            # Ten sessions selecting the mailbox at once (scanning it) set the baseline.
            self.assertEqual(run_sessions(10, warm_up), [])
            base = rss_mb(srv.proc.pid, "VmHWM:")

            def session():
                m = login(srv)
                typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
                assert typ == "OK", data
                got = data[0][1]
                assert b"RFC822.SIZE %d " % len(whole) in data[0][0], data[0][0]
                assert len(got) == len(whole), (len(got), len(whole))
                assert hashlib.sha256(got).digest() == hashlib.sha256(whole).digest()
                m.logout()
            self.assertEqual(run_sessions(10, session), [])
            peak = rss_mb(srv.proc.pid, "VmHWM:")
            # Loading the message once is 32 MB; ten sessions loading it, 320.
            self.assertLess(peak - base, MB, f"peak RSS {base} MB before, {peak} MB after")

            # Several streamed literals in one response, partials, and \Seen set by a
            # FETCH that streams.
            m = login(srv)
            typ, data = m.fetch("1", "(BODY[TEXT]<1000.5000> RFC822.HEADER BODY[]<%d.100> "
                                     "BODY[TEXT])" % (len(whole) - 50))
            self.assertEqual(typ, "OK", data)
            parts = [p for p in data if isinstance(p, tuple)]
            self.assertEqual([p[1] for p in parts],
                             [body[1000:6000], header, whole[-50:], body])
            self.assertIn(b"BODY[]<%d>" % (len(whole) - 50), parts[2][0])
            typ, data = m.fetch("1", "(FLAGS)")
            self.assertIn(b"\\Seen", data[0])
            m.logout()
        finally:
            srv.cleanup()

    def test_envelope_and_search_text_on_a_large_message_in_ten_sessions(self):
        srv = Server(users=("alice",)).start()
        try:
            write_big_message(srv)
            base = rss_mb(srv.proc.pid, "VmRSS:")

            def session():
                m = login(srv)
                typ, data = m.fetch("1", "(ENVELOPE)")
                assert typ == "OK" and b'"a big one"' in data[0], data
                typ, data = m.search(None, "TEXT", "notpresent")
                assert (typ, data) == ("OK", [b""]), data
                typ, data = m.search(None, "BODY", "\"THE END\"")
                assert (typ, data) == ("OK", [b"1"]), data
                m.logout()
            self.assertEqual(run_sessions(10, session), [])
            peak = rss_mb(srv.proc.pid, "VmHWM:")
            # Two copies of the message would be 64 MB; ten sessions holding it, 320.
            self.assertLess(peak - base, 2 * MB, f"RSS {base} MB at the start, peak {peak} MB")
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
