#!/usr/bin/env python3
"""Run IMAP test scripts written in the format of Dovecot's imaptest (src/tests/).

imaptest itself needs Dovecot's libraries to build; this runner reads the same script format
(header, command groups, expected `*`/`!`/`?` untagged replies, `$variables`, `$!unordered`
directives, `{{{ ... }}}` literals, numbered connections) and checks a server the way
imaptest's test mode does, so the behaviours those scripts describe can be checked here.

Usage: imapscript.py HOST PORT USER PASSWORD TESTDIR_OR_FILE [--mailbox NAME] [-v]

Each test file may have a `NAME.mbox` next to it (else `default.mbox` in its directory):
the messages APPENDed while setting the test up, with the INTERNALDATE of their From_ lines.
Exit status 0 when no test failed.
"""

import argparse
import os
import re
import socket
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Atom(str):
    """An IMAP atom (compared case-insensitively)."""


class Text(str):
    """A quoted string or literal."""


class Nil:
    """The NIL token."""

    def __repr__(self):
        return "NIL"


NIL = Nil()


def tokenize(data):
    """Parse one IMAP line (literals already inlined as ('lit', bytes)) into nested lists."""
    stack = [[]]
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if isinstance(c, tuple):
            stack[-1].append(Text(c[1].decode("utf-8", "replace")))
            i += 1
            continue
        if c == " ":
            i += 1
        elif c == "(":
            stack.append([])
            i += 1
        elif c == ")":
            if len(stack) > 1:
                lst = stack.pop()
                stack[-1].append(lst)
            i += 1
        elif c == '"':
            j = i + 1
            out = []
            while j < n and data[j] != '"':
                if data[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(data[j])
                j += 1
            stack[-1].append(Text("".join(out)))
            i = j + 1
        else:
            j = i
            depth = 0
            while j < n and not isinstance(data[j], tuple):
                ch = data[j]
                if ch == "[":
                    depth += 1
                elif ch == "]":
                    depth = max(0, depth - 1)
                elif depth == 0 and ch in " ()":
                    break
                j += 1
            word = "".join(data[i:j])
            stack[-1].append(NIL if word.upper() == "NIL" else Atom(word))
            i = j
    while len(stack) > 1:
        lst = stack.pop()
        stack[-1].append(lst)
    return stack[0]


def chars_with_literals(text):
    """Turn a script line holding `{n}\\r\\n<data>` literals into a token stream."""
    out = []
    i = 0
    while i < len(text):
        m = re.match(r"~?\{(\d+)\+?\}\r\n", text[i:])
        if m and (i == 0 or text[i - 1] in " ([" or text[i - 1] == "]"):
            size = int(m.group(1))
            start = i + m.end()
            # `size` counts octets: take characters until they make that many.
            end, got = start, 0
            while end < len(text) and got < size:
                got += len(text[end].encode("utf-8", "surrogateescape"))
                end += 1
            out.append(("lit", text[start:end].encode("utf-8", "surrogateescape")))
            i = end
            continue
        out.append(text[i])
        i += 1
    return out


def to_str(args):
    parts = []
    for a in args:
        if isinstance(a, list):
            parts.append("(" + to_str(a) + ")")
        elif a is NIL:
            parts.append("NIL")
        elif isinstance(a, Text):
            parts.append('"' + a.replace("\r\n", "\\r\\n") + '"')
        else:
            parts.append(a)
    return " ".join(parts)


class Test:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.caps = []
        self.connections = 1
        self.messages = None
        self.state = "selected"
        self.ignore_extra = True
        self.groups = []
        mbox = path + ".mbox"
        self.mbox = mbox if os.path.exists(mbox) else os.path.join(os.path.dirname(path), "default.mbox")


class Group:
    def __init__(self):
        self.conn = 0
        self.commands = []  # [tag_label, text, expected_reply or None, linenum]
        self.untagged = []  # (existence, args)
        self.ordered = False
        self.pending = 0


def parse_reply_prefix(line):
    """Return (tag_label, reply, rest) for lines like 'tag1 ok ...' / 'ok ...' / '"" ...'."""
    tag = 0
    words = line.split(" ", 1)
    m = re.fullmatch(r"(?i)tag(\d+)", words[0])
    if m and len(words) > 1:
        tag = int(m.group(1))
        line = words[1]
        words = line.split(" ", 1)
    w = words[0].lower()
    if w in ("ok", "no", "bad", '""'):
        rest = words[1] if len(words) > 1 else ""
        return tag, ("" if w == '""' else w), rest
    return tag, None, line


def read_script_lines(path):
    # Octets that are not UTF-8 (a binary literal) survive as surrogates and are sent back
    # as they were.
    raw = open(path, "rb").read().decode("utf-8", "surrogateescape").split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    out = []
    i = 0
    while i < len(raw):
        line = raw[i]
        num = i + 1
        if line.endswith("{{{"):
            # A literal runs to a line starting with `}}}`; what follows that may open the
            # next literal (MULTIAPPEND's `}}} {{{`).
            buf = line
            while buf.endswith("{{{"):
                buf = buf[:-3]
                binary = buf.endswith("~")
                if binary:
                    buf = buf[:-1]
                body = []
                i += 1
                while i < len(raw) and not raw[i].startswith("}}}"):
                    body.append(raw[i])
                    i += 1
                # `~{{{`: the octets as written (line ends are LF, CRs written out);
                # plain `{{{`: lines end in CRLF.
                lit = ("\n" if binary else "\r\n").join(body)
                size = len(lit.encode("utf-8", "surrogateescape"))
                buf += "%s{%d}\r\n%s" % ("~" if binary else "", size, lit)
                buf += raw[i][3:] if i < len(raw) else ""
            out.append((num, buf))
            i += 1
            continue
        out.append((num, line))
        i += 1
    return out


def parse_test(path):
    t = Test(path)
    header = True
    group = None
    for num, line in read_script_lines(path):
        if header:
            if line == "":
                header = False
                continue
            if line.startswith("#"):
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            value = value.strip()
            if key == "capabilities":
                t.caps = value.split()
            elif key == "connections":
                t.connections = int(value)
            elif key == "messages":
                t.messages = None if value == "all" else int(value)
            elif key == "state":
                t.state = value.lower()
            elif key == "ignore_extra_untagged":
                t.ignore_extra = value.startswith("y")
            continue
        if line == "" or line.startswith("#"):
            continue
        if group is not None:
            if line == "!ordered":
                group.ordered = True
                continue
            if line[:2] in ("* ", "! ", "? "):
                group.untagged.append((line[0], tokenize(chars_with_literals(line[2:]))))
                continue
            if group.pending > 0:
                rest = line
                if t.connections > 1:
                    first, _, after = rest.partition(" ")
                    if first.isdigit():
                        rest = after
                tag, reply, rtext = parse_reply_prefix(rest)
                if reply is not None:
                    for cmd in group.commands:
                        if cmd[0] == tag and cmd[2] is None:
                            cmd[2] = reply_args(reply, rtext)
                            group.pending -= 1
                            break
                    continue
        if group is None or group.pending == 0:
            group = Group()
            t.groups.append(group)
        if t.connections > 1:
            first, _, line = line.partition(" ")
            group.conn = int(first) - 1
            t.connections = max(t.connections, group.conn + 1)
        tag, reply, text = parse_reply_prefix(line)
        expected = None if reply is None else reply_args(reply, "")
        group.commands.append([tag, text, expected, num])
        if expected is None:
            group.pending += 1
    return t


def reply_args(reply, text):
    """The expected tagged reply: `ok`, `no [CODE] ...`, or `""` (anything)."""
    if reply == "":
        return [Atom("")]
    return tokenize(chars_with_literals((reply + " " + text).strip()))




class Conn:
    def __init__(self, host, port, verbose):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.buf = b""
        self.verbose = verbose
        self.tagn = 0
        self.exists = 0
        self.caps = []

    def readline(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self):
        """One response line with literals inlined: returns (raw_text, token_stream)."""
        stream = []
        raw = b""
        while True:
            line = self.readline()
            raw += line
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                # A literal8 (`~{n}`, RFC 3516) reads like any literal.
                before = line[:m.start()]
                if before.endswith(b"~"):
                    before = before[:-1]
                stream.extend(before.decode("utf-8", "replace"))
                data = self.read_exact(int(m.group(1)))
                stream.append(("lit", data))
                raw += b"{" + m.group(1) + b"}"
                continue
            stream.extend(line.decode("utf-8", "replace"))
            break
        if self.verbose:
            print("  S:", raw[:300].decode("utf-8", "replace"))
        return raw, stream

    def send(self, data):
        if self.verbose:
            print("  C:", data[:300])
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self.sock.sendall(data)

    def next_tag(self):
        self.tagn += 1
        return "t%d" % self.tagn

    def track(self, args):
        if len(args) >= 2 and isinstance(args[0], str) and args[0].isdigit() and isinstance(args[1], str):
            kw = args[1].upper()
            if kw == "EXISTS":
                self.exists = int(args[0])
            elif kw == "EXPUNGE":
                self.exists -= 1
        if args and isinstance(args[0], str) and args[0].upper() == "CAPABILITY":
            self.caps = [a.upper() for a in args[1:] if isinstance(a, str)]
        if args and isinstance(args[0], str) and args[0].upper() == "OK" and len(args) > 1:
            first = args[1]
            if isinstance(first, str) and first.upper().startswith("[CAPABILITY "):
                self.caps = first[1:-1].upper().split()[1:]

    def simple(self, cmd):
        """Send a command; return (tagged_args, untagged_list)."""
        tag = self.next_tag()
        self.send("%s %s\r\n" % (tag, cmd))
        untagged = []
        while True:
            _, stream = self.read_response()
            args = tokenize(stream)
            if args and args[0] == "*":
                self.track(args[1:])
                untagged.append(args[1:])
            elif args and args[0] == tag:
                return args[1:], untagged


class MboxSource:
    def __init__(self, path):
        self.msgs = []
        text = open(path, "rb").read().decode("utf-8", "replace")
        cur = None
        for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
            if line.startswith("From "):
                if cur is not None:
                    self.msgs.append(cur)
                cur = (self.from_date(line), [])
                continue
            if cur is not None:
                cur[1].append(line)
        if cur is not None:
            self.msgs.append(cur)
        self.pos = 0

    @staticmethod
    def from_date(line):
        m = re.search(r"(\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\d{4})(?: ([+-]\d{4}))?", line)
        if not m:
            return None
        mon, day, hms, year, tz = m.groups()
        return "%02d-%s-%s %s %s" % (int(day), mon, year, hms, tz or "+0000")

    def eof(self):
        return self.pos >= len(self.msgs)

    def next(self):
        if self.pos >= len(self.msgs):
            self.pos = 0
        date, lines = self.msgs[self.pos]
        self.pos += 1
        return date, ("".join(l + "\r\n" for l in lines)).encode()


class Runner:
    def __init__(self, opts):
        self.o = opts
        self.failures = []
        # Script commands sent, and those of tests that need an extension's capability.
        self.commands = 0
        self.extension_commands = 0

    def connect(self):
        c = Conn(self.o.host, self.o.port, self.o.verbose)
        _, stream = c.read_response()
        c.track(tokenize(stream)[1:])
        return c

    def login(self, c):
        args, _ = c.simple("LOGIN %s %s" % (quote(self.o.user), quote(self.o.password)))
        if args[0].upper() != "OK":
            raise RuntimeError("LOGIN failed: %s" % to_str(args))
        # The capabilities after login (Dovecot names its extensions only then).
        c.track(["OK"] + list(args[1:]))
        if not any(isinstance(a, str) and "CAPABILITY" in a.upper() for a in args):
            c.simple("CAPABILITY")

    def append(self, c, source, mailbox, args=None):
        date, body = source.next()
        tag = c.next_tag()
        head = "%s APPEND %s" % (tag, args if args else quote(mailbox))
        if date and not re.search(r'"\d', head):
            head += ' "%s"' % date
        c.send("%s {%d}\r\n" % (head, len(body)))
        untagged = []
        while True:
            _, stream = c.read_response()
            a = tokenize(stream)
            if a and a[0] == "+":
                c.send(body + b"\r\n")
                continue
            if a and a[0] == "*":
                c.track(a[1:])
                untagged.append(a[1:])
                continue
            if a and a[0] == tag:
                return a[1:], untagged

    def setup(self, t, source):
        conns = [self.connect() for _ in range(t.connections)]
        self.vars = {"user": self.o.user, "username": self.o.user.split("@")[0],
                     "domain": self.o.user.split("@")[1] if "@" in self.o.user else "localhost",
                     "password": self.o.password, "mailbox": self.o.mailbox,
                     "mailbox_url": self.o.mailbox}
        if t.state == "nonauth":
            return conns
        for c in conns:
            self.login(c)
        first = conns[0]
        if any(cap.upper() not in first.caps for cap in t.caps):
            return None
        mask = quote(self.o.mailbox + "*")
        _, lists = first.simple('LIST "" %s' % mask)
        _, lsubs = first.simple('LSUB "" %s' % mask)
        names = sorted({l[3] for l in lists if len(l) >= 4 and l[0].upper() == "LIST"}, key=str.lower, reverse=True)
        for name in names:
            first.simple("DELETE %s" % quote(name))
        for l in lsubs:
            if len(l) >= 4 and l[0].upper() == "LSUB":
                first.simple("UNSUBSCRIBE %s" % quote(l[3]))
        if t.state == "auth":
            return conns
        if self.o.mailbox.upper() != "INBOX":
            args, _ = first.simple("CREATE %s" % quote(self.o.mailbox))
            if args[0].upper() != "OK":
                raise RuntimeError("CREATE failed: %s" % to_str(args))
        if t.state == "created":
            return conns
        count = t.messages
        n = 0
        while (count is None and not source.eof()) or (count is not None and n < count):
            args, _ = self.append(first, source, self.o.mailbox)
            if args[0].upper() != "OK":
                raise RuntimeError("APPEND failed: %s" % to_str(args))
            n += 1
        for c in conns:
            args, _ = c.simple("SELECT %s" % quote(self.o.mailbox))
            if args[0].upper() != "OK":
                raise RuntimeError("SELECT failed: %s" % to_str(args))
        return conns

    # ---- matching (after imaptest's test-exec.c) ----

    def expand_cmd(self, text, seqmap):
        def rep(m):
            name = m.group(1) or m.group(2)
            if name is None:
                return "$"
            if name.isdigit():
                return self.rel_seq(int(name), seqmap)
            if name not in self.vars:
                raise KeyError("Uninitialized variable: %s" % name)
            return self.vars[name]
        return re.sub(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+)|\$)", lambda m: "$" if m.group(0) == "$$" else rep(m), text)

    @staticmethod
    def rel_seq(seq, seqmap):
        if seq == 0 or seq > len(seqmap):
            return "<out of range>"
        return "<expunged>" if seqmap[seq - 1] == 0 else str(seqmap[seq - 1])

    def expand_input(self, pat, inp, added, seqmap):
        out = []
        i = 0
        k = 0
        while i < len(pat):
            if pat[i] != "$" or pat[i + 1:i + 2] == "$":
                if pat[i] == "$":
                    i += 1
                if k >= len(inp) or pat[i].upper() != inp[k].upper():
                    return None
                out.append(pat[i])
                i += 1
                k += 1
                continue
            i += 1
            if pat[i:i + 1] == "{":
                j = pat.index("}", i)
                name = pat[i + 1:j]
                i = j + 1
            else:
                j = i
                while j < len(pat) and (pat[j].isalnum() or pat[j] == "_"):
                    j += 1
                name = pat[i:j]
                i = j
            if name.isdigit():
                value = self.rel_seq(int(name), seqmap)
            elif name and name in self.vars:
                value = self.vars[name]
            else:
                stop = pat[i] if i < len(pat) else None
                j = k
                if stop is not None and stop != "$":
                    while j < len(inp) and inp[j].upper() != stop.upper():
                        j += 1
                else:
                    j = len(inp)
                value = inp[k:j]
                if name:
                    self.vars[name] = value
                    added.append(name)
            out.append(value)
            if inp[k:k + len(value)] != value:
                return None
            k += len(value)
        return "".join(out)

    def match_args(self, match, args, maxn, prefix, added, seqmap):
        ret = 0
        mi = 0
        ai = 0
        while mi < len(match) and maxn > 0:
            m = match[mi]
            a = args[ai] if ai < len(args) else None
            if m is NIL:
                if a is not NIL:
                    return ret
            elif isinstance(m, str):
                if m == "$" and isinstance(a, list):
                    pass
                elif m == "$]":
                    while isinstance(a, str) and "]" not in a:
                        ai += 1
                        a = args[ai] if ai < len(args) else None
                else:
                    if not isinstance(a, str):
                        return ret
                    mstr = self.expand_input(m, a, added, seqmap)
                    if mstr is None:
                        return ret
                    # imaptest compares strings as C strings: nothing after a NUL counts.
                    a, mstr = a.split("\0", 1)[0], mstr.split("\0", 1)[0]
                    if prefix and mi == len(match) - 1:
                        if not a.upper().startswith(mstr.upper()):
                            return ret
                    elif a.upper() != mstr.upper():
                        return ret
            elif isinstance(m, list):
                if not isinstance(a, list):
                    return ret
                sub = self.match_list(m, a, added, seqmap)
                if sub is not True:
                    return ret + sub
            mi += 1
            ai += 1
            maxn -= 1
            ret += 1
        if prefix or ai >= len(args) or maxn == 0:
            return True
        return ret

    def match_list(self, match, args, added, seqmap):
        unordered = False
        chain = 1
        noextra = None
        ignores = []
        bans = []
        while match and isinstance(match[0], str) and match[0].startswith("$!"):
            d = match[0][2:]
            match = match[1:]
            if d.startswith("unordered"):
                unordered = True
                if noextra is None:
                    noextra = False
                if d.startswith("unordered="):
                    chain = int(d[10:])
            elif d == "ordered":
                unordered = False
            elif d == "extra":
                noextra = False
            elif d == "noextra":
                noextra = True
            elif d.startswith("ignore="):
                ignores.append(d[7:].lower())
            elif d.startswith("ban="):
                bans.append(d[4:].lower())
        if noextra is None:
            noextra = True
        if not unordered:
            return self.match_args(match, args, 1 << 30, False, added, seqmap)
        if len(args) % chain != 0:
            return 0
        matched = [False] * len(args)
        ret = 0
        for mi in range(0, len(match), chain):
            for i in range(0, len(args), chain):
                if self.match_args(match[mi:mi + chain], args[i:i + chain], chain, False, added, seqmap) is True:
                    matched[i] = True
                    break
            else:
                return ret
            ret += 1
        for i in range(0, len(args), chain):
            if matched[i] or not isinstance(args[i], str):
                continue
            if noextra and args[i].lower() not in ignores:
                return ret
            if not noextra and args[i].lower() in bans:
                return ret
        return True

    # ---- execution ----

    def run_test(self, t):
        source = MboxSource(t.mbox)
        try:
            conns = self.setup(t, source)
        except (RuntimeError, EOFError, OSError) as e:
            return "fail", ["initialization failed: %s" % e]
        if conns is None:
            return "skip", []
        errors = []
        try:
            for gi, g in enumerate(t.groups):
                errs = self.run_group(t, g, conns, source)
                for e in errs:
                    errors.append("command %d/%d (line %d) %s: %s" % (gi + 1, len(t.groups), g.commands[0][3],
                                                                    g.commands[0][1], e))
                if errs and isinstance(errs[-1], str) and errs[-1].startswith("connection lost"):
                    break
            if not any(cmd[1].lower() == "logout" for g in t.groups for cmd in g.commands):
                try:
                    conns[0].simple("LOGOUT")
                except (EOFError, OSError):
                    pass
        finally:
            for c in conns:
                c.sock.close()
        return ("fail" if errors else "ok"), errors

    def run_group(self, t, g, conns, source):
        c = conns[g.conn]
        seqmap = list(range(1, c.exists + 1))
        expected_untagged = [(ex, default_directives(args)) for ex, args in g.untagged]
        found = [False] * len(expected_untagged)
        errors = []
        extra = []
        tags = {}
        for cmd in g.commands:
            label, text, reply, _ = cmd
            self.commands += 1
            if t.caps:
                self.extension_commands += 1
            try:
                line = self.expand_cmd(text, seqmap)
            except KeyError as e:
                return [str(e)]
            tag = c.next_tag()
            tags[tag] = cmd
            self.vars["tag"] = tag
            m = re.match(r"(?i)append(?: (.*))?$", line)
            if m and not re.search(r"\{\d+\+?\}", line):
                body_date, body = source.next()
                args = m.group(1) or quote(self.o.mailbox)
                head = "%s APPEND %s" % (tag, args)
                if body_date and not re.search(r'"\d', args):
                    head += ' "%s"' % body_date
                c.send("%s {%d}\r\n" % (head, len(body)))
                tags[tag] = cmd + [body]
            else:
                self.send_with_literals(c, tag, line)
        pending = set(tags)
        while pending:
            try:
                _, stream = c.read_response()
            except (EOFError, OSError) as e:
                return errors + ["connection lost: %s" % e]
            args = tokenize(stream)
            if not args:
                continue
            if args[0] == "+":
                waiting = [t_ for t_ in pending if len(tags[t_]) > 4]
                if waiting:
                    c.send(tags[waiting[0]][4] + b"\r\n")
                    tags[waiting[0]] = tags[waiting[0]][:4]
                else:
                    self.continue_literal(c)
                continue
            if args[0] == "*":
                u = args[1:]
                self.match_untagged(u, expected_untagged, found, errors, extra, seqmap, g)
                if len(u) >= 2 and isinstance(u[0], str) and u[0].isdigit() and isinstance(u[1], str) \
                        and u[1].upper() == "EXPUNGE":
                    s = int(u[0])
                    if s <= len(seqmap):
                        for i in range(s - 1, len(seqmap)):
                            if seqmap[i] == s:
                                seqmap[i] = 0
                            elif seqmap[i] > s:
                                seqmap[i] -= 1
                c.track(u)
                continue
            tag = args[0]
            if tag in pending:
                pending.discard(tag)
                cmd = tags[tag]
                expected = cmd[2] if cmd[2] is not None else [Atom("ok")]
                self.vars["tag"] = tag
                added = []
                if self.match_args(expected, args[1:], 1 << 30, True, added, seqmap) is not True:
                    errors.append("Expected tagged reply '%s', got '%s'" % (to_str(expected), to_str(args[1:])))
                    for v in added:
                        self.vars.pop(v, None)
        missing = [to_str(a) for (ex, a), f in zip(expected_untagged, found) if ex == "*" and not f]
        if missing:
            errors.append("Missing %d untagged replies, first: %s" % (len(missing), missing[0]))
        if extra and not t.ignore_extra:
            errors.append("%d unexpected untagged replies, first: %s" % (len(extra), extra[0]))
        return errors

    pending_literal = None

    def send_with_literals(self, c, tag, line):
        parts = re.split(r"(\{\d+\}\r\n)", line)
        if len(parts) == 1:
            c.send("%s %s\r\n" % (tag, line))
            return
        c.send("%s %s" % (tag, parts[0] + parts[1]))
        self.pending_literal = parts[2:]

    def continue_literal(self, c):
        parts = self.pending_literal or []
        if not parts:
            return
        if len(parts) >= 2:
            c.send(parts[0] + parts[1])
            self.pending_literal = parts[2:]
        else:
            c.send(parts[0] + "\r\n")
            self.pending_literal = None

    def match_untagged(self, u, expected, found, errors, extra, seqmap, g):
        prefix = bool(u) and isinstance(u[0], str) and u[0].upper() in ("OK", "NO", "BAD", "BYE")
        some = False
        for i, (ex, args) in enumerate(expected):
            if found[i]:
                continue
            added = []
            r = self.match_args(args, u, 1 << 30, prefix, added, seqmap)
            if r is True:
                if ex == "!":
                    errors.append("Unexpected untagged match: %s (reply: %s)" % (to_str(args), to_str(u)))
                    return
                found[i] = True
                some = True
                if g.ordered:
                    break
                continue
            for v in added:
                self.vars.pop(v, None)
            if g.ordered and ex == "*":
                break
        if not some:
            extra.append(to_str(u))


def default_directives(args):
    """imaptest adds $!unordered to LIST/LSUB flags, STATUS items, FETCH items and FETCH FLAGS."""
    if not args:
        return args
    name = args[0] if isinstance(args[0], str) else ""
    if name.startswith("$") or name[:1].isdigit():
        name = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
    name = name.lower()
    out = list(args)

    def has_dir(lst):
        return bool(lst) and isinstance(lst[0], str) and lst[0].startswith("$!")

    if name in ("list", "lsub") and len(out) > 1 and isinstance(out[1], list) and not has_dir(out[1]):
        out[1] = [Atom("$!unordered")] + out[1]
    elif name == "status" and len(out) > 2 and isinstance(out[2], list) and not has_dir(out[2]):
        out[2] = [Atom("$!unordered=2")] + out[2]
    elif name == "fetch" and len(out) > 2 and isinstance(out[2], list):
        items = list(out[2])
        prev = None
        for i, it in enumerate(items):
            if isinstance(it, list) and prev == "flags" and not has_dir(it):
                items[i] = [Atom("$!unordered"), Atom("$!noextra"), Atom("$!ignore=\\recent"),
                            Atom("$!ignore=$HasAttachment"), Atom("$!ignore=$HasNoAttachment")] + it
            prev = it.lower() if isinstance(it, str) else None
        if not has_dir(items):
            items = [Atom("$!unordered=2")] + items
        out[2] = items
    return out


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("tests")
    ap.add_argument("--mailbox", default="imaptest")
    ap.add_argument("-v", "--verbose", action="store_true")
    o = ap.parse_args()
    if os.path.isdir(o.tests):
        paths = sorted(os.path.join(o.tests, f) for f in os.listdir(o.tests)
                       if not f.endswith(".mbox") and not f.startswith("."))
    else:
        paths = [o.tests]
    r = Runner(o)
    failed = skipped = 0
    for p in paths:
        t = parse_test(p)
        started = time.time()
        status, errors = r.run_test(t)
        if status == "fail":
            failed += 1
            print("*** Test %s failed (%.1fs)" % (t.name, time.time() - started))
            for e in errors:
                print("   - " + e)
        elif status == "skip":
            skipped += 1
            print("--- Test %s skipped (missing capabilities %s)" % (t.name, " ".join(t.caps)))
        else:
            print("ok  Test %s" % t.name)
    print("%d test groups: %d failed, %d skipped due to missing capabilities" % (len(paths), failed, skipped))
    print("%d commands run, %d of them in tests of extensions" % (r.commands, r.extension_commands))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
