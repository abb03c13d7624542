#!/usr/bin/env python3
"""The same Sieve scripts over the same messages through Pigeonhole's `sieve-test`
(Debian's dovecot-sieve) and `postrider sieve test`: the actions each takes (folders with
their flags, redirects, rejects, vacation replies; the implicit keep included) must be
the same. Differences that are known and explained are listed in KNOWN with why; any
other difference fails.

Usage: tests/interop/sieve_compare.py BINARY"""

import os
import re
import subprocess
import sys
import tempfile

FROM = "coyote@desert.example.org"
TO = "roadrunner+acme@example.org"

MESSAGE = """From: Wile E. Coyote <coyote@desert.example.org>
To: roadrunner+acme@example.org
Cc: boss@acme.example.com, other@acme.example.com
Subject: Project Apollo: status [urgent]
List-Id: Acme developers <dev.acme.example.com>
X-Spam-Score: 7
X-Tag: first
X-Tag: second
Received: from relay.example by mx.example.org; Sun, 6 Dec 2026 09:59:58 +0100
Message-ID: <1@desert.example.org>
Date: Sun, 6 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

The anvil is on its way. Invoice attached.
--b
Content-Type: text/html; charset=utf-8

<p>The <b>anvil</b> is on its way.</p>
--b--
"""

ENCODED = """From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.net>
To: roadrunner+acme@example.org
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=

hi
"""

# Scripts a case's include may name: (location, name, text).
LIBRARY = [
    ("personal", "spam", 'require ["fileinto", "relational", "comparator-i;ascii-numeric"];\n'
     'if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "Junk"; stop; }\n'),
    ("personal", "lists", 'require ["fileinto", "include", "variables"];\nglobal "prefix";\n'
     'if header :matches "list-id" "*<*.*>" { fileinto "${prefix}${2}"; return; }\nfileinto "never";\n'),
    ("global", "site", 'require ["imap4flags", "include"];\naddflag "$Site";\n'),
]

CASES = [
    ("header-contains", 'require "fileinto";\nif header :contains "subject" "apollo" { fileinto "Apollo"; }\n'),
    ("header-is-case", 'require "fileinto";\nif header :is "subject" "project apollo: status [urgent]" { fileinto "Is"; }\n'),
    ("octet-comparator", 'require "fileinto";\nif header :comparator "i;octet" :contains "subject" "apollo" { fileinto "Octet"; }\n'),
    ("matches-escapes", 'require "fileinto";\nif header :matches "subject" "*\\\\[urgent\\\\]" { fileinto "Urgent"; }\n'),
    ("address-parts", 'require "fileinto";\nif address :domain :is "cc" "acme.example.com" { fileinto "Acme"; }\n'
     'if address :localpart :is "from" "coyote" { fileinto "Coyote"; }\n'),
    ("exists-size-allof", 'require "fileinto";\nif allof (exists ["list-id", "date"], size :under 10K, not exists "x-nope") { fileinto "A"; }\n'
     'if anyof (size :over 1M, false) { fileinto "B"; }\n'),
    ("stop-discard", 'if header :contains "subject" "apollo" { discard; stop; }\nkeep;\n'),
    ("envelope-subaddress", 'require ["envelope", "subaddress", "fileinto"];\n'
     'if envelope :detail "to" "acme" { fileinto "Detail"; }\nif envelope :user "to" "roadrunner" { fileinto "User"; }\n'
     'if envelope :domain "from" "desert.example.org" { fileinto "Dom"; }\n'),
    ("copy", 'require ["copy", "fileinto"];\nfileinto :copy "Copy";\nredirect :copy "archive@example.net";\n'),
    ("redirect", 'redirect "friend@example.net";\n'),
    ("imap4flags", 'require ["imap4flags", "fileinto"];\nsetflag "\\\\Seen";\naddflag ["$Work", "\\\\Flagged"];\n'
     'removeflag "\\\\Seen";\nif hasflag :contains "$work" { fileinto :flags "\\\\Answered" "Flagged"; }\n'),
    ("relational", 'require ["relational", "fileinto", "comparator-i;ascii-numeric"];\n'
     'if address :count "eq" :comparator "i;ascii-numeric" "cc" "2" { fileinto "TwoCc"; }\n'
     'if header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "9" { fileinto "High"; }\n'),
    ("body", 'require ["body", "fileinto"];\nif body :text :contains "anvil" { fileinto "Text"; }\n'
     'if body :content "text/html" :contains "<b>" { fileinto "Html"; }\n'
     'if body :raw :contains "boundary" { fileinto "Raw"; }\n'),
    ("variables", 'require ["variables", "fileinto"];\n'
     'if header :matches "subject" "project *: *" { set :lower :upperfirst "p" "${1}"; fileinto "P/${p}"; }\n'
     'set :length "n" "${p}";\nif string :is "${n}" "6" { fileinto "Six"; }\n'
     'if address :matches "from" "*@*.*" { fileinto "${2}-${3}"; }\n'),
    ("variables-modifiers", 'require ["variables", "fileinto"];\nset :upper "a" "abc";\nset :quotewildcard "b" "a*b?";\n'
     'set :lowerfirst "c" "XYZ";\nfileinto "${a}-${b}-${c}";\n'),
    ("include", 'require ["include", "variables"];\nglobal "prefix";\nset "prefix" "Lists/";\n'
     'include :personal "lists";\ninclude :global "site";\ninclude :once "spam";\ninclude :optional "missing";\n'),
    ("date", 'require ["date", "relational", "fileinto"];\n'
     'if date :originalzone :is "date" "date" "2026-12-06" { fileinto "Day"; }\n'
     'if date :zone "+0530" :is "date" "time" "15:30:00" { fileinto "India"; }\n'
     'if date :zone "-0800" :value "lt" "date" "hour" "03" { fileinto "Night"; }\n'
     'if date :zone "+0000" :is "date" "weekday" "0" { fileinto "Sunday"; }\n'
     'if date :zone "+0000" :is "date" "julian" "61380" { fileinto "Julian"; }\n'
     'if date :zone "+0100" :is "date" "iso8601" "2026-12-06T11:00:00+01:00" { fileinto "Iso"; }\n'
     'if date :originalzone :is "received" "zone" "+0100" { fileinto "Hop"; }\n'),
    ("index", 'require ["index", "fileinto"];\n'
     'if header :index 2 :is "x-tag" "second" { fileinto "Second"; }\n'
     'if header :index 1 :last :is "x-tag" "second" { fileinto "Last"; }\n'
     'if header :index 3 :is "x-tag" "second" { fileinto "Never"; }\n'
     'if address :index 1 :domain :is "cc" "acme.example.com" { fileinto "FirstCc"; }\n'),
    ("editheader", 'require ["editheader", "fileinto", "index"];\n'
     'addheader "X-Filtered" "yes";\nif header :is "x-filtered" "yes" { fileinto "Seen"; }\n'
     'addheader :last "X-Tag" "third";\nif header :index 1 :last :is "x-tag" "third" { fileinto "LastTag"; }\n'
     'deleteheader :index 1 "x-tag";\nif header :index 1 :is "x-tag" "second" { fileinto "Shifted"; }\n'
     'deleteheader :contains "subject" "apollo";\nif not exists "subject" { fileinto "NoSubject"; }\n'
     'deleteheader "received";\nif exists "received" { fileinto "Protected"; }\n'),
    ("reject", 'require "reject";\nif header :contains "subject" "apollo" { reject "No thanks."; }\n'),
    ("vacation", 'require "vacation";\nvacation :days 3 :subject "Away" "I am away.";\n'),
    ("fileinto-create", 'require ["fileinto", "mailbox"];\nfileinto :create "New/Folder";\n'),
    ("encoded-words", 'require "fileinto";\nif header :contains "subject" "Köln" { fileinto "Koeln"; }\n'
     'if address :is "from" "j@example.net" { fileinto "J"; }\n', ENCODED),
]

# Case name -> why the two differ (none known now).
KNOWN = {}

DOVECOT_CONF = """mail_uid = nobody
mail_gid = nogroup
mail_location = mbox:{dir}/mail:INBOX={dir}/mail/inbox
postmaster_address = postmaster@example.org
protocols =
plugin {{
  sieve = file:{dir}/personal;active={dir}/active.sieve
  sieve_global = {dir}/global
  sieve_extensions = +editheader
}}
"""


def pigeonhole(dir, script, message):
    out = subprocess.run(["sieve-test", "-c", f"{dir}/dovecot.conf", "-f", FROM, "-r", TO,
                          script, message], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return None, out.stderr
    actions, current = [], None
    for line in out.stdout.splitlines():
        m = re.match(r"^ \* (.*)$", line)
        if m:
            current = None
            what = m.group(1)
            if what.startswith("store message in folder: "):
                current = ["store", what.split(": ", 1)[1], []]
                actions.append(current)
            elif what.startswith("redirect message to: "):
                actions.append(["redirect", what.split(": ", 1)[1].strip("<>").lower()])
            elif what.startswith("reject message with reason: "):
                actions.append(["reject", what.split(": ", 1)[1]])
            elif what.startswith("send vacation message"):
                actions.append(["vacation"])
            elif what != "discard":
                actions.append(["unknown", what])
            continue
        m = re.match(r"^\s+\+ add IMAP flags: (.*)$", line)
        if m and current is not None:
            current[2].extend(m.group(1).split())
    return normalize(actions), out.stdout


def postrider(binary, dir, script, message):
    out = subprocess.run([binary, "-c", f"{dir}/postrider.toml", "sieve", "test", script, message,
                          "-f", FROM, "-r", TO, "--personal", f"{dir}/personal", "--global",
                          f"{dir}/global"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return None, out.stderr
    actions = []
    for line in out.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "store":
            folder, _, flags = rest.partition(" flags=")
            actions.append(["store", folder, flags.split()])
        elif word == "redirect":
            actions.append(["redirect", rest.lower()])
        elif word == "reject":
            actions.append(["reject", rest])
        elif word == "vacation":
            actions.append(["vacation"])
    return normalize(actions), out.stdout


def normalize(actions):
    """Sorted, with flag names lower-cased and sorted (Pigeonhole lower-cases system
    flags)."""
    out = []
    for a in actions:
        if a[0] == "store":
            a = ["store", a[1], sorted(f.lower() for f in a[2])]
        out.append(repr(a))
    return sorted(out)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    dir = tempfile.mkdtemp(prefix="sieve-compare-")
    os.chmod(dir, 0o755)
    for sub in ("personal", "global", "mail", "data"):
        os.makedirs(os.path.join(dir, sub))
        os.chmod(os.path.join(dir, sub), 0o777)
    write(f"{dir}/dovecot.conf", DOVECOT_CONF.format(dir=dir))
    write(f"{dir}/postrider.toml", f'hostname = "mx.example.org"\ndomains = ["example.org"]\n'
                                   f'data_dir = "{dir}/data"\n')
    for location, name, text in LIBRARY:
        write(f"{dir}/{location}/{name}.sieve", text)
    same, known, failed = 0, 0, []
    for case in CASES:
        name, script = case[0], case[1]
        message = case[2] if len(case) > 2 else MESSAGE
        write(f"{dir}/{name}.sieve", script)
        write(f"{dir}/{name}.eml", message)
        theirs, their_out = pigeonhole(dir, f"{dir}/{name}.sieve", f"{dir}/{name}.eml")
        ours, our_out = postrider(binary, dir, f"{dir}/{name}.sieve", f"{dir}/{name}.eml")
        if theirs is not None and theirs == ours:
            same += 1
            print(f"same      {name}: {ours}")
        elif name in KNOWN:
            known += 1
            print(f"known     {name}: {KNOWN[name]}\n  pigeonhole {theirs}\n  postrider  {ours}")
        else:
            failed.append(name)
            print(f"DIFFERENT {name}:\n  pigeonhole {theirs}\n{their_out}\n  postrider  {ours}\n{our_out}")
    print(f"sieve-test comparison: {len(CASES)} cases, {same} the same, {known} known "
          f"differences, {len(failed)} unexplained")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
