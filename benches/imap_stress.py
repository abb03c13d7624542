#!/usr/bin/env python3
"""Random concurrent IMAP sessions on one folder, in the spirit of imaptest's stress mode:
each client SELECTs the folder and runs random APPEND (often of identical messages),
STORE (+/-FLAGS, keywords), SEARCH, FETCH, COPY, EXPUNGE and NOOP commands. Every
session tracks EXISTS/EXPUNGE itself; at the end all sessions must agree with each other
and with a fresh session on the UIDs and flags of every message, UIDs must be strictly
increasing, and no command may have failed.

Usage: imap_stress.py HOST PORT USER PASSWORD [--clients N] [--ops N] [--seed S]
Exit status 0 when every check held.
"""

import argparse
import imaplib
import random
import re
import sys
import threading

MESSAGES = [b"Subject: same\r\n\r\nidentical\r\n",
            b"Subject: other\r\nFrom: a@example.org\r\n\r\nsomething else\r\n"]
FLAGS = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft", "$Label1", "work"]


class Client:
    def __init__(self, o, n, errors):
        self.o = o
        self.rng = random.Random(o.seed * 1000 + n)
        self.errors = errors
        self.m = imaplib.IMAP4(o.host, o.port, timeout=60)
        self.m.login(o.user, o.password)
        self.exists = 0
        self.check(self.m.select(o.folder), "SELECT")

    def check(self, result, what):
        typ, data = result
        # A message another session expunged meanwhile may be refused (RFC 5530).
        if typ != "OK" and not (typ == "NO" and b"EXPUNGEISSUED" in b" ".join(d for d in data if d)):
            self.errors.append(f"{what}: {typ} {data}")
        self.track()
        return data

    def track(self):
        """Apply EXPUNGE/EXISTS in the order imaplib saw them (it keeps lists per kind)."""
        r = self.m.untagged_responses
        exp = r.pop("EXPUNGE", [])
        ex = r.pop("EXISTS", [])
        for seq in exp:
            if int(seq) > self.exists:
                self.errors.append(f"EXPUNGE {int(seq)} beyond EXISTS {self.exists}")
            self.exists -= 1
        if ex:
            n = int(ex[-1])
            if n < self.exists:
                self.errors.append(f"EXISTS went down from {self.exists} to {n} without EXPUNGE")
            self.exists = n
        r.pop("FETCH", None)
        r.pop("RECENT", None)

    def step(self):
        m, rng = self.m, self.rng
        op = rng.choice(["append", "append", "store", "store", "store", "search", "fetch",
                         "expunge", "noop", "copy"])
        if op == "append":
            self.check(m.append(self.o.folder, None, None, rng.choice(MESSAGES)), "APPEND")
        elif op == "noop":
            self.check(m.noop(), "NOOP")
        elif self.exists == 0:
            self.check(m.noop(), "NOOP")
        elif op == "store":
            a = rng.randint(1, self.exists)
            b = rng.randint(a, min(self.exists, a + 5))
            how = rng.choice(["+FLAGS", "-FLAGS", "FLAGS", "+FLAGS.SILENT"])
            flags = " ".join(rng.sample(FLAGS, rng.randint(1, 3)))
            if rng.random() < 0.15:
                flags += " \\Deleted"
            self.check(m.store(f"{a}:{b}", how, f"({flags})"), "STORE")
        elif op == "search":
            self.check(m.search(None, rng.choice(["ALL", "SEEN", "UNSEEN KEYWORD work", "SUBJECT same",
                                                  "OR FLAGGED DELETED", "BODY identical"])), "SEARCH")
        elif op == "fetch":
            a = rng.randint(1, self.exists)
            data = self.check(m.fetch(f"{a}:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
                              "FETCH")
            uids = [int(re.search(rb"UID (\d+)", d[0] if isinstance(d, tuple) else d).group(1))
                    for d in data if (isinstance(d, tuple) or b"UID" in d)]
            if uids != sorted(uids) or len(set(uids)) != len(uids):
                self.errors.append(f"FETCH UIDs not strictly increasing: {uids}")
        elif op == "expunge":
            # imaplib hands the command's EXPUNGE responses back as its result.
            typ, data = m.expunge()
            m.untagged_responses["EXPUNGE"] = [x for x in data if x]
            self.check((typ, data), "EXPUNGE")
        elif op == "copy":
            a = rng.randint(1, self.exists)
            self.check(m.copy(str(a), self.o.folder), "COPY")

    def snapshot(self):
        self.check(self.m.noop(), "NOOP")
        if self.exists == 0:
            return []
        data = self.check(self.m.fetch("1:*", "(UID FLAGS)"), "FETCH")
        out = []
        for d in data:
            d = d[0] if isinstance(d, tuple) else d
            uid = int(re.search(rb"UID (\d+)", d).group(1))
            flags = sorted(re.search(rb"FLAGS \(([^)]*)\)", d).group(1).replace(b"\\Recent", b"").split())
            out.append((uid, flags))
        if len(out) != self.exists:
            self.errors.append(f"FETCH 1:* returned {len(out)} messages, EXISTS is {self.exists}")
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--folder", default="stress")
    o = ap.parse_args()
    admin = imaplib.IMAP4(o.host, o.port, timeout=60)
    admin.login(o.user, o.password)
    admin.delete(o.folder)
    admin.create(o.folder)
    for _ in range(20):
        admin.append(o.folder, None, None, MESSAGES[0])
    errors = []
    clients = [Client(o, n, errors) for n in range(o.clients)]

    def run(c):
        try:
            for _ in range(o.ops):
                c.step()
        except Exception as e:  # a dropped connection or protocol error is a failure
            errors.append(f"client error: {e!r}")

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    views = []
    for c in clients:
        try:
            views.append(c.snapshot())
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            errors.append(f"client error at the end: {e!r}")
            views.append(None)
    admin.select(o.folder)
    typ, data = admin.fetch("1:*", "(UID FLAGS)")
    truth = []
    for d in data or []:
        if d is None:
            continue
        uid = int(re.search(rb"UID (\d+)", d).group(1))
        flags = sorted(re.search(rb"FLAGS \(([^)]*)\)", d).group(1).replace(b"\\Recent", b"").split())
        truth.append((uid, flags))
    uids = [u for u, _ in truth]
    if uids != sorted(set(uids)):
        errors.append(f"UIDs not strictly increasing: {uids}")
    for n, v in enumerate(views):
        if v is not None and v != truth:
            diff = [(a, b) for a, b in zip(v, truth) if a != b][:3]
            errors.append(f"client {n} sees {len(v)} messages, a fresh session {len(truth)}; first differences {diff}")
    print(f"{o.clients} clients x {o.ops} ops: {len(truth)} messages at the end, {len(errors)} errors")
    for e in errors[:20]:
        print("  " + e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
