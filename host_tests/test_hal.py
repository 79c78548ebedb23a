"""hal/ on CPython: socket option numbers per stack, Wi-Fi bring-up against the shim."""
import asyncio  # noqa: F401  (loaded before a test swaps in a fake socket module)
import importlib
import sys
import types

import network
import pytest


def _reload_udp(monkeypatch, platform, socket_attrs):
    fake = types.ModuleType("socket")
    for k, v in socket_attrs.items():
        setattr(fake, k, v)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setitem(sys.modules, "socket", fake)
    import hal.udp

    return importlib.reload(hal.udp)


def test_lwip_numbers_on_esp32(monkeypatch):
    # the ESP32 socket module has IP_ADD_MEMBERSHIP (lwIP 3) but no IP_MULTICAST_IF
    udp = _reload_udp(monkeypatch, "esp32", {"IP_ADD_MEMBERSHIP": 3, "IPPROTO_IP": 0})
    try:
        assert udp.sockopt("IP_ADD_MEMBERSHIP") == 3
        assert udp.sockopt("IP_MULTICAST_IF") == 6  # lwIP, not Linux's 32
        assert udp.sockopt("IP_MULTICAST_TTL") == 5
    finally:
        monkeypatch.undo()
        importlib.reload(sys.modules["hal.udp"])


def test_linux_numbers_when_the_module_lacks_them(monkeypatch):
    # the unix port has no IP_MULTICAST_IF, IPPROTO_IP or IP_MULTICAST_TTL
    udp = _reload_udp(monkeypatch, "linux", {"IP_ADD_MEMBERSHIP": 35})
    try:
        assert udp.sockopt("IPPROTO_IP") == 0
        assert udp.sockopt("IP_MULTICAST_IF") == 32
        assert udp.sockopt("IP_MULTICAST_TTL") == 33
        assert udp.sockopt("IP_ADD_MEMBERSHIP") == 35
    finally:
        monkeypatch.undo()
        importlib.reload(sys.modules["hal.udp"])


def test_ip_bytes_rejects_junk():
    from hal.udp import ip_bytes

    assert ip_bytes("192.168.1.20") == bytes([192, 168, 1, 20])
    for bad in ("192.168.1", "1.2.3.256", "a.b.c.d", "1.2.3.4.5"):
        with pytest.raises(ValueError):
            ip_bytes(bad)


class _FakeTime:
    """MicroPython's tick functions over a clock the test advances by sleeping."""

    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_add(self, a, b):
        return a + b

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.ms += ms


def test_wifi_joins_and_returns_the_address(monkeypatch):
    import hal.wifi

    monkeypatch.setattr(hal.wifi, "time", _FakeTime())
    monkeypatch.setattr(network.WLAN, "networks", {"home": "s3cret-for-this-test"})
    assert hal.wifi.connect("home", "s3cret-for-this-test") == "192.168.4.2"


def test_wifi_wrong_password_fails_after_timeout_without_echoing_it(monkeypatch):
    import hal.wifi

    clock = _FakeTime()
    monkeypatch.setattr(hal.wifi, "time", clock)
    monkeypatch.setattr(network.WLAN, "networks", {"home": "right"})
    with pytest.raises(OSError) as e:
        hal.wifi.connect("home", "wrong-and-secret", timeout_s=5)
    assert clock.ms >= 5000
    assert "wrong-and-secret" not in str(e.value) and "home" in str(e.value)


class _Queue:
    def __init__(self):
        self.waits = []

    def queue_read(self, sock):
        self.waits.append(sock)

    def wait_io_event(self, dt):  # what the loop wraps (e2e/test_scheduler_polls.py runs it for real)
        pass


class _Sock:
    """recvfrom answers from a script: (data, src) pairs, or exceptions to raise."""

    def __init__(self, script):
        self.script = list(script)
        self.sizes = []

    def recvfrom(self, n):
        self.sizes.append(n)
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def readinto(self, buf):
        self.sizes.append(-len(buf))  # a read that keeps nothing: drops one datagram
        step = self.script.pop(0)
        return None if step is None else len(buf)  # MicroPython: None when nothing waits


def _loop(monkeypatch, script, multicast=False, handle=None):
    """Endpoint.receive_loop over a scripted socket, driven as asyncio would drive it."""
    from hal import udp

    queue = _Queue()
    monkeypatch.setattr(udp, "_core", types.SimpleNamespace(_io_queue=queue))
    slept = []
    monkeypatch.setattr(udp, "asyncio", types.SimpleNamespace(sleep_ms=lambda ms: iter([slept.append(ms)])))
    ep = udp.Endpoint.__new__(udp.Endpoint)  # no real sockets: only what the loop reads
    ep.addr, ep.port = "192.168.1.5", 3610
    ep._own_raw = bytes([0x0E, 0x1A, 192, 168, 1, 5])  # port and address, as Endpoint keeps them
    sock = _Sock(script)
    ep.multicast = sock if multicast else None  # pyright: ignore[reportAttributeAccessIssue] (a fake socket)
    got, failed, logged = [], [], []
    loop = ep.receive_loop(sock, handle or (lambda data, src: got.append((data, src))), failed.append, logged.append)
    next(loop)  # to its first wait on the I/O queue
    while sock.script:  # then each next(): one datagram handled, and the next wait
        next(loop)
    return types.SimpleNamespace(got=got, failed=failed, logged=logged, slept=slept, sock=sock, waits=queue.waits)


def test_receive_loop_hands_over_each_datagram_after_waiting_for_it(monkeypatch):
    r = _loop(monkeypatch, [(b"a", ("192.168.1.9", 3610)), (b"b", ("192.168.1.9", 40000))])
    assert r.got == [(b"a", ("192.168.1.9", 3610)), (b"b", ("192.168.1.9", 40000))]
    assert len(r.waits) == 3 and r.sock.sizes == [1025, 1025]  # one byte over the largest frame


def test_receive_loop_reads_what_fits_when_the_heap_has_no_room(monkeypatch):
    import errno

    src = ("192.168.1.9", 3610)
    r = _loop(monkeypatch, [MemoryError(), (b"x" * 40, src), MemoryError(), (b"y" * 257, src),
                            MemoryError(), OSError(errno.EAGAIN), (b"z", src)])
    assert r.sock.sizes == [1025, 257, 1025, 257, 1025, 257, 1025]
    # one cut short is passed on empty (dropped as malformed); where the port had taken the
    # datagram before running out of heap, the lean read finds none, and the loop goes on
    assert r.got == [(b"x" * 40, src), (b"", src), (b"z", src)] and r.logged == []


def test_receive_loop_drops_a_datagram_when_the_heap_has_no_room_even_for_a_short_read(monkeypatch):
    src = ("192.168.1.9", 3610)
    r = _loop(monkeypatch, [MemoryError(), MemoryError(), b"dropped", (b"next", src),
                            MemoryError(), MemoryError(), None, (b"last", src)])
    # the datagram is read into a one-byte buffer made at import, counted as failed; a
    # datagram the port had already taken leaves nothing to drop (None): the loop goes on
    assert r.sock.sizes == [1025, 257, -1, 1025, 1025, 257, -1, 1025]
    assert r.got == [(b"next", src), (b"last", src)]
    assert [type(e) for e in r.failed] == [MemoryError, MemoryError] and r.logged == []


def test_receive_loop_survives_socket_errors_and_a_failing_handler(monkeypatch):
    import errno

    src = ("192.168.1.9", 3610)
    seen = []

    def handle(data, src):
        seen.append(data)
        if data == b"bad":
            raise KeyError("bug")
        if data == b"worse":
            raise ZeroDivisionError("another")

    script = [OSError(errno.EAGAIN), OSError(errno.ECONNREFUSED), (b"bad", src), (b"worse", src), (b"ok", src)]
    r = _loop(monkeypatch, script, handle=handle)
    assert seen == [b"bad", b"worse", b"ok"]
    assert [type(e) for e in r.failed] == [KeyError, ZeroDivisionError]
    assert len(r.logged) == 1 and r.logged[0].startswith("receive error")  # EAGAIN is not an error
    assert r.slept == [100]  # and a pause after a real one, so a broken socket cannot spin


def test_receive_loop_on_the_unicast_socket_keeps_what_comes_from_our_address(monkeypatch):
    own = bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 5]) + bytes(8)  # e.g. a controller on this host
    r = _loop(monkeypatch, [(b"local", own)])
    assert r.got == [(b"local", own)]


def test_receive_loop_on_the_group_socket_drops_our_own_multicast(monkeypatch):
    own = bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 5]) + bytes(8)  # the raw address of the unix port
    other = bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 9]) + bytes(8)
    r = _loop(monkeypatch, [(b"mine", own), (b"theirs", other), (b"mine", ("192.168.1.5", 3610))], multicast=True)
    assert r.got == [(b"theirs", other)]
