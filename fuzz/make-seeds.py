#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/TARGET/: small, realistic inputs for each fuzz
target (sessions, messages, records), so that a campaign starts from valid protocol
instead of random bytes. Session targets take chunks prefixed by their length byte.
Usage: python3 fuzz/make-seeds.py   (rewrites fuzz/seeds/)"""

import base64
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds")


def chunks(*parts):
    """Length-prefixed chunks (each part at most 255 bytes per chunk)."""
    out = bytearray()
    for p in parts:
        p = p.encode() if isinstance(p, str) else p
        for i in range(0, len(p), 255):
            c = p[i:i + 255]
            out += bytes([len(c)]) + c
    return bytes(out)


MESSAGE = ("Return-Path: <a@b.example>\r\nReceived: from mx.b.example (mx.b.example [192.0.2.1])\r\n"
           "\tby mx.example.org with ESMTPS id 0123456789ABCDEF; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
           "From: =?utf-8?B?w4lsaXNl?= <elise@b.example>\r\nTo: Bob <bob@example.org>, \"Smith, J\" <j@x.test>\r\n"
           "Cc: undisclosed-recipients:;\r\nSubject: =?iso-8859-1?Q?caf=E9?= and more\r\n"
           "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@b.example>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "caf=C3=A9 =\r\nsoft break\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\n"
           "Subject: inner\r\nFrom: c@d.example\r\n\r\ninner body\r\n--XX\r\n"
           "Content-Type: application/octet-stream; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
           "Content-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(bytes(range(64))).decode().replace("\n", "\r\n") + "--XX--\r\nepilogue\r\n")
SIMPLE = "From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\nDate: Tue, 2 Jan 2024 03:04:05 -0800\r\n\r\nHello\r\n.dot line\r\n"
DKIM = ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=b.example; s=sel;\r\n"
        "\th=from:to:subject:date; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
        "\tb=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHutKVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV4bmp/YzhwvcubU4=;\r\n"
        "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; d=b.example; s=ed; l=10; t=1700000000; x=1800000000;\r\n"
        "\th=From:Subject; bh=z6TUz85EdYrACGMHYgZhJGvVy5oQI0dooVMKa2ZT7c4=; b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQ==\r\n")
SEEDS = {
    "smtp_command": ["EHLO client.example\r\n", "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=x+2By\r\n",
                     "RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.example\r\n",
                     "MAIL FROM:<>\r\n", "RCPT TO:<postmaster>\r\n", "AUTH PLAIN AGFsaWNlAHB3\r\n", "BDAT 10 LAST\r\n",
                     "VRFY alice\r\n", "HELO [192.0.2.1]\r\n", "MAIL FROM:<\"a b\"@[IPv6:2001:db8::1]> SMTPUTF8\r\n"],
    "smtp_reply": ["250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
                   "550 5.1.1 <c@d.example>: Recipient address rejected\r\n", "220 mx ESMTP\r\n", "354 go\r\n",
                   "421-4.3.2 shutting\r\n421 4.3.2 down\r\n"],
    "smtp_server_session": [
        chunks("EHLO c.example\r\n", "MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n",
               SIMPLE, "\r\n.\r\n", "QUIT\r\n"),
        chunks("HELO x\r\n", "MAIL FROM:<> SIZE=99999\r\n", "RCPT TO:<nobody@else.example>\r\n", "RSET\r\n", "VRFY alice\r\n",
               "NOOP\r\n", "STARTTLS\r\n"),
        chunks("EHLO c\r\n", "AUTH PLAIN\r\n", "AGFsaWNlAHB3\r\n", "AUTH LOGIN YWxpY2U=\r\n", "cHc=\r\n",
               "MAIL FROM:<a@b> BODY=8BITMIME\r\n", "RCPT TO:<alice> NOTIFY=NEVER\r\n", "BDAT 5 LAST\r\nhello",
               "QUIT\r\n")],
    "smtp_data": [b"\x03" + SIMPLE.encode() + b".\r\n", b"\x07..leading\r\n.\r\n", b"\x01no end", b"\x05line\n.\n"],
    "smtp_client": [chunks("220 mx ESMTP\r\n", "250-mx\r\n250-PIPELINING\r\n250-DSN\r\n250-SIZE 1000\r\n250 STARTTLS\r\n",
                           "250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n", "250 queued\r\n", "221 bye\r\n"),
                    chunks("220 mx\r\n", "500 what\r\n", "250 helo ok\r\n", "451 later\r\n")],
    "sasl": [b"\x00\x00alice\x00pw", b"\x01YWxpY2U=\ncHc=", b"\x00*", b"\x00\nAGFsaWNlAHB3"],
    "imf_header": [MESSAGE, SIMPLE, "X: a\r\n b\r\n\tc\r\nY:\r\n\r\nbody", "no colon line\r\n\r\n"],
    "imf_address": ["Bob <bob@example.org>, \"Smith, J\" <j@x.test>", "undisclosed-recipients:;",
                    "group: a@b.example, (c) c@d.example;, e@f", "=?utf-8?B?w4lsaXNl?= <elise@b.example>",
                    "<@route,@r2:a@b.example>", "a@b (comment (nested))"],
    "imf_date": ["Mon, 1 Jan 2024 10:00:00 +0000", "2 Jan 2024 03:04:05 -0800", "Tue, 29 Feb 2000 23:59:60 GMT",
                 "1 Jan 99 00:00 EST", "Sat, 28 Nov 2026 20:48:14 +1400"],
    "mime_tree": [MESSAGE, SIMPLE, "Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a\r\n"
                  "Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n\r\ny\r\n--b--\r\n--a--\r\n"],
    "mime_transfer": ["SGVsbG8sIHdvcmxkIQ==", "caf=C3=A9 =\r\nsoft=3D", "a", bytes(range(256))],
    "mbox_scan": ["From a@b Mon Jan  1 10:00:00 2024\n" + SIMPLE.replace("\r\n", "\n") + "\nFrom c@d Tue Jan  2 10:00:00 2024\n"
                  "Subject: two\n\n>From quoted\n.\n..\n\n", "From x\n\nFrom y\n"],
    "imap_search_scan": ["\x07TEXT hello\0" + SIMPLE, "\x03OR FROM elise SUBJECT \"caf\xc3\xa9\"\0" + MESSAGE,
                         "\x11HEADER Date \"\" SENTSINCE 1-Jan-2024 BODY \"soft break\"\0" + MESSAGE,
                         "\x01NOT BODY x\0>From quoted\n" + "y" * 300 + "\r\r\n"],
    "dkim_canon": [DKIM + SIMPLE, SIMPLE + "\r\n\r\n \t\r\n"],
    "dkim_verify": [DKIM + SIMPLE, "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB",
                    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
    "spf": ["v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx include:spf.example -all\nv=spf1 redirect=_spf.example\nv=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ~all",
            "v=spf1 a:%{d2} mx/24 ptr ?all exp=explain.%{d}\nv=spf1 -all", "v=spf1 include:a include:b include:c\nv=spf1 +all"],
    "dmarc": ["v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; rua=mailto:d@example.org",
              "From: a@mail.b.example.co.uk\r\n\r\n", "Authentication-Results: mx.example.org; dkim=pass header.d=b.example\r\n"
              "Authentication-Results: other.example; spf=fail\r\n\r\nbody", "Entw&APw-rfe", "&AOk-t&AOk-"],
    "pop3_session": [chunks("CAPA\r\n", "USER alice\r\n", "PASS pw\r\n", "STAT\r\n", "LIST\r\n", "UIDL 1\r\n", "RETR 1\r\n",
                            "TOP 2 1\r\n", "DELE 1\r\n", "RSET\r\n", "DELE 2\r\n", "QUIT\r\n"),
                     chunks("AUTH PLAIN\r\n", "AGFsaWNlAHB3\r\n", "LIST 3\r\n", "RETR 0\r\n", "STLS\r\n", "NOOP\r\n")],
    "http_session": [chunks("GET / HTTP/1.1\r\nHost: 127.0.0.1:2443\r\nCookie: s=abc\r\n\r\n",
                            "POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                            "Content-Length: 29\r\n\r\nusername=alice&password=pw%21",
                            "HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
                     chunks("POST /send HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                            "Expect: 100-continue\r\n\r\n", "5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
                            "GET /a?b=c HTTP/1.0\r\n\r\n")],
    "imap_sort_thread": ["Message-ID: <a@x>\r\nSubject: lunch\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nx"
                         "\x00Message-ID: <b@x>\r\nReferences: <a@x>\r\nSubject: Re: lunch\r\nFrom: A <a@b.c>\r\n\r\ny"
                         "\x00Message-ID: <c@x>\r\nIn-Reply-To: <zz@x>\r\nSubject: [list] Fwd: lunch (fwd)\r\nTo: g: a@b, c@d;\r\n\r\n",
                         "Message-ID: <a@x>\r\nReferences: <b@x>\r\n\r\n\x00Message-ID: <b@x>\r\nReferences: <a@x>\r\n\r\n"
                         "\x00Message-ID: <a@x>\r\n\r\n"],
    "web_forms": ["csrf=abc&folder=INBOX&uid=1&uid=2&action=move&to=Archiv&back=%2Fmail%3Ffolder%3DINBOX",
                  "multipart/form-data; boundary=XX\n--XX\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n"
                  "bob@b.test\r\n--XX\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"a.bin\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--XX--\r\n",
                  "Subject: =?utf-8?q?Weg?= $SUBJECT\n\nBack Monday.\n",
                  "\\alice, bob@b.test\n\"|/usr/bin/postrider vacation alice\"\n# comment\n"],
    "imap_command": ["a1 FETCH 1:* (FLAGS UID BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<0.100>)\r\n",
                     "a2 UID SEARCH CHARSET UTF-8 OR UNSEEN (SINCE 1-Jan-2024 LARGER 100) NOT HEADER Subject \"x\"\r\n",
                     "a3 APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5+}\r\nhello\r\n",
                     "a4 STORE 2,4:6 +FLAGS.SILENT (\\Deleted $Forwarded)\r\n", "a5 LIST \"\" \"%\"\r\n",
                     "a6 STATUS &AOk- (MESSAGES UNSEEN UIDNEXT)\r\n", "a7 LOGIN {5}\r\nalice \"pw\"\r\n"],
    "imap_session": [chunks("a LOGIN alice pw\r\n", "b SELECT INBOX\r\n", "c FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)\r\n",
                            "d UID STORE 1 +FLAGS (\\Seen)\r\n", "e SEARCH UNSEEN\r\n", "f COPY 1 Trash\r\n",
                            "g UID MOVE 2 Trash\r\n", "h EXPUNGE\r\n", "i IDLE\r\n", "DONE\r\n", "j LOGOUT\r\n"),
                     chunks("a CAPABILITY\r\n", "b AUTHENTICATE PLAIN\r\n", "AGFsaWNlAHB3\r\n", "c LIST \"\" *\r\n",
                            "d CREATE Work/Sub\r\n", "e APPEND Work {10}\r\n", "0123456789\r\n", "f EXAMINE Work\r\n",
                            "g FETCH 1 BODY[1.MIME]\r\n", "h CLOSE\r\n")],
    "imap_response": ["* 3 EXISTS\r\n* 1 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n* FLAGS (\\Seen \\Deleted kw)\r\na OK [READ-WRITE] done\r\n",
                      "* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {5}\r\nhello ENVELOPE (NIL \"s\" ((\"n\" NIL \"a\" \"b\")) NIL NIL NIL NIL NIL NIL NIL))\r\n",
                      "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n+ go ahead\r\n* BYE bye\r\n"],
    "sieve": ['require ["fileinto", "vacation", "copy", "imap4flags", "variables", "envelope", "subaddress"];\r\n'
              'if header :contains "subject" "hi" { fileinto :copy "Work"; addflag "\\\\Seen"; }\r\n'
              'elsif address :domain :is "from" "b.example" { redirect "x@y.example"; stop; }\r\n'
              'elsif anyof (size :over 10K, not exists "list-id") { vacation :days 7 :subject "away" "text"; }\r\n'
              'else { keep; }\r\n',
              'require "variables"; if header :matches "subject" "*hi*" { set "a" "${1}"; fileinto "${a}"; }',
              "# comment\r\n/* block */ discard;\r\nreject text:\r\nno thanks\r\n.\r\n;"],
    "aliases": ["# aliases\npostmaster: root\nroot: admin, \\admin\nlist: :include:/etc/mail/list\n"
                "archive: /var/mail/archive\nprog: \"|/usr/bin/procmail -a x\"\nteam: a,\n  b@remote.example,\n\tc\n",
                "bob@example.org, \\bob\n|/bin/true\n/tmp/file\n"],
}


def dns_answer(qtype, rdatas):
    """A DNS response for mx.example.test with `rdatas` as answers of `qtype`."""
    name = b"\x02mx\x07example\x04test\x00"
    out = struct.pack(">HHHHHH", 0, 0x8180, 1, len(rdatas), 0, 0) + name + struct.pack(">HH", qtype, 1)
    for r in rdatas:
        out += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 300, len(r)) + r
    return out


SEEDS["dns_response"] = [
    dns_answer(15, [b"\x00\x0a\x04mail\xc0\x0c", b"\x00\x14\x05mail2\xc0\x0c"]),
    dns_answer(1, [bytes([192, 0, 2, 1])]),
    dns_answer(16, [b"\x0bv=spf1 -all"]),
    struct.pack(">HHHHHH", 0, 0x8183, 1, 0, 0, 0) + b"\x02mx\x07example\x04test\x00\x00\x0f\x00\x01",
]


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for target, seeds in SEEDS.items():
        os.makedirs(os.path.join(OUT, target))
        for i, s in enumerate(seeds):
            with open(os.path.join(OUT, target, f"seed-{i:02d}"), "wb") as f:
                f.write(s.encode() if isinstance(s, str) else s)
    print(f"wrote {sum(len(v) for v in SEEDS.values())} seeds for {len(SEEDS)} targets in {OUT}")


if __name__ == "__main__":
    main()
