"""Look up a host name without stopping the node: one DNS query over UDP (RFC 1035),
awaited on the event loop.

MicroPython's socket.getaddrinfo, which asyncio.open_connection calls for a name, holds
the whole interpreter until the name server answers or lwIP gives up: seconds, or far
longer with no route, with the appliance and ECHONET Lite unserved. Here the query is
sent and its answer awaited like any other socket, TRIES times WAIT_S at most.

Nothing rests on the answer's truth: the update server is checked by its certificate
(update/pull.py), so a forged answer can only point the pull at a server that fails
that check. The answer must still be to this query: from the server (the socket is
connected to it), with the query's random ID and question.

The server: config "dns_server" ("192.168.1.1", or "127.0.0.1:5353"), else the board's
from its Wi-Fi interface (DHCP), else (unix port) the first IPv4 nameserver of
/etc/resolv.conf. /etc/hosts is not read: "localhost" alone is known (RFC 6761).
"""
import asyncio
import errno
import os
import socket
import sys

from hal.udp import ip_bytes, sockaddr

PORT = 53
TRIES = 3
WAIT_S = 2  # for the answer to each try, however many other datagrams come
_MAX_REPLY = 512  # what DNS over UDP carries without EDNS (RFC 1035 4.2.1)
_A = b"\x00\x01\x00\x01"  # TYPE A, CLASS IN


class DNSError(OSError):
    pass


class NoSuchHost(DNSError):
    """The name server's final word (no such name, or no IPv4 address for it): not asked again."""


def is_ip(host):
    try:
        ip_bytes(host)
        return True
    except ValueError:
        return False


def query(name, qid):
    """The query for the A record of name, with ID qid: header (recursion desired, one
    question) and the question. ValueError for a name DNS cannot carry (RFC 1035 2.3.1,
    RFC 1123 2.1: labels of letters, digits and inner hyphens, 1 to 63 long, 253 in all
    without the one trailing dot a fully qualified name may have)."""
    if name.endswith("."):
        name = name[:-1]
    labels = name.split(".")
    if len(name) > 253:
        raise ValueError("a host name is at most 253 characters: %r" % (name,))
    if labels[-1].isdigit():  # no top-level domain is all digits (RFC 3696 2)
        raise ValueError("%r is neither a host name nor an IPv4 address in its plain form" % (name,))
    out = bytearray(qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
    for label in labels:
        b = label.encode()
        if not (0 < len(b) <= 63 and not b.startswith(b"-") and not b.endswith(b"-")
                and all(c == 45 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 for c in b)):
            raise ValueError("%r is not a host name (labels of letters, digits and inner '-', 1 to 63 long)" % (name,))
        out.append(len(b))
        out += b
    out += b"\x00" + _A
    return bytes(out)


def _skip_name(msg, i):
    """The offset after the (possibly compressed) name at i; ValueError past the end."""
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:  # a pointer ends the name: nothing to follow, so no loop
            if i + 2 > len(msg):
                raise ValueError
            return i + 2
        if n & 0xC0:
            raise ValueError
        i += n + 1


def answer(msg, q):
    """The first IPv4 address the reply msg gives for the query q, as "a.b.c.d"; None
    when msg is no reply to q (another query's, or junk: the wait goes on). NoSuchHost
    when it says there is no such name or no address for it; DNSError when the server
    failed (asked again)."""
    try:
        # a standard query's reply (QR, opcode 0) with q's ID and q's one question
        if len(msg) < len(q) or msg[:2] != q[:2] or msg[2] & 0xF8 != 0x80 or msg[4:6] != b"\x00\x01" \
                or bytes(msg[12 : len(q)]).lower() != q[12:].lower():
            return None
        rcode = msg[3] & 0x0F
        if rcode == 3:
            raise NoSuchHost("no such host (NXDOMAIN)")
        if rcode:
            raise DNSError("the name server failed (RCODE %d)" % rcode)
        if msg[2] & 0x02:
            raise DNSError("the name server's answer was truncated")
        i = len(q)
        for _ in range(msg[6] << 8 | msg[7]):
            i = _skip_name(msg, i)
            end = i + 10 + (msg[i + 8] << 8 | msg[i + 9])
            if end > len(msg):
                return None
            if msg[i : i + 4] == _A and end - i == 14:
                return "%d.%d.%d.%d" % tuple(msg[i + 10 : end])
            i = end  # a CNAME, say: the A record of the name it gives follows in a full answer
    except (IndexError, ValueError):
        return None
    raise NoSuchHost("the name server gave no IPv4 address")


def server(cfg):
    """(address, port) of the name server to ask; DNSError when there is none."""
    s = cfg.get("dns_server")
    if s is None:
        try:
            import network

            try:
                s = network.ipconfig("dns")  # pyright: ignore[reportAttributeAccessIssue] (MicroPython 1.24 on)
            except AttributeError:
                s = network.WLAN(network.STA_IF).ifconfig()[3]
        except ImportError:  # the unix port
            s = _resolv_conf()
    if not s or s == "0.0.0.0":
        raise DNSError("no name server: set dns_server in the config")
    return split(s)


def split(s):
    """"a.b.c.d" or "a.b.c.d:port" as (address, port); ValueError for anything else."""
    host, colon, port = s.partition(":")
    ip_bytes(host)
    return host, port_number(port) if colon else PORT


def port_number(text):
    """A port written in decimal, 1 to 65535; ValueError for anything else ("+53", " 53")."""
    if not (0 < len(text) <= 5 and text.isdigit() and 0 < int(text) < 65536):
        raise ValueError("bad port %r" % (text,))
    return int(text)


def _resolv_conf():
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                w = line.split()
                if len(w) > 1 and w[0] == "nameserver" and is_ip(w[1]):
                    return w[1]
    except OSError:
        pass
    return None


async def resolve(host, cfg):
    """host's IPv4 address: itself when it is one, else the name server's answer.
    DNSError when there is none: no server, no such name, or no answer in time."""
    if is_ip(host):
        return host
    if host.lower() in ("localhost", "localhost."):
        return "127.0.0.1"
    try:
        to = server(cfg)
        q = query(host, int.from_bytes(os.urandom(2), "big"))
    except ValueError as e:
        raise DNSError(str(e))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        s.connect(sockaddr(*to))  # an address: no lookup; answers come from it alone
        failed = None
        for _ in range(TRIES):
            s.send(q)
            try:
                return await asyncio.wait_for(_answer(s, q), WAIT_S)  # one wait per try, however many datagrams come
            except asyncio.TimeoutError:
                pass
            except NoSuchHost:
                raise
            except DNSError as e:  # the server failed: asked again
                failed = e
        raise failed or DNSError("no answer from the name server %s:%d for %s" % (to[0], to[1], host))
    except DNSError:
        raise
    except OSError as e:
        raise DNSError("the name server %s:%d: %s" % (to[0], to[1], e))  # refused (ICMP), no route
    finally:
        s.close()


async def _answer(s, q):
    """The answer to q, passing over datagrams that are no reply to it."""
    while True:
        ip = answer(await _recv(s), q)
        if ip:
            return ip


if sys.implementation.name == "micropython":
    def _readable(s):
        yield asyncio.core._io_queue.queue_read(s)  # pyright: ignore[reportAttributeAccessIssue] (MicroPython)

    async def _recv(s):
        while True:
            await _readable(s)  # pyright: ignore[reportGeneralTypeIssues] (a generator is awaitable in MicroPython)
            try:
                return s.recv(_MAX_REPLY)
            except OSError as e:
                if e.args[0] != errno.EAGAIN:  # woken for nothing
                    raise
else:  # CPython (tests)
    async def _recv(s):
        return await asyncio.get_running_loop().sock_recv(s, _MAX_REPLY)  # pyright: ignore[reportAttributeAccessIssue] (CPython)
