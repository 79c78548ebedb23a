"""A verified update manifest, and the check of the payload that follows it as it
streams. Split from security/manifest.py (parsing and signature checks), which the
receiver drops once the metadata is verified: this is all an update needs from there on.
"""
import hashlib
from struct import unpack_from

from security.ct import equal

TYPE_CHECKING = False
if TYPE_CHECKING:  # for pyright
    from security.manifest import Delegation, Keyring

BAD_SIGNATURE = "bad signature"
WRONG_TARGET = "wrong product/board"
EXPIRED = "expired metadata"
ROLLBACK = "rollback"
DELEGATION = "unknown or revoked/expired delegation"
MALFORMED = "malformed"
PAYLOAD = "payload does not match manifest"  # Payload / check_package only

FIRMWARE = "firmware"  # item name of a firmware image; every other name is a file path


class ManifestError(Exception):
    """A refusal: .reason is one of the reason constants above, .detail says more."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + ": " + detail if detail else reason)
        self.reason = reason
        self.detail = detail


class Manifest:
    """What an update contains. items: a sequence of (name, size, sha256) (Items); name
    is a path relative to the application root, or FIRMWARE."""

    def __init__(self, product, board, version, counter, expires, items):
        self.product = product
        self.board = board
        self.version = version
        self.counter = counter
        self.expires = expires
        self.items = items
        # set by verify():
        self.keyring: "Keyring | None" = None  # the Keyring that delegated the signer
        self.signer: "Delegation | None" = None  # the signer's Delegation
        self.keyring_counter = 0  # keyring.counter, kept when keyring is let go
        self.metadata_size = 0

    def payload_size(self):
        n = 0
        for item in self.items:
            n += item[1]
        return n


class Items:
    """The manifest's items as a sequence of (name, size, sha256), read from the checked
    manifest bytes when asked for: a tuple, a str and a bytes per item would take about
    four times the bytes the item takes in the manifest, and a bundle has dozens."""

    def __init__(self, body, at):
        self.body = body
        self.at = at  # where each item's record starts in body

    def __len__(self):
        return len(self.at)

    def __getitem__(self, i):
        b = self.body
        p = self.at[i]
        n = b[p]
        p += 1 + n
        return bytes(b[p - n : p]).decode(), unpack_from(">I", b, p)[0], bytes(b[p + 4 : p + 36])

    def __iter__(self):
        for i in range(len(self.at)):
            yield self[i]


class Payload:
    """Checks the payload that follows the metadata against a verified Manifest, as
    it streams by: each item must be exactly its size and hash to its SHA-256.

        p = Payload(m)
        for chunk in stream:
            for index, piece in p.feed(chunk):   # piece: a memoryview into chunk
                ...                              # write piece to item m.items[index]
        p.finish()

    feed() raises ManifestError(PAYLOAD) when an item ends with the wrong hash or bytes
    follow the last item; finish() when the payload ended early. An item is known good
    only once feed() has returned past its end: stage it, never install it before.
    """

    def __init__(self, manifest):
        self.items = manifest.items
        self.index = 0  # item being received
        self.left = self.items[0][1] if self.items else 0
        self.hash = hashlib.sha256()
        self._skip_empty()

    def _skip_empty(self):
        while self.index < len(self.items) and self.left == 0:
            self._close()

    def _close(self):
        if not equal(self.hash.digest(), self.items[self.index][2]):
            raise ManifestError(PAYLOAD, "item %s has the wrong SHA-256" % self.items[self.index][0])
        self.index += 1
        self.hash = hashlib.sha256()
        self.left = self.items[self.index][1] if self.index < len(self.items) else 0

    def feed(self, data):
        out = []
        mv = memoryview(data)
        p = 0
        n = len(mv)
        while p < n:
            if self.index >= len(self.items):
                raise ManifestError(PAYLOAD, "bytes after the last item")
            take = n - p
            if take > self.left:
                take = self.left
            piece = mv[p : p + take]
            self.hash.update(piece)
            out.append((self.index, piece))
            p += take
            self.left -= take
            if not self.left:
                self._close()
                self._skip_empty()
        return out

    def skip_to(self, index):
        """Resume at the start of item index: the items before it were checked in an earlier
        session (an interrupted transfer); their bytes are not fed again."""
        self.index = index
        self.left = self.items[index][1] if index < len(self.items) else 0
        self.hash = hashlib.sha256()
        self._skip_empty()

    def finish(self):
        if self.index < len(self.items):
            raise ManifestError(PAYLOAD, "payload ends inside item %s" % self.items[self.index][0])
