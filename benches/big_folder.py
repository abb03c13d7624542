#!/usr/bin/env python3
"""A 100,000-message INBOX with a 20 MB message at its end, on Dovecot (Maildir) and both
postrider binaries (mbox), the same messages on each, read with imaplib.

Times, one after another in one session: the first SELECT (the server has never seen the
folder: Dovecot builds its index, postrider scans the mbox), a second SELECT from a new
session, `FETCH 1:* (FLAGS UID)`, `UID SEARCH UNSEEN`, `SEARCH TEXT zanzibar` (a word in
one message in a thousand: every message is read) and `FETCH n BODY[]` of the 20 MB
message; and the peak RSS of the server's processes (their VmHWM, summed) over the whole
sequence, and how far above the RSS before it the big FETCH took them (the peaks are
reset first through /proc/PID/clear_refs): how much memory a message's size costs.

Writes RESULTS_DIR/big_folder.md. Needs root (Dovecot drops privileges) and the
dovecot-imapd package. Usage: benches/big_folder.py POSTRIDER POSTRIDER_STD RESULTS_DIR
[MESSAGES=100000]"""

import imaplib
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (NOBODY, Dovecot, Postrider, bench_args, heading,  # noqa: E402
                     proc_table, tree)

BIG = 20 * 1024 * 1024
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega").split()


def messages(count):
    """The folder's messages (bytes with LF line ends): `count` small ones, then a big one."""
    rng = random.Random(11)
    for i in range(count - 1):
        body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(12))
                         for _ in range(rng.randint(5, 25)))
        if i % 1000 == 500:
            body += "\nzanzibar\n"
        yield (f"From: {rng.choice(WORDS)} <s{i}@example.org>\nTo: sink@bench.example\n"
               f"Subject: message {i} {rng.choice(WORDS)}\nMessage-ID: <m{i}@example.org>\n"
               f"Date: Thu, 01 Oct 2026 10:00:00 +0000\n\n{body}\n").encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy\n"
    yield (b"From: big@example.org\nTo: sink@bench.example\nSubject: twenty megabytes\n"
           b"Message-ID: <big@example.org>\n\n" + line * (BIG // len(line)))


def write_mbox(path, count):
    with open(path, "wb") as f:
        for m in messages(count):
            f.write(b"From sender@example.org Thu Oct  1 10:00:00 2026\n")
            f.write(m.replace(b"\nFrom ", b"\n>From "))
            f.write(b"\n")


def write_maildir(home, count):
    cur = os.path.join(home, "Maildir", "cur")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(home, "Maildir", d), exist_ok=True)
    for i, m in enumerate(messages(count)):
        with open(os.path.join(cur, f"1790000000.M{i}P1.bench:2,"), "wb") as f:
            f.write(m)
    for root, dirs, files in os.walk(home):
        for n in dirs + files:
            os.chown(os.path.join(root, n), NOBODY, NOBODY)


def tree_pids(roots):
    table = proc_table()
    return set().union(*(tree(r, table) for r in roots))


def status_kib(pids, field):
    """The sum of a /proc/PID/status field (VmRSS, VmHWM) over `pids`."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith(field + ":"))
        except OSError:
            pass
    return total


def reset_peaks(pids):
    """Sets each process's peak RSS (VmHWM) to its current RSS (proc(5), clear_refs)."""
    for p in pids:
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


def timed(what, results, fn):
    started = time.time()
    out = fn()
    results[what] = time.time() - started
    return out


def measure(server, count):
    """{operation: seconds} and peak RSS figures for one server."""
    results = {}
    roots = server.roots()
    reset_peaks(tree_pids(roots))
    m = imaplib.IMAP4("127.0.0.1", server.imap, timeout=600)
    m.login(server.user, server.password)
    typ, data = timed("first SELECT", results, lambda: m.select("INBOX"))
    if typ != "OK" or int(data[0]) != count:
        raise SystemExit(f"{server.name}: SELECT gave {typ} {data}")
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", server.imap, timeout=600)
    m.login(server.user, server.password)
    timed("second SELECT", results, lambda: m.select("INBOX"))
    typ, data = timed("FETCH 1:* (FLAGS UID)", results, lambda: m.fetch("1:*", "(FLAGS UID)"))
    if typ != "OK" or len(data) != count:
        raise SystemExit(f"{server.name}: FETCH gave {typ}, {len(data)} lines")
    timed("UID SEARCH UNSEEN", results, lambda: m.uid("SEARCH", "UNSEEN"))
    typ, data = timed("SEARCH TEXT zanzibar", results, lambda: m.search(None, "TEXT", "zanzibar"))
    if typ != "OK" or len(data[0].split()) != len(range(500, count - 1, 1000)):
        raise SystemExit(f"{server.name}: SEARCH TEXT gave {typ} {data[0][:80]!r}")
    pids = tree_pids(roots)
    whole_peak = status_kib(pids, "VmHWM")
    before = status_kib(pids, "VmRSS")
    reset_peaks(pids)
    typ, data = timed("FETCH n BODY[] (20 MB)", results, lambda: m.fetch(str(count), "(BODY[])"))
    fetch_peak = status_kib(pids, "VmHWM")
    if typ != "OK" or len(data[0][1]) < BIG:
        raise SystemExit(f"{server.name}: the big FETCH gave {typ}")
    m.logout()
    return results, max(whole_peak, fetch_peak) / 1024, (fetch_peak - before) / 1024


def main():
    postrider, postrider_std, results_dir, rest = bench_args(
        __doc__, "Dovecot drops privileges")
    count = int(rest[0]) if rest else 100_000
    rows = []
    for make in (lambda: Dovecot(maildir=True), lambda: Postrider(postrider),
                 lambda: Postrider(postrider_std)):
        server = make()
        try:
            if isinstance(server, Dovecot):
                server.name = "Dovecot (Maildir)"
                write_maildir(os.path.join(server.dir, "home"), count)
            else:
                write_mbox(server.mbox, count)
            got = measure(server, count)
            print(server.name, got, flush=True)
            rows.append((server.name, *got))
        finally:
            server.close()
    ops = list(rows[0][1])
    lines = [heading(f"A {count:,}-message INBOX"), "",
             f"{count - 1:,} messages of 1-2 KB and one of 20 MiB, Dovecot on Maildir, "
             "postrider on mbox; seconds per operation (imaplib, plain IMAP on loopback, "
             "the response read whole); peak RSS: the server processes' VmHWM, summed.", "",
             "| operation | " + " | ".join(r[0] for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for op in ops:
        lines.append(f"| {op} | " + " | ".join(f"{r[1][op]:.3f} s" for r in rows) + " |")
    lines.append("| peak RSS, whole sequence | " + " | ".join(f"{r[2]:.0f} MB" for r in rows)
                 + " |")
    lines.append("| peak RSS growth during the 20 MB FETCH | "
                 + " | ".join(f"{r[3]:.0f} MB" for r in rows) + " |")
    with open(os.path.join(results_dir, "big_folder.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(os.path.join(results_dir, "__pycache__"), ignore_errors=True)


if __name__ == "__main__":
    main()
