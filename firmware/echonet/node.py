"""The ECHONET Lite node: one datagram in, the frames to send out (Spec Part II §4.2).

`Node.receive(data, src, now)` handles one datagram and hands every frame it wants to send
to `send(dest, frame)`, where dest is the requester's address as it came in, or None for
the multicast group. Nothing raises out of `receive`: a frame that cannot be parsed is
dropped and counted.
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
_MAX_FRAME = const(1024)  # reply size cap: uecho-go reads at most 1024 bytes


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
    opc = data[i]
    i += 1
    for _ in range(opc):
        if i + 2 > n:
            return -1
        i += 2 + data[i + 1]
    return i if i <= n else -1


class Node:
    def __init__(self, profile, devices, send, write_allowed=None, event=None):
        self.profile = profile
        self.devices = devices
        self.send = send
        # write_allowed(src) -> bool: may this requester Set over this transport?
        self.write_allowed = write_allowed or (lambda src: False)
        self.event = event  # event(text) for notable events, or None
        self.stats = Stats()
        self.now = 0  # time of the last tick
        self.tid = 0
        self.objects = {profile.eoj: profile}
        for d in devices:
            self.objects[d.eoj] = d
        for obj in self.objects.values():
            missing = obj.missing()
            if missing:
                raise ValueError("object %06X has no value for EPC %s" % (obj.eoj, " ".join("%02X" % e for e in missing)))

    # -- outgoing -----------------------------------------------------------------
    def _next_tid(self):
        self.tid = (self.tid + 1) & 0xFFFF
        return self.tid

    def _header(self, tid, seoj, deoj, esv):
        out = bytearray(b"\x10\x81")
        out.append(tid >> 8)
        out.append(tid & 0xFF)
        out += seoj
        out += deoj
        out.append(esv)
        return out

    def start(self, now=0):
        """Boot announcement: INF of the instance list 0xD5 from the node profile."""
        self.now = now
        self.announce(self.profile, (0xD5,))
        self.flush()

    def announce(self, obj, epcs):
        frame = self._header(self._next_tid(), obj.eoj_bytes, b"\x0e\xf0\x01", _INF)
        frame.append(len(epcs))
        for e in epcs:
            v = obj.values.get(e, b"")
            frame.append(e)
            frame.append(len(v))
            frame += v
        self.stats.announcements += 1
        self.send(None, frame)

    def flush(self):
        """Send the status-change INFs for values changed since the last flush."""
        for obj in self.objects.values():
            if obj.changed:
                self.announce(obj, obj.changed)
                del obj.changed[:]  # emptied in place: nothing new on the heap

    def tick(self, now):
        """Let each appliance update its values, then announce what changed."""
        self.now = now
        for d in self.devices:
            d.tick(now)
        self.flush()

    # -- incoming -----------------------------------------------------------------
    def receive(self, data, src, now=None):
        """Handle one datagram. now: the time for Set side effects; by default the last
        tick's (at most a tick old), which spares the receive path a clock read."""
        st = self.stats
        st.received += 1
        sets = st.sets
        try:
            self._receive(data, src, self.now if now is None else now)
        except Exception as e:  # a bug must not stop the receive loop
            st.errors += 1
            if self.event:
                self.event("error handling frame: %r" % (e,))
        if st.sets != sets:  # only an accepted Set changes values between ticks
            self.flush()

    def _targets(self, deoj):
        obj = self.objects.get(deoj)
        if obj is not None:
            return (obj,)
        if deoj & 0xFF:
            return ()
        if deoj == _NODE_ALL:
            return (self.profile,)
        cls = deoj >> 8
        return [d for d in self.devices if d.eoj >> 8 == cls]

    def _receive(self, data, src, now):
        n = len(data)
        st = self.stats
        if n >= 4 and data[0] == 0x10 and data[1] == 0x82:
            st.ignored += 1  # format 2 (arbitrary message): not ours to read
            return
        if n < 12 or data[0] != 0x10 or data[1] != 0x81:
            st.malformed += 1
            return
        esv = data[10]
        if not (_SETI <= esv <= _INF_REQ or esv == _SETGET or esv == _INFC):
            st.ignored += 1  # responses, INF and reserved codes are not requests
            return
        # check the structure first; serving then walks the frame by offsets, no lists
        end = _skip_props(data, 11, n)
        if end >= 0 and esv == _SETGET:
            end = _skip_props(data, end, n)
        if end != n:
            st.malformed += 1
            return
        targets = self._targets((data[7] << 16) | (data[8] << 8) | data[9])
        if not targets:
            st.ignored += 1
            return
        for obj in targets:
            self._serve(obj, data, esv, src, now)

    def _serve(self, obj, data, esv, src, now):
        # the reply header is the request's with SEOJ and DEOJ swapped (TID copied)
        out = bytearray(data[:11])
        out[4:7] = obj.eoj_bytes
        out[7:10] = data[4:7]
        if esv == _GET:  # the hot path: straight through
            _, ok = self._get_part(obj, out, data, 11)
            out[10] = _GET_RES if ok and data[11] else _GET_SNA
            self.stats.replies += 1
            self.send(src, out)
            return
        if esv == _SETI or esv == _SETC or esv == _SETGET:
            asked = data[11]
            i, ok = self._set_part(obj, out, data, src, now)
            if esv == _SETGET:  # then the Get part, OPCGet at data[i]
                asked += data[i]
                _, got = self._get_part(obj, out, data, i)
                ok = got and ok
        else:
            asked = data[11]
            _, ok = self._get_part(obj, out, data, 11, esv == _INFC)
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
        self.send(None if esv_out == _INF else src, out)

    def _get_part(self, obj, out, data, i, echo_only=False):
        """Answer the Get-type properties whose OPC is data[i]: (offset after them, all ok).
        echo_only: every EPC with PDC=0 (INFC_Res)."""
        opc = data[i]
        out.append(opc)
        i += 1
        ok = True
        values = obj.values
        for k in range(opc, 0, -1):
            e = data[i]
            i += 2 + data[i + 1]
            out.append(e)
            if echo_only:
                out.append(0)
                continue
            v = values.get(e)
            # keep room for the EPC and PDC=0 of every property still to answer
            if v is None or len(out) + 1 + len(v) + 2 * (k - 1) > _MAX_FRAME:
                out.append(0)
                ok = False
            else:
                out.append(len(v))
                out += v
        return i, ok

    def _set_part(self, obj, out, data, src, now):
        """Carry out the Set-type properties whose OPC is data[11]: (offset after them, all ok)."""
        opc = data[11]
        out.append(opc)
        i = 12
        ok = True
        allowed = self.write_allowed(src) if opc else False
        for _ in range(opc):
            e = data[i]
            j = i + 2 + data[i + 1]
            v = bytes(data[i + 2 : j])
            i = j
            rec = obj.spec(e) if allowed else None
            if rec is not None and rec[1] & SET and valid(rec, v) and obj.accept(e, v, now):
                obj.put(e, v)
                self.stats.sets += 1
                out.append(e)
                out.append(0)
                if self.event:
                    self.event("set %06X %02X=%s" % (obj.eoj, e, v.hex()))
            else:
                ok = False
                self.stats.refused += 1
                out.append(e)
                out.append(len(v))
                out += v
                if self.event:
                    why = "not allowed" if not allowed else "refused"
                    self.event("set %s %06X %02X=%s" % (why, obj.eoj, e, v.hex()))
        return i, ok
