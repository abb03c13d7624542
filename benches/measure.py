#!/usr/bin/env python3
"""Runs postrider-load against a fresh server of the given binary: SMTP (20 clients x
200 messages of 4 KB, pipelined; every 250 means fsynced), IMAP (10 clients x 200
commands of a FETCH/STORE/NOOP mix over TLS) and POP3 (RETR of 200 messages over TLS).
Prints postrider-load's lines. Usage: benches/measure.py SERVER_BIN LOAD_BIN"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    import harness
    harness.BIN = os.path.abspath(sys.argv[1])
    load = os.path.abspath(sys.argv[2])
    srv = harness.Server(users=("sink",), domains=("localhost",))
    srv.start()
    try:
        def run(*args):
            r = subprocess.run([load, *args], capture_output=True, text=True, timeout=600)
            print(f"  {r.stdout.strip()}{' ' + r.stderr.strip()[-300:] if r.returncode else ''}")
        print(os.path.basename(sys.argv[1]))
        run("smtp", "--port", str(srv.ports["smtp"]), "--clients", "20", "--messages", "200",
            "--size", "4096", "--pipelining", "--to", "sink@localhost")
        run("smtp", "--port", str(srv.ports["smtp"]), "--clients", "1", "--messages", "200",
            "--size", "4096", "--to", "sink@localhost")
        deadline = time.time() + 120
        while time.time() < deadline and srv.queue_ids():
            time.sleep(0.1)
        run("imap", "--port", str(srv.ports["imaps"]), "--tls", "--user", "sink",
            "--password", "pw-sink", "--clients", "10", "--messages", "200")
        run("pop3", "--port", str(srv.ports["pop3s"]), "--tls", "--user", "sink",
            "--password", "pw-sink", "--clients", "1", "--messages", "200")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main()
