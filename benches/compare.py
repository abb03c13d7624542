#!/usr/bin/env python3
"""Side by side: Postfix (virtual(8) delivery to mbox) and Dovecot (mbox) against
`postrider` and `postrider-std`, on loopback, with the same loads.

SMTP: postrider-load with 1, 5, 20 and 50 pipelining clients sending 4 KB messages to one
mbox, plus Postfix's own smtp-source at 20 sessions. For each run: accepted msgs/s (every
250 means on disk for all three), p99 latency, end-to-end rate (until the last message is
in the mbox), server CPU seconds per 1,000 messages (the whole process tree, reaped
children included) and peak RSS (the tree's summed VmRSS, sampled every 0.1 s).
IMAP: postrider-load's FETCH/STORE/NOOP mix, 10 clients x 200 commands, on a copy of the
same 1,000-message mbox, Dovecot against both postrider binaries.
With --postgres (after `source tests/pg/cluster.sh`, which exports POSTRIDER_PG_URL and
POSTRIDER_PG_DIR), both binaries run a second time with `[storage] backend = "postgres"`
on a new database of that cluster; their CPU and RSS include the database's processes.

Writes RESULTS_DIR/compare.md (tables with ratios) and RESULTS_DIR/compare.svg
(throughput against concurrency). Needs root (Postfix's master runs as root), the
postfix and dovecot-imapd packages, and release builds.
Usage: benches/compare.py POSTRIDER POSTRIDER_STD LOAD RESULTS_DIR [--quick] [--postgres]"""

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
TICK = os.sysconf("SC_CLK_TCK")
NOBODY = 65534


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def timed_run(cmd, limit=900):
    """Runs `cmd` (its output discarded) and returns its wall time in seconds; fails on a
    non-zero exit, kills it after `limit` seconds. Waits with a blocking waitpid: Python's
    `subprocess.run(timeout=...)` polls every 50 ms at most, which added up to 50 ms to
    every run (12 % of a 0.4 s smtp-source run, 3 % of a 1.4 s one) and made the rates
    fall into 50 ms steps."""
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    killer = threading.Timer(limit, proc.kill)
    killer.start()
    try:
        code = proc.wait()
    finally:
        killer.cancel()
    elapsed = time.time() - started
    if code != 0:
        raise subprocess.CalledProcessError(code, cmd)
    return elapsed


def bench_args(doc, why_root):
    """The common arguments of a side-by-side script run as root: the two binaries and the
    results directory (made), then the rest of argv as given."""
    if len(sys.argv) < 4:
        raise SystemExit(doc)
    if os.geteuid() != 0:
        raise SystemExit(f"{os.path.basename(sys.argv[0])} needs root ({why_root})")
    postrider, postrider_std, results = (os.path.abspath(a) for a in sys.argv[1:4])
    os.makedirs(results, exist_ok=True)
    return postrider, postrider_std, results, sys.argv[4:]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def proc_table():
    """pid -> (ppid, utime+stime, cutime+cstime) in seconds."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(d)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
                       (int(fields[13]) + int(fields[14])) / TICK)
    return out


def tree(root, table):
    pids, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for child, (ppid, _, _) in table.items():
            if ppid == p and child not in pids:
                pids.add(child)
                todo.append(child)
    return pids


def cpu_seconds(roots):
    """CPU time of the trees under `roots`, children already reaped included."""
    table = proc_table()
    total = 0
    for root in roots:
        pids = tree(root, table)
        total += sum(table[p][1] for p in pids if p in table) + table.get(root, (0, 0, 0))[2]
    return total


def rss_kib(roots):
    total = 0
    table = proc_table()
    for p in set().union(*(tree(r, table) for r in roots)):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class PeakRss(threading.Thread):
    def __init__(self, roots):
        super().__init__(daemon=True)
        self.roots, self.peak, self.stop = roots, 0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.roots))
            time.sleep(0.1)


def count_messages(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    return data.count(b"\nFrom ") + (1 if data.startswith(b"From ") else 0)


class Postrider:
    def __init__(self, binary, extra="", smtp=None):
        import harness
        harness.BIN = os.path.abspath(binary)
        self.name = os.path.basename(binary)
        big = {"max_connections": 200, "max_connections_per_ip": 200, **(smtp or {})}
        # The log level a site runs with (the tests' harness logs at debug).
        self.srv = harness.Server(users=("sink",), domains=("bench.example",), smtp=big,
                                  auth={"allow_plaintext": "true"}, extra=extra, log="info")
        self.srv.start()
        self.smtp, self.imap = self.srv.ports["smtp"], self.srv.ports["imap"]
        self.mbox = self.srv.mbox_path("sink")
        self.user, self.password = "sink", "pw-sink"

    def roots(self):
        return [self.srv.proc.pid]

    def delivered(self):
        return count_messages(self.mbox)

    def set_inbox(self, mbox_bytes):
        with open(self.mbox, "wb") as f:
            f.write(mbox_bytes)

    def close(self):
        self.srv.cleanup()


def psql(db, sql):
    base = os.environ["POSTRIDER_PG_URL"].rsplit("/", 1)[0]
    psql_bin = shutil.which("psql") or sorted(
        p for p in (f"/usr/lib/postgresql/{v}/bin/psql" for v in os.listdir("/usr/lib/postgresql"))
        if os.path.exists(p))[-1]
    r = subprocess.run([psql_bin, f"{base}/{db}", "-Atc", sql], capture_output=True, text=True,
                       check=True)
    return r.stdout.strip()


class PostriderPg(Postrider):
    """A postrider binary with the PostgreSQL backend, on a database of its own."""

    def __init__(self, binary):
        self.db = f"compare_{os.getpid()}_{int(time.time() * 1000)}"
        psql("postgres", f"CREATE DATABASE {self.db}")
        base = os.environ["POSTRIDER_PG_URL"].rsplit("/", 1)[0]
        super().__init__(binary, extra=f'[storage]\nbackend = "postgres"\nurl = "{base}/{self.db}"\n')
        self.name += " (PostgreSQL)"
        with open(os.path.join(os.environ["POSTRIDER_PG_DIR"], "data", "postmaster.pid")) as f:
            self.postmaster = int(f.readline())

    def roots(self):
        return [self.srv.proc.pid, self.postmaster]

    def delivered(self):
        return int(psql(self.db, "SELECT count(*) FROM messages"))

    def set_inbox(self, mbox_bytes):
        import imaplib
        import mailbox
        path = os.path.join(self.srv.dir, "inbox.mbox")
        with open(path, "wb") as f:
            f.write(mbox_bytes)
        m = imaplib.IMAP4("127.0.0.1", self.imap)
        m.login(self.user, self.password)
        for msg in mailbox.mbox(path):
            m.append("INBOX", None, None, msg.as_bytes().replace(b"\n", b"\r\n"))
        m.logout()

    def close(self):
        super().close()
        psql("postgres", f"DROP DATABASE IF EXISTS {self.db}")


class Postfix:
    name = "Postfix"

    def __init__(self, main_cf=""):
        """A private Postfix; `main_cf`: more main.cf lines."""
        self.dir = tempfile.mkdtemp(prefix="postfix-bench-")
        os.chmod(self.dir, 0o755)
        conf, self.queue, data = (os.path.join(self.dir, x) for x in ("conf", "queue", "data"))
        vmail = os.path.join(self.dir, "vmail")
        for d in (conf, self.queue, data, vmail):
            os.makedirs(d)
        shutil.chown(data, "postfix")
        os.chown(vmail, NOBODY, NOBODY)
        self.conf = conf
        self.smtp = free_port()
        shutil.copy("/etc/postfix/master.cf", conf)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pf.bench.example
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = bench.example
virtual_mailbox_base = {vmail}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
virtual_minimum_uid = 1
virtual_destination_concurrency_limit = 20
smtpd_client_connection_count_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8
default_process_limit = 200
smtp_dns_support_level = disabled
# Logging goes to syslog, which is absent here (a postlogd socket nobody drains would
# block the daemons). No DNS at all (the machine's resolver is not on loopback): the client's name is not
# looked up, and names resolve through /etc/hosts only.
smtpd_peername_lookup = no
lmtp_host_lookup = native
smtp_host_lookup = native
{main_cf}""")
        with open(os.path.join(conf, "vmailbox"), "w") as f:
            f.write("sink@bench.example sink\n")
        pc = ["postconf", "-c", conf]
        subprocess.run(pc + ["-F", "*/*/chroot=n"], check=True)
        subprocess.run(pc + ["-M#", "smtp/inet"], check=True)
        subprocess.run(pc + ["-Me", f"127.0.0.1:{self.smtp}/inet=127.0.0.1:{self.smtp} inet n - n - - smtpd"], check=True)
        subprocess.run(["postfix", "-c", conf, "start"], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.smtp)
        self.mbox = os.path.join(vmail, "sink")

    def roots(self):
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            return [int(f.read().strip())]

    def delivered(self):
        return count_messages(self.mbox)

    def close(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


class Dovecot:
    name = "Dovecot"

    def __init__(self, maildir=False, password="secret", password_hash=None, auth_cache=False,
                 fast_login=False):
        """A private Dovecot on loopback (plain IMAP) for the account sink.

        `maildir`: Maildir instead of the mbox INBOX; `password_hash`: check logins
        against this hash of `password` (a PHC string, as postrider stores them) instead
        of comparing with `password` as is; `auth_cache`: Dovecot's auth cache on (1 hour, as postrider's verified-
        credential cache); `fast_login`: Dovecot's high-performance login mode (login
        processes serve many connections, two kept ready) instead of one per connection."""
        self.dir = tempfile.mkdtemp(prefix="dovecot-bench-")
        os.chmod(self.dir, 0o755)
        home = os.path.join(self.dir, "home")
        os.makedirs(os.path.join(home, "mail"))
        os.makedirs(os.path.join(self.dir, "run"))
        self.mbox = os.path.join(self.dir, "inbox")
        open(self.mbox, "w").close()
        self.imap = free_port()
        self.user, self.password = "sink", password
        self.conf = os.path.join(self.dir, "dovecot.conf")
        location = (f"maildir:{home}/Maildir" if maildir
                    else f"mbox:{home}/mail:INBOX={self.mbox}")
        passdb = f"driver = static\n  args = password={password}"
        if password_hash:
            users = os.path.join(self.dir, "passwd")
            scheme = "ARGON2ID" if password_hash.startswith("$argon2id") else "CRYPT"
            with open(users, "w") as f:
                f.write(f"sink:{{{scheme}}}{password_hash}\n")
            passdb = f"driver = passwd-file\n  args = {users}"
        extra = "auth_cache_size = 10M\nauth_cache_ttl = 1 hour\n" if auth_cache else ""
        login = ("  service_count = 0\n  process_min_avail = 2\n  client_limit = 1000\n"
                 if fast_login else "")
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
log_path = {self.dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
protocols = imap
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
mail_location = {location}
mail_uid = {NOBODY}
mail_gid = {NOBODY}
first_valid_uid = 1
{extra}passdb {{
  {passdb}
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={home}
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
service imap-login {{
  inet_listener imap {{
    port = {self.imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
{login}}}
""")
        for p in (home, os.path.join(home, "mail"), self.mbox):
            os.chown(p, NOBODY, NOBODY)
        subprocess.run(["dovecot", "-c", self.conf], check=True)
        wait_port(self.imap)

    def set_inbox(self, mbox_bytes):
        with open(self.mbox, "wb") as f:
            f.write(mbox_bytes)
        os.chown(self.mbox, NOBODY, NOBODY)

    def roots(self):
        # Dovecot's master may answer on its port a moment before it writes its pid file.
        path = os.path.join(self.dir, "run", "master.pid")
        deadline = time.time() + 10
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.05)
        with open(path) as f:
            return [int(f.read().strip())]

    def close(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


def parse_load(out):
    m = re.search(r"rate=([\d.]+) \S+ p50=([\d.]+)ms p99=([\d.]+)ms", out)
    if not m:
        raise SystemExit(f"cannot read postrider-load output: {out!r}")
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def measured(server, run, expect_delivered=None):
    """Runs `run()` (returning (rate, p99)) while sampling the server; returns a row."""
    roots = server.roots()
    before_cpu = cpu_seconds(roots)
    before_count = server.delivered() if expect_delivered else 0
    sampler = PeakRss(roots)
    sampler.start()
    started = time.time()
    rate, p99 = run()
    e2e = None
    if expect_delivered:
        deadline = time.time() + 300
        while server.delivered() < before_count + expect_delivered:
            if time.time() > deadline:
                raise SystemExit(f"{server.name}: messages missing from the mbox after 300 s")
            time.sleep(0.05)
        e2e = expect_delivered / (time.time() - started)
    sampler.stop = True
    sampler.join()
    cpu = cpu_seconds(roots) - before_cpu
    return {"rate": rate, "p99": p99, "e2e": e2e, "cpu": cpu, "rss": sampler.peak / 1024}


def smtp_load(load, port, clients, messages):
    def run():
        r = subprocess.run([load, "smtp", "--port", str(port), "--clients", str(clients),
                            "--messages", str(messages), "--size", "4096", "--pipelining",
                            "--from", "load@client.example", "--to", "sink@bench.example"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode:
            raise SystemExit(f"postrider-load failed: {r.stdout} {r.stderr[-500:]}")
        rate, _, p99 = parse_load(r.stdout)
        return rate, p99
    return run


def smtp_source(port, sessions, total):
    def run():
        elapsed = timed_run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(total),
                             "-l", "4096", "-f", "load@client.example", "-t",
                             "sink@bench.example", f"127.0.0.1:{port}"])
        return total / elapsed, None
    return run


def imap_load(load, port, user, password):
    def run():
        r = subprocess.run([load, "imap", "--port", str(port), "--user", user, "--password",
                            password, "--clients", "10", "--messages", "200"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode:
            raise SystemExit(f"postrider-load imap failed: {r.stdout} {r.stderr[-500:]}")
        rate, _, p99 = parse_load(r.stdout)
        return rate, p99
    return run


def sample_mbox(n):
    out = bytearray()
    body = ("The quick brown fox jumps over the lazy dog. " * 20 + "\n") * 4
    for i in range(n):
        out += (f"From load@client.example Sat Nov 28 12:00:00 2026\n"
                f"From: load@client.example\nTo: sink@bench.example\n"
                f"Subject: message {i}\nMessage-ID: <{i}@client.example>\n"
                f"Date: Sat, 28 Nov 2026 12:00:00 +0000\n\n{body}\n").encode()
    return bytes(out)


def svg_plot(series, path, title="SMTP accepted msgs/s, 4 KB messages (durable)",
             x_label="concurrent clients"):
    """Throughput (msgs/s) against concurrency, one line per server."""
    w, h, left, bottom, top, right = 640, 400, 70, 50, 30, 150
    xs = sorted({c for pts in series.values() for c, _ in pts})
    ymax = max(v for pts in series.values() for _, v in pts) * 1.1
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    def px(i):
        return left + i * (w - left - right) / max(1, len(xs) - 1)

    def py(v):
        return h - bottom - v / ymax * (h - bottom - top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="18" text-anchor="middle">{title}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">{x_label}</text>']
    for i, c in enumerate(xs):
        out.append(f'<text x="{px(i)}" y="{h - bottom + 16}" text-anchor="middle">{c}</text>')
    for k in range(6):
        v = ymax * k / 5
        out.append(f'<text x="{left - 6}" y="{py(v) + 4}" text-anchor="end">{v:.0f}</text>')
        out.append(f'<line x1="{left}" y1="{py(v)}" x2="{w - right}" y2="{py(v)}" stroke="#ddd"/>')
    for n, (name, pts) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        coords = " ".join(f"{px(xs.index(c))},{py(v)}" for c, v in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for c, v in pts:
            out.append(f'<circle cx="{px(xs.index(c))}" cy="{py(v)}" r="3" fill="{colour}"/>')
        out.append(f'<text x="{w - right + 10}" y="{top + 20 + 18 * n}" fill="{colour}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def settle(quick):
    """Waits until the files the previous server deleted no longer slow down the next
    one: ext4 without a journal skips inodes deleted in the last 30 s when it allocates
    new ones (`recently_deleted`), and every server here creates a file per message."""
    if not quick:
        time.sleep(35)


def heading(what):
    """A results file's first line: what was measured, when and on which machine."""
    return (f"# {what} ({time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, "
            f"{os.cpu_count()} CPUs, Linux {platform.release()})")


def turns(servers, r):
    """The servers in round `r`'s order: it turns each round, so that no server always
    runs right after another."""
    k = r % len(servers)
    return servers[k:] + servers[:k]


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    postrider, postrider_std, load, results = (os.path.abspath(a) for a in sys.argv[1:5])
    quick = "--quick" in sys.argv
    if os.geteuid() != 0:
        raise SystemExit("compare.py needs root (Postfix's master and Dovecot run as root)")
    os.makedirs(results, exist_ok=True)
    levels = [1, 5, 20] if quick else [1, 5, 20, 50]
    total = 400 if quick else 2000
    makers = [lambda: Postrider(postrider), lambda: Postrider(postrider_std)]
    if "--postgres" in sys.argv:
        if not os.environ.get("POSTRIDER_PG_URL") or not os.environ.get("POSTRIDER_PG_DIR"):
            raise SystemExit("--postgres: source tests/pg/cluster.sh first")
        makers += [lambda: PostriderPg(postrider), lambda: PostriderPg(postrider_std)]
    smtp_rows, series = [], {}
    for make in [Postfix] + makers:
        settle(quick)
        server = make()
        try:
            pts = []
            for c in levels:
                n = total if c > 1 else total // 4
                row = measured(server, smtp_load(load, server.smtp, c, n // c), n // c * c)
                row.update(server=server.name, load=f"postrider-load, {c} client{'s' * (c > 1)}",
                           n=n // c * c)
                smtp_rows.append(row)
                pts.append((c, row["rate"]))
                print(f"{server.name}: {row['load']}: {row['rate']:.0f} msg/s", flush=True)
            series[server.name] = pts
            row = measured(server, smtp_source(server.smtp, 20, total), total)
            row.update(server=server.name, load="smtp-source -s 20", n=total)
            smtp_rows.append(row)
            print(f"{server.name}: smtp-source: {row['rate']:.0f} msg/s", flush=True)
        finally:
            server.close()
    inbox = sample_mbox(1000)
    imap_rows = []
    for make in [Dovecot] + makers:
        settle(quick)
        server = make()
        try:
            server.set_inbox(inbox)
            row = measured(server, imap_load(load, server.imap, server.user, server.password))
            row.update(server=server.name, load="IMAP mix, 10 clients x 200", n=2000)
            imap_rows.append(row)
            print(f"{server.name}: IMAP: {row['rate']:.0f} cmd/s", flush=True)
        finally:
            server.close()

    def baseline(rows, base, load_name):
        return next((r for r in rows if r["server"] == base and r["load"] == load_name), None)

    cpu = f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    lines = [f"# postrider vs Postfix and Dovecot ({time.strftime('%Y-%m-%d')}, {platform.node()}, "
             f"{cpu}, Linux {platform.release()})", "",
             "SMTP: 4 KB messages to one mbox on loopback (or, for PostgreSQL, one folder in the "
             "database); every 250 means on disk (committed) for all of them. PostgreSQL rows: "
             "CPU and RSS include the database's processes.",
             "", "| server | load | msgs | accepted msg/s | × Postfix | p99 ms | end-to-end msg/s | "
             "× Postfix | CPU s / 1,000 msgs | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in smtp_rows:
        b = baseline(smtp_rows, "Postfix", r["load"])
        lines.append(f"| {r['server']} | {r['load']} | {r['n']} | {fmt(r['rate'])} | "
                     f"{fmt(r['rate'] / b['rate'], 2)} | {fmt(r['p99'], 1)} | {fmt(r['e2e'])} | "
                     f"{fmt(r['e2e'] / b['e2e'] if r['e2e'] and b['e2e'] else None, 2)} | "
                     f"{fmt(r['cpu'] * 1000 / r['n'], 2)} | {fmt(r['rss'], 1)} |")
    lines += ["", "IMAP: postrider-load's FETCH 1:* FLAGS / FETCH BODY.PEEK[] ENVELOPE / STORE / "
              "NOOP mix on a 1,000-message mbox (plain IMAP on loopback).", "",
              "| server | cmd/s | × Dovecot | p99 ms | CPU s / 1,000 cmds | peak RSS MB |",
              "|---|---|---|---|---|---|"]
    for r in imap_rows:
        b = imap_rows[0]
        lines.append(f"| {r['server']} | {fmt(r['rate'])} | {fmt(r['rate'] / b['rate'], 2)} | "
                     f"{fmt(r['p99'], 1)} | {fmt(r['cpu'] * 1000 / r['n'], 2)} | {fmt(r['rss'], 1)} |")
    lines += ["", "![SMTP throughput against concurrency](compare.svg)", ""]
    with open(os.path.join(results, "compare.md"), "w") as f:
        f.write("\n".join(lines))
    svg_plot(series, os.path.join(results, "compare.svg"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
