"""Streaming a firmware image into the next OTA partition (ESP32), 4096-byte flash
blocks at a time: writeblocks(n, buf) erases the block, then writes it (MicroPython's
simple block protocol, ports/esp32/esp32_partition.c). The image is read back and hashed
before the partition may be made bootable."""
import hashlib

from security.ct import equal

BLOCK = 4096


def next_partition():
    """The OTA partition an image is written to (never the running one), or None on a
    port without OTA partitions."""
    try:
        import esp32
    except ImportError:
        return None
    try:
        return esp32.Partition(esp32.Partition.RUNNING).get_next_update()  # pyright: ignore[reportArgumentType]
    except OSError:  # ENOENT: the partition table has no OTA slots
        return None


class ImageWriter:
    """Writes the one item of a firmware package, the image, into partition part."""

    def __init__(self, part, item):
        self.part = part
        self.size = item[1]
        self.digest = item[2]
        self.buf = bytearray(BLOCK)
        self.fill = 0
        self.block = 0  # blocks written (and erased) so far

    def label(self):
        return self.part.info()[4]

    def capacity(self):
        return self.part.info()[3]

    def safe(self):
        """Image bytes that are in flash."""
        return min(self.block * BLOCK, self.size)

    def resume(self, done, payload):
        """Go on after an interruption: the first done bytes (whole blocks) are in flash;
        they are read back into the running hash, so the final check covers them too."""
        mv = memoryview(self.buf)
        b = 0
        while b * BLOCK < done:
            self.part.readblocks(b, self.buf)
            payload.feed(mv[: min(BLOCK, done - b * BLOCK)])
            b += 1
        self.block = b

    def write(self, _index, piece):
        n = len(piece)
        p = 0
        while p < n:
            take = min(BLOCK - self.fill, n - p)
            self.buf[self.fill : self.fill + take] = piece[p : p + take]
            self.fill += take
            p += take
            if self.fill == BLOCK:
                self._flush()

    def _flush(self):
        self.part.writeblocks(self.block, self.buf)
        self.block += 1
        self.fill = 0

    def done(self, upto):
        if upto and self.fill:  # the image is complete: its last, partial block
            for i in range(self.fill, BLOCK):
                self.buf[i] = 0xFF  # as erased flash reads
            self._flush()

    def abort(self):
        pass

    def verify(self):
        """None if the image in flash hashes to the manifest's digest (read back), else its name."""
        h = hashlib.sha256()
        mv = memoryview(self.buf)
        left = self.size
        b = 0
        while left > 0:
            self.part.readblocks(b, self.buf)
            take = min(left, BLOCK)
            h.update(mv[:take])
            left -= take
            b += 1
        return None if equal(h.digest(), self.digest) else "firmware"
