"""Installs the Debian package on this machine, starts the server as its systemd unit
would (no systemd here: the unit's ExecStart, as root), sends mail through SMTP on port 25
and through the sendmail alternative, reads it over IMAPS on port 993, reloads, stops,
then removes and purges the package. Needs root and free ports 25, 465, 587, 110, 995,
143, 993 and 4190; fails saying so otherwise.

Usage: python3 tests/package/install_test.py target/debian/postrider_*.deb
"""
import imaplib
import os
import pwd
import shlex
import socket
import ssl
import smtplib
import subprocess
import sys
import time

PORTS = (25, 465, 587, 110, 995, 143, 993, 4190)
CONFIG = "/etc/postrider/postrider.toml"
UNIT = "/lib/systemd/system/postrider.service"
DATA = "/var/lib/postrider"


def run(*cmd, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what}")


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def installed_checks():
    for path in ("/usr/bin/postrider", "/usr/bin/postrider-std", CONFIG, UNIT,
                 "/usr/share/man/man8/postrider.8.gz", "/usr/share/man/man5/postrider.toml.5.gz",
                 "/usr/share/man/man8/postrider-doctor.8.gz",
                 "/usr/share/man/man1/sendmail.postrider.1.gz"):
        expect(os.path.exists(path), f"{path} installed")
    pw = pwd.getpwnam("postrider")
    st = os.stat(DATA)
    expect(st.st_uid == pw.pw_uid and st.st_mode & 0o777 == 0o700,
           f"{DATA} belongs to postrider, mode 0700")
    alt = run("update-alternatives", "--query", "sendmail").stdout
    expect("Alternative: /usr/bin/postrider" in alt, "sendmail alternative registered")
    with open(UNIT) as f:
        unit = f.read()
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                   "ReadWritePaths=/var/lib/postrider"):
        expect(option in unit, f"unit has {option}")
    return pw, unit


def exec_start(unit):
    line = next(l for l in unit.splitlines() if l.startswith("ExecStart="))
    return shlex.split(line[len("ExecStart="):])


def send_and_read(pw):
    # No -c: the packaged binary reads /etc/postrider/postrider.toml.
    run("postrider", "user", "add", "alice", "--password-stdin", input="pw-alice\n")
    expect(os.stat(f"{DATA}/users").st_uid == pw.pw_uid, "users file written as postrider")
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
        s.sendmail("bob@example.org", ["alice@localhost"], b"Subject: over smtp\r\n\r\nx\r\n")
    sendmail = "/etc/alternatives/sendmail"
    expect(os.path.realpath(sendmail) == "/usr/bin/postrider", "alternative links to postrider")
    run(sendmail, "-f", "root@localhost", "alice@localhost", input="Subject: via sendmail\n\nx\n")
    # A user who cannot write the queue: sendmail hands the message to port 25.
    run("runuser", "-u", "daemon", "--", sendmail, "alice@localhost",
        input="Subject: from a user\n\nx\n")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def all_there():
        with imaplib.IMAP4_SSL("127.0.0.1", 993, ssl_context=ctx) as imap:
            imap.login("alice", "pw-alice")
            imap.select("INBOX")
            subjects = [imap.fetch(n, "(BODY[HEADER.FIELDS (SUBJECT)])")[1][0][1]
                        for n in imap.search(None, "ALL")[1][0].split()]
            return all(any(want in s for s in subjects)
                       for want in (b"over smtp", b"via sendmail", b"from a user"))
    wait_for("the three messages in alice's INBOX over IMAPS", all_there)
    print("ok: mail by SMTP, by root's and a user's sendmail read over IMAPS")
    expect(os.stat(f"{DATA}/mail/alice").st_uid == pw.pw_uid, "mailbox belongs to postrider")


def main(deb):
    if os.geteuid() != 0:
        raise AssertionError("the package test installs a package: run it as root (CI does)")
    busy = [p for p in PORTS if not port_free(p)]
    if busy:
        raise AssertionError(f"ports {busy} are in use: the packaged config listens on them")
    server = None
    log = open("/tmp/postrider-package.log", "w")
    try:
        run("dpkg", "-i", deb)
        pw, unit = installed_checks()
        server = subprocess.Popen(exec_start(unit), stdout=log, stderr=log)
        wait_for("port 25", lambda: not port_free(25))
        with open(f"/proc/{server.pid}/status") as f:
            uid_line = next(l for l in f if l.startswith("Uid:"))
        expect(uid_line.split()[1:] == [str(pw.pw_uid)] * 4, "the server runs as postrider")
        send_and_read(pw)
        run("postrider", "reload")
        wait_for("reload logged", lambda: "configuration reloaded" in open(log.name).read())
        print("ok: postrider reload through the pid file")
        run("postrider", "stop")
        expect(server.wait(timeout=60) == 0, "postrider stop: the server exits 0")
        server = None
        run("dpkg", "-r", "postrider")
        expect(not os.path.exists("/usr/bin/postrider"), "dpkg -r removes the binary")
        alt = run("update-alternatives", "--query", "sendmail", check=False).stdout
        expect("/usr/bin/postrider" not in alt, "dpkg -r removes the sendmail alternative")
        expect(os.path.exists(CONFIG), "dpkg -r keeps the configuration")
        run("dpkg", "--purge", "postrider")
        expect(not os.path.exists(CONFIG), "dpkg --purge removes the configuration")
        expect(os.path.exists(f"{DATA}/mail/alice"), "dpkg --purge keeps the mail")
    except Exception:
        log.flush()
        print(open(log.name).read()[-4000:], file=sys.stderr)
        raise
    finally:
        if server is not None:
            server.kill()
            server.wait()
        run("dpkg", "--purge", "postrider", check=False)
        run("rm", "-rf", DATA, check=False)
        run("userdel", "postrider", check=False)
        run("groupdel", "postrider", check=False)
    print("package test passed")


if __name__ == "__main__":
    main(sys.argv[1])
