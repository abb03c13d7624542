#!/usr/bin/env python3
"""IMAP folder bench: a 10,000-message INBOX (written directly as an mbox), then with
imaplib over IMAPS: the first SELECT (a cold scan), a second SELECT (the shared cache),
FETCH 1:* FLAGS, and UID FETCH 1:* (UID RFC822.SIZE). Prints the times; asserts nothing.

Usage: python3 benches/imap_folder.py path/to/postrider [messages]
"""

import imaplib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    os.environ["POSTRIDER_BIN"] = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    import harness
    harness.BIN = os.environ["POSTRIDER_BIN"]
    srv = harness.Server(users=("bench",))
    try:
        os.makedirs(os.path.join(srv.data, "mail"), exist_ok=True)
        with open(srv.mbox_path("bench"), "wb") as f:
            for i in range(count):
                f.write(b"From someone@else.example Thu Jan  1 00:00:00 2026\n")
                f.write(f"From: someone@else.example\nTo: bench@test.example\nSubject: message {i}\n"
                        f"Message-ID: <{i}@else.example>\n\n".encode())
                f.write(b"A short body line of about sixty characters, repeated twice.\n" * 20)
                f.write(b"\n")
        size = os.path.getsize(srv.mbox_path("bench"))
        srv.start()
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=harness.insecure_tls())
        m.login("bench", "pw-bench")
        results = []
        for label, fn in (
            ("SELECT (first, cold scan)", lambda: m.select("INBOX")),
            ("SELECT (again, cached)", lambda: m.select("INBOX")),
            ("FETCH 1:* FLAGS", lambda: m.fetch("1:*", "(FLAGS)")),
            ("UID FETCH 1:* (UID RFC822.SIZE)", lambda: m.uid("FETCH", "1:*", "(UID RFC822.SIZE)")),
            ("SEARCH UNSEEN", lambda: m.search(None, "UNSEEN")),
        ):
            t = time.perf_counter()
            typ, data = fn()
            dt = time.perf_counter() - t
            assert typ == "OK", (label, typ, data)
            results.append((label, dt))
        m.logout()
        print(f"{os.path.basename(sys.argv[1])}: {count} messages, {size / 1e6:.1f} MB mbox")
        for label, dt in results:
            print(f"  {label:34} {dt * 1000:8.1f} ms")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main()
