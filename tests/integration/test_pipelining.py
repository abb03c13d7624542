"""A client that pipelines many commands without reading (RFC 2920 §3.1 style, or a
careless script) while the answers are large must not deadlock the session: the server
keeps reading while its answers wait to be written (up to a cap), so the client's writes
finish and it can then read everything. Before, every driver wrote everything, then read:
the client blocked writing commands, the server blocked writing answers, forever.

The commands are padded (long IMAP tags, POP3 NOOPs between the RETRs) so that what the
client writes is larger than what the kernel's socket buffers absorb by themselves."""

import socket
import ssl
import threading
import unittest

from harness import Server, insecure_tls

MESSAGES = 20
BODY_LINES = 300  # ~24 KB per message
COMMANDS = 1000


def fill_mailbox(srv, user):
    line = b"z" * 78 + b"\n"
    with open(srv.mbox_path(user), "ab") as f:
        for i in range(MESSAGES):
            f.write(b"From big@example.org Fri Dec  4 20:00:00 2026\n")
            f.write(b"From: Big <big@example.org>\nSubject: number %d\n\n" % i)
            f.write(line * BODY_LINES)
            f.write(b"\n")


def tls_socket(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=120)
    return insecure_tls().wrap_socket(raw, server_hostname="localhost")


def read_until(sock, buf, marker):
    """Reads until `marker` is in the bytes received; returns (all bytes, rest)."""
    while marker not in buf:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}")
        buf += chunk
    end = buf.index(marker) + len(marker)
    return buf[:end], buf[end:]


def send_all_or_fail(sock, data):
    """Writes `data` without reading; fails the test if the write cannot finish (the
    deadlock) instead of hanging forever."""
    done = threading.Event()
    error = []

    def write():
        try:
            sock.sendall(data)
        except Exception as e:  # reported by the assertion below
            error.append(repr(e))
        done.set()
    t = threading.Thread(target=write, daemon=True)
    t.start()
    finished = done.wait(90)
    if not finished:
        raise AssertionError("the server stopped reading while its answers were unread: "
                             f"{len(data)} bytes of pipelined commands could not be written")
    if error:
        raise AssertionError(error[0])


class PipelinedWithoutReading(unittest.TestCase):
    def test_imap_1000_fetch_body_pipelined_without_reading(self):
        srv = Server(users=("alice",)).start()
        try:
            fill_mailbox(srv, "alice")
            s = tls_socket(srv.ports["imaps"])
            rest = b""
            _, rest = read_until(s, rest, b"\r\n")
            s.sendall(b"a LOGIN alice pw-alice\r\n")
            _, rest = read_until(s, rest, b"a OK")
            s.sendall(b"b SELECT INBOX\r\n")
            _, rest = read_until(s, rest, b"b OK")
            pad = "p" * 4000
            cmds = "".join(f"t{i}{pad} FETCH {1 + i % MESSAGES} BODY.PEEK[]\r\n"
                           for i in range(COMMANDS))
            send_all_or_fail(s, cmds.encode())
            last = f"t{COMMANDS - 1}{pad} OK Fetch completed".encode()
            got, rest = read_until(s, rest, last)
            self.assertEqual(got.count(b" OK Fetch completed"), COMMANDS)
            self.assertEqual(got.count(b"Subject: number 7\r\n"), COMMANDS // MESSAGES)
            s.sendall(b"z LOGOUT\r\n")
            read_until(s, rest, b"z OK")
            s.close()
        finally:
            srv.cleanup()

    def test_pop3_1000_retr_pipelined_without_reading(self):
        srv = Server(users=("alice",)).start()
        try:
            fill_mailbox(srv, "alice")
            s = tls_socket(srv.ports["pop3s"])
            rest = b""
            _, rest = read_until(s, rest, b"\r\n")
            s.sendall(b"USER alice\r\nPASS pw-alice\r\n")
            _, rest = read_until(s, rest, b"+OK Logged in")
            noops = "NOOP\r\n" * 600
            cmds = "".join(f"RETR {1 + i % MESSAGES}\r\n{noops}" for i in range(COMMANDS))
            send_all_or_fail(s, cmds.encode())
            s.sendall(b"QUIT\r\n")
            got, rest = read_until(s, rest, b"+OK Logging out")
            self.assertEqual(got.count(b"Subject: number 7\r\n"), COMMANDS // MESSAGES)
            self.assertEqual(got.count(b"\r\n.\r\n"), COMMANDS)
            s.close()
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
