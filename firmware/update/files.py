"""Staging an application bundle into a slot directory: one file per manifest item,
written as the payload streams by, each made durable before the transfer's progress
record moves past it; checked again from the filesystem before the slot can go live."""
import hashlib
import os

from hal import store
from security.ct import equal

BUF = 512  # read-back buffer; small, the heap is the limit on a board


def is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def remove_tree(path):
    """Delete path and everything under it (a slot being reused)."""
    if not is_dir(path):
        try:
            os.remove(path)
        except OSError:
            pass
        return
    for name in os.listdir(path):
        remove_tree(path + "/" + name)
    os.rmdir(path)


def free_bytes(path):
    """Bytes free on the filesystem holding path (None if the port cannot tell)."""
    statvfs = getattr(os, "statvfs", None)
    if not statvfs:
        return None
    st = statvfs(path)
    return st[1] * st[4]  # f_frsize * f_bavail


def need_bytes(items, start, block=4096):
    """Room items[start:] take: each file rounded up to whole blocks, plus one block of
    metadata each (littlefs keeps a small file inline, so this errs on the safe side)."""
    n = 0
    for i in range(start, len(items)):
        n += (items[i][1] + block - 1) // block * block + block
    return n


class SlotWriter:
    """Writes the items of a manifest into directory root. write(index, piece) appends to
    item index; done(upto) closes every item before upto (creating empty ones), durably."""

    def __init__(self, root, items, first=0):
        self.root = root
        self.items = items
        self.closed = first  # items before this one are complete on disk
        self.done_bytes = 0  # and their bytes
        for i in range(first):
            self.done_bytes += items[i][1]
        self.index = -1
        self.f = None

    def safe(self):
        """Payload bytes that are on disk for good: a transfer may go on from there."""
        return self.done_bytes

    def resume(self, _done, payload):
        payload.skip_to(self.closed)  # those files were checked as they came in

    def _open(self, index):
        path = self.root + "/" + self.items[index][0]
        store.makedirs(path.rsplit("/", 1)[0])
        self.f = open(path, "wb")
        self.index = index

    def write(self, index, piece):
        if index != self.index:
            self.done(index)
            self._open(index)
        f = self.f
        if f is not None:
            f.write(piece)

    def done(self, upto):
        while self.closed < upto:
            if self.index != self.closed:  # an empty item, or one never opened here
                self._open(self.closed)
            f = self.f
            if f is not None:
                store.durable(f)
                f.close()
            self.f = None
            self.index = -1
            self.done_bytes += self.items[self.closed][1]
            self.closed += 1

    def abort(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def verify(self):
        """The name of the first item whose file differs from the manifest, or None."""
        buf = bytearray(BUF)
        for name, size, digest in self.items:
            h = hashlib.sha256()
            n = 0
            try:
                with open(self.root + "/" + name, "rb") as f:
                    while True:
                        k = f.readinto(buf)
                        if not k:
                            break
                        h.update(memoryview(buf)[:k])
                        n += k
            except OSError:
                return name
            if n != size or not equal(h.digest(), digest):
                return name
        return None
