#!/usr/bin/env python3
"""Big messages over SMTP: Postfix's smtp-source sends 10 messages of 20 MB over 5
sessions to Postfix and to both postrider binaries, side by side, interleaved rounds.

For each run: accepted MB/s (until smtp-source exits: every 250 means on disk), end-to-end
MB/s (until the last message is in the mbox), the server's CPU seconds and its peak RSS
(the process tree's summed VmRSS, sampled every 0.1 s), which shows whether a message is
held whole in memory. Every server takes messages up to 50 MB (Postfix's
message_size_limit and virtual_mailbox_limit raised, postrider's max_message_size).

Writes RESULTS_DIR/big_messages.md. Needs root and the postfix package (as compare.py).
Usage: benches/big_messages.py POSTRIDER POSTRIDER_STD RESULTS_DIR [ROUNDS=3]"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (PeakRss, Postfix, Postrider, bench_args, cpu_seconds,  # noqa: E402
                     heading, timed_run, turns)

SIZE = 20 * 1024 * 1024
COUNT = 10
SESSIONS = 5
LIMIT = 50 * 1024 * 1024


def one_run(server, delivered_before):
    """(accepted MB/s, end-to-end MB/s, CPU s, peak RSS MB) of one run."""
    roots = server.roots()
    peak = PeakRss(roots)
    peak.start()
    cpu_before = cpu_seconds(roots)
    started = time.time()
    accepted = timed_run(["/usr/sbin/smtp-source", "-s", str(SESSIONS), "-m", str(COUNT),
                          "-l", str(SIZE), "-f", "load@client.example", "-t",
                          "sink@bench.example", f"127.0.0.1:{server.smtp}"])
    deadline = time.time() + 600
    while server.delivered() < delivered_before + COUNT and time.time() < deadline:
        time.sleep(0.1)
    end_to_end = time.time() - started
    cpu = cpu_seconds(roots) - cpu_before
    peak.stop = True
    peak.join()
    if server.delivered() < delivered_before + COUNT:
        raise SystemExit(f"{server.name} delivered {server.delivered() - delivered_before} "
                         f"of {COUNT} messages within 10 minutes")
    mb = SIZE * COUNT / 1e6
    return mb / accepted, mb / end_to_end, cpu, peak.peak / 1024


def main():
    postrider, postrider_std, results, rest = bench_args(
        __doc__, "Postfix's master runs as root")
    rounds = int(rest[0]) if rest else 3
    servers = [Postfix(main_cf=f"message_size_limit = {LIMIT}\nvirtual_mailbox_limit = 0\n"),
               Postrider(postrider, smtp={"max_message_size": LIMIT}),
               Postrider(postrider_std, smtp={"max_message_size": LIMIT})]
    runs, delivered = {}, {}
    try:
        for r in range(rounds):
            for server in turns(servers, r):
                got = one_run(server, delivered.get(server.name, 0))
                delivered[server.name] = server.delivered()
                runs.setdefault(server.name, []).append(got)
                print(f"round {r + 1}: {server.name}: {got[0]:.1f} MB/s accepted, "
                      f"{got[1]:.1f} MB/s end to end, {got[2]:.2f} CPU s, "
                      f"peak RSS {got[3]:.0f} MB", flush=True)
                time.sleep(5)
    finally:
        for server in servers:
            server.close()
    lines = [heading("20 MB messages over SMTP"), "",
             f"`smtp-source -s {SESSIONS} -m {COUNT} -l {SIZE}` ({COUNT} messages of 20 MiB "
             f"over {SESSIONS} sessions) to one mbox; medians of {rounds} interleaved rounds. "
             "CPU and RSS are the server's whole process tree (Postfix's RSS counts the shared "
             "pages of each of its processes again).", "",
             "| server | accepted MB/s | × Postfix | end-to-end MB/s | × Postfix | CPU s "
             "| peak RSS MB |", "|---|---|---|---|---|---|---|"]
    base = [statistics.median(g[i] for g in runs["Postfix"]) for i in range(2)]
    for server in servers:
        got = runs[server.name]
        acc, e2e, cpu, rss = (statistics.median(g[i] for g in got) for i in range(4))
        lines.append(f"| {server.name} | {acc:.1f} | {acc / base[0]:.2f} | {e2e:.1f} | "
                     f"{e2e / base[1]:.2f} | {cpu:.2f} | {rss:.0f} |")
    with open(os.path.join(results, "big_messages.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
