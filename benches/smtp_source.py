#!/usr/bin/env python3
"""Postfix's own SMTP client against Postfix and both postrider binaries, interleaved.

smtp-source opens a connection per message (no pipelining: seven round trips per
message), the load under which a server's per-connection and per-command path shows. The
three servers run side by side (Postfix with virtual(8) delivery to an mbox, durable queue
as shipped; postrider and postrider-std with their defaults), and each round loads each of
them in turn at `-s 1`, `-s 20` and `-s 100` sessions, so a slow spell of the machine
hits every server alike; the table gives each figure's median over the rounds: accepted
msg/s (until smtp-source exits: every 250 means on disk) and the server's CPU time per
accepted message (its whole process tree).

After each run the script waits until that server has delivered every message it
accepted (Postfix's delivery runs seconds behind its accepts) and PAUSE seconds more, so
no server's run shares the machine with another's leftover work.

Writes RESULTS_DIR/smtp_source.md and the plot RESULTS_DIR/smtp_source.svg. Needs root and the postfix package (as compare.py).
Usage: benches/smtp_source.py POSTRIDER POSTRIDER_STD RESULTS_DIR [ROUNDS=3] [MESSAGES=2000]
       [PAUSE=5]"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (Postfix, Postrider, bench_args, cpu_seconds, heading,  # noqa: E402
                     svg_plot, timed_run, turns)

SESSIONS = (1, 20, 100)


def wait_delivered(server, expected, timeout=600):
    """Waits until `server` has delivered `expected` messages in all, or its count has
    not moved for 3 s (a delivery deferred for minutes), so that its queue runner
    (Postfix's can be seconds behind) does not share the CPU with the next run."""
    deadline = time.time() + timeout
    count, moved = server.delivered(), time.time()
    while count < expected and time.time() < min(deadline, moved + 3):
        time.sleep(0.2)
        now = server.delivered()
        if now != count:
            count, moved = now, time.time()
    if count < expected:
        print(f"note: {server.name} delivered {count} of {expected} so far", flush=True)


def one_run(server, sessions, messages):
    """(accepted msg/s, CPU ms per message) of one smtp-source run against `server`."""
    roots = server.roots()
    cpu_before = cpu_seconds(roots)
    elapsed = timed_run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages),
                         "-l", "4096", "-f", "load@client.example", "-t", "sink@bench.example",
                         f"127.0.0.1:{server.smtp}"])
    cpu = cpu_seconds(roots) - cpu_before
    return messages / elapsed, cpu * 1000 / messages


def main():
    postrider, postrider_std, results, rest = bench_args(
        __doc__, "Postfix's master runs as root")
    rounds = int(rest[0]) if len(rest) > 0 else 3
    messages = int(rest[1]) if len(rest) > 1 else 2000
    pause = float(rest[2]) if len(rest) > 2 else 5
    servers = [Postfix(), Postrider(postrider), Postrider(postrider_std)]
    runs, sent = {}, {}
    try:
        for r in range(rounds):
            for s in SESSIONS:
                for server in turns(servers, r):
                    rate, cpu = one_run(server, s, messages)
                    sent[server.name] = sent.get(server.name, 0) + messages
                    wait_delivered(server, sent[server.name])
                    time.sleep(pause)
                    runs.setdefault((server.name, s), []).append((rate, cpu))
                    print(f"round {r + 1}: {server.name} -s {s}: {rate:.0f} msg/s, "
                          f"{cpu:.2f} ms CPU/msg", flush=True)
    finally:
        for server in servers:
            server.close()
    lines = [heading("smtp-source against Postfix and postrider"), "",
             f"`smtp-source -s N -m {messages} -l 4096`, a connection per message; medians of "
             f"{rounds} interleaved rounds, each run after the previous server delivered "
             f"all it accepted and a {pause:g} s pause; CPU is the server's whole process "
             "tree.", "",
             "| server | sessions | accepted msg/s | × Postfix | CPU ms / msg |",
             "|---|---|---|---|---|"]
    for s in SESSIONS:
        base = statistics.median(r for r, _ in runs[("Postfix", s)])
        for server in servers:
            got = runs[(server.name, s)]
            rate = statistics.median(r for r, _ in got)
            cpu = statistics.median(c for _, c in got)
            lines.append(f"| {server.name} | {s} | {rate:,.0f} | {rate / base:.2f} | {cpu:.2f} |")
    with open(os.path.join(results, "smtp_source.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    series = {server.name: [(s, statistics.median(r for r, _ in runs[(server.name, s)]))
                            for s in SESSIONS] for server in servers}
    svg_plot(series, os.path.join(results, "smtp_source.svg"),
             title="smtp-source: accepted msgs/s, 4 KB messages (durable)",
             x_label="smtp-source sessions (-s)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
