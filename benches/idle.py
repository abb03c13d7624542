#!/usr/bin/env python3
"""Holds N idle SMTP and N idle IMAP connections (greeting read, nothing sent) against a
fresh server of the given binary, then reports the server's resident memory (VmRSS, and
the peak VmHWM) before and with the connections open, and checks that a new SMTP session
still deliver messages meanwhile (five, timed). Exits non-zero if any connection fails.
Usage: benches/idle.py SERVER_BIN [N_PER_PROTOCOL=5000]"""

import os
import resource
import smtplib
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
                key, value = line.split(":", 1)
                out[key] = value.strip()
    return out


def kib(text):
    return int(text.split()[0])


def main():
    import harness
    harness.BIN = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n + 100
    if hard < need:
        sys.exit(f"the open-files hard limit {hard} is below {need}; raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limits = {"max_connections": 2 * n, "max_connections_per_ip": 2 * n}
    extra = "\n".join(f"{k} = {v}" for k, v in limits.items())
    srv = harness.Server(users=("sink",), domains=("localhost",), smtp=limits, extra=extra)
    srv.start()
    socks = []
    try:
        time.sleep(0.5)
        before = memory(srv.proc.pid)
        started = time.time()
        for port, greeting in ((srv.ports["smtp"], b"220"), (srv.ports["imap"], b"* OK")):
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                data = s.recv(512)
                if not data.startswith(greeting):
                    raise SystemExit(f"connection {len(socks)}: unexpected greeting {data!r}")
                socks.append(s)
        opened = time.time() - started
        time.sleep(1.0)
        held = memory(srv.proc.pid)
        times = []
        for i in range(5):
            t0 = time.time()
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as c:
                c.sendmail("a@localhost", ["sink@localhost"], f"Subject: while idle {i}\r\n\r\nhi\r\n")
            times.append(time.time() - t0)
        accepted = sorted(times)[len(times) // 2]
        srv.wait_subject("sink", "while idle 4")
        per_conn = (kib(held["VmRSS"]) - kib(before["VmRSS"])) / len(socks)
        print(f"{os.path.basename(sys.argv[1])}: {len(socks)} idle connections "
              f"({n} SMTP + {n} IMAP) opened in {opened:.1f} s; "
              f"RSS {kib(before['VmRSS']) / 1024:.1f} MB before, "
              f"{kib(held['VmRSS']) / 1024:.1f} MB with them (peak {kib(held['VmHWM']) / 1024:.1f} MB, "
              f"{per_conn:.1f} KiB per connection, {held['Threads']} threads); "
              f"new SMTP transactions meanwhile took {', '.join(f'{t * 1000:.0f}' for t in times)} ms "
              f"(median {accepted * 1000:.0f} ms)")
    finally:
        for s in socks:
            s.close()
        srv.cleanup()


if __name__ == "__main__":
    main()
