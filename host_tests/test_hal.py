"""hal/ on CPython: socket option numbers per stack, Wi-Fi bring-up against the shim."""
import asyncio  # noqa: F401  (loaded before a test swaps in a fake socket module)
import importlib
import sys
import types
import typing

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

    assert ip_bytes("192.168.1.20") == bytes([192, 168, 1, 20]) and ip_bytes("0.0.0.0") == bytes(4)
    # and every spelling but the plain one: the platform reads "010" as octal 8
    for bad in ("192.168.1", "1.2.3.256", "a.b.c.d", "1.2.3.4.5", "192.168.001.010", "+1.2.3.4", " 1.2.3.4", "1_0.2.3.4",
                "1..3.4", "1.2.3.4.", "1.2.3.1000", "1.2.3.-0", "1.2.3.1 "):
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


class _Poller:
    """select.poll as the endpoint uses it: registrations with their masks (a masked stream
    reports nothing), and the events each ipoll returns."""

    def __init__(self, events=()):
        self.masks = {}
        self.log = []
        self.events = list(events)  # one list of (stream, event) per ipoll

    @property
    def registered(self):
        return set(self.masks)

    def register(self, s, mask):
        assert s not in self.masks and mask == 1  # POLLIN
        self.masks[s] = mask
        self.log.append(("register", s))

    def modify(self, s, mask):
        assert s in self.masks  # (MicroPython raises ENOENT)
        self.masks[s] = mask

    def unregister(self, s):
        del self.masks[s]
        self.log.append(("unregister", s))

    def ipoll(self, dt):
        self.log.append(("ipoll", dt))
        got = self.events.pop(0) if self.events else []
        return [(s, ev) for s, ev in got if self.masks.get(s, 0) & ev]


class _Stream:
    """A socket as the endpoint's wait and close see it."""

    def __init__(self, closed=None):
        self.closed = closed if closed is not None else []

    def close(self):
        self.closed.append(self)


class _Task:
    """A task as asyncio's Task.cancel and the endpoint see it: data, counted when set."""

    def __init__(self):
        self._data = None
        self.waits = 0

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, v):
        self.waits += v is not None
        self._data = v


def _asyncio(monkeypatch, poller):
    """hal.udp's view of MicroPython's asyncio: the I/O queue, whose own wait records the
    streams it could see (registered, not masked) and wakes the task of each one that is
    ready (core.ready: one set per call), the running task and the run queue."""
    from hal import udp

    seen = []
    pushed = []

    def wait_io_event(dt):
        streams = {s for s, m in poller.masks.items() if m}
        seen.append((dt, streams))
        for s in core.ready.pop(0) if core.ready else ():
            assert s in streams
            pushed.append("a task of asyncio's stream")

    queue = types.SimpleNamespace(poller=poller, wait_io_event=wait_io_event)
    run = types.SimpleNamespace(pushed=pushed, push=pushed.append, peek=lambda: pushed[-1] if pushed else None)
    core = types.SimpleNamespace(_io_queue=queue, cur_task=_Task(), _task_queue=run, ready=[])
    monkeypatch.setattr(udp, "_core", core)
    return core, seen


class _Sock:
    """recvfrom answers from a script: (data, src) pairs, or exceptions to raise."""

    def __init__(self, script):
        self.script = list(script)
        self.sizes = []
        self.reserved = []  # at each read: did the endpoint still hold its reserve?
        self.ep: typing.Any = None

    def recvfrom(self, n):
        self.sizes.append(n)
        self.reserved.append(self.ep.reserve is not None)
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def readinto(self, buf):
        self.sizes.append(-len(buf))  # a read that keeps nothing: drops one datagram
        step = self.script.pop(0)
        return None if step is None else len(buf)  # MicroPython: None when nothing waits


def _bare_endpoint():
    """An Endpoint with no real sockets: only what a receive loop reads."""
    from hal import udp

    ep = udp.Endpoint.__new__(udp.Endpoint)
    ep.multicast = None  # pyright: ignore[reportAttributeAccessIssue]
    ep.reserve = bytearray(257)
    return ep


def _loop(monkeypatch, script, multicast=False, handle=None):
    """Endpoint.receive_loop over a scripted socket, driven as asyncio would drive it."""
    from hal import udp

    core, _ = _asyncio(monkeypatch, _Poller())
    slept = []
    monkeypatch.setattr(udp, "asyncio", types.SimpleNamespace(sleep_ms=lambda ms: iter([slept.append(ms)])))
    ep = _bare_endpoint()
    ep.addr, ep.port = "192.168.1.5", 3610
    ep._own_raw = bytes([0x0E, 0x1A, 192, 168, 1, 5])  # port and address, as Endpoint keeps them
    sock = _Sock(script)
    sock.ep = ep
    ep.multicast = sock if multicast else None  # pyright: ignore[reportAttributeAccessIssue] (a fake socket)
    got, failed, logged = [], [], []
    loop = ep.receive_loop(sock, handle or (lambda data, src: got.append((data, src))), failed.append, logged.append)
    next(loop)  # to its first wait on the I/O queue
    while sock.script:  # then each next(): one datagram handled, and the next wait
        next(loop)
    return types.SimpleNamespace(got=got, failed=failed, logged=logged, slept=slept, sock=sock, waits=core.cur_task.waits,
                                 ep=ep)


def test_receive_loop_hands_over_each_datagram_after_waiting_for_it(monkeypatch):
    r = _loop(monkeypatch, [(b"a", ("192.168.1.9", 3610)), (b"b", ("192.168.1.9", 40000))])
    assert r.got == [(b"a", ("192.168.1.9", 3610)), (b"b", ("192.168.1.9", 40000))]
    assert r.waits == 3 and r.sock.sizes == [1025, 1025]  # one byte over the largest frame


def test_receive_loop_reads_what_fits_when_the_heap_has_no_room(monkeypatch):
    import errno

    src = ("192.168.1.9", 3610)
    r = _loop(monkeypatch, [MemoryError(), (b"x" * 40, src), MemoryError(), (b"y" * 257, src),
                            MemoryError(), OSError(errno.EAGAIN), (b"z", src)])
    assert r.sock.sizes == [1025, 257, 1025, 257, 1025, 257, 1025]
    # the short read has the reserve's room (given up for it), made again before the next
    assert r.sock.reserved == [True, False, True, False, True, False, True] and r.ep.reserve is not None
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


def test_receive_loop_ends_when_its_socket_is_closed(monkeypatch):
    """EBADF: the endpoint was closed (Endpoint.close) while the loop was queued to run; it
    ends rather than put the closed socket back in the poller and log every 100 ms."""
    import errno

    with pytest.raises(StopIteration):
        _loop(monkeypatch, [OSError(errno.EBADF), (b"never", ("192.168.1.9", 3610))])


def test_receive_loop_on_the_unicast_socket_keeps_what_comes_from_our_address(monkeypatch):
    own = bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 5]) + bytes(8)  # e.g. a controller on this host
    r = _loop(monkeypatch, [(b"local", own)])
    assert r.got == [(b"local", own)]


def test_receive_loop_on_the_group_socket_drops_our_own_multicast(monkeypatch):
    own = bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 5]) + bytes(8)  # the raw address of the unix port
    other = bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 9]) + bytes(8)
    r = _loop(monkeypatch, [(b"mine", own), (b"theirs", other), (b"mine", ("192.168.1.5", 3610))], multicast=True)
    assert r.got == [(b"theirs", other)]


def _readers(monkeypatch):
    """An endpoint whose unicast loop has started (so it stands in for asyncio's wait) and
    waits for its first datagram: (endpoint, its socket, poller, asyncio, what asyncio's own
    wait saw)."""

    poller = _Poller()
    core, seen = _asyncio(monkeypatch, poller)
    ep = _bare_endpoint()
    sock = _Stream()
    next(ep.receive_loop(sock, None, None, None))  # pyright: ignore[reportArgumentType]
    assert core._io_queue.wait_io_event is ep
    return ep, sock, poller, core, seen


def test_a_receive_loops_socket_stays_in_the_poller_and_its_datagram_wakes_the_loop(monkeypatch):
    r, sock, poller, core, seen = _readers(monkeypatch)
    poller.events = [[(sock, 1)], [(sock, 1)]]
    loop = core.cur_task
    assert poller.registered == {sock} and loop.data is r  # (what a cancel calls remove on)
    r(1000)  # asyncio's wait, up to the next timer
    assert core._task_queue.pushed == [loop] and r.map[sock] is r
    r(0)  # asyncio's zero-timeout poll before it runs the loop: skipped
    r.read(sock)  # the loop handled its datagram and waits again: no new registration
    r(1000)
    assert core._task_queue.pushed == [loop, loop]
    assert poller.log == [("register", sock), ("ipoll", 1000), ("ipoll", 1000)] and seen == []


def test_a_zero_timeout_poll_is_made_when_no_blocking_wait_came_before(monkeypatch):
    r, sock, poller, core, _ = _readers(monkeypatch)
    poller.events = [[], [(sock, 1)], [], []]
    r(0)  # a task was ready: asyncio polls without waiting, and the loop's datagram is found
    r(0)
    r(-1)  # asyncio had no timer (it then polls no more after the wait)
    r(0)
    assert [e for e in poller.log if e[0] == "ipoll"] == [("ipoll", 0), ("ipoll", 0), ("ipoll", -1), ("ipoll", 0)]
    assert core._task_queue.pushed == [core.cur_task]


def test_asyncios_own_streams_go_to_its_wait_with_the_loops_sockets_masked(monkeypatch):
    stream = object()
    r, sock, poller, core, seen = _readers(monkeypatch)
    poller.masks[stream] = 1  # e.g. a secure-channel connection asyncio waits on
    poller.events = [[(stream, 1)]]
    core.ready = [{stream}]
    r(1000)
    assert seen == [(0, {stream})]  # asyncio's own wait: its stream alone can report
    assert poller.masks == {sock: 1, stream: 1} and r.map[sock] is core.cur_task  # the loop waits on
    assert core._task_queue.pushed == ["a task of asyncio's stream"]
    assert ("unregister", sock) not in poller.log  # masked, not taken out: nothing allocated to put it back


def test_a_busy_stream_reported_first_does_not_hide_a_datagram(monkeypatch):
    """An update download or a TLS session that always has data, ahead of the UDP socket in
    the poll's order: the datagram's loop is woken in the same wait, and its socket stays
    in the poller."""
    stream = object()
    r, sock, poller, core, seen = _readers(monkeypatch)
    poller.masks[stream] = 1
    poller.events = [[(stream, 1), (sock, 1)]]
    core.ready = [{stream}]
    r(1000)
    assert core._task_queue.pushed == [core.cur_task, "a task of asyncio's stream"]
    assert seen == [(0, {stream})] and poller.registered == {sock, stream} and r.map[sock] is r
    assert ("unregister", sock) not in poller.log


def test_a_socket_no_loop_waits_for_leaves_the_poller_until_its_loop_waits_again(monkeypatch):
    """A loop asleep after a receive error: its unread datagram would end every later
    wait at once, the node spinning."""
    r, sock, poller, core, _ = _readers(monkeypatch)
    poller.events = [[(sock, 1)], [(sock, 1)]]
    r(1000)
    r(0)
    r(1000)  # the loop was woken and has not waited since: its socket is taken out
    assert poller.registered == set() and sock not in r.map
    assert core._task_queue.pushed == [core.cur_task]
    r.read(sock)
    assert poller.registered == {sock}


def test_a_cancelled_loops_socket_leaves_the_poller_at_once(monkeypatch):
    r, sock, poller, core, _ = _readers(monkeypatch)
    poller.events = [[(sock, 1)]]
    core.cur_task.data.remove(core.cur_task)  # what asyncio's Task.cancel calls
    assert poller.registered == set() and r.map == {}
    r(0)
    assert core._task_queue.pushed == []


def test_a_wait_without_a_timeout_returns_only_once_it_woke_a_task(monkeypatch):
    """asyncio, with no timer, waits with no timeout and then runs the first task queued:
    a wait that woke none (a datagram for a loop that does not wait) waits on."""
    stream = object()
    r, sock, poller, core, seen = _readers(monkeypatch)
    poller.events = [[(sock, 1)], [(sock, 1)], [(stream, 1)]]
    r(1000)  # the loop is woken, then (say) sleeps after a receive error
    poller.masks[stream] = 1  # and asyncio waits on a stream of its own
    core._task_queue.pushed.clear()
    core.ready = [set(), {stream}]  # asyncio's wait finds nothing ready, then its stream
    r(-1)
    assert core._task_queue.pushed == ["a task of asyncio's stream"] and sock not in r.map
    assert [e for e in poller.log if e[0] == "ipoll"][-2:] == [("ipoll", -1), ("ipoll", -1)]


def test_the_loops_of_a_second_endpoint_share_the_first_ones_wait(monkeypatch):

    r, sock, poller, core, _ = _readers(monkeypatch)
    other = _bare_endpoint()
    sock2 = object()
    next(other.receive_loop(sock2, None, None, None))  # pyright: ignore[reportArgumentType]
    assert core._io_queue.wait_io_event is r and poller.registered == {sock, sock2} and sock2 in r.map


def test_closing_an_endpoint_takes_its_sockets_out_of_the_poller(monkeypatch):
    r, sock, poller, core, _ = _readers(monkeypatch)
    closed = []
    r.unicast = _Stream(closed)  # pyright: ignore[reportAttributeAccessIssue]
    r.multicast = sock  # pyright: ignore[reportAttributeAccessIssue]
    sock.closed = closed
    r.close()
    assert poller.registered == set() and r.map == {} and closed == [r.unicast, sock]
