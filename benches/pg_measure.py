#!/usr/bin/env python3
"""The PostgreSQL backend against the files backend, in one run: SMTP accept rate (20
clients x 200 pipelined 4 KB messages, each 250 committed), the rate until all are
delivered (the queue empty), and IMAP command rate (10
clients x 2000 commands of postrider-load's mix) for each, then what the database did
per accepted-and-delivered message (statements, transactions, rows written, WAL bytes).

Usage: source tests/pg/cluster.sh; python3 benches/pg_measure.py SERVER_BIN LOAD_BIN
[files|postgres...]
(needs $POSTRIDER_PG_URL and $PG_BIN from cluster.sh, pg_stat_statements preloaded)."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

SERVER, LOAD = (os.path.abspath(a) for a in sys.argv[1:3])
BASE = os.environ["POSTRIDER_PG_URL"]
HOST_PORT = BASE.split("@", 1)[1].rsplit("/", 1)[0]
HOST, PORT = HOST_PORT.rsplit(":", 1)


def psql(db, sql):
    r = subprocess.run([os.path.join(os.environ["PG_BIN"], "psql"), "-h", HOST, "-p", PORT,
                        "-U", "postgres", "-d", db, "-Atc", sql],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def load(*args):
    r = subprocess.run([LOAD, *args], capture_output=True, text=True, timeout=900)
    return r.stdout.strip() + (" ERR " + r.stderr[-300:] if r.returncode else "")


def db_counters(db):
    row = psql(db, "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted "
                   f"FROM pg_stat_database WHERE datname = '{db}'")
    commits, rows = (int(x) for x in row.split("|"))
    calls = int(psql(db, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                         f"JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '{db}'"))
    wal = int(psql(db, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    return commits, rows, calls, wal


def run(backend):
    extra = ""
    db = None
    if backend == "postgres":
        db = f"measure_{os.getpid()}"
        psql("postgres", f"CREATE DATABASE {db}")
        psql(db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        url = BASE.rsplit("/", 1)[0] + "/" + db
        extra = f'\n[storage]\nbackend = "postgres"\nurl = "{url}"\nnode = "bench"\n'
    harness.BIN = SERVER
    srv = harness.Server(users=("sink",), domains=("localhost",), extra=extra).start()
    try:
        before = db_counters(db) if db else None
        started = time.time()
        smtp = load("smtp", "--port", str(srv.ports["smtp"]), "--clients", "20", "--messages",
                    "200", "--size", "4096", "--pipelining", "--to", "sink@localhost")
        deadline = time.time() + 300
        while time.time() < deadline and srv.cli("mailq").stdout.strip() != b"Mail queue is empty":
            time.sleep(0.2)
        delivered = 4000 / (time.time() - started)
        after = db_counters(db) if db else None
        imap = load("imap", "--port", str(srv.ports["imaps"]), "--tls", "--user", "sink",
                    "--password", "pw-sink", "--clients", "10", "--messages", "2000")
        print(f"{backend} {os.path.basename(SERVER)}\n  {smtp}\n"
              f"  accepted and delivered (queue empty): {delivered:.0f} msgs/s\n  {imap}")
        if before:
            n = 4000
            d = [a - b for a, b in zip(after, before)]
            print(f"  database per message accepted and delivered ({n}): "
                  f"{d[2] / n:.1f} statements, {d[0] / n:.1f} commits, {d[1] / n:.1f} rows "
                  f"written, {d[3] / n / 1024:.1f} KiB of WAL")
    finally:
        srv.cleanup()


for backend in sys.argv[3:] or ("files", "postgres"):
    run(backend)
