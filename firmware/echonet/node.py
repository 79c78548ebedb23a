"""The ECHONET Lite node: one datagram in, the frames to send out (Spec Part II §4.2).

`Node.receive(data, src, now)` handles one datagram and hands every frame it wants to send
to `send(dest, frame)`, where dest is the requester's address as it came in, or None for
the multicast group. Nothing raises out of `receive`: a frame that cannot be parsed is
dropped and counted. `serve(data, src)` is the same without the guard, for a receive loop
that catches errors itself (app.py): a Get then allocates no heap at all.
"""
from micropython import const

from echonet.props import SET, valid

# Services (Spec Part II §3.2.5). A request ESV 0x6X succeeds as 0x7X and fails as 0x5X;
# only INFC (0x74 -> 0x7A) and SetI (no success reply) break that pattern.
_SETI = const(0x60)
_SETC = const(0x61)
_GET = const(0x62)
_INF_REQ = const(0x63)
_SETGET = const(0x6E)
_INFC = const(0x74)
_INF = const(0x73)
_GET_RES = const(0x72)
_GET_SNA = const(0x52)
_INFC_RES = const(0x7A)
_NODE_ALL = const(0x0EF000)  # instance 0 of the node profile class
MAX_FRAME = const(1024)  # frame size cap: uecho-go reads at most 1024 bytes
# the audit record of a Set names this many properties, with at most _AUDIT_EDT bytes of
# each value: the event log keeps 120 characters of it, and a request of 255 properties
# must not need kilobytes of heap to be answered
_AUDIT_EPCS = const(8)
_AUDIT_EDT = const(16)


def _no_clock(epc, edt, now):
    return None


def _itself(src):
    return src


_NO_VALUES = {}  # what INFC_Res reads its EPCs from: nothing


def _left(data, i):
    """The bytes the EPC and PDC=0 of every property from data[i] to the end would take."""
    k = 0
    while i < len(data):
        k += 2
        i += data[i + 1] + 2
    return k


def _get_part(out, values, data, i=11, n=11):
    """Answer the Get-type properties counted at data[i], the last part of the request,
    from values, writing the reply from out[n]; return where it ends. A property without a
    value, or without room left, is answered PDC=0 and sets out[10] to 0: the caller then
    sends the failure ESV. i and n default to a Get's. (Seven locals: see the note on frame
    sizes above Node.receive; e is the EPC, then the value's length, then where it ends.)"""
    out[n] = data[i]
    i += 1
    n += 1
    while i < len(data):
        e = data[i]
        out[n] = e
        i += data[i + 1] + 2
        v = values.get(e)
        if v is not None:
            e = len(v)
            # keep room for the EPC and PDC=0 of every property still to answer: the
            # request has at least as many bytes left, exactly as many when their PDCs are
            # 0 (so the count is taken only when EDTs in a Get leave it in doubt)
            if n + 2 + e + len(data) - i > MAX_FRAME and n + 2 + e + _left(data, i) > MAX_FRAME:
                v = None
        if v is None:
            out[n + 1] = 0
            n += 2
            out[10] = 0
        else:
            out[n + 1] = e
            n += 2
            e += n
            out[n:e] = v
            n = e
    return n


class Stats:
    def __init__(self):
        self.received = 0
        self.malformed = 0  # truncated, overlong, trailing bytes, bad header
        self.ignored = 0  # format 2, non-requests, unknown DEOJ
        self.replies = 0
        self.announcements = 0
        self.sets = 0
        self.refused = 0  # Set EPCs refused (SNA)
        self.errors = 0  # internal errors caught in receive


def _skip_props(data, i, n):
    """Offset just past the OPC properties whose OPC byte is data[i]; -1 if they overrun n."""
    if i >= n:
        return -1
    k = data[i]
    i += 1
    while k:
        if i + 2 > n:
            return -1
        i += 2 + data[i + 1]
        k -= 1
    return i if i <= n else -1


class Node:
    def __init__(self, profile, devices, send, write_allowed=None, event=None, out=None, clock=None):
        self.profile = profile
        self.devices = devices
        self.send = send
        # write_allowed(src) -> bool: may this requester Set over this transport?
        self.write_allowed = write_allowed or (lambda src: False)
        self.event = event  # event(text) for notable events, or None
        # audit(src, eoj, allowed, all_ok, "EPC=EDT ...") once per Set-type request, or None:
        # the security event log's record of DR commands and refused writes
        self.audit = None
        self.stats = Stats()
        self._faulty = []  # objects whose driver raised at its last step (step)
        self.now = 0  # time of the last tick
        self.clock = clock  # optional clock(): read only when a Set arrives
        # set_time(epc, edt, now) -> the new time, or None: a controller's Set of 0x97
        # (time) or 0x98 (date), of any object, moves the node's one clock (startup.py
        # gives drready/clock.setter); without one the clock cannot be set
        self.set_time = _no_clock
        # seconds of silence from the controller whose Set put an object's command in force
        # after which the object returns to autonomous operation (EchonetObject.autonomous);
        # 0 = never. startup sets config dr_timeout_s.
        self.dr_timeout = 0
        # those controllers (who(src) of their requests) with the time of their last
        # request of any kind: a controller that still polls is not silent
        self._heard = {}
        # who(src): the controller behind a request's source. By default the source itself;
        # app.py gives the address without the port (a controller may send from several
        # sockets) and, over the secure channel, the enrolled controller
        self.who = _itself
        # every frame the node sends is built here; pass one allocated early, while the
        # heap still has a free stretch of 1 KB
        self._out = out if out is not None else bytearray(MAX_FRAME)
        self._out[0:2] = b"\x10\x81"  # EHD of every frame sent: written here once
        self._view = memoryview(self._out)
        self.tid = 0
        # what _set_part leaves besides the reply's end: the offset of the SetGet's Get
        # part, and whether every Set was accepted
        self._end = 0
        self._ok = True
        self._at = None  # receive's now: None for the clock, or the last tick
        self._frame_n = -1  # the length and view of the last Get reply (_get)
        self._frame_view = self._view
        self.objects = {profile.eoj: profile}
        for d in devices:
            self.objects[d.eoj] = d
        for obj in self.objects.values():
            obj.check()

    # -- outgoing -----------------------------------------------------------------
    def _next_tid(self):
        self.tid = (self.tid + 1) & 0xFFFF
        return self.tid

    def start(self, now=0):
        """Boot announcement: INF of the instance list 0xD5 from the node profile."""
        self.now = now
        self.announce(self.profile, (0xD5,))
        self.flush()

    def announce(self, obj, epcs):
        """Multicast an INF of these properties of obj (status change, or the boot 0xD5)."""
        out = self._out
        tid = self._next_tid()
        out[2] = tid >> 8
        out[3] = tid & 0xFF
        out[4:7] = obj.eoj_bytes
        out[7:11] = b"\x0e\xf0\x01\x73"  # to the node profile class, INF
        out[11] = len(epcs)
        n = 12
        for e in epcs:
            v = obj.values.get(e) or b""
            m = len(v)
            out[n] = e
            out[n + 1] = m
            out[n + 2 : n + 2 + m] = v
            n += 2 + m
        self.stats.announcements += 1
        self.send(None, self._view[:n])

    def flush(self):
        """Send the status-change INFs for values changed since the last flush."""
        for obj in self.objects.values():
            if obj.changed:
                self.announce(obj, obj.changed)
                del obj.changed[:]  # emptied in place: nothing new on the heap

    def tick(self, now):
        """Let each appliance update its values, then announce what changed. An object
        whose commanding controller has sent nothing (no Set, no Get, nothing) for
        dr_timeout returns to autonomous operation, at that very second (once, until the
        next accepted Set). Settings restored at boot are timed from the boot."""
        last = self.now
        self.now = now
        expired = False
        for d in self.devices:
            if self.step(d, now, last):
                expired = True
        if expired:  # forget controllers no command in force came from
            heard = self._heard
            keep = [d.set_by for d in self.devices if d.set_at is not None]
            for src in list(heard):
                if src not in keep:
                    del heard[src]
        self.flush()

    def add(self, d):
        """A device object made after the start (its appliance's driver started late,
        drready/appliances.py): served from now on, and the new instance list announced
        (0xD5) at the next flush, as a controller expects of a node whose instances change."""
        d.check()
        i = 0  # before the first later instance of its class, as a start lists them; else last
        while i < len(self.devices) and not (self.devices[i].eoj >> 8 == d.eoj >> 8 and self.devices[i].eoj > d.eoj):
            i += 1
        self.devices.insert(i, d)
        self.objects[d.eoj] = d
        self.profile.set_instances(self.devices)

    def drop(self, key):
        """The controller key (who() of its requests) may command no more (its enrollment
        was revoked): the commands it put in force end now, as its silence would end them
        (step; a driver failing on the way is a fault, and the next tick tries again)."""
        self._heard.pop(key, None)
        for d in self.devices:
            if d.set_at is not None and d.set_by == key:
                d.set_by = self  # no controller's any more: step ends it
                self.step(d, self.now, self.now)
        self.flush()

    def _still_there(self, src):
        """If src is from a controller whose Set put a command in force, its silence starts
        again, dated when the request arrived (not at the last tick) and only while it has
        not yet lasted dr_timeout (the next tick ends what has)."""
        key = self.who(src)
        last = self._heard.get(key)
        if last is None:
            return
        t = self._at if self._at is not None else self.clock() if self.clock is not None else self.now
        if t > last and (not self.dr_timeout or t - last < self.dr_timeout):
            self._heard[key] = t

    def _move_clock(self, epc, edt, now):
        """A controller sets the time (0x97) or the date (0x98): the clock moves, and every
        time the node and the objects hold moves with it, so no command lapses or runs on
        for the jump. The new time, or None when refused (no clock to set, no such date)."""
        t = self.set_time(epc, edt, now)
        if t is None:
            return None
        delta = t - now
        self.now += delta
        heard = self._heard
        for src in heard:
            heard[src] += delta
        for d in self.devices:
            if d.set_at is not None:
                d.set_at += delta
            try:
                d.clock_moved(delta, t)
            except MemoryError:
                raise
            except Exception as e:  # a driver's clock_moved: its times stay where they were
                self.stats.errors += 1
                if self.event:
                    self.event("ERROR appliance %06X as the clock moved: %r" % (d.eoj, e))
        return t

    # -- incoming -----------------------------------------------------------------
    # The Get path (serve, _request, _skip_props, _get, _get_part) keeps every frame
    # within 11 words of locals, stack and try blocks: MicroPython runs a bigger one in a
    # heap block allocated at each call, and on a fragmented heap that allocation is the
    # slow part of a round trip. host_tests/test_frames.py checks the compiled sizes.
    def receive(self, data, src, now=None):
        """Handle one datagram; never raises. now: the time for Set side effects; by default
        `clock()` when a Set arrives (or the last tick's time without a clock), so Gets never
        read the clock."""
        self._at = now
        try:
            self.serve(data, src)
        except Exception as e:
            self.failed(e)
        self._at = None

    def step(self, d, now, last=None, undo=[]):  # noqa: B006 (see undo below)
        """The appliance's driver at work. With last (the last tick's time), d's tick: a DR
        command whose controller fell silent for dr_timeout ends (the plant run up to the
        expiry under it, then autonomous; True returned), then the plant runs to now.
        Without, d.tick(now) alone, before a Set. A driver that raises (a bus timeout, say)
        is a fault: 0x88 goes to 0x41 (announced), the node serves on with the values it has,
        and the first whole tick that works clears it (not a step before a Set: a lapse may
        still be failing); a command ends only once autonomous() has run, so a driver that
        failed on the way tries again at the next tick. A MemoryError is a fault too, so one
        driver short of heap does not stop the others.

        undo: one list, made with this function and kept, in which put notes what a step
        changes (EchonetObject.undo): one object steps at a time, and a list that grows
        to its size once needs no heap at each step, where a fragmented heap may have none."""
        ended = False
        try:
            t = d.set_at
            limit = self.dr_timeout
            revoked = d.set_by is self  # (drop)
            if last is not None and t is not None and (limit or revoked):
                seen = self._heard.get(d.set_by)
                if seen is not None and seen > t:
                    t = seen
                if revoked or now - t >= limit:
                    t = now if revoked else max(t + limit, last)  # never behind the last tick
                    del undo[:]  # (emptied in place: it keeps its room)
                    d.undo = undo
                    d.tick(t)
                    d.undo = None  # (the settings autonomous applies are kept, as any Set)
                    d.autonomous(t)
                    d.set_at = None
                    ended = True
                    if self.event:
                        if revoked:
                            self.event("autonomous %06X: its controller was revoked" % d.eoj)
                        else:
                            self.event("autonomous %06X: its controller silent for %d s" % (d.eoj, limit))
            del undo[:]
            d.undo = undo
            d.tick(now)
            d.undo = None
            del undo[:]  # the copies go now, not at the next step
        except Exception as e:
            # what the failed step put is taken back: every read is answered from the
            # values of the last step that worked, never from half of one (a state of
            # charge refused after the remaining energy was put from the same bad reading)
            if d.undo is not None:  # (None: no room to note the step, which stands as it is)
                v = d.values
                i = len(undo)
                while i:
                    i -= 3
                    epc = undo[i]
                    old = undo[i + 1]
                    cur = v[epc]
                    if isinstance(cur, bytearray) and old is not None and len(cur) == len(old):
                        cur[:] = old
                    else:
                        v[epc] = old  # (the copy put made: nothing to allocate here)
                    if undo[i + 2] and epc in d.changed:  # queued for its announcement by that put
                        d.changed.remove(epc)
            d.undo = None
            del undo[:]
            self.stats.errors += 1
            if d not in self._faulty:  # logged as the fault begins, not every second
                self._faulty.append(d)
                d.driver_fault(True)
                if self.event:
                    try:
                        self.event("ERROR appliance %06X: %r; 0x88 fault until it works again" % (d.eoj, e))
                    except MemoryError:
                        pass
            return ended
        if last is not None and self._faulty and d in self._faulty:
            self._faulty.remove(d)
            d.driver_fault(False)
            if self.event:
                self.event("appliance %06X works again" % d.eoj)
        return ended

    def failed(self, e):
        """serve raised (a bug), or the heap had no room for a datagram, or for a Set's
        record or line: counted and reported, and it must not stop the receive loop, even
        with no heap to report it."""
        self.stats.errors += 1
        if self.event:
            try:
                self.event("error handling frame: %r" % (e,))
            except MemoryError:
                pass

    def serve(self, data, src):
        """Handle one datagram, as receive does, but an error raises: for a receive loop
        that catches it in its own frame (then calls failed)."""
        esv = self._request(data)
        if self._heard:  # a command in force: is this its controller, still there?
            self._still_there(src)
        if not esv:
            return
        # the reply's header in the out buffer, after the EHD (always 10 81): the TID
        # copied and the requester's SEOJ as DEOJ, written once for every object the
        # request addresses; each reply adds its own SEOJ and ESV (_get, _serve). One
        # buffer reused for every frame: nothing to allocate per request, nothing to fragment
        out = self._out
        out[2] = data[2]
        out[3] = data[3]
        out[7] = data[4]
        out[8] = data[5]
        out[9] = data[6]
        if esv == _GET:
            obj = self.objects.get((data[7] << 16) | (data[8] << 8) | data[9])  # DEOJ
            if obj is not None:  # one object: the usual case, served without a list
                self._get(obj, data, src)
                return
        self._serve_all(data, esv, src)

    def _request(self, data):
        """The ESV of a well-formed request, else 0 (the datagram counted and dropped)."""
        st = self.stats
        st.received += 1
        n = len(data)
        if n < 12 or n > MAX_FRAME or data[1] != 0x81 or data[0] != 0x10:
            if n >= 4 and data[0] == 0x10 and data[1] == 0x82:
                st.ignored += 1  # format 2 (arbitrary message): not ours to read
            else:
                st.malformed += 1  # short, overlong (longer than any reply could echo) or not ours
            return 0
        esv = data[10]
        if not (_SETI <= esv <= _INF_REQ or esv == _SETGET or esv == _INFC):
            st.ignored += 1  # responses, INF and reserved codes are not requests
            return 0
        # check the structure first; serving then walks the frame by offsets, no lists
        end = _skip_props(data, 11, n)
        if end >= 0 and esv == _SETGET:
            end = _skip_props(data, end, n)
        if end != n:
            st.malformed += 1
            return 0
        return esv

    def _instances(self, deoj):
        """The objects instance code 0 of deoj addresses (none for an unknown instance)."""
        if deoj & 0xFF:
            return ()
        if deoj == _NODE_ALL:
            return (self.profile,)
        cls = deoj >> 8
        return [d for d in self.devices if d.eoj >> 8 == cls]

    def _serve_all(self, data, esv, src):
        """Any request but a Get of one object: instance code 0 answered once per instance,
        and the status-change INFs of what its Sets changed sent after the replies."""
        st = self.stats
        sets = st.sets
        deoj = (data[7] << 16) | (data[8] << 8) | data[9]
        obj = self.objects.get(deoj)
        targets = (obj,) if obj is not None else self._instances(deoj)
        if not targets:
            st.ignored += 1
            return
        now = self._at if self._at is not None else self.now
        try:
            for obj in targets:
                self._serve(obj, data, esv, src, now)
        finally:  # announced even if serving a later target failed
            if st.sets != sets:  # only an accepted Set changes values between ticks
                self.flush()

    def _get(self, obj, data, src):
        """A Get of one object: the path every poll takes."""
        out = self._out
        out[4:7] = obj.eoj_bytes  # SEOJ
        out[10] = 1  # the ESV comes last; until then, nonzero: no property failed (_get_part)
        n = _get_part(out, obj.values, data)
        out[10] = _GET_RES if out[10] and data[11] else _GET_SNA
        self.stats.replies += 1
        if n != self._frame_n:  # the view of the last length is kept: a poller asks for the
            self._frame_view = self._view[:n]  # same properties, so the same length, again
            self._frame_n = n
        self.send(src, self._frame_view)

    def _serve(self, obj, data, esv, src, now):
        out = self._out
        out[4:7] = obj.eoj_bytes  # SEOJ
        out[10] = 1  # as in _get
        asked = data[11]
        if esv == _SETI or esv == _SETC or esv == _SETGET:
            n = self._set_part(obj, data, src, now)
            ok = self._ok
            if esv == _SETGET:  # then the Get part, OPCGet at data[i]
                i = self._end
                asked += data[i]
                n = _get_part(out, obj.values, data, i, n)
                ok = out[10] != 0 and ok
        elif esv == _INFC:  # INFC_Res: every EPC echoed with PDC=0, as for values it has none of
            n = _get_part(out, _NO_VALUES, data, 11, 11)
            ok = True
        else:
            n = _get_part(out, obj.values, data, 11, 11)
            ok = out[10] != 0
        if not asked:
            ok = False  # OPC=0 asks for nothing: answer the SNA so the requester need not wait
        if esv == _INFC:
            esv_out = _INFC_RES
        elif ok:
            if esv == _SETI:
                return  # SetI that fully succeeded gets no reply
            esv_out = esv + 0x10
        else:
            esv_out = esv - 0x10
        out[10] = esv_out
        self.stats.replies += 1
        # INF answering INF_REQ goes to the group; everything else back to the requester
        self.send(None if esv_out == _INF else src, self._view[:n])

    def _set_part(self, obj, data, src, now):
        """Carry out the Set-type properties whose OPC is data[11]. Returns the end of
        the reply; self._end is then the offset after them in data, self._ok whether
        all were accepted."""
        out = self._out
        opc = data[11]
        out[11] = opc
        n = 12
        i = 12
        ok = True
        allowed = self.write_allowed(src) if opc else False
        audit = self.audit
        done = [] if audit else None
        if allowed:
            if self.clock is not None:  # a Set acts from the moment it arrives, not the last tick
                now = self.clock()
            if now > self.now:
                self.step(obj, now)  # the plant runs up to now under the command it had
        for _ in range(opc):
            e = data[i]
            j = i + 2 + data[i + 1]
            v = bytes(data[i + 2 : j])
            i = j
            rec = obj.spec(e) if allowed else None
            out[n] = e
            if done is not None and len(done) < _AUDIT_EPCS:
                try:
                    done.append("%02X=%s" % (e, v[:_AUDIT_EDT].hex()))
                except MemoryError as ex:  # no heap to describe it: no record of this Set, below
                    self.failed(ex)
                    done = None
            if rec is None or not rec[1] & SET or not valid(rec, v):
                took = False
            elif e == 0x97 or e == 0x98:  # the node's clock: not a DR command, nor a setting to keep
                t = self._move_clock(e, v, now)
                took = t is not None
                if took:
                    now = t
                    obj.put(e, v)
            else:
                try:
                    took = obj.accept(e, v, now)
                except MemoryError:
                    raise
                except Exception as ex:  # the driver could not pass it on: refused, as one it cannot carry out
                    took = False
                    self.stats.errors += 1
                    if self.event:
                        try:
                            self.event("ERROR appliance %06X did not take %02X=%s: %r" % (obj.eoj, e, v.hex(), ex))
                        except MemoryError as ex2:  # (as below: a line lost, not the reply)
                            self.failed(ex2)
                if took:
                    obj.put(e, v)
                    if obj.was_set(e, now):  # a command (not a setting): whose it is, and when
                        obj.set_by = self.who(src)
                        self._heard[obj.set_by] = now
            if took:
                self.stats.sets += 1
                out[n + 1] = 0
                n += 2
                if self.event:
                    try:
                        self.event("set %06X %02X=%s" % (obj.eoj, e, v.hex()))
                    except MemoryError as ex:  # a line lost, not a Set half done and unanswered
                        self.failed(ex)
            else:  # refused: echo the request's data (never longer than the request)
                ok = False
                self.stats.refused += 1
                m = len(v)
                out[n + 1] = m
                out[n + 2 : n + 2 + m] = v
                n += 2 + m
                if self.event:
                    why = "not allowed" if not allowed else "refused"
                    try:
                        self.event("set %s %06X %02X=%s" % (why, obj.eoj, e, v.hex()))
                    except MemoryError as ex:  # (as above)
                        self.failed(ex)
        if audit and done is not None and opc:
            # the record of what was done: with no heap left for it, lost and reported, while
            # the reply still goes (the Set has taken effect)
            try:
                if opc > len(done):
                    done.append("+%d more" % (opc - len(done)))
                audit(src, obj.eoj, allowed, ok, " ".join(done))
            except MemoryError as ex:
                self.failed(ex)
        self._end = i
        self._ok = ok
        return n
