"""Checks for benches/crash.sh: what the mailbox of user `sink` holds after the kills.

The mailbox is read from the mbox file (files backend: the bytes on disk are the truth)
or over IMAP (any backend, and the only way into PostgreSQL):

  crash_check.py SOURCE delivered ACCEPTED   every Message-ID listed in ACCEPTED (the 250s
                                             postrider-load recorded) is there exactly once
  crash_check.py SOURCE unique               it parses and no Message-ID is there twice
  crash_check.py SOURCE count                prints how many messages it holds
  crash_check.py SOURCE imap-agrees BEFORE   a new IMAP session sees the same messages,
                                             UIDs distinct and increasing, fewer than BEFORE

SOURCE is `mbox:PATH` or `imap:PORT` (login sink/pw over implicit TLS on 127.0.0.1).
"""

import collections
import imaplib
import mailbox
import re
import ssl
import sys


def imap_session(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx, timeout=60)
    m.login("sink", "pw")
    return m


def imap_messages(port):
    """(Message-IDs, UIDs) of INBOX in sequence order, read by a new IMAP session."""
    m = imap_session(port)
    try:
        _, data = m.select("INBOX", readonly=True)
        if int(data[0]) == 0:
            return [], []
        _, rows = m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        rows = [r for r in rows if isinstance(r, tuple)]
        uids = [int(re.search(rb"UID (\d+)", r[0]).group(1)) for r in rows]
        ids = [r[1].decode().split(":", 1)[1].strip() if b":" in r[1] else "" for r in rows]
        return ids, uids
    finally:
        m.logout()


def message_ids(source):
    kind, _, where = source.partition(":")
    if kind == "mbox":
        return [m["Message-ID"] for m in mailbox.mbox(where, create=False)]
    if kind == "imap":
        return imap_messages(where)[0]
    sys.exit(f"unknown source {source!r}")


def main():
    source, what = sys.argv[1], sys.argv[2]
    ids = message_ids(source)
    counts = collections.Counter(ids)
    dups = [k for k, n in counts.items() if n > 1]
    assert not dups, f"delivered twice: {dups[:5]}"
    if what == "count":
        print(len(ids))
    elif what == "unique":
        print(f"ok - {len(ids)} messages, no duplicates ({source.split(':')[0]})")
    elif what == "delivered":
        accepted = [line.strip() for line in open(sys.argv[3]) if line.strip()]
        missing = [a for a in accepted if a not in counts]
        assert not missing, f"{len(missing)} messages got 250 but are missing, e.g. {missing[:3]}"
        print(f"ok - {len(accepted)} accepted messages, each there once ({len(ids)} in all)")
    elif what == "imap-agrees":
        port = source.partition(":")[2] if source.startswith("imap:") else sys.argv[4]
        seen, uids = imap_messages(port)
        assert seen == ids, "IMAP's messages differ from the mailbox's"
        assert uids == sorted(set(uids)), "UIDs not distinct and increasing after the kills"
        if len(ids) >= int(sys.argv[3]):
            sys.exit("FAIL: no IMAP expunge took effect, the kills tested nothing")
        print(f"ok - after IMAP expunges were killed: {len(ids)} messages, UIDs increasing")
    else:
        sys.exit(f"unknown check {what!r}")


if __name__ == "__main__":
    main()
