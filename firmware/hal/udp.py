"""ECHONET Lite over UDP: unicast and multicast on one interface address.

Outgoing multicast is pinned to that address (IP_MULTICAST_IF), so on a multi-homed
host nothing leaves through another interface. Socket option numbers differ between
Linux and lwIP (ESP32): take them from the socket module when it has them, else from
the table of the stack we run on; never one hard-coded number for both.
"""
import asyncio
import errno
import socket
import sys

from micropython import const

# ECHONET Lite's transport (Spec Part II §3.1): one UDP port, one IPv4 multicast group
_PORT = const(3610)
_MCAST_GROUP = const("224.0.23.0")


def sockopt(name):
    v = getattr(socket, name, None)
    if v is not None:
        return v
    # the table of the stack we run on, made only when asked (a few times, at the start)
    if sys.platform == "linux":
        return {"IPPROTO_IP": 0, "IP_MULTICAST_IF": 32, "IP_MULTICAST_TTL": 33, "IP_MULTICAST_LOOP": 34,
                "IP_ADD_MEMBERSHIP": 35}[name]
    return {"IPPROTO_IP": 0, "IP_MULTICAST_TTL": 5, "IP_MULTICAST_IF": 6, "IP_MULTICAST_LOOP": 7,  # lwIP
            "IP_ADD_MEMBERSHIP": 3}[name]


_POLLIN = const(1)  # select.POLLIN on every MicroPython port (MP_STREAM_POLL_RD)
_core = getattr(asyncio, "core", None)  # MicroPython's scheduler: the loop waits on its I/O queue


# Largest datagram the node takes (echonet.node.MAX_FRAME; replies are capped there too).
# Reads ask for one byte more: recvfrom cuts a longer datagram silently, and the byte over
# is what tells the node that it was too long, so it drops it rather than serve its start.
_MAX_DATAGRAM = const(1024)
_LEAN_DATAGRAM = const(256)  # when the heap has no room for a full read: most requests still fit
_SPILL = bytearray(1)  # and when it has not even that, a datagram read into this is dropped


def ip_bytes(addr):
    """The 4 bytes of an IPv4 address in its plain dotted form; ValueError for any other
    spelling: int() alone would take "+1", " 1" or "1_0", and a leading zero, which the
    platform's parser reads as octal ("010" is 8)."""
    parts = addr.split(".")
    out = bytes(int(p) for p in parts)  # int() refuses junk, bytes() a part over 255
    for i in range(len(parts)):  # as many characters as the number has digits: no sign, space, _ or leading 0
        if len(parts) != 4 or len(parts[i]) != (1 if out[i] < 10 else 2 if out[i] < 100 else 3):
            raise ValueError("not an IPv4 address: %s" % addr)
    return out


def sockaddr(host, port):
    return socket.getaddrinfo(host, port)[0][-1]


def peer_key(src):
    """The host a received source address is from, as a key that costs no allocation:
    the address string of an (address, port) tuple (CPython, ESP32), the IPv4 address as
    an int from the raw sockaddr the unix port gives."""
    if isinstance(src, tuple):
        return src[0]
    return (src[4] << 24) | (src[5] << 16) | (src[6] << 8) | src[7]


def peer_ip(src):
    """The IPv4 address of a received source address as a string."""
    if isinstance(src, tuple):
        return src[0]
    return "%d.%d.%d.%d" % (src[4], src[5], src[6], src[7])


class Endpoint:
    """Two sockets on `addr`: one bound to addr:3610 (unicast in, everything out), one bound
    to the group (multicast in). Replies go to the requester's address at port 3610."""

    def __init__(self, addr, port=_PORT, group=_MCAST_GROUP):
        self.addr = addr
        self.port = port
        ip = ip_bytes(addr)
        ipproto = sockopt("IPPROTO_IP")
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind(sockaddr(addr, port))
        # pin outgoing multicast to our interface, keep it on the link
        try:
            u.setsockopt(ipproto, sockopt("IP_MULTICAST_IF"), ip)
        except OSError:
            if sys.platform == "linux":  # several interfaces: never guess the route
                raise
        try:
            u.setsockopt(ipproto, sockopt("IP_MULTICAST_TTL"), 1)
        except OSError:
            pass
        m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            m.bind(sockaddr(group, port))
        except OSError:  # a stack that cannot bind a group address
            m.bind(sockaddr("0.0.0.0", port))
        m.setsockopt(ipproto, sockopt("IP_ADD_MEMBERSHIP"), ip_bytes(group) + ip)
        u.setblocking(False)
        m.setblocking(False)
        self.unicast = u
        self.multicast = m
        self.group = sockaddr(group, port)
        self._own_raw = port.to_bytes(2, "big") + ip  # port and address as in a raw sockaddr
        self._last_src = None
        self._last_reply = None
        self._to = None
        # room kept for a short read, made by receive_loop as it starts, while the heap is
        # young: a long-run heap can have kilobytes free in pieces, none the 257 bytes
        # recvfrom asks for
        self.reserve = None

    def is_own(self, src):
        """A frame we sent ourselves, looped back by multicast (only the group socket sees these)."""
        if isinstance(src, tuple):
            return src[0] == self.addr and src[1] == self.port
        return src[2:8] == self._own_raw

    def reply_addr(self, src):
        if src is self._last_src or src == self._last_src:
            return self._last_reply
        if isinstance(src, tuple):
            dest = (src[0], _PORT)
        else:
            dest = bytes(src[:2]) + _PORT.to_bytes(2, "big") + bytes(src[4:])
        self._last_src = src
        self._last_reply = dest
        return dest

    def send(self, dest, frame):
        """dest None: the multicast group; else a source address as received, or a secure
        session, which sends on its own connection."""
        if dest is None:
            to = self.group
        elif dest == self._last_src:  # the usual case: answering the requester just before
            to = self._last_reply
        elif hasattr(dest, "send"):  # a secure-channel session (security/channel.py) asked
            dest.send(frame)
            return True
        else:
            to = self.reply_addr(dest)
        self._to = to
        return self._send_to(frame)

    def _send_to(self, frame):
        # apart from send, and `to` in self: with a try, a third argument makes this a
        # frame MicroPython allocates on the heap at each call (echonet/node.py, receive)
        try:
            # the unix port takes the raw sockaddr bytes it returned from recvfrom
            self.unicast.sendto(frame, self._to)  # pyright: ignore[reportArgumentType]
        except OSError:  # a full buffer or a vanished route loses one frame, not the node
            return False
        return True

    def receive_loop(self, sock, handle, failed, log):
        """An asyncio task (MicroPython) handing every datagram on sock to handle(data,
        src); what handle raises goes to failed(e), so no frame stops the loop. The group
        socket also hears our own multicast: dropped here.

        A generator, not a coroutine: it waits on asyncio's I/O queue itself (read), so a
        datagram costs no coroutine and no heap frame of its own (echonet/node.py,
        receive), and its frame, made once, holds the try blocks."""
        own = sock is self.multicast
        queue = _core._io_queue  # pyright: ignore[reportOptionalMemberAccess] (MicroPython)
        w = queue.wait_io_event
        if not isinstance(w, Endpoint):  # the first loop to start: this endpoint waits for asyncio
            self.poller = queue.poller
            self.wait = w  # asyncio's own
            # socket -> the task of its loop while the loop waits, self while it does not
            # (it runs, or sleeps after an error); a socket out of the poller is not here
            self.map = {}
            self.woke = False  # the last wait blocked (and asyncio's zero-timeout poll follows)
            w = queue.wait_io_event = self
        while True:
            if self.reserve is None:  # not made yet, or given up for a read (below): made once there is room
                data = src = None  # (the last datagram, unless handle kept it, is free for it)
                try:
                    # the unix port's recvfrom copies what it read into a new object before
                    # it frees its buffer: room for both there
                    self.reserve = bytearray((_LEAN_DATAGRAM + 1) * (2 if sys.platform == "linux" else 1))
                except MemoryError:
                    pass
            yield w.read(sock)  # wait first: recvfrom allocates its buffer even when nothing is there
            try:
                try:
                    data, src = sock.recvfrom(_MAX_DATAGRAM + 1)
                except MemoryError:
                    # a fragmented heap has no room for the full buffer: read what fits,
                    # in the room the reserve leaves (the collection this read's failed
                    # allocation runs frees it), rather than stop the node; a datagram
                    # cut short is passed on empty. (Where the port took the datagram
                    # before failing, this read finds none: EAGAIN below, one datagram lost.)
                    self.reserve = None
                    try:
                        data, src = sock.recvfrom(_LEAN_DATAGRAM + 1)
                    except MemoryError as e:  # not even that: the datagram is lost, not the node
                        failed(e)
                        # read into one byte, which drops it: else the loop would be woken
                        # for it again and again. (Where the port had taken it before
                        # failing, this drops the next one if one waits, else reads nothing)
                        sock.readinto(_SPILL)
                        continue
                    if len(data) > _LEAN_DATAGRAM:
                        data = b""
            except OSError as e:
                if e.args[0] == errno.EBADF:  # the endpoint was closed: the loop ends
                    return
                if e.args[0] != errno.EAGAIN:  # e.g. an ICMP error: lose a datagram, not the node
                    log("receive error %s" % (e,))
                    yield from asyncio.sleep_ms(100)  # pyright: ignore[reportAttributeAccessIssue] (MicroPython)
                continue
            if own and self.is_own(src):
                continue
            try:
                handle(data, src)
            except Exception as e:
                failed(e)

    # -- the receive loops' wait ------------------------------------------------------
    # The first endpoint whose loop starts takes the place of the wait_io_event of
    # MicroPython's asyncio I/O queue (the scheduler calls it with the time to wait), for
    # the loops of every endpoint. asyncio's own wait (queue_read) adds a socket to its
    # poller at every wait and takes it out at every wake-up, allocating a list and a poll
    # entry each time: on the host a tenth of a round trip, on a board heap churn at every
    # datagram. Here a loop's socket stays in asyncio's poller while the loop runs, and a
    # datagram wakes the loop waiting for it. An event of one of asyncio's own streams (a
    # secure-channel connection, an update's download) goes to asyncio's wait, these
    # sockets masked for it (_apart): nothing allocated in the scheduler, where running out
    # of heap would stop every task. A timer must run beside the loops (the node's clock
    # tick): asyncio does not count these sockets when it asks whether anything can wake it.
    # And while any task sleeps, asyncio follows each wait that ended with a second poll of
    # zero timeout before it runs the task woken: one more system call per datagram, on a
    # board one more lwIP select. That poll is skipped: what it would have found, the next
    # wait finds, after this one task has run.
    # (Methods of the endpoint, not a class of their own: a class costs heap that a 64K node
    # does not have to spare.)
    def read(self, sock):
        """The current task (a receive loop) waits for sock's next datagram: it yields next."""
        t = _core.cur_task  # pyright: ignore[reportOptionalMemberAccess] (MicroPython)
        if sock not in self.map:
            self.poller.register(sock, _POLLIN)  # (in the loop, as asyncio's own wait: not the scheduler)
        self.map[sock] = t
        t.data = self  # what asyncio's Task.cancel calls remove on

    def remove(self, task):
        """asyncio's Task.cancel of a waiting loop (the task's data): its socket leaves the
        poller, so a datagram for a loop that is gone cannot wake the scheduler."""
        m = self.map
        for s in m:
            if m[s] is task:
                m[s] = None
        self._out()

    def __call__(self, dt):
        # (11 words of frame, no heap: see the note above Node.receive in echonet/node.py)
        if dt == 0 and self.woke:
            self.woke = False
            return
        self.woke = dt > 0
        for s, t in self.poller.ipoll(dt):  # every event of the poll: a busy stream must not hide a datagram
            t = self.map.get(s)
            if t is None:
                self.woke = None  # (a mark: one of asyncio's streams, for _apart below)
            elif t is not self:
                self.map[s] = self
                _core._task_queue.push(t)  # pyright: ignore[reportOptionalMemberAccess] (MicroPython)
            elif dt:  # no loop waits for it: out of the poller (_apart), or each poll would end at once
                self.map[s] = None
                self.woke = None
        if self.woke is None:  # (the poller changes only once its iteration is over)
            self.woke = dt > 0
            self._apart(dt)

    def _apart(self, dt):
        """The sockets no loop waits for (marked None) leave the poller until their loop
        waits again (read); asyncio's wait serves its own streams, with these sockets
        masked (it knows nothing of them). A wait without a timeout (asyncio has no timer)
        returns only once it has woken a task, as asyncio's own: asyncio then runs one."""
        # (no locals besides s: 11 words of frame, none allocated for a stream's every event)
        self._out()
        for s in self.map:
            self.poller.modify(s, 0)
        self.wait(0)
        for s in self.map:
            self.poller.modify(s, _POLLIN)
        if dt < 0 and not _core._task_queue.peek():  # pyright: ignore[reportOptionalMemberAccess] (MicroPython)
            self(dt)

    def _out(self):
        """The sockets marked None leave the poller and the map (allocating nothing)."""
        m = self.map
        again = True
        while again:
            again = False
            for s in m:
                if m[s] is None:
                    self.poller.unregister(s)
                    del m[s]
                    again = True
                    break  # (the dict changed: iterate afresh)

    def close(self):
        w = getattr(_core, "_io_queue", None)
        w = getattr(w, "wait_io_event", None)
        if isinstance(w, Endpoint):  # out of the poller first: a closed socket there would end every poll
            for s in (self.unicast, self.multicast):
                if s in w.map:
                    w.map[s] = None
            w._out()
        self.unicast.close()
        self.multicast.close()
