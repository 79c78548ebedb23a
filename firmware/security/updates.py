"""Updates pushed over the secure channel by an enrolled controller (tools/ctl.py update).

The controller sends the package file as a byte stream with offsets; the device answers
each piece with the offset it wants next:

    {"op": "update-start", "metadata_size": M}  -> {"offset": 0}
    "U" offset:u32 data                          -> {"offset": next}     (repeated)
        the first M bytes are the signed metadata: verified as soon as they are in (a
        refusal comes then, before any payload is sent), and the answer then skips what
        an interrupted earlier push of the same package already staged
    {"op": "update-finish"}                     -> {"ok": true, "version", "restart": true}

update/receiver.py does the work (verification, staging into the inactive slot or OTA
partition, the atomic switch); this only carries it. One push at a time; the node
restarts into the new version a moment after the finish is answered. Every outcome goes
to the security event log.
"""
import update
from update.receiver import MAX_METADATA  # one bound for push and pull

from security.payload import ManifestError


class UpdateService:
    def __init__(self, state_dir, audit, wall, restart):
        self.state_dir = state_dir
        self.audit = audit
        self.wall = wall  # () -> trusted Unix seconds, for the metadata's expiry
        self.restart = restart  # () -> None: restart once the answer is out
        self._reset()

    def _reset(self):
        if getattr(update, "receiving", None) is self:  # (update/__init__.py: one at a time)
            update.receiving = None  # pyright: ignore[reportAttributeAccessIssue] (update/__init__.py)
        receiver = getattr(self, "receiver", None)
        if receiver is not None:
            receiver.abort()  # close what it has open; what is staged stays for a resume
        self.receiver = None
        self.owner = None  # the session pushing
        self.metadata = None  # bytearray being filled, until verified
        self.got = 0

    def close(self):
        """The last session ended: drop an unfinished push (its staged part stays for a resume)."""
        self._reset()

    def request(self, s, req):
        if req["op"] == "update-start":
            return self.start(s, req["metadata_size"])
        if self.receiver is None or self.owner is not s:
            return {"error": "no update in progress on this connection: send update-start first"}
        receiver = self.receiver
        self.receiver = None
        self._reset()
        try:
            m = receiver.finish()
        except ManifestError as e:
            return self._refused(s, e)
        if m is None:
            return {"error": "the package was installed already; nothing to do"}
        self.audit.event("update", "installed %s (counter %d) pushed by %s; restarting" % (m.version, m.counter, s.who()))
        self.restart()
        return {"ok": True, "version": m.version, "restart": True}

    def start(self, s, size):
        if self.owner is not None and self.owner is not s and self.owner in s.server.sessions:
            return {"error": "another controller is pushing an update; try again when it is done"}
        if not isinstance(size, int) or not 8 <= size <= MAX_METADATA:
            return {"error": "metadata of %r bytes: a package's metadata is 8 to %d bytes" % (size, MAX_METADATA)}
        other = getattr(update, "receiving", None)
        if other is not None and other is not self:  # both would stage into one slot
            return {"error": "an update is being pulled from update_url; try again when it is done"}
        self._reset()
        update.receiving = self  # pyright: ignore[reportAttributeAccessIssue] (update/__init__.py)
        self.owner = s
        self.metadata = bytearray(size)
        return {"offset": 0}

    def data(self, s, offset, data):
        if self.owner is not s or (self.metadata is None and self.receiver is None):
            return {"error": "no update in progress on this connection: send update-start first"}
        meta = self.metadata
        if meta is not None:  # still taking the metadata
            if offset != self.got:
                return {"error": "metadata piece at %d: send from %d" % (offset, self.got), "offset": self.got}
            take = min(len(data), len(meta) - offset)  # a piece may run on into the payload:
            meta[offset : offset + take] = data[:take]  # that part is asked for again, after the check
            self.got += take
            if self.got < len(meta):
                return {"offset": self.got}
            import gc

            from update.receiver import Receiver

            self.metadata = None
            gc.collect()  # the verifier and the manifest want room in one piece
            self.receiver = Receiver(self.state_dir)
            try:
                return {"offset": len(meta) + self.receiver.start(bytes(meta), self.wall())}
            except ManifestError as e:
                self._reset()
                return self._refused(s, e)
        base = self.got  # the metadata's size: payload offsets start after it
        receiver = self.receiver
        if receiver is None:
            return {"error": "no update in progress on this connection: send update-start first"}
        try:
            return {"offset": base + receiver.write(offset - base, data)}
        except ManifestError as e:
            if e.reason == "wrong offset":  # nothing lost: the sender goes on from where we are
                return {"error": str(e), "offset": base + receiver.offset}
            self._reset()
            return self._refused(s, e)

    def _refused(self, s, e):
        self.audit.event("update-refused", "%s from %s" % (e, s.who()))
        return {"error": "update refused: %s" % e, "reason": e.reason}
