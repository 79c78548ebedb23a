"""Peak heap of an update under the MicroPython unix port, for `make bench`.

tools/bench.py calls figures(): it signs two packages with keys made for the run and
thrown away (the compiled node, build/firmware, as an application bundle; a 256 KB
firmware image), then runs MP_SCRIPT below under the unix port on each (the firmware run
in place from build/firmware.romfs, as make sim runs it and a board runs it from flash:
tools/romfs.py), in ever smaller heaps, to find the smallest -X heapsize from
which on the whole update (start, write in 1 KB pieces, finish) still completes: the peak
heap an update needs, the interpreter's own and the modules included. It also reports
the largest live heap (gc.mem_alloc() after gc.collect()) between two writes.

MP_SCRIPT is kept small and separate because the unix port compiles a script into its
heap: this whole file would add its own bytecode to the figure. For a firmware image it
installs a file-backed stand-in of esp32.Partition (the unix port has no OTA
partitions), which keeps the flash off the heap, as it is on a board.
`python tools/bench_update.py` prints the figures alone.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

MP_SCRIPT = """\
import gc
import sys

gc.collect()
kind, package, state_dir, root, now = sys.argv[1:6]

if kind == "firmware":

    class Partition:  # the esp32.Partition calls update/image.py makes, on a file
        RUNNING = 1

        def __init__(self, _id=None):
            self.path = state_dir + "/ota_1.bin"

        def get_next_update(self):
            return self

        def info(self):
            return (0, 0x11, 0x190000, 0x180000, "ota_1", False)

        def writeblocks(self, block, buf):
            with open(self.path, "r+b" if block else "wb") as f:
                f.seek(block * 4096)
                f.write(buf)

        def readblocks(self, block, buf):
            with open(self.path, "rb") as f:
                f.seek(block * 4096)
                f.readinto(buf)

        def set_boot(self):
            pass

    class esp32:
        pass

    esp32.Partition = Partition
    sys.modules["esp32"] = esp32

from update.receiver import Receiver

peak = [0]

def sample():
    gc.collect()
    peak[0] = max(peak[0], gc.mem_alloc())

r = Receiver(state_dir, roots=[bytes.fromhex(root)], board_name="unix")
buf = bytearray(1024)  # the transport's buffer, made while the heap is whole
mv = memoryview(buf)
with open(package, "rb") as f:
    head = f.read(8)
    size = int.from_bytes(head[4:6], "big") + int.from_bytes(head[6:8], "big") + 152
    meta = head + f.read(size - 8)
    off = r.start(meta, int(now))
    del meta, head
    sample()
    while True:
        n = f.readinto(buf)
        if not n:
            break
        off = r.write(off, mv[:n])
        sample()
m = r.finish()
sample()
print("UPDATE live %d" % peak[0])
print("UPDATE done %s" % m.version)
"""

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "build", "firmware")
MAX_PEAK = 64 * 1024  # the target for the peak heap of an update
START_KB = 80  # the heap the search starts from (the update must complete in it)
TRIES = 3  # runs that must all complete for a heap size to count


def _packages(tmp):
    """(root public key, {kind: package path}) signed with keys made now and thrown away."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import hashlib

    import sign
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    root, upd = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    now = int(time.time())
    entry = (sign.public_bytes(upd), now - 60, now + 86400, 0, 1000, ["drready-node"], ["unix"])
    ring = sign.keyring_file(root, sign.keyring_body(1, [entry]))
    image = b"\xe9" + os.urandom(256 * 1024 - 1)
    out = {}
    for kind, found in (("app", sign.bundle_items(FIRMWARE)), ("firmware", [("firmware", image)])):
        items = [(name, len(data), hashlib.sha256(data).digest()) for name, data in found]
        body = sign.manifest_body("drready-node", "unix", "9.0.0", 5, now + 86400, items)
        path = os.path.join(tmp, kind + ".pkg")
        with open(path, "wb") as f:
            f.write(sign.metadata(ring, upd, body) + b"".join(data for _n, data in found))
        out[kind] = (path, len(found), os.path.getsize(path))
    return sign.public_bytes(root), now, out


def _run(heap_kb, kind, path, root, now, tmp):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools import romfs

    state = tempfile.mkdtemp(dir=tmp)
    script = os.path.join(tmp, "measure.py")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(MP_SCRIPT)
    cmd = romfs.command(romfs.image_of(FIRMWARE), "%dK" % heap_kb, "measure", [kind, path, state, root.hex(), now])
    r = subprocess.run(cmd, env=dict(os.environ, MICROPYPATH=tmp + ":.frozen"), capture_output=True, text=True, timeout=120)
    shutil.rmtree(state, ignore_errors=True)
    figs = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "UPDATE":
            figs[parts[1]] = parts[2]
    return figs if r.returncode == 0 and "done" in figs else None


def _run_all(heap_kb, kind, path, root, now, tmp):
    """The figures of the last of TRIES runs, or None if any of them fails."""
    got = None
    for _ in range(TRIES):
        got = _run(heap_kb, kind, path, root, now, tmp)
        if got is None:
            return None
    return got


def figures(log):
    """{"update app": {...}, "update firmware": {...}}: smallest heap (KB) and live peak (bytes)."""
    tmp = tempfile.mkdtemp(prefix="bench-update-")
    try:
        root, now, pkgs = _packages(tmp)
        out = {}
        for kind, (path, items, size) in pkgs.items():
            log("update: %s package (%d items, %d bytes) under the unix port, shrinking the heap" % (kind, items, size))
            # down 1K at a time from a heap that works, to the first that does not: a
            # fragmented heap is not monotonic, so no bisection; and the unix port's GC scans
            # the C stack conservatively, so a run can keep garbage another run frees: a
            # heap counts only if the update completes in every one of TRIES runs. The
            # figure is the smallest heap from which every larger one (tested) completes
            hi = START_KB
            at_hi = _run_all(hi, kind, path, root, now, tmp)
            if at_hi is None:
                out[kind] = {"error": "the update does not complete in a %dK heap" % hi}
                continue
            while hi > 16:
                got = _run_all(hi - 1, kind, path, root, now, tmp)
                if got is None:
                    break
                hi, at_hi = hi - 1, got
            out[kind] = {"items": items, "bytes": size, "min_heap_kb": hi, "live": int(at_hi["live"])}
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report_rows(figs):
    """The docs/benchmarks.md section for figures() (lines), and its targets (name, want, got, ok)."""
    rows = [
        "## Signed updates: peak heap (unix port, the firmware in place from its ROMFS image)",
        "",
        "tools/bench_update.py: a package signed for the run, received by update/receiver.py in 1 KB writes "
        "(start, write, finish) under `micropython -X heapsize=N`, N lowered 1K at a time until one of 3 runs fails. "
        "The firmware runs in place from build/firmware.romfs (tools/romfs.py), as make sim runs it and a board "
        "runs it from flash; under the unix port (64-bit) objects still take about twice a board's RAM.",
        "",
        "| figure | value |",
        "|---|---:|",
    ]
    targets = []
    for kind, what in (("app", "an application bundle (build/firmware)"), ("firmware", "a firmware image")):
        f = figs.get(kind, {"error": "not measured"})
        if "error" in f:
            rows.append("| update of %s | %s |" % (what, f["error"]))
            targets.append(("peak heap of an update, %s" % kind, "≤ 64 KB", "n/a", False))
            continue
        rows.append("| update of %s, %d items, %d bytes: smallest heap it completes in | %d KB |"
                    % (what, f["items"], f["bytes"], f["min_heap_kb"]))
        rows.append("| the same: largest live heap between two 1 KB writes | %d |" % f["live"])
        targets.append(("peak heap of an update, %s (smallest heap it completes in)" % kind, "≤ 64 KB",
                        "%d KB" % f["min_heap_kb"], f["min_heap_kb"] * 1024 <= MAX_PEAK))
    return rows, targets


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    figs = figures(print)
    print("\n".join(report_rows(figs)[0]))
