"""IMAP extensions with Python's imaplib over IMAPS: ESEARCH (RFC 4731), SEARCHRES
(RFC 5182: RETURN (SAVE) and `$` in later commands), SORT with SORT=DISPLAY and ESORT
(RFC 5256, RFC 5957, RFC 5267), THREAD=ORDEREDSUBJECT and THREAD=REFERENCES,
STATUS=SIZE (RFC 8438), MULTIAPPEND (RFC 3502), COMPRESS=DEFLATE (RFC 4978) and
LIST-EXTENDED with LIST-STATUS (RFC 5258, RFC 5819) and BINARY (RFC 3516), on messages
delivered over SMTP."""

import imaplib
import re
import unittest

from harness import Server, imaps_login, insecure_tls

MESSAGES = [
    # (From, Subject, Date, Message-ID, References)
    ("Zed <zed@test.example>", "lunch", "Mon, 01 Jan 2024 10:00:00 +0000", "<a@x>", ""),
    ("amy@test.example", "Re: lunch", "Mon, 01 Jan 2024 11:00:00 +0000", "<b@x>", "<a@x>"),
    ("Bob <bob@test.example>", "budget", "Sun, 31 Dec 2023 09:00:00 +0000", "<c@x>", ""),
    ("carl@test.example", "Re: Re: lunch", "Mon, 01 Jan 2024 12:00:00 +0000", "<d@x>", "<a@x> <b@x>"),
    ("Dora <dora@test.example>", "[team] budget", "Tue, 02 Jan 2024 08:00:00 +0000", "<e@x>", ""),
]


class ImapExtensionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice",)).start()
        for frm, subject, date, mid, refs in MESSAGES:
            msg = (f"From: {frm}\r\nTo: alice@test.example\r\nSubject: {subject}\r\nDate: {date}\r\n"
                   f"Message-ID: {mid}\r\n" + (f"References: {refs}\r\n" if refs else "") +
                   f"\r\nabout {subject}\r\n")
            cls.srv.deliver("someone@test.example", "alice@test.example", msg.encode())

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def imap(self):
        m = imaps_login(self.srv)
        m.select("INBOX")
        return m

    def untagged(self, m, name):
        return [d.decode() for d in m.untagged_responses.pop(name, []) if d]

    def test_capabilities_are_announced(self):
        m = self.imap()
        caps = m.capabilities
        for c in ("ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "ESORT",
                  "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "STATUS=SIZE"):
            self.assertIn(c, caps)
        m.logout()

    def test_esearch_and_saved_results(self):
        m = self.imap()
        typ, _ = m._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")
        self.assertEqual(typ, "OK")
        (line,) = self.untagged(m, "ESEARCH")
        self.assertRegex(line, r'^\(TAG "[A-Z0-9]+"\) MIN 1 MAX 5 COUNT 5 ALL 1:5$')
        typ, _ = m._simple_command("UID", "SEARCH", "RETURN", "(COUNT)", "SUBJECT", "lunch")
        (line,) = self.untagged(m, "ESEARCH")
        self.assertTrue(line.endswith("UID COUNT 3"), line)
        # Nothing matches: no MIN, no ALL, COUNT 0.
        m._simple_command("SEARCH", "RETURN", "(MIN COUNT)", "SUBJECT", "nothing-like-this")
        (line,) = self.untagged(m, "ESEARCH")
        self.assertTrue(line.endswith(") COUNT 0"), line)
        # SAVE alone answers nothing; `$` then names the saved messages.
        typ, _ = m._simple_command("SEARCH", "RETURN", "(SAVE)", "SUBJECT", "budget")
        self.assertEqual(typ, "OK")
        self.assertEqual(self.untagged(m, "ESEARCH"), [])
        typ, data = m.fetch("$", "(UID)")
        self.assertEqual(typ, "OK")
        self.assertEqual(len([d for d in data if d]), 2)
        typ, data = m.search(None, "$", "SUBJECT", "team")
        self.assertEqual(data[0].split(), [b"5"])
        typ, _ = m.store("$", "+FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        typ, data = m.search(None, "FLAGGED")
        self.assertEqual(data[0].split(), [b"3", b"5"])
        m.store("$", "-FLAGS", "(\\Flagged)")
        m.logout()

    def test_sort_and_esort(self):
        m = self.imap()
        typ, data = m.sort("(DATE)", "UTF-8", "ALL")
        self.assertEqual(data[0].split(), [b"3", b"1", b"2", b"4", b"5"])
        typ, data = m.sort("(REVERSE DATE)", "UTF-8", "ALL")
        self.assertEqual(data[0].split(), [b"5", b"4", b"2", b"1", b"3"])
        # Base subjects: "budget" (3, 5) before "lunch" (1, 2, 4); ties by arrival.
        typ, data = m.sort("(SUBJECT)", "UTF-8", "ALL")
        self.assertEqual(data[0].split(), [b"3", b"5", b"1", b"2", b"4"])
        typ, data = m.sort("(FROM)", "UTF-8", "ALL")
        self.assertEqual(data[0].split(), [b"2", b"3", b"4", b"5", b"1"])
        typ, data = m.sort("(DISPLAYFROM)", "UTF-8", "ALL")
        self.assertEqual(data[0].split(), [b"2", b"3", b"4", b"5", b"1"])
        typ, data = m.uid("SORT", "(SUBJECT)", "UTF-8", "SUBJECT", "lunch")
        self.assertEqual(len(data[0].split()), 3)
        typ, _ = m._simple_command("SORT", "RETURN", "(MIN MAX ALL)", "(DATE)", "UTF-8", "ALL")
        (line,) = self.untagged(m, "ESEARCH")
        self.assertTrue(line.endswith("MIN 3 MAX 5 ALL 3,1:2,4:5"), line)
        with self.assertRaises(imaplib.IMAP4.error):
            m._simple_command("SORT", "(NOSUCH)", "UTF-8", "ALL")
        m.logout()

    def test_thread(self):
        m = self.imap()
        typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")
        # budget (3) and [team] budget (5) share a base subject: siblings under a dummy.
        self.assertEqual(data[0].decode(), "((3)(5))(1 2 4)")
        typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
        # The first message of a subject is the parent of all the others.
        self.assertEqual(data[0].decode(), "(3 5)(1 (2)(4))")
        typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "SUBJECT", "budget")
        self.assertEqual(len(re.findall(r"\d+", data[0].decode())), 2)
        m.logout()

    def test_multiappend(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.srv.ports["imaps"]), timeout=30) as raw:
            with insecure_tls().wrap_socket(raw) as t:
                f = t.makefile("rb")
                f.readline()
                t.sendall(b"a LOGIN alice pw-alice\r\n")
                while not f.readline().startswith(b"a "):
                    pass
                t.sendall(b"b CREATE Multi\r\nc APPEND Multi (\\Seen) {23+}\r\nSubject: one\r\n\r\nfirst\r\n"
                          b" {23+}\r\nSubject: two\r\n\r\nlast!\r\n\r\n")
                lines = []
                while not lines or not lines[-1].startswith(b"c "):
                    lines.append(f.readline())
                self.assertRegex(lines[-1], rb"^c OK \[APPENDUID \d+ 1:2\] ")
                t.sendall(b"d LOGOUT\r\n")
        m = self.imap()
        typ, data = m.status("Multi", "(MESSAGES)")
        self.assertIn(b"MESSAGES 2", data[0])
        m.select("Multi")
        typ, data = m.fetch("1:2", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        first, second = [d for d in data if isinstance(d, tuple)]
        self.assertIn(b"\\Seen", first[0])
        self.assertNotIn(b"\\Seen", second[0])
        self.assertIn(b"two", second[1])
        m.logout()

    def test_compress_deflate(self):
        import socket
        import zlib

        def until(read, tag):
            got = b""
            while not any(line.startswith(tag) for line in got.split(b"\r\n")):
                got += read()
            return got

        with socket.create_connection(("127.0.0.1", self.srv.ports["imaps"]), timeout=30) as raw:
            with insecure_tls().wrap_socket(raw) as t:
                until(lambda: t.recv(65536), b"* OK")
                t.sendall(b"a LOGIN alice pw-alice\r\n")
                self.assertIn(b"COMPRESS=DEFLATE", until(lambda: t.recv(65536), b"a "))
                t.sendall(b"b COMPRESS DEFLATE\r\n")
                self.assertIn(b"b OK", until(lambda: t.recv(65536), b"b "))
                out = zlib.compressobj(6, zlib.DEFLATED, -15)
                inflate = zlib.decompressobj(-15)
                wire = [0]

                def send(text):
                    t.sendall(out.compress(text) + out.flush(zlib.Z_SYNC_FLUSH))

                def read():
                    data = t.recv(65536)
                    wire[0] += len(data)
                    return inflate.decompress(data)

                send(b"c SELECT INBOX\r\n")
                self.assertIn(b"c OK [READ-WRITE]", until(read, b"c "))
                before = wire[0]
                send(b"d FETCH 1:* (BODY.PEEK[] FLAGS)\r\n")
                got = until(read, b"d ")
                self.assertIn(b"d OK", got)
                self.assertEqual(got.count(b" FETCH ("), len(MESSAGES))
                self.assertIn(b"Subject: budget", got)
                self.assertLess(wire[0] - before, len(got), "the answer came compressed")
                send(b"e COMPRESS DEFLATE\r\n")
                self.assertIn(b"e NO [COMPRESSIONACTIVE]", until(read, b"e "))
                send(b"f LOGOUT\r\n")
                self.assertIn(b"f OK", until(read, b"f "))
        # A stream that is not DEFLATE ends that session only.
        with socket.create_connection(("127.0.0.1", self.srv.ports["imaps"]), timeout=30) as raw:
            with insecure_tls().wrap_socket(raw) as t:
                t.recv(65536)
                t.sendall(b"a LOGIN alice pw-alice\r\nb COMPRESS DEFLATE\r\n")
                until(lambda: t.recv(65536), b"b ")
                t.sendall(b"\xff" * 64)
                rest = b""
                while True:
                    data = t.recv(65536)
                    if not data:
                        break
                    rest += data
        m = self.imap()
        self.assertEqual(m.noop()[0], "OK")
        m.logout()

    def test_list_extended_and_list_status(self):
        m = self.imap()
        for name in ("Ext/one", "Ext/two/deep", "Ext/gone"):
            m.create(name)
        for name in ("Ext/one", "Ext/two/deep", "Ext/gone"):
            m.subscribe(name)
        m.delete("Ext/gone")

        def listed(*args):
            typ, _ = m._simple_command("LIST", *args)
            self.assertEqual(typ, "OK")
            return [d.decode() for d in m.untagged_responses.pop("LIST", []) if d]

        lines = listed('""', '("Ext/one" "Sent")')
        self.assertEqual(len(lines), 2, lines)
        lines = listed("(SUBSCRIBED)", '""', '"Ext/*"')
        self.assertEqual(len(lines), 3, lines)
        gone = [l for l in lines if l.endswith('"Ext/gone"')][0]
        self.assertIn("\\NonExistent", gone)
        self.assertIn("\\Subscribed", gone)
        self.assertNotIn("\\Noselect", gone)
        lines = listed("(SUBSCRIBED RECURSIVEMATCH)", '""', '"Ext/%"')
        two = [l for l in lines if '"Ext/two"' in l]
        self.assertEqual(len(two), 1, lines)
        self.assertIn('("CHILDINFO" ("SUBSCRIBED"))', two[0])
        self.assertNotIn("\\Subscribed", two[0])
        lines = listed("(SPECIAL-USE)", '""', '"*"')
        self.assertTrue(lines and all("\\Sent" in l or "\\Trash" in l or "\\Drafts" in l
                                      or "\\Junk" in l for l in lines), lines)
        typ, _ = m._simple_command("LIST", '""', '"INBOX"', "RETURN", "(STATUS (MESSAGES UNSEEN SIZE))")
        self.assertEqual(typ, "OK")
        status = [d.decode() for d in m.untagged_responses.pop("STATUS", []) if d]
        self.assertEqual(len(status), 1, status)
        self.assertRegex(status[0], r'^"?INBOX"? \(MESSAGES \d+ UNSEEN \d+ SIZE \d+\)$')
        m.untagged_responses.pop("LIST", None)
        with self.assertRaises(imaplib.IMAP4.error):
            m._simple_command("LIST", "(RECURSIVEMATCH)", '""', '"*"')
        with self.assertRaises(imaplib.IMAP4.error):
            m._simple_command("LIST", '""', '"*"', "RETURN", "(NOSUCH)")
        m.logout()

    def test_binary(self):
        import socket
        part = bytes(range(256))
        import base64
        msg = (b"From: a@test.example\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               b"caf=C3=A9\r\n--zz\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(part).replace(b"\n", b"\r\n") +
               b"--zz--\r\n")
        raw_part = b"\x00\x01binary\r\n\xff\n"
        sent = (b"From: a@test.example\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: binary\r\n\r\n" + raw_part)
        with socket.create_connection(("127.0.0.1", self.srv.ports["imaps"]), timeout=30) as raw:
            with insecure_tls().wrap_socket(raw) as t:
                f = t.makefile("rb")

                def answer(tag):
                    out = b""
                    while True:
                        line = f.readline()
                        out += line
                        m = re.search(rb"~?\{(\d+)\}\r\n$", line)
                        if m:
                            out += f.read(int(m.group(1)))
                        elif line.startswith(tag):
                            return out

                f.readline()
                t.sendall(b"a LOGIN alice pw-alice\r\nb CREATE Bin\r\n")
                answer(b"b ")
                t.sendall(b"c APPEND Bin {%d+}\r\n" % len(msg) + msg + b" ~{%d+}\r\n" % len(sent) + sent +
                          b"\r\n")
                self.assertIn(b"c OK", answer(b"c "))
                t.sendall(b"d SELECT Bin\r\n")
                answer(b"d ")
                t.sendall(b"e FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2]<250.10>)\r\n")
                got = answer(b"e ")
                self.assertIn(b"BINARY.SIZE[1] 5 ", got)
                self.assertIn("BINARY[1] {5}\r\ncafé".encode(), got)
                self.assertIn(b"BINARY.SIZE[2] 256 ", got)
                self.assertIn(b"BINARY[2]<250> {6}\r\n" + part[250:], got)
                # A literal8 APPEND: the raw part is stored base64 (no NUL in BODY[]) and
                # BINARY gives it back as it was, in a literal8.
                t.sendall(b"f FETCH 2 (BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])\r\n")
                got = answer(b"f ")
                body = re.search(rb"BODY\[1\] \{(\d+)\}\r\n", got)
                self.assertIsNotNone(body, got)
                self.assertNotIn(b"\x00", got[body.end():body.end() + int(body.group(1))])
                self.assertIn(b"BINARY[1] ~{%d}\r\n" % len(raw_part) + raw_part, got)
                self.assertIn(b"BINARY.SIZE[1] %d" % len(raw_part), got)
                t.sendall(b"g FETCH 1 (BINARY.PEEK[1.2.3])\r\n")
                self.assertIn(b"g OK", answer(b"g "))
                t.sendall(b"h LOGOUT\r\n")

    def test_status_size(self):
        m = self.imap()
        typ, data = m.status("INBOX", "(MESSAGES SIZE)")
        size = int(re.search(rb"SIZE (\d+)", data[0]).group(1))
        typ, sizes = m.fetch("1:*", "(RFC822.SIZE)")
        total = sum(int(re.search(rb"RFC822.SIZE (\d+)", s).group(1)) for s in sizes if s)
        self.assertEqual(size, total)
        m.logout()


    def test_create_with_special_use(self):
        srv = Server(users=("bob",)).start()
        self.addCleanup(srv.cleanup)
        m = imaps_login(srv, "bob")
        self.assertIn("CREATE-SPECIAL-USE", m.capabilities)
        typ, _ = m._simple_command("CREATE", '"Old mail"', r"(USE (\archive))")
        self.assertEqual(typ, "OK")
        typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        names = [d.decode() for d in m.untagged_responses.pop("LIST", [])]
        self.assertIn('(\\HasNoChildren \\Archive) "/" "Old mail"', names)
        m.rename('"Old mail"', '"Archive 2025"')
        typ, data = m.list('""', '"Archive 2025"')
        self.assertIn(b"\\Archive", data[0])
        typ, data = m._simple_command("CREATE", "Everything", r"(USE (\All))")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[USEATTR]", data[0])
        m.logout()


    def test_catenate(self):
        m = imaps_login(self.srv)
        self.assertIn("CATENATE", m.capabilities)
        typ, data = m.select("INBOX")
        uid_validity = m.untagged_responses["UIDVALIDITY"][-1].decode()
        m.create("Drafts2")
        url = f"/INBOX;UIDVALIDITY={uid_validity}/;UID=1/;SECTION=HEADER"
        text = b"new body\r\n"
        tag = m._command("APPEND", "Drafts2", "CATENATE",
                         f'(URL "{url}" TEXT {{{len(text)}+}}')
        m.send(text + b")\r\n")
        typ, data = m._command_complete("APPEND", tag)
        self.assertEqual(typ, "OK", data)
        self.assertIn(b"APPENDUID", data[0])
        m.select("Drafts2")
        typ, data = m.fetch("1", "(BODY.PEEK[])")
        body = data[0][1]
        self.assertTrue(body.startswith(b"Return-Path: <someone@test.example>\r\n"), body)
        self.assertIn(b"\r\nSubject: lunch\r\n", body)
        self.assertTrue(body.endswith(b"\r\n\r\nnew body\r\n"), body)
        # A URL to a message that is not there: NO [BADURL], nothing added.
        typ, data = m._simple_command("APPEND", "Drafts2", "CATENATE", '(URL "/INBOX/;UID=999")')
        self.assertEqual(typ, "NO")
        self.assertIn(b"[BADURL /INBOX/;UID=999]", data[0])
        self.assertEqual(m.select("Drafts2")[1], [b"1"])
        m.logout()


if __name__ == "__main__":
    unittest.main()
