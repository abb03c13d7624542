#!/usr/bin/env python3
"""What QRESYNC (RFC 7162) saves a client that comes back to a large folder: INBOX holds
MESSAGES small messages; a client saw it (HIGHESTMODSEQ, UIDVALIDITY); then another
session flags 100 messages and expunges 50. The client resynchronises three ways, each
on a fresh logged-in connection, and the octets the server sends and the wall time from
the first command to the last tagged answer are measured (login excluded):

- full: `SELECT INBOX` + `UID FETCH 1:* (FLAGS)`, what a client without CONDSTORE does
  (it learns expunges by the UIDs missing from the answer);
- condstore: `SELECT INBOX (CONDSTORE)` + `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)` +
  `UID SEARCH ALL` (CONDSTORE alone does not tell expunges);
- qresync: `ENABLE QRESYNC` + `SELECT INBOX (QRESYNC (v m))`.

Each way runs ROUNDS times (interleaved); medians are printed as a Markdown table. With
$POSTRIDER_PG_URL set (tests/pg/cluster.sh), the PostgreSQL backend is measured too.

Usage: benches/qresync.py POSTRIDER [MESSAGES=10000] [ROUNDS=5]"""

import os
import random
import re
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from compare import Postrider, PostriderPg  # noqa: E402


class Raw:
    """A plain IMAP connection that counts the octets it receives."""

    def __init__(self, port, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""
        self.received = 0
        self.n = 0
        self.line()
        self.cmd(f"LOGIN {user} {password}")
        self.received = 0

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("server closed")
            self.received += len(data)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        """Sends one command; the untagged lines of its answer (no literals expected)."""
        self.n += 1
        tag = f"q{self.n}"
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        out = []
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(line)
                return out
            out.append(line)

    def close(self):
        self.sock.close()


def mbox(count):
    rng = random.Random(7)
    out = []
    for i in range(count):
        out.append(f"From sender@example.org Thu Oct  1 10:00:00 2026\nFrom: s{i}@example.org\n"
                   f"Subject: message {i}\nMessage-ID: <q{i}@example.org>\n\n"
                   f"{rng.random()}\n\n")
    return "".join(out).encode()


def resync(srv, way, uid_validity, modseq):
    c = Raw(srv.imap, srv.user, srv.password)
    started = time.perf_counter()
    if way == "full":
        c.cmd("SELECT INBOX")
        c.cmd("UID FETCH 1:* (FLAGS)")
    elif way == "condstore":
        c.cmd("SELECT INBOX (CONDSTORE)")
        c.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")
        c.cmd("UID SEARCH ALL")
    else:
        c.cmd("ENABLE QRESYNC")
        lines = c.cmd(f"SELECT INBOX (QRESYNC ({uid_validity} {modseq}))")
        if not any(x.startswith(b"* VANISHED (EARLIER)") for x in lines):
            raise RuntimeError("no VANISHED in the QRESYNC answer")
    elapsed = time.perf_counter() - started
    c.close()
    return c.received, elapsed


def measure(srv, count, rounds):
    srv.set_inbox(mbox(count))
    first = Raw(srv.imap, srv.user, srv.password)
    first.cmd("ENABLE QRESYNC")
    oks = b" ".join(first.cmd("SELECT INBOX"))
    uid_validity = int(re.search(rb"UIDVALIDITY (\d+)", oks).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", oks).group(1))
    first.close()
    other = Raw(srv.imap, srv.user, srv.password)
    other.cmd("SELECT INBOX")
    rng = random.Random(3)
    picks = rng.sample(range(1, count + 1), 150)
    other.cmd("UID STORE %s +FLAGS (\\Seen)" % ",".join(map(str, picks[:100])))
    other.cmd("UID STORE %s +FLAGS (\\Deleted)" % ",".join(map(str, picks[100:])))
    other.cmd("EXPUNGE")
    other.close()
    results = {w: [] for w in ("full", "condstore", "qresync")}
    for _ in range(rounds):
        for way in results:
            results[way].append(resync(srv, way, uid_validity, modseq))
    return results


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    backends = [lambda: Postrider(binary)]
    if os.environ.get("POSTRIDER_PG_URL"):
        backends.append(lambda: PostriderPg(binary))
    print(f"{count} messages; 100 flagged and 50 expunged since the client's MODSEQ; "
          f"medians of {rounds} rounds\n")
    print("| server | way | octets received | time (ms) |")
    print("| --- | --- | ---: | ---: |")
    for make in backends:
        srv = make()
        try:
            results = measure(srv, count, rounds)
        finally:
            srv.close()
        for way, runs in results.items():
            octets = statistics.median(r[0] for r in runs)
            ms = statistics.median(r[1] for r in runs) * 1000
            print(f"| {srv.name} | {way} | {octets:,.0f} | {ms:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
