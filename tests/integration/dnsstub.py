"""A tiny authoritative DNS server on 127.0.0.1 for tests (UDP, RFC 1035 wire format):
serves A, AAAA, MX, TXT, CNAME and PTR records from a dict that tests may change while it runs.
Unknown names get NXDOMAIN; known names without records of the asked type get an empty
NOERROR answer (NODATA). It never forwards anything anywhere."""

import socket
import struct
import threading

TYPES = {1: "A", 28: "AAAA", 15: "MX", 16: "TXT", 5: "CNAME", 12: "PTR"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def decode_name(data, off):
    labels = []
    while True:
        n = data[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        labels.append(data[off:off + n].decode())
        off += n


class DnsStub:
    def __init__(self, records=None):
        # {("name", "TYPE"): [values]}; MX values are (preference, exchange).
        self.records = dict(records or {})
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set(self, name, rtype, values):
        self.records[(name.lower(), rtype)] = list(values)

    def close(self):
        self.sock.close()

    def _serve(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(data), addr)
            except Exception:  # a malformed query: ignore it, as a server would
                continue

    def _rdata(self, rtype, value):
        if rtype == "A":
            return socket.inet_pton(socket.AF_INET, value)
        if rtype == "AAAA":
            return socket.inet_pton(socket.AF_INET6, value)
        if rtype == "MX":
            pref, host = value
            return struct.pack("!H", pref) + (b"\0" if host in ("", ".") else encode_name(host))
        if rtype == "TXT":
            raw = value.encode()
            return b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255]
                            for i in range(0, max(len(raw), 1), 255))
        if rtype in ("CNAME", "PTR"):
            return encode_name(value)
        raise ValueError(rtype)

    def _answer(self, data):
        qid, _flags, qd = struct.unpack("!HHH", data[:6])
        name, off = decode_name(data, 12)
        qtype, qclass = struct.unpack("!HH", data[off:off + 4])
        question = data[12:off + 4]
        rtype = TYPES.get(qtype, str(qtype))
        key = name.lower()
        self.queries.append((key, rtype))
        known = any(n == key for (n, _) in self.records)
        answers = []
        cname = self.records.get((key, "CNAME"))
        if cname and rtype != "CNAME":
            answers.append((key, "CNAME", cname[0]))
        else:
            answers = [(key, rtype, v) for v in self.records.get((key, rtype), [])]
        rcode = 0 if known else 3
        header = struct.pack("!HHHHHH", qid, 0x8400 | 0x0100 | 0x0080 | rcode, 1, len(answers), 0, 0)
        out = header + question
        for owner, t, v in answers:
            rd = self._rdata(t, v)
            tcode = [k for k, n in TYPES.items() if n == t][0]
            out += encode_name(owner) + struct.pack("!HHIH", tcode, 1, 60, len(rd)) + rd
        return out
