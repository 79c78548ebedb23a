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


def _eoj(b, i):
    return (b[i] << 16) | (b[i + 1] << 8) | b[i + 2]


def _parse_props(data, i, n, epcs, edts):
    """Append the OPC properties starting at data[i]; return the end offset or -1."""
    if i >= n:
        return -1
    opc = data[i]
    i += 1
    for _ in range(opc):
        if i + 2 > n:
            return -1
        j = i + 2 + data[i + 1]
        if j > n:
            return -1
        epcs.append(data[i])
        edts.append(bytes(data[i + 2 : j]) if j > i + 2 else b"")
        i = j
    return i


class Node:
    def __init__(self, profile, devices, send, write_allowed=None, event=None):
        self.profile = profile
        self.devices = devices
        self.send = send
        # write_allowed(src) -> bool: may this requester Set over this transport?
        self.write_allowed = write_allowed or (lambda src: False)
        self.event = event  # event(text) for notable events, or None
        self.stats = Stats()
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
        self.announce(self.profile, (0xD5,))
        self.flush(now)

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

    def flush(self, now=0):
        """Send the status-change INFs for values changed since the last flush."""
        for obj in self.objects.values():
            if obj.changed:
                self.announce(obj, obj.changed)
                del obj.changed[:]  # emptied in place: nothing new on the heap

    def tick(self, now):
        """Let each appliance update its values, then announce what changed."""
        for d in self.devices:
            d.tick(now)
        self.flush(now)

    # -- incoming -----------------------------------------------------------------
    def receive(self, data, src, now=0):
        st = self.stats
        st.received += 1
        sets = st.sets
        try:
            self._receive(data, src, now)
        except Exception as e:  # a bug must not stop the receive loop
            st.errors += 1
            if self.event:
                self.event("error handling frame: %r" % (e,))
        if st.sets != sets:  # only an accepted Set changes values between ticks
            self.flush(now)

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
        epcs = []
        edts = []
        end = _parse_props(data, 11, n, epcs, edts)
        nset = len(epcs)
        if end >= 0 and esv == _SETGET:
            end = _parse_props(data, end, n, epcs, edts)
        if end != n:
            st.malformed += 1
            return
        targets = self._targets(_eoj(data, 7))
        if not targets:
            st.ignored += 1
            return
        tid = (data[2] << 8) | data[3]
        seoj = bytes(data[4:7])
        for obj in targets:
            self._serve(obj, esv, tid, seoj, epcs, edts, nset, src, now)

    def _serve(self, obj, esv, tid, seoj, epcs, edts, nset, src, now):
        out = self._header(tid, obj.eoj_bytes, seoj, 0)
        ok = True
        if esv == _GET or esv == _INF_REQ:
            ok = self._get_part(obj, out, epcs, 0, len(epcs))
        elif esv == _INFC:
            out.append(len(epcs))
            for e in epcs:
                out.append(e)
                out.append(0)
        else:  # SETI, SETC, SETGET
            ok = self._set_part(obj, out, epcs, edts, nset, src, now)
            if esv == _SETGET:
                ok = self._get_part(obj, out, epcs, nset, len(epcs)) and ok
        if not epcs:  # OPC=0 asks for nothing: answer the SNA so the requester need not wait
            ok = False
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

    def _get_part(self, obj, out, epcs, start, stop):
        ok = True
        out.append(stop - start)
        for k in range(start, stop):
            e = epcs[k]
            v = obj.get(e)
            out.append(e)
            # keep room for the EPC and PDC=0 of every property still to answer
            if v is None or len(out) + 1 + len(v) + 2 * (stop - k - 1) > _MAX_FRAME:
                out.append(0)
                ok = False
            else:
                out.append(len(v))
                out += v
        return ok

    def _set_part(self, obj, out, epcs, edts, nset, src, now):
        ok = True
        out.append(nset)
        allowed = None
        for k in range(nset):
            e = epcs[k]
            v = edts[k]
            if allowed is None:
                allowed = self.write_allowed(src)
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
        return ok
