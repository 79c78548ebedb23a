"""A name server on 127.0.0.1 for the tests of hal/dns.py: answers A queries for the names
it is given (through a CNAME, compressed, as recursive resolvers answer), NXDOMAIN for
others; records every query. silent=True answers nothing (a server that is down);
forge_first=True sends a reply with another ID before each real one (it must be ignored)."""
import socket
import struct
import threading


class NameServer:
    def __init__(self, names, silent=False, forge_first=False):
        self.names = names  # "updates.test" -> "127.0.0.1"
        self.silent = silent
        self.forge_first = forge_first
        self.queries = []  # (name, qtype)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                q, src = self.sock.recvfrom(512)
            except OSError:
                continue
            name, end = _name(q, 12)
            qtype = struct.unpack(">H", q[end : end + 2])[0]
            self.queries.append((name, qtype))
            if self.silent:
                continue
            if self.forge_first:
                self.sock.sendto(self.reply(bytes([q[0] ^ 0xFF]) + q[1:], end + 4), src)
            self.sock.sendto(self.reply(q, end + 4), src)

    def reply(self, q, qend):
        name, _ = _name(q, 12)
        ip = self.names.get(name.lower())
        out = q[:2] + bytes([0x81, 0x80 if ip else 0x83]) + b"\x00\x01" + struct.pack(">H", 2 if ip else 0) + b"\x00" * 4
        out += q[12:qend]
        if ip:
            # CNAME: <name> -> cdn.<name>, then A: cdn.<name> -> ip, both names compressed
            target = len(out) + 12  # where the CNAME's data, "cdn" + a pointer to <name>, starts
            out += b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 300, 6) + b"\x03cdn\xc0\x0c"
            out += struct.pack(">H", 0xC000 | target) + struct.pack(">HHIH", 1, 1, 300, 4) + socket.inet_aton(ip)
        return out

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()


def _name(msg, i):
    labels = []
    while msg[i]:
        labels.append(msg[i + 1 : i + 1 + msg[i]].decode())
        i += 1 + msg[i]
    return ".".join(labels), i + 1
