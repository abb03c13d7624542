#!/usr/bin/env python3
"""Dovecot's own IMAP load tool, imaptest, against Dovecot on Maildir and both postrider
binaries, interleaved.

imaptest's stress mode runs random sessions against one INBOX: in its default mode each
client logs in, SELECTs, FETCHes, STOREs flags, EXPUNGEs, APPENDs and logs out, again and
again (the login and folder-open path); with `logout=0` the sessions stay logged in (the
steady-state command path). Each round loads each server in turn in both modes with 1 and
10 clients for SECS seconds; the table gives medians over the rounds of commands per
second (every command imaptest counted, logins included), logins per second, the server's
CPU time per 1,000 commands (its whole process tree) and imaptest's error lines, which
must be 0.

The servers check the same password against the same argon2id hash (postrider's users
file; Dovecot's passwd-file gets the hash postrider made) and both remember verified
credentials (Dovecot's auth cache, postrider's verified-credential cache). Dovecot runs
on Maildir, its fast format, in its high-performance login mode (login processes serve
many connections) unless --dovecot-default-login.

imaptest is not in this repository: build it from a checkout of dovecot/imaptest (branch
release-2.3) with Debian's dovecot-dev, as tests/interop/imaptest.sh says. Needs root
(Dovecot drops privileges) and the dovecot-imapd package.
Writes RESULTS_DIR/imaptest.md.
Usage: benches/imaptest.py IMAPTEST_SRC POSTRIDER POSTRIDER_STD RESULTS_DIR [ROUNDS=3]
       [SECS=20] [--dovecot-default-login]"""

import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import Dovecot, Postrider, cpu_seconds, heading, turns  # noqa: E402

MODES = (("default", []), ("logout=0", ["logout=0"]))
CLIENTS = (1, 10)


def source_mbox(path, count=300):
    """The messages imaptest appends, each with its own Message-ID (imaptest tracks
    messages by Message-ID)."""
    rng = random.Random(7)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    with open(path, "w") as out:
        for i in range(count):
            t = 1700000000 + i * 3600
            out.write(f"From sender@example.org {time.asctime(time.gmtime(t))}\n"
                      f"Message-ID: <gen{i}@example.org>\n"
                      f"From: {rng.choice(words)} <{rng.choice(words)}{i}@example.org>\n"
                      f"To: {rng.choice(words)}@example.org\n"
                      f"Subject: {' '.join(rng.sample(words, rng.randint(1, 5)))}\n\n")
            for _ in range(rng.randint(1, 40)):
                out.write(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n")
            out.write("\n")


def parse_totals(output):
    """(commands, logins) from imaptest's closing `Totals:` table."""
    lines = output.splitlines()
    try:
        at = max(i for i, line in enumerate(lines) if line.startswith("Totals:"))
    except ValueError:
        raise SystemExit(f"no totals in imaptest's output:\n{output[-2000:]}")
    names = lines[at + 1].split()
    counts = [int(x) for x in lines[-1].split()]
    if len(counts) != len(names):
        raise SystemExit(f"cannot read imaptest's totals:\n{output[-2000:]}")
    return sum(counts), dict(zip(names, counts)).get("Logi", 0)


def one_run(imaptest, server, mbox, clients, args, secs):
    """(commands/s, logins/s, CPU s per 1,000 commands, error lines) of one imaptest run."""
    roots = server.roots()
    cpu_before = cpu_seconds(roots)
    r = subprocess.run([imaptest, "host=127.0.0.1", f"port={server.imap}",
                        f"user={server.user}", f"pass={server.password}", f"mbox={mbox}",
                        f"clients={clients}", f"secs={secs}", *args],
                       capture_output=True, text=True, timeout=secs + 120,
                       env={**os.environ, "LD_LIBRARY_PATH": "/usr/lib/dovecot"})
    cpu = cpu_seconds(roots) - cpu_before
    output = r.stdout + r.stderr
    commands, logins = parse_totals(output)
    errors = sum(1 for line in output.splitlines() if line.startswith("Error"))
    return commands / secs, logins / secs, cpu * 1000 / max(commands, 1), errors


def users_hash(server):
    """The argon2id hash postrider keeps for the benchmark account."""
    with open(os.path.join(server.srv.data, "users")) as f:
        for line in f:
            name, _, hash_ = line.strip().partition(":")
            if name == server.user:
                return hash_
    raise SystemExit("no hash for the benchmark account in postrider's users file")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 4:
        raise SystemExit(__doc__)
    src, postrider, postrider_std, results = (os.path.abspath(a) for a in args[:4])
    rounds = int(args[4]) if len(args) > 4 else 3
    secs = int(args[5]) if len(args) > 5 else 20
    fast_login = "--dovecot-default-login" not in sys.argv
    imaptest = os.path.join(src, "src", "imaptest")
    if not os.access(imaptest, os.X_OK):
        raise SystemExit(f"no imaptest binary at {imaptest}")
    if os.geteuid() != 0:
        raise SystemExit("imaptest.py needs root (Dovecot drops privileges)")
    os.makedirs(results, exist_ok=True)
    servers = [Postrider(postrider), Postrider(postrider_std)]
    servers.insert(0, Dovecot(maildir=True, password=servers[0].password,
                              password_hash=users_hash(servers[0]), auth_cache=True,
                              fast_login=fast_login))
    servers[0].name = "Dovecot (Maildir)"
    mbox = os.path.join(servers[1].srv.dir, "imaptest.mbox")
    source_mbox(mbox)
    runs = {}
    try:
        for r in range(rounds):
            for mode, extra in MODES:
                for clients in CLIENTS:
                    for server in turns(servers, r):
                        got = one_run(imaptest, server, mbox, clients, extra, secs)
                        runs.setdefault((server.name, mode, clients), []).append(got)
                        print(f"round {r + 1}: {server.name} {mode} clients={clients}: "
                              f"{got[0]:,.0f} cmd/s, {got[1]:,.0f} logins/s, "
                              f"{got[2]:.3f} CPU s/1,000 cmds, {got[3]} error lines",
                              flush=True)
    finally:
        for server in servers:
            server.close()
    login_mode = ("high-performance login mode" if fast_login
                  else "default login mode (a process per connection)")
    lines = [heading("imaptest against Dovecot and postrider"), "",
             f"imaptest stress, `secs={secs}`, medians of {rounds} interleaved rounds; Dovecot "
             f"{dovecot_version()} on Maildir, {login_mode}, auth cache on; the same "
             "argon2id hash on both sides. CPU is the server's whole process tree.", "",
             "| mode | clients | server | cmd/s | × Dovecot | logins/s | CPU s / 1,000 cmds "
             "| error lines (max) |", "|---|---|---|---|---|---|---|---|"]
    for mode, _ in MODES:
        for clients in CLIENTS:
            base = statistics.median(g[0] for g in runs[(servers[0].name, mode, clients)])
            for server in servers:
                got = runs[(server.name, mode, clients)]
                rate = statistics.median(g[0] for g in got)
                lines.append(f"| {mode} | {clients} | {server.name} | {rate:,.0f} | "
                             f"{rate / base:.2f} | {statistics.median(g[1] for g in got):,.0f} "
                             f"| {statistics.median(g[2] for g in got):.3f} | "
                             f"{max(g[3] for g in got)} |")
    with open(os.path.join(results, "imaptest.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def dovecot_version():
    return subprocess.run(["dovecot", "--version"], capture_output=True,
                          text=True).stdout.split(" ")[0]


if __name__ == "__main__":
    main()
