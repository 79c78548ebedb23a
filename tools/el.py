"""ECHONET Lite format-1 frames and a plain-UDP controller socket, for the host tools
(tools/ctl.py). Written from the specification (Part II ch. 3), independent of firmware/.

    frame = build(tid, CONTROLLER, 0x027D01, GET, [(0x80, b""), (0xDA, b"")])
    f = parse(data)          # Frame(tid, seoj, deoj, esv, props=[(epc, edt)], raw); ValueError if malformed
    with Controller("192.168.1.10") as c:   # binds 192.168.1.10:3610, where nodes reply
        reply = c.request("192.168.1.23", 0x027D01, GET, [(0x80, b"")], timeout=3)

Plain UDP has no authentication: a node accepts Set from it only if its operator listed
this controller's address in `legacy_write`.
"""

import os
import random
import select
import socket
import time
from typing import NamedTuple

PORT = 3610
GROUP = "224.0.23.0"
CONTROLLER = 0x05FF01  # controller class 0x05FF, instance 1: the SEOJ we send from
NODE_PROFILE = 0x0EF001

SETI, SETC, GET, INF_REQ, SETGET = 0x60, 0x61, 0x62, 0x63, 0x6E
SET_RES, GET_RES, INF, INFC, INFC_RES, SETGET_RES = 0x71, 0x72, 0x73, 0x74, 0x7A, 0x7E
SETI_SNA, SETC_SNA, GET_SNA, INF_SNA, SETGET_SNA = 0x50, 0x51, 0x52, 0x53, 0x5E

ESV_NAMES = {
    SETI: "SetI", SETC: "SetC", GET: "Get", INF_REQ: "INF_REQ", SETGET: "SetGet",
    SET_RES: "Set_Res", GET_RES: "Get_Res", INF: "INF", INFC: "INFC", INFC_RES: "INFC_Res", SETGET_RES: "SetGet_Res",
    SETI_SNA: "SetI_SNA", SETC_SNA: "SetC_SNA", GET_SNA: "Get_SNA", INF_SNA: "INF_SNA", SETGET_SNA: "SetGet_SNA",
}

CLASS_NAMES = {
    0x0EF0: "node profile", 0x05FF: "controller", 0x027D: "storage battery", 0x026B: "electric water heater",
    0x02A6: "hybrid water heater", 0x027E: "EV charger/discharger", 0x02A1: "EV charger", 0x027C: "fuel cell",
}


class Frame(NamedTuple):
    tid: int
    seoj: int
    deoj: int
    esv: int
    props: list  # [(epc, edt bytes)]; for SetGet the Set part, then the Get part
    raw: bytes

    def edt(self, epc):
        """The EDT of the first property epc, or None."""
        for e, v in self.props:
            if e == epc:
                return v
        return None


def esv_name(esv):
    return ESV_NAMES.get(esv, "ESV %02X" % esv)


def class_name(eoj):
    return CLASS_NAMES.get(eoj >> 8, "class %04X" % (eoj >> 8))


def build(tid, seoj, deoj, esv, props):
    """A format-1 frame; props is [(epc, edt bytes)], with b"" for a Get."""
    if not 0 <= tid <= 0xFFFF or len(props) > 255:
        raise ValueError("TID or property count out of range")
    out = bytearray(b"\x10\x81") + tid.to_bytes(2, "big") + seoj.to_bytes(3, "big") + deoj.to_bytes(3, "big")
    out += bytes((esv, len(props)))
    for epc, edt in props:
        if not 0 <= epc <= 0xFF or len(edt) > 255:
            raise ValueError("EPC %r or EDT of %d bytes out of range" % (epc, len(edt)))
        out += bytes((epc, len(edt))) + bytes(edt)
    return bytes(out)


def parse(data):
    """A format-1 frame; ValueError for anything malformed (including trailing bytes)."""
    data = bytes(data)
    if len(data) < 12 or data[0] != 0x10 or data[1] != 0x81:
        raise ValueError("not an ECHONET Lite format-1 frame")
    esv = data[10]
    props = []
    i = 11
    for _part in range(2 if esv in (SETGET, SETGET_RES, SETGET_SNA) else 1):
        if i >= len(data):
            raise ValueError("truncated OPC")
        opc = data[i]
        i += 1
        for _ in range(opc):
            if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
                raise ValueError("truncated property")
            props.append((data[i], data[i + 2 : i + 2 + data[i + 1]]))
            i += 2 + data[i + 1]
    if i != len(data):
        raise ValueError("trailing bytes")
    return Frame(int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:7], "big"), int.from_bytes(data[7:10], "big"),
                 esv, props, data)


def decode_instances(edt):
    """0xD5/0xD6 instance list: a count, then that many 3-byte EOJs; ValueError if inconsistent."""
    if not edt or len(edt) != 1 + 3 * edt[0]:
        raise ValueError("instance list of %d bytes" % len(edt))
    return [int.from_bytes(edt[1 + 3 * k : 4 + 3 * k], "big") for k in range(edt[0])]


def parse_eoj(text):
    """'027D01' -> 0x027D01; ValueError if not 6 hex digits."""
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError("EOJ %r is not 6 hex digits like 027D01" % text)
    return int(text, 16)


def parse_epc(text):
    """'DA' or '0xDA' -> 0xDA; ValueError unless a property code 80..FF."""
    t = text[2:] if text.lower().startswith("0x") else text
    if len(t) != 2 or any(c not in "0123456789abcdefABCDEF" for c in t) or int(t, 16) < 0x80:
        raise ValueError("EPC %r is not a property code from 80 to FF (2 hex digits)" % text)
    return int(t, 16)


class Controller:
    """A controller socket on addr:3610 (nodes send their replies to port 3610).

    Multicast is pinned to addr's interface (IP_MULTICAST_IF), so nothing this socket might
    send to a group leaves through another interface; the tools only send unicast."""

    def __init__(self, addr, seoj=CONTROLLER, port=PORT):
        self.addr = addr
        self.seoj = seoj
        self.tid = int.from_bytes(_urandom2(), "big") or 1
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
            self.sock.bind((addr, port))
        except OSError:
            self.sock.close()
            raise

    def next_tid(self):
        self.tid = (self.tid + 1) & 0xFFFF
        return self.tid

    def request(self, node, deoj, esv, props, timeout):
        """Send one request to node:3610; the reply from node with the same TID. TimeoutError
        when none comes within timeout seconds (other traffic is skipped)."""
        tid = self.next_tid()
        self.sock.sendto(build(tid, self.seoj, deoj, esv, props), (node, PORT))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from %s within %g s" % (node, timeout))
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            data, src = self.sock.recvfrom(2048)
            if src[0] != node:
                continue
            try:
                frame = parse(data)
            except ValueError:
                continue
            if frame.tid == tid and frame.seoj == deoj:
                return frame

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def group_listener(iface_addr, group=GROUP, port=PORT):
    """A socket receiving the ECHONET Lite group, joined on the interface of iface_addr only
    (and with IP_MULTICAST_IF pinned to it). For listening: never send from it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface_addr))
        s.bind((group, port))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface_addr))
    except OSError:
        s.close()
        raise
    return s


def _urandom2():
    return os.urandom(2)


def free_net(hosts, ports=((socket.SOCK_DGRAM, PORT),)):
    """A /24 of 127/8 ("127.a.b.") where each of `hosts` (last bytes) binds on each of
    `ports` ((socket type, port) pairs), so a tool's nodes and controllers run beside
    anything else on the machine; None when 30 tries found none."""
    rnd = random.Random(os.getpid() ^ time.time_ns())
    for _ in range(30):
        net = "127.%d.%d." % (rnd.randint(64, 250), rnd.randint(1, 250))
        try:
            for h in hosts:
                for kind, port in ports:
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((net + str(h), port))
        except OSError:
            continue
        return net
    return None
