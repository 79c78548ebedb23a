"""ECHONET Lite frames for the end-to-end tests, written from the specification (Part II
ch. 3, Appendix Annex 1), not from the firmware: build and parse format-1 frames, decode
property maps, and small blocking sockets for a controller on one address.

Standalone on purpose: tests import it as `e2e.enl`, and the helper scripts that run
inside a network namespace import it from their own directory.
"""
import select
import socket
import time
from typing import NamedTuple

PORT = 3610
GROUP = "224.0.23.0"

# Service codes (ESV), Part II ch. 3
SETI, SETC, GET, INF_REQ, SETGET = 0x60, 0x61, 0x62, 0x63, 0x6E
SET_RES, GET_RES, INF, INFC, INFC_RES, SETGET_RES = 0x71, 0x72, 0x73, 0x74, 0x7A, 0x7E
SETI_SNA, SETC_SNA, GET_SNA, INF_SNA, SETGET_SNA = 0x50, 0x51, 0x52, 0x53, 0x5E

NODE_PROFILE = 0x0EF001
CONTROLLER = 0x05FF01  # the SEOJ pychonet sends from

# EDT sizes the standard fixes, for the properties every object of a kind carries.
# Device super class 0x0000 (Appendix) and node profile class 0x0EF0 (Part II, node profile).
SUPER_SIZES = {0x80: (1,), 0x81: (1, 17), 0x82: (4,), 0x83: (17,), 0x88: (1,), 0x8A: (3,), 0x8B: (3,),
               0x8C: (12,), 0x8D: (12,), 0x8E: (4,), 0x97: (2,), 0x98: (4,)}
PROFILE_SIZES = {0x80: (1,), 0x82: (4,), 0x83: (17,), 0x88: (1,), 0x8A: (3,), 0x8B: (3,), 0x8C: (12,),
                 0x8D: (12,), 0x8E: (4,), 0xD3: (3,), 0xD4: (2,)}


# An EV charger/discharger (0x027E) with no vehicle connected (0xC7 = 0x30) cannot answer
# for the vehicle's battery: the Appendix's remark on each of these properties says "Where
# no response can be returned, 'Response impossible' is returned" (Get_SNA, PDC 0). The
# simulated car is away 07:30-18:00 of the node's clock, so which answer is right depends
# on the time a test runs.
EV_CLASS = 0x027E
VEHICLE_EPCS = (0xC0, 0xC2, 0xC4, 0xCE, 0xCF, 0xD0, 0xE2, 0xE4)
NO_VEHICLE = b"\x30"


def unanswerable(eoj, connection):
    """The EPCs of eoj that must answer Get with PDC 0 now: an EV charger's vehicle
    properties when its 0xC7 (connection, as just read) says no vehicle."""
    return VEHICLE_EPCS if eoj >> 8 == EV_CLASS and connection == NO_VEHICLE else ()


class Frame(NamedTuple):
    tid: int
    seoj: int
    deoj: int
    esv: int
    props: list  # [(epc, edt bytes)]; for SetGet the Set part then the Get part
    raw: bytes

    def edt(self, epc):
        for e, v in self.props:
            if e == epc:
                return v
        raise KeyError("EPC %02X not in frame %s" % (epc, self.raw.hex()))


def eoj_bytes(eoj):
    return eoj.to_bytes(3, "big")


def build(tid, seoj, deoj, esv, props):
    """A format-1 frame; props is [(epc, edt bytes)] (b"" for a Get)."""
    out = bytearray(b"\x10\x81") + tid.to_bytes(2, "big") + eoj_bytes(seoj) + eoj_bytes(deoj)
    out += bytes((esv, len(props)))
    for epc, edt in props:
        out += bytes((epc, len(edt))) + bytes(edt)
    return bytes(out)


def parse(data):
    """Parse a format-1 frame; ValueError on anything malformed (including trailing bytes)."""
    data = bytes(data)
    if len(data) < 12 or data[0] != 0x10 or data[1] != 0x81:
        raise ValueError("not an ECHONET Lite format-1 frame: %s" % data.hex())
    esv = data[10]
    props = []
    i = 11
    for _part in range(2 if esv in (SETGET, SETGET_RES, SETGET_SNA) else 1):
        if i >= len(data):
            raise ValueError("truncated OPC: %s" % data.hex())
        opc = data[i]
        i += 1
        for _ in range(opc):
            if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
                raise ValueError("truncated property: %s" % data.hex())
            props.append((data[i], data[i + 2 : i + 2 + data[i + 1]]))
            i += 2 + data[i + 1]
    if i != len(data):
        raise ValueError("trailing bytes: %s" % data.hex())
    return Frame(int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:7], "big"), int.from_bytes(data[7:10], "big"),
                 esv, props, data)


def decode_map(edt):
    """EPCs of a property map EDT (0x9D/0x9E/0x9F), Appendix Annex 1.

    Fewer than 16: the count then the EPCs. 16 or more: the count then 16 bytes; byte
    1 + (EPC & 0x0F) has bit (EPC >> 4) - 8 set.
    """
    assert 1 <= len(edt) <= 17, "property map of %d bytes: %s" % (len(edt), edt.hex())
    n = edt[0]
    if n < 16:
        assert len(edt) == 1 + n, "list-form map, count %d, %d bytes: %s" % (n, len(edt), edt.hex())
        epcs = list(edt[1:])
        assert len(set(epcs)) == n and all(e >= 0x80 for e in epcs), edt.hex()
        return sorted(epcs)
    assert len(edt) == 17, "bitmap-form map must be 17 bytes: %s" % edt.hex()
    epcs = [((bit + 8) << 4) | low for low in range(16) for bit in range(8) if edt[1 + low] & (1 << bit)]
    assert len(epcs) == n, "bitmap has %d EPCs, count says %d: %s" % (len(epcs), n, edt.hex())
    return sorted(epcs)


def decode_instances(edt):
    """0xD5/0xD6: a count then that many 3-byte EOJs."""
    n = edt[0]
    assert len(edt) == 1 + 3 * n, "instance list count %d but %d bytes: %s" % (n, len(edt), edt.hex())
    return [int.from_bytes(edt[1 + 3 * k : 4 + 3 * k], "big") for k in range(n)]


def check_edt_size(eoj, epc, edt):
    """Assert the EDT size where the standard fixes it for this kind of object."""
    if eoj >> 8 == 0x0EF0:
        sizes = PROFILE_SIZES.get(epc)
        if epc in (0xD5, 0xD6):
            decode_instances(edt)
        elif epc == 0xD7:
            assert len(edt) == 1 + 2 * edt[0], "0xD7 class list: %s" % edt.hex()
    else:
        sizes = SUPER_SIZES.get(epc)
    if epc in (0x9D, 0x9E, 0x9F):
        decode_map(edt)
    if sizes is not None:
        assert len(edt) in sizes, "%06X EPC %02X: EDT %s has %d bytes, the standard says %s" % (
            eoj, epc, edt.hex(), len(edt), " or ".join(map(str, sizes)))


def chunks(seq, n):
    seq = list(seq)
    return [seq[i : i + n] for i in range(0, len(seq), n)]


def mcast_listener(iface_addr, group=GROUP, port=PORT):
    """A socket that receives the ECHONET Lite group on the interface that owns iface_addr."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(iface_addr))
    return s


def recv_matching(sock, pred, timeout):
    """Receive until pred(frame, src) holds; returns (frame, src). Frames that do not parse
    (another program's traffic) are skipped. AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching frame within %.0f s; saw %s" % (timeout, seen[-20:]))
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        data, src = sock.recvfrom(2048)
        try:
            frame = parse(data)
        except ValueError:
            seen.append((src, data.hex()))
            continue
        if pred(frame, src):
            return frame, src
        seen.append((src, data.hex()))


class RawController:
    """A minimal controller on ctrl_addr:3610 (where the node sends its replies)."""

    def __init__(self, ctrl_addr, seoj=CONTROLLER):
        self.addr = ctrl_addr
        self.seoj = seoj
        self.tid = 0x7000
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # never let a stray multicast leave through another interface
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ctrl_addr))
        self.sock.bind((ctrl_addr, PORT))

    def request(self, node_addr, deoj, esv, props, timeout=5.0):
        """Send one request to node_addr:3610 and return the reply with the same TID."""
        self.tid += 1
        tid = self.tid
        self.sock.sendto(build(tid, self.seoj, deoj, esv, props), (node_addr, PORT))
        frame, _src = recv_matching(self.sock, lambda f, s: s[0] == node_addr and f.tid == tid, timeout)
        return frame

    def get(self, node_addr, deoj, epcs, timeout=5.0):
        return self.request(node_addr, deoj, GET, [(e, b"") for e in epcs], timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
