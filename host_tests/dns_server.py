"""A name server on 127.0.0.1 for the tests of hal/dns.py: answers A queries for the names
it is given (through a CNAME, compressed, as recursive resolvers answer), NXDOMAIN for
others; records every query. Misbehaviour on request:
    silent=True       answers nothing (a server that is down)
    rcode=2           answers every query with that RCODE (2: SERVFAIL)
    forge_first=True  before each real reply, one with another ID and another address
    spoof_first=True  before each real reply, the same reply with another address from
                      another port of 127.0.0.1 (an off-path forger who guessed the ID)
    junk_every=S      from the first query on, a datagram that is no reply every S seconds
The wrong address in forged and spoofed replies is FORGED."""
import socket
import struct
import threading
import time

FORGED = "127.0.0.66"


class NameServer:
    def __init__(self, names, silent=False, rcode=0, forge_first=False, spoof_first=False, junk_every=0.0):
        self.names = names  # "updates.test" -> "127.0.0.1"
        self.silent = silent
        self.rcode = rcode
        self.forge_first = forge_first
        self.spoof_first = spoof_first
        self.junk_every = junk_every
        self.queries = []  # (name, qtype)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.05)
        src, junk_at = None, 0
        while not self._stop.is_set():
            if src and self.junk_every and time.monotonic() >= junk_at:
                self.sock.sendto(b"\x00\x00\x81\x80" + bytes(8), src)
                junk_at = time.monotonic() + self.junk_every
            try:
                q, src = self.sock.recvfrom(512)
            except OSError:
                continue
            name, end = _name(q, 12)
            self.queries.append((name, struct.unpack(">H", q[end : end + 2])[0]))
            if self.silent:
                continue
            if self.forge_first:
                self.sock.sendto(self.reply(bytes([q[0] ^ 0xFF]) + q[1:], end + 4, FORGED), src)
            if self.spoof_first:
                self.other.sendto(self.reply(q, end + 4, FORGED), src)
            self.sock.sendto(self.reply(q, end + 4), src)

    def reply(self, q, qend, ip=None):
        name, _ = _name(q, 12)
        ip = ip or self.names.get(name.lower())
        rcode = self.rcode or (0 if ip else 3)
        out = q[:2] + bytes([0x81, 0x80 | rcode]) + b"\x00\x01" + struct.pack(">H", 0 if rcode else 2) + b"\x00" * 4
        out += q[12:qend]
        if not rcode:
            # CNAME: <name> -> cdn.<name>, then A: cdn.<name> -> ip, both names compressed
            target = len(out) + 12  # where the CNAME's data, "cdn" + a pointer to <name>, starts
            out += b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 300, 6) + b"\x03cdn\xc0\x0c"
            out += struct.pack(">H", 0xC000 | target) + struct.pack(">HHIH", 1, 1, 300, 4) + socket.inet_aton(ip)
        return out

    def close(self):
        self._stop.set()
        self.thread.join()
        self.sock.close()
        self.other.close()


def _name(msg, i):
    labels = []
    while msg[i]:
        labels.append(msg[i + 1 : i + 1 + msg[i]].decode())
        i += 1 + msg[i]
    return ".".join(labels), i + 1
