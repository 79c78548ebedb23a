"""Receive a signed update package, sans-I/O: whatever carries the bytes (the secure
channel, update/pull.py over HTTPS) calls

    r = Receiver(state_dir)
    offset = r.start(metadata, now)     # verify; payload offset to go on from (0: from the start)
    offset = r.write(offset, data)      # as many times as it takes, in order
    m = r.finish()                      # check, then switch atomically; m: the Manifest
    update.restart()                    # boot into it

start() refuses at once, before any byte is staged, what the metadata tells: bad
signature, wrong delegation, wrong product/board, expired, rollback (ManifestError with
that .reason), and a package that does not fit (UpdateError, a ManifestError too, so one
`except ManifestError as e` and e.reason cover every refusal). write() checks each item's
SHA-256 as it streams; finish() checks every staged byte again from storage, then
switches: an app bundle goes live in the inactive of two slot directories by one write
of the update record (on trial until confirm_if_trial), a firmware image by set_boot()
of the next OTA partition. The running image is never touched.

Offsets count payload bytes (the package after its metadata). start() of the same
metadata as an interrupted transfer returns where it can go on: the start of the first
app file not yet complete, or the last 64 KB checkpoint of a firmware image; any other
metadata starts over. Memory: one item's hash, a 4 KB flash block buffer (firmware) or a
512-byte read buffer (the final check); nothing else grows with the package.
"""
import hashlib
import os

from security.payload import FIRMWARE, PAYLOAD, ManifestError, Payload
from update import PRODUCT, board, state

TYPE_CHECKING = False
if TYPE_CHECKING:  # for pyright; at run time each loads only for its kind of package
    from security.payload import Manifest
    from update.files import SlotWriter
    from update.image import ImageWriter

MAX_METADATA = 8192  # bytes: a package's metadata is held whole while it is checked
CHECKPOINT = 65536  # firmware: bytes between two saves of the progress record

# reasons beside security.payload's
NO_SPACE = "too little space"
NO_ROOT = "no root key"
BUSY = "update waiting for confirmation"
OFFSET = "wrong offset"
NOT_STARTED = "no update started"
UNSUPPORTED = "unsupported package"


class UpdateError(ManifestError):
    """A refusal that is not about the signed metadata; .reason is one of the constants above."""


def _drop_ed25519():
    """Done verifying signatures: give the heap the Ed25519 and SHA-512 code took back
    (their objects, and their bytecode where it was loaded into the heap)."""
    from unload import drop

    drop("security.ed25519", "security.sha512")


def _verify(metadata, roots, product, board_name, now, rec):
    """The verified Manifest; the parser and verifier (security/manifest.py) are dropped
    again before it returns, so staging and writing run without their code in the heap.
    The Manifest keeps no object of that module (which would keep its code alive)."""
    from security import manifest

    try:
        m = manifest.verify(metadata, roots, product, board_name, now, rec["counter"], rec["keyring"], _drop_ed25519)
    finally:
        _drop_ed25519()
        manifest = None
        from unload import drop

        drop("security.manifest")
    m.keyring = m.signer = None
    return m


def root_keys():
    """The root public keys built into this firmware (tools/build.py writes update/keys.py)."""
    from update import keys

    return keys.ROOTS


class Receiver:
    def __init__(self, state_dir, roots=None, product=PRODUCT, board_name=None, partition=None):
        self.state_dir = state_dir
        self.roots = root_keys() if roots is None else roots
        self.product = product
        self.board = board_name or board()
        self.partition = partition  # firmware target; default: the next OTA partition
        self._clear()

    def _clear(self):
        # the transfer under way; None between transfers (start() sets them all)
        self.m: "Manifest" = None  # pyright: ignore[reportAttributeAccessIssue]
        self.payload: "Payload | None" = None
        self.sink: "SlotWriter | ImageWriter | None" = None
        self.rec: "dict | None" = None
        self.digest = ""  # SHA-256 of the metadata, hex
        self.offset = 0
        self.total = 0

    @property
    def progress(self):
        """(payload bytes staged, payload size) of the transfer under way."""
        return self.offset, self.total

    def installed(self, metadata):
        """True if metadata is what this device runs (app or firmware), or what it has
        installed and runs, or is about to run, on trial: nothing to pull."""
        rec = state.load(self.state_dir)
        digest = hashlib.sha256(metadata).digest().hex()
        app = rec["slots"].get(rec["active"]) if rec["active"] else None
        fw = rec["firmware"]
        p = rec["pending"]
        return bool((app and app["meta"] == digest) or (fw and fw["meta"] == digest) or (p and p["meta"] == digest))

    def failed_trials(self, metadata):
        """How many times in a row a trial of this package reverted on this device."""
        f = state.load(self.state_dir)["failed"]
        return f[1] if f and f[0] == hashlib.sha256(metadata).digest().hex() else 0

    # -- start -------------------------------------------------------------------------

    def start(self, metadata, now):
        self.abort()
        if not self.roots:
            raise UpdateError(NO_ROOT, "this firmware was built without a root public key: it takes no update (docs/updates.md)")
        rec = state.load(self.state_dir)
        if rec["pending"]:
            v = rec["pending"]["version"]
            raise UpdateError(BUSY, "version %s is installed and not yet confirmed: it is once it has run for a "
                                    "while after its restart; try again then" % v)
        m = _verify(metadata, self.roots, self.product, self.board, now, rec)
        firmware = False
        for item in m.items:
            if item[0] == FIRMWARE:
                firmware = True
        if firmware and len(m.items) > 1:
            raise UpdateError(UNSUPPORTED, "a package holds a firmware image or application files, not both")
        digest = hashlib.sha256(metadata).digest().hex()
        if firmware:
            sink = self._start_image(rec, m, digest)
        else:
            sink = self._start_app(rec, m, digest)
            self._write_meta(state.meta_path(self.state_dir, rec["stage"]["slot"]) + ".new", metadata)
        self.m = m
        self.digest = digest
        self.rec = rec
        self.total = m.payload_size()
        self.offset = rec["stage"]["done"]
        self.payload = Payload(m)
        self.sink = sink
        sink.resume(self.offset, self.payload)
        return self.offset

    def _resumes(self, rec, digest, kind, target):
        st = rec["stage"]
        return st and st["meta"] == digest and st["kind"] == kind and st["slot"] == target

    def _start_app(self, rec, m, digest):
        from update import files

        slot = state.inactive(rec)
        root = state.slot_dir(self.state_dir, slot)
        resumed = self._resumes(rec, digest, "app", slot)
        if resumed:
            first = rec["stage"]["item"]
        else:
            # the record forgets the slot before its files go: a cut in between never
            # leaves a record naming a half-emptied slot
            first = 0
            rec["stage"] = {"meta": digest, "kind": "app", "slot": slot, "done": 0, "item": 0}
            rec["slots"].pop(slot, None)
            if rec["previous"] == slot:
                rec["previous"] = None
            state.save(self.state_dir, rec)
        for s in state.SLOTS:  # the target, and a slot the record forgot (a firmware image's bundles)
            if s not in rec["slots"] and not (resumed and s == slot):
                meta = state.meta_path(self.state_dir, s)
                files.remove_tree(meta)
                files.remove_tree(meta + ".new")  # (a stage a power cut or an image's stage ended)
                files.remove_tree(state.slot_dir(self.state_dir, s))
        files.store.makedirs(root)
        free = files.free_bytes(root)
        need = files.need_bytes(m.items, first)
        if free is not None and need > free:
            raise UpdateError(NO_SPACE, "the bundle needs about %d bytes, the filesystem has %d free" % (need, free))
        return files.SlotWriter(root, m.items, first)

    def _start_image(self, rec, m, digest):
        from update import image

        part = self.partition or image.next_partition()
        if part is None:
            raise UpdateError(UNSUPPORTED, "this device has no OTA partition for a firmware image")
        w = image.ImageWriter(part, m.items[0])
        if w.size > w.capacity():
            raise UpdateError(NO_SPACE, "the image is %d bytes, the OTA partition %d" % (w.size, w.capacity()))
        label = w.label()
        if not self._resumes(rec, digest, "firmware", label):
            rec["stage"] = {"meta": digest, "kind": "firmware", "slot": label, "done": 0, "item": 0}
            state.save(self.state_dir, rec)
        return w

    def _write_meta(self, path, metadata):
        """The slot's signed metadata, kept beside it (as .new until the slot is complete)."""
        from hal import store

        with open(path, "wb") as f:
            f.write(metadata)
            store.durable(f)

    # -- write ---------------------------------------------------------------------------

    def _started(self):
        payload, sink, rec = self.payload, self.sink, self.rec
        if payload is None or sink is None or rec is None:
            raise UpdateError(NOT_STARTED, "call start() with the package's metadata first")
        return payload, sink, rec

    def write(self, offset, data):
        payload, sink, rec = self._started()
        if offset != self.offset:
            raise UpdateError(OFFSET, "data for payload offset %d, expected %d: send from there" % (offset, self.offset))
        try:
            pieces = payload.feed(data)
        except ManifestError:
            self._give_up()
            raise
        for index, piece in pieces:
            sink.write(index, piece)
        self.offset += len(data)
        sink.done(payload.index)
        # the progress record: at each complete file, or every CHECKPOINT bytes of an image
        st = rec["stage"]
        safe = sink.safe()
        if safe > st["done"] and (st["kind"] == "app" or safe - st["done"] >= CHECKPOINT):
            st["done"] = safe
            st["item"] = payload.index if st["kind"] == "app" else 0
            state.save(self.state_dir, rec)
        return self.offset

    def _give_up(self):
        """Bad bytes: forget the staged transfer, so the next start() begins afresh."""
        rec = self.rec
        if self.sink:
            self.sink.abort()
        if rec is not None:
            rec["stage"] = None
            state.save(self.state_dir, rec)
        self._clear()

    def abort(self):
        """Stop the transfer in this object (the staged part stays for a later resume)."""
        if self.sink:
            self.sink.abort()
        self._clear()

    # -- finish --------------------------------------------------------------------------

    def finish(self):
        payload, sink, rec = self._started()
        try:
            payload.finish()
        except ManifestError:
            self.abort()  # a short transfer: what was staged is good, go on from there later
            raise
        m = self.m
        sink.done(len(m.items))
        bad = sink.verify()  # every byte again, as storage holds it
        if bad:
            self._give_up()
            raise ManifestError(PAYLOAD, "staged %s does not match the manifest" % bad)
        p = {
            "kind": rec["stage"]["kind"],
            "counter": m.counter,
            "keyring": m.keyring_counter,
            "version": m.version,
            "meta": self.digest,
            "label": rec["stage"]["slot"],
        }
        if p["kind"] == "app":
            self._switch_app(rec, p)
        else:
            self._switch_image(rec, p)
        self._clear()
        return m

    def _switch_app(self, rec, p):
        slot = p["label"]
        path = state.meta_path(self.state_dir, slot)
        os.rename(path + ".new", path)  # the slot is complete: boot may take it (once the record says so)
        rec["slots"][slot] = {"version": p["version"], "meta": p["meta"]}
        rec["previous"] = rec["active"]
        rec["active"] = slot
        rec["trial"] = True
        rec["boots"] = 0
        rec["pending"] = p
        rec["stage"] = None
        state.save(self.state_dir, rec)  # the switch: one atomic write

    def _switch_image(self, rec, p):
        from update.image import ImageWriter

        w = self.sink
        assert isinstance(w, ImageWriter)
        rec["pending"] = p
        rec["stage"] = None
        state.save(self.state_dir, rec)
        try:
            w.part.set_boot()  # the switch (ESP-IDF writes otadata atomically)
        except OSError as e:
            rec["pending"] = None
            state.save(self.state_dir, rec)
            raise UpdateError(UNSUPPORTED, "the bootloader refused the image (%s)" % e)
