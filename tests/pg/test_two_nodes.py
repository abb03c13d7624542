"""Two nodes sharing one PostgreSQL database (CONTRACT.md, "Several nodes on one
database"): what one node accepts or changes, the other serves. Run by tests/pg/run.sh
with a throwaway cluster ($POSTRIDER_PG_URL) for each binary ($POSTRIDER_BIN)."""

import collections
import imaplib
import os
import poplib
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Server, SmtpSink, free_port, insecure_tls  # noqa: E402

BASE_URL = os.environ.get("POSTRIDER_PG_URL", "")
COUNTER = [0]


def fresh_database():
    """A new database in the test cluster; its URL."""
    COUNTER[0] += 1
    name = f"nodes_{os.getpid()}_{COUNTER[0]}"
    host_port = BASE_URL.split("@", 1)[1].rsplit("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    subprocess.run([os.path.join(os.environ["PG_BIN"], "createdb"), "-h", host, "-p", port,
                    "-U", "postgres", name], check=True)
    return BASE_URL.rsplit("/", 1)[0] + "/" + name


def storage(url, node):
    return f'\n[storage]\nbackend = "postgres"\nurl = "{url}"\nnode = "{node}"\nlease = "5s"\n'


def imap(srv, user="alice"):
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=insecure_tls(),
                          timeout=30)
    m.login(user, f"pw-{user}")
    return m


def send(srv, n=1, subject="hello"):
    with smtplib.SMTP(srv.smtp_ip, srv.ports["smtp"], timeout=30) as s:
        for i in range(n):
            s.sendmail("sender@remote.example", ["alice@test.example"],
                       f"From: sender@remote.example\r\nSubject: {subject} {i}\r\n\r\nbody {i}\r\n")


def wait_for(what, check, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Sink(SmtpSink):
    """The MX on 127.0.0.5: accepts everything, counting messages by Subject; `delay`
    seconds before each 250 after DATA (to catch nodes mid-delivery)."""

    extensions = ("PIPELINING", "ENHANCEDSTATUSCODES")

    def __init__(self, delay=0.0):
        self.port = free_port()
        self.seen = collections.Counter()
        super().__init__("127.0.0.5", self.port, delay=delay)

    def total(self):
        with self.lock:
            return sum(self.seen.values())

    def on_message(self, body):
        subject = re.search(rb"Subject: ([^\r\n]*)", body)
        self.seen[subject.group(1) if subject else b"?"] += 1


def queue_empty(srv):
    wait_for("the queue empty",
             lambda: srv.cli("mailq").stdout.strip() == b"Mail queue is empty", timeout=30)


def relaying(sink):
    return {"smtp": {"trusted_networks": '["127.0.0.0/8"]'},
            "delivery": {"smarthost": f'"127.0.0.5:{sink.port}"', "retry": '["1s"]'}}


def submit(srv, subjects):
    with smtplib.SMTP(srv.smtp_ip, srv.ports["smtp"], timeout=60) as s:
        for subject in subjects:
            s.sendmail("alice@test.example", ["someone@remote.example"],
                       f"From: alice@test.example\r\nSubject: {subject}\r\n\r\nx\r\n")


class SharedQueue(unittest.TestCase):
    def nodes(self, sink):
        """Two nodes relaying to `sink`, all three stopped at the end of the test."""
        url = fresh_database()
        a = Server(extra=storage(url, "node-a"), **relaying(sink)).start()
        b = Server(users=(), extra=storage(url, "node-b"), smtp_ip="127.0.0.2",
                   **relaying(sink)).start()
        for done in (sink.close, b.cleanup, a.cleanup):
            self.addCleanup(done)
        return a, b

    def test_200_messages_submitted_to_both_nodes_are_each_delivered_once(self):
        sink = Sink()
        a, b = self.nodes(sink)
        t = threading.Thread(target=submit, args=(a, [f"m{i}" for i in range(100)]))
        t.start()
        submit(b, [f"m{i}" for i in range(100, 200)])
        t.join()
        wait_for("200 messages at the sink", lambda: sink.total() >= 200, timeout=120)
        time.sleep(3)  # a duplicate would arrive meanwhile
        self.assertEqual(len(sink.seen), 200)
        dup = {k: v for k, v in sink.seen.items() if v != 1}
        self.assertEqual(dup, {}, "delivered more than once")
        queue_empty(a)

    def test_a_node_killed_mid_queue_leaves_its_messages_to_the_other(self):
        sink = Sink(delay=0.2)
        a, b = self.nodes(sink)
        b.stop()  # only A takes the messages at first
        submit(a, [f"k{i}" for i in range(40)])
        wait_for("A delivering", lambda: sink.total() >= 5, timeout=60)
        a.kill()
        at_kill = sink.total()
        b.start()
        wait_for("all 40 at the sink", lambda: len(sink.seen) >= 40, timeout=120)
        time.sleep(2)
        self.assertEqual(len(sink.seen), 40)
        dup = sum(v - 1 for v in sink.seen.values())
        # Only messages the sink accepted while A died (A could not record them) may
        # come twice: no two-phase commit with a remote server exists.
        self.assertLessEqual(dup, 10, f"{dup} duplicates ({at_kill} at the kill)")
        print(f"killed node A after {at_kill} deliveries; B finished; {dup} duplicate(s)",
              file=sys.stderr)
        queue_empty(b)


class DatabaseRestart(unittest.TestCase):
    def test_a_node_carries_on_after_the_database_restarts(self):
        url = fresh_database()
        srv = Server(extra=storage(url, "node-a")).start()
        self.addCleanup(srv.cleanup)
        send(srv, subject="before")

        def inbox_holds(n):
            m = imap(srv)
            try:
                return int(m.select("INBOX")[1][0]) == n
            finally:
                m.logout()
        # Delivered before the restart (a delivery cut by it is retried a minute later).
        wait_for("the first message in the INBOX", lambda: inbox_holds(1))
        data = os.path.join(os.environ["POSTRIDER_PG_DIR"], "data")
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(as_pg + [os.path.join(os.environ["PG_BIN"], "pg_ctl"), "-D", data,
                                "-m", "fast", "-w", "restart", "-l",
                                os.path.join(os.environ["POSTRIDER_PG_DIR"], "server.log")],
                       check=True, capture_output=True)
        # The pooled connections died with the server: each is found dead when next
        # lent and replaced; no message is refused, none is lost.
        send(srv, n=3, subject="after")

        try:
            wait_for("all four messages in the INBOX", lambda: inbox_holds(4))
        except AssertionError:
            raise AssertionError(srv.cli("mailq").stdout.decode() + "\n".join(
                line for line in srv.log().splitlines() if "imap" not in line)[-3000:])


class Unreachable(unittest.TestCase):
    def test_a_database_that_cannot_be_reached_is_a_clear_error(self):
        srv = Server(users=(), extra=storage("postgres://postgres@127.0.0.1:9/none", "n"))
        try:
            r = srv.cli("user", "list", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"cannot open the database ([storage] url): cannot connect to "
                          b"PostgreSQL: 127.0.0.1:9", r.stderr)
            r = srv.cli("serve", check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"cannot connect to PostgreSQL", r.stderr)
        finally:
            srv.cleanup()


class Import(unittest.TestCase):
    def test_a_single_host_moves_into_the_database_with_its_uids_and_flags(self):
        old = Server().start()
        try:
            send(old, 3)
            old.wait_messages("alice", 3)
            m = imap(old)
            m.create("Archive")
            m.select("INBOX")
            m.store("2", "+FLAGS", "(\\Flagged $Keep)")
            m.copy("3", "Archive")
            typ, data = m.fetch("1:*", "(UID FLAGS)")
            # \\Recent belongs to the session that claimed the messages: not copied.
            before = sorted(d.replace(b" \\Recent", b"").replace(b"\\Recent", b"")
                            for d in data if d)
            m.logout()
            with open(os.path.join(old.data, "home", "alice", ".forward"), "w") as f:
                f.write("alice, bob\n")
        finally:
            old.stop()
        url = fresh_database()
        new = Server(users=(), extra=storage(url, "node-a"))
        first = new.cli("store", "import", old.data).stdout.decode()
        self.assertIn("imported 2 accounts", first)
        self.assertIn("4 messages", first)
        again = new.cli("store", "import", old.data).stdout.decode()
        self.assertIn("imported 0 accounts, 0 aliases, 0 folders, 0 messages, 0 user files",
                      again)
        new.start()
        try:
            m = imap(new)  # the same password
            m.select("INBOX")
            typ, data = m.fetch("1:*", "(UID FLAGS)")
            self.assertEqual(sorted(d for d in data if d), before)
            typ, data = m.select("Archive")
            self.assertEqual(data, [b"1"])
            m.logout()
        finally:
            new.cleanup()
            old.cleanup()


class TwoNodes(unittest.TestCase):
    def setUp(self):
        if not BASE_URL:
            self.fail("POSTRIDER_PG_URL is not set: run tests/pg/run.sh")
        url = fresh_database()
        self.a = Server(extra=storage(url, "node-a")).start()
        self.b = Server(users=(), extra=storage(url, "node-b"), smtp_ip="127.0.0.2").start()

    def tearDown(self):
        for s in (self.a, self.b):
            s.cleanup()

    def count(self, srv):
        m = imap(srv)
        typ, data = m.select("INBOX")
        m.logout()
        return int(data[0])

    def test_mail_accepted_by_a_is_read_by_imap_and_pop3_on_b(self):
        send(self.a, 3)
        wait_for("3 messages on node B", lambda: self.count(self.b) == 3)
        p = poplib.POP3_SSL("127.0.0.1", self.b.ports["pop3s"], context=insecure_tls(),
                            timeout=30)
        p.user("alice")
        p.pass_("pw-alice")
        self.assertEqual(p.stat()[0], 3)
        lines = p.retr(1)[1]
        self.assertIn(b"Subject: hello 0", lines)
        self.assertEqual(lines[0][:12], b"Return-Path:")
        p.dele(1)
        p.quit()
        self.assertEqual(self.count(self.a), 2)

    def test_idle_on_b_is_told_of_mail_delivered_through_a(self):
        m = imap(self.b)
        m.select("INBOX")
        tag = m._new_tag().decode()
        m.send(f"{tag} IDLE\r\n".encode())
        self.assertTrue(m.readline().startswith(b"+"))
        started = time.time()
        send(self.a)
        m.sock.settimeout(20)
        line = m.readline()
        elapsed = time.time() - started
        self.assertIn(b"EXISTS", line)
        print(f"IDLE on node B told of mail accepted by node A after {elapsed:.2f} s",
              file=sys.stderr)
        m.send(b"DONE\r\n")
        line = m.readline()
        while not line.startswith(tag.encode()):
            line = m.readline()
        self.assertIn(b"OK", line)
        m.logout()

    def test_store_on_a_is_seen_by_fetch_on_b(self):
        send(self.a)
        wait_for("the message", lambda: self.count(self.b) == 1)
        a = imap(self.a)
        a.select("INBOX")
        a.store("1", "+FLAGS", "(\\Flagged $Work)")
        b = imap(self.b)
        b.select("INBOX")
        typ, data = b.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Flagged", data[0])
        self.assertIn(b"$Work", data[0])
        a.logout()
        b.logout()

    def test_qresync_on_b_learns_what_a_expunged_and_flagged(self):
        send(self.a, 3)
        wait_for("3 messages on node B", lambda: self.count(self.b) == 3)
        b = imap(self.b)
        b._simple_command("ENABLE", "QRESYNC")
        typ, _ = b._simple_command("SELECT", "INBOX")
        oks = " ".join(x.decode() for x in b.untagged_responses.pop("OK", []))
        highest = re.search(r"HIGHESTMODSEQ (\d+)", oks).group(1)
        validity = re.search(r"UIDVALIDITY (\d+)", oks).group(1)
        b.logout()
        a = imap(self.a)
        a.select("INBOX")
        a.store("1", "+FLAGS", "(\\Flagged)")
        a.store("2", "+FLAGS", "(\\Deleted)")
        a.expunge()
        a.logout()
        b = imap(self.b)
        b._simple_command("ENABLE", "QRESYNC")
        typ, data = b._simple_command("SELECT", "INBOX", f"(QRESYNC ({validity} {highest}))")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(b.untagged_responses.pop("VANISHED", []), [b"(EARLIER) 2"])
        fetched = [x.decode() for x in b.untagged_responses.pop("FETCH", [])]
        self.assertEqual(len(fetched), 1, fetched)
        self.assertRegex(fetched[0], r"^1 \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$")
        b.logout()

    def test_catenate_and_special_use_on_a_are_served_by_b(self):
        send(self.a, 1, subject="original")
        wait_for("the message on node B", lambda: self.count(self.b) == 1)
        a = imap(self.a)
        typ, _ = a._simple_command("CREATE", "Kept", r"(USE (\Archive))")
        self.assertEqual(typ, "OK")
        tag = a._command("APPEND", "Kept", "CATENATE",
                         '(URL "/INBOX/;UID=1/;SECTION=HEADER" TEXT {7+}')
        a.send(b"added\r\n)\r\n")
        typ, data = a._command_complete("APPEND", tag)
        self.assertEqual(typ, "OK", data)
        a.logout()
        b = imap(self.b)
        typ, data = b.list('""', "Kept")
        self.assertIn(b"\\Archive", data[0])
        b.select("Kept")
        typ, data = b.fetch("1", "(BODY.PEEK[])")
        self.assertIn(b"Subject: original 0\r\n", data[0][1])
        self.assertTrue(data[0][1].endswith(b"\r\n\r\nadded\r\n"), data[0][1])
        b.logout()

    def test_a_forward_set_on_a_is_followed_by_delivery_on_b(self):
        path = os.path.join(self.a.dir, "fwd")
        with open(path, "w") as f:
            f.write("bob\n")
        self.a.cli("user", "file", "alice", ".forward", "--set", path)
        self.assertEqual(self.b.cli("user", "file", "alice", ".forward", "--show").stdout,
                         b"bob\n")
        send(self.b)
        wait_for("bob's copy", lambda: self.count_of(self.a, "bob") == 1)
        self.assertEqual(self.count(self.a), 0)
        self.a.cli("user", "file", "alice", ".forward", "--delete")
        r = self.b.cli("user", "file", "alice", ".forward", "--show", check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_a_sieve_script_put_on_a_by_managesieve_filters_delivery_on_b(self):
        from test_managesieve import SieveClient
        c = SieveClient(self.a.ports["sieve"])
        c.response()
        c.starttls()
        self.assertTrue(c.login("alice", "pw-alice")[0].startswith("OK"))
        script = 'require "fileinto";\r\nif header :contains "subject" "hello" { fileinto "Sorted"; }\r\n'
        self.assertTrue(c.send('PUTSCRIPT "main"', script)[0].startswith("OK"))
        self.assertTrue(c.send('SETACTIVE "main"')[0].startswith("OK"))
        c.close()
        d = SieveClient(self.b.ports["sieve"])
        d.response()
        d.starttls()
        d.login("alice", "pw-alice")
        self.assertEqual(d.send("LISTSCRIPTS")[1], ['"main" ACTIVE'])
        d.close()
        send(self.b)
        m = imap(self.a)
        wait_for("the message in Sorted", lambda: int(m.select("Sorted")[1][0]) == 1)
        m.logout()
        self.assertEqual(self.count(self.a), 0)

    def count_of(self, srv, user):
        m = imap(srv, user)
        typ, data = m.select("INBOX")
        m.logout()
        return int(data[0])

    def test_users_added_on_a_log_in_on_b(self):
        self.a.cli("user", "add", "carol", "--password-stdin", input="pw-carol\n")
        m = imap(self.b, "carol")
        m.logout()
        self.assertIn(b"carol", self.b.cli("user", "list").stdout)

    def test_a_postmaster_added_on_a_gets_postmaster_mail_accepted_by_b(self):
        self.a.cli("user", "add", "boss", "--password-stdin", "--postmaster", input="pw-boss\n")
        with smtplib.SMTP(self.b.smtp_ip, self.b.ports["smtp"], timeout=30) as s:
            s.sendmail("someone@remote.example", ["postmaster@test.example"],
                       "Subject: for the postmaster\r\n\r\nhi\r\n")

        def arrived():
            m = imap(self.b, "boss")
            try:
                m.select("INBOX")
                return m.search(None, "SUBJECT", '"for the postmaster"')[1][0].split()
            finally:
                m.logout()
        wait_for("postmaster mail in boss's INBOX", arrived)

    def test_appends_on_both_nodes_at_once_get_unique_uids(self):
        uids = {}

        def appender(srv, name):
            m = imap(srv)
            got = []
            for i in range(20):
                typ, data = m.append("INBOX", None, None,
                                     f"Subject: {name} {i}\r\n\r\nx\r\n".encode())
                self.assertEqual(typ, "OK")
                got.append(int(data[0].split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]")))
            m.logout()
            uids[name] = got
        threads = [threading.Thread(target=appender, args=(s, n))
                   for s, n in ((self.a, "a"), (self.b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(set(uids["a"]) | set(uids["b"])), 40)
        for got in uids.values():
            self.assertEqual(got, sorted(got))
        self.assertEqual(self.count(self.a), 40)


if __name__ == "__main__":
    unittest.main()
