"""Test harness: starts a real postrider binary on free loopback ports in a temporary
directory and offers helpers to talk to it and read its mailboxes.

The binary under test comes from $POSTRIDER_BIN (set by the cargo test wrappers in
runtime-std/tests and runtime-smol/tests)."""

import mailbox
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

BIN = os.path.abspath(os.environ["POSTRIDER_BIN"]) if os.environ.get("POSTRIDER_BIN") else ""


_handed_out = set()


def free_port():
    """A port for a listener, below the kernel's ephemeral range: a port the kernel chose
    for us could be handed to an outgoing client connection before the server binds it
    (the suite makes thousands of them), which made a server fail to start now and then."""
    low, _ = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    rng = random.Random()
    for _ in range(1000):
        port = rng.randint(10000, max(10001, low - 1))
        if port in _handed_out:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_port(port, ip="127.0.0.1", timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class Server:
    """One postrider instance with its own data directory and config file."""

    def __init__(self, smtp=None, extra="", users=("alice", "bob"), hostname="mx.test.example",
                 domains=("test.example", "localhost"), submission=None, auth=None,
                 smtp_ip="127.0.0.1", smtp_port=None, dns_port=9, delivery=None, log="debug",
                 web=None, top="", lmtp=None, maildir=False, env=None):
        if not BIN:
            raise RuntimeError("POSTRIDER_BIN is not set")
        self.dir = tempfile.mkdtemp(prefix="postrider-it-")
        self.data = os.path.join(self.dir, "data")
        self.ports = {k: free_port() for k in
                      ("smtp", "sub", "subs", "pop3", "pop3s", "imap", "imaps", "http", "https",
                       "lmtp", "sieve")}
        self.hostname = hostname
        self.smtp_ip = smtp_ip
        # Extra environment of the server process (e.g. SSL_CERT_FILE).
        self.env = env
        # Maildir mailboxes (data_dir/maildir/USER/) instead of mbox files; with
        # POSTRIDER_MAILDIR=1 for every server (to run the IMAP and POP3 suites on Maildir).
        maildir = maildir or os.environ.get("POSTRIDER_MAILDIR") == "1"
        self.maildir = maildir
        if maildir:
            top = f'{top}\n[storage]\nmailbox_format = "maildir"\n'

        if smtp_port:
            self.ports["smtp"] = smtp_port
        smtp_lines = "\n".join(f"{k} = {v}" for k, v in (smtp or {}).items())
        sub_lines = "\n".join(f"{k} = {v}" for k, v in (submission or {}).items())
        delivery_lines = "\n".join(f"{k} = {v}" for k, v in (delivery or {}).items())
        web_lines = "\n".join(f"{k} = {v}" for k, v in (web or {}).items())
        lmtp_lines = "\n".join(f"{k} = {v}" for k, v in (lmtp or {}).items())
        # Short login delays keep the suite fast; tests that need others pass `auth`.
        auth_lines = "\n".join(f"{k} = {v}" for k, v in
                               ({"failure_delay": '"100ms"', **(auth or {})}).items())
        dom = ", ".join(f'"{d}"' for d in domains)
        p = self.ports
        self.config = os.path.join(self.dir, "postrider.toml")
        with open(self.config, "w") as f:
            f.write(f'''hostname = "{hostname}"
domains = [{dom}]
data_dir = "{self.data}"
log = "{log}"
{top}

[smtp]
listen = ["{smtp_ip}:{p['smtp']}"]
{smtp_lines}

[submission]
listen = ["127.0.0.1:{p['sub']}"]
listen_tls = ["127.0.0.1:{p['subs']}"]
{sub_lines}

[auth]
{auth_lines}

# Tests never ask the machine's resolver: a stub on loopback, or a closed port.
[dns]
servers = ["127.0.0.1:{dns_port}"]

[delivery]
{delivery_lines}

[pop3]
listen = ["127.0.0.1:{p['pop3']}"]
listen_tls = ["127.0.0.1:{p['pop3s']}"]

[lmtp]
listen = ["127.0.0.1:{p['lmtp']}"]
{lmtp_lines}

[managesieve]
listen = ["127.0.0.1:{p['sieve']}"]

[web]
listen = ["127.0.0.1:{p['http']}"]
listen_tls = ["127.0.0.1:{p['https']}"]
{web_lines}

# `extra` follows [imap]: lines without a section header of their own land there.
[imap]
listen = ["127.0.0.1:{p['imap']}"]
listen_tls = ["127.0.0.1:{p['imaps']}"]
{extra}
''')
        self.proc = None
        self.log_path = os.path.join(self.dir, "server.log")
        for u in users:
            self.cli("user", "add", u, "--password-stdin", input=f"pw-{u}\n")

    # --- process control -------------------------------------------------------------
    def cli(self, *args, input=None, check=True, argv0=None, env=None):
        """Runs a subcommand with this instance's config; argv0 simulates a symlink name."""
        cmd = [argv0 or BIN, "-c", self.config, *args]
        e = dict(os.environ)
        if env:
            e.update(env)
        data = input.encode() if isinstance(input, str) else input
        r = subprocess.run(cmd, executable=BIN, input=data, capture_output=True,
                           timeout=60, env=e, cwd=self.dir)
        if check and r.returncode != 0:
            raise AssertionError(f"{args} failed ({r.returncode}): {r.stderr.decode()}")
        return r

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config], stdout=log,
                                     stderr=log, cwd=self.dir,
                                     env={**os.environ, **(self.env or {})})
        wait_port(self.ports["smtp"], self.smtp_ip)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if os.environ.get("POSTRIDER_KEEP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # --- mail helpers ------------------------------------------------------------------
    def deliver(self, sender, rcpt, message, timeout=15):
        """Sends one message over SMTP and waits until the recipient's mbox has grown."""
        import smtplib
        user = rcpt.split("@")[0]
        path = self.mbox_path(user)
        size = lambda: (len(self.messages(user)) if self.maildir else
                        os.path.getsize(path) if os.path.exists(path) else 0)
        before = size()
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30) as s:
            s.sendmail(sender, [rcpt], message)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if size() > before:
                return
            time.sleep(0.05)
        raise AssertionError(f"no delivery to {rcpt}")

    def mbox_path(self, user):
        """The user's INBOX: the mbox file, or with `maildir` the Maildir's root."""
        if self.maildir:
            return os.path.join(self.data, "maildir", user)
        return os.path.join(self.data, "mail", user)

    def messages(self, user):
        path = self.mbox_path(user)
        if not os.path.exists(path):
            return []
        if self.maildir:
            box = mailbox.Maildir(path, factory=None, create=False)
            return [box[k] for k in sorted(box.keys())]
        box = mailbox.mbox(path, create=False)
        try:
            return [m for m in box]
        finally:
            box.close()

    def wait_until(self, what, check, timeout=60.0, interval=0.05):
        """Polls `check()` until it returns something true and returns that; on timeout
        fails naming `what`, with the server's log tail and the queued ids. Deadlines are
        generous on purpose: they bound a hung test, they do not measure speed."""
        deadline = time.time() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.time() >= deadline:
                break
            time.sleep(interval)
        raise AssertionError(f"{what} (waited {timeout:.0f} s); queued: {self.queue_ids()}\n"
                             f"--- server log ---\n{self.log()[-4000:]}")

    def wait_messages(self, user, count, timeout=60.0):
        """Waits until `user`'s mailbox holds at least `count` messages; returns them."""
        def enough():
            msgs = self.messages(user)
            return msgs if len(msgs) >= count else None
        return self.wait_until(f"{user}: fewer than {count} messages", enough, timeout)

    def wait_subject(self, user, subject, timeout=60.0):
        """Waits for the message with this Subject in `user`'s mailbox and returns it."""
        return self.find_subject(user, subject, timeout)[0]

    def find_subject(self, user, subject, timeout=60.0):
        """Waits for messages with this Subject in `user`'s mailbox; returns all of them."""
        return self.wait_until(f"{user}: no message with Subject {subject!r}",
                               lambda: [m for m in self.messages(user) if m["Subject"] == subject],
                               timeout)

    def wait_log(self, needle, timeout=60.0):
        """Waits until the server's log contains `needle`."""
        self.wait_until(f"{needle!r} not in the log", lambda: needle in self.log(), timeout)

    def wait_mailq(self, *needles, timeout=60.0):
        """Waits until `mailq` shows every one of `needles`; returns its output."""
        def listing():
            out = self.cli("mailq").stdout.decode()
            return out if all(n in out for n in needles) else None
        # A command per look: not too often, so the test's own DNS stub and sinks (threads
        # of this process) keep answering the server promptly.
        return self.wait_until(f"mailq never showed {needles}", listing, timeout, interval=0.2)

    def wait_file(self, path, timeout=60.0):
        """Waits until `path` exists and is not empty; returns its text (read a moment
        later, so a writer that is still appending has finished)."""
        self.wait_until(f"{path} never appeared",
                        lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout)
        time.sleep(0.1)
        with open(path, errors="replace") as f:
            return f.read()

    def queue_ids(self):
        """The queued messages: envelope files in queue/env/ (names starting with '.'
        are spare files kept for reuse) and live records of the journal (docs/queue.md)."""
        env = os.path.join(self.data, "queue", "env")
        names = os.listdir(env) if os.path.isdir(env) else []
        ids = {n for n in names if not n.startswith(".")}
        journal = os.path.join(self.data, "queue", "journal")
        for seg in os.listdir(journal) if os.path.isdir(journal) else []:
            if len(seg) != 16 or seg.startswith("."):
                continue
            try:
                with open(os.path.join(journal, seg), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            try:
                with open(os.path.join(journal, seg + ".done")) as f:
                    done = set(f.read().split())
            except FileNotFoundError:
                done = set()
            pos = 0
            while True:
                end = data.find(b"\n", pos, pos + 128)
                words = data[pos:end].split(b" ") if end >= 0 else []
                # PRQ1 SEGMENT ID ENVLEN MSGLEN DIGEST; zeros or an old segment's
                # records end the segment.
                if len(words) != 6 or words[0] != b"PRQ1" or int(words[1], 16) != int(seg, 16):
                    break
                pos = end + 1 + int(words[3]) + int(words[4])
                if pos > len(data):
                    break
                if words[2].decode() not in done:
                    ids.add(words[2].decode())
        return sorted(ids)

    def raw(self, port_name="smtp", source=None):
        ip = self.smtp_ip if port_name == "smtp" else "127.0.0.1"
        return RawClient(self.ports[port_name], ip, source=source)


class SmtpSink:
    """A minimal SMTP server standing in for a remote MX: it accepts every message (after
    `delay` seconds), answers RCPT with `rcpt_reply(n)` (n counts RCPTs from 1) and hands
    each message's text to `on_message`. Subclasses change those two, and `extensions`
    (what EHLO announces)."""

    extensions = ("ENHANCEDSTATUSCODES",)

    def __init__(self, ip, port, name="sink", delay=0.0):
        self.name, self.delay = name, delay
        self.rcpt_tries = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(50)
        threading.Thread(target=self._serve, daemon=True).start()

    def rcpt_reply(self, n):
        return "250 2.1.5 Ok"

    def on_message(self, body):
        pass

    def close(self):
        self.sock.close()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")
        send = lambda line: conn.sendall(line.encode() + b"\r\n")
        try:
            send(f"220 {self.name} ESMTP")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip().upper()
                if cmd.startswith("EHLO"):
                    lines = [self.name, *self.extensions]
                    for k, ext in enumerate(lines):
                        send(f"250{' ' if k == len(lines) - 1 else '-'}{ext}")
                elif cmd.startswith("RCPT"):
                    with self.lock:
                        self.rcpt_tries += 1
                        n = self.rcpt_tries
                    send(self.rcpt_reply(n))
                elif cmd == "DATA":
                    send("354 go ahead")
                    body = b""
                    while not body.endswith(b"\r\n.\r\n"):
                        chunk = f.readline()
                        if not chunk:
                            return
                        body += chunk
                    time.sleep(self.delay)
                    with self.lock:
                        self.on_message(body)
                    send("250 2.0.0 Ok: queued at the sink")
                elif cmd == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("250 2.0.0 Ok")
        except OSError:
            pass
        finally:
            conn.close()


class RawClient:
    """A line-oriented raw socket client for byte-exact tests."""

    def __init__(self, port, ip="127.0.0.1", timeout=10, source=None):
        self.sock = socket.create_connection((ip, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def read_reply(self):
        """Reads one complete (possibly multi-line) reply; returns (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed; partial={self.buf!r} lines={lines}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] == b" ":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.read_reply()

    def is_closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imaps_login(srv, user="alice"):
    """An imaplib session over IMAPS to `srv`, logged in as `user` (password `pw-USER`)."""
    import imaplib
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=insecure_tls(), timeout=30)
    m.login(user, f"pw-{user}")
    return m
