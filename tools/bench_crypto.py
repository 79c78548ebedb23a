"""Crypto figures for `make bench`, measured under the MicroPython unix port:

    MICROPYPATH=build/firmware micropython -X heapsize=48K tools/bench_crypto.py [MANIFESTS]

Run it on the compiled firmware (.mpy, as deployed). MANIFESTS is
host_tests/data/ed25519/manifests.json (signed test packages); without it the manifest
line is left out. Prints one line per figure, best of several runs for times:

    HEAP start N          bytes in use before any security module is imported
    HEAP ed25519 N        after importing security.ed25519 (and security.sha512)
    ED25519 verify_ms X   one verify of RFC 8032 TEST 3 (2-byte message)
    HEAP manifest N       after importing security.manifest too, with the package loaded
    MANIFEST verify_ms X  manifest.verify() of the package's metadata: two verifies + parsing
    SHA256 MBps X         C hashlib.sha256, 64 KiB in 4 KiB pieces
    SHA512 KBps X         the pure-Python security/sha512.py, 16 KiB in 4 KiB pieces
    HEAP live N           in use after all of the above, collected
    HEAP total N          size of the GC heap (the -X heapsize)

Every verify here runs inside the given heap: run with -X heapsize=48K to show the
verifier fits in it (the time then includes the garbage collections a small heap costs).
"""

import gc
import hashlib
import sys
import time

gc.collect()
start = gc.mem_alloc()
print("HEAP start %d" % start)

from security import ed25519  # noqa: E402

gc.collect()
print("HEAP ed25519 %d" % gc.mem_alloc())

# RFC 8032 §7.1 TEST 3: public key, message, signature (public test vector)
PK = bytes.fromhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025")
MSG = bytes.fromhex("af82")
SIG = bytes.fromhex(
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
)


def best_us(fn, n):
    best = 1 << 60
    for _ in range(n):
        t0 = time.ticks_us()
        fn()
        best = min(best, time.ticks_diff(time.ticks_us(), t0))
    return best


def check_verify():
    if not ed25519.verify(PK, MSG, SIG):
        raise SystemExit("ED25519 verify failed")


print("ED25519 verify_ms %.2f" % (best_us(check_verify, 30) / 1000))

if len(sys.argv) > 1:
    from security import manifest  # noqa: E402

    with open(sys.argv[1]) as f:
        for line in f:  # the file is indented JSON; take the one line needed, not all of it
            line = line.strip()
            if line.startswith('"good"'):
                package = bytes.fromhex(line.split('"')[3])
            elif line.startswith('"root_public_key"'):
                roots = [bytes.fromhex(line.split('"')[3])]
    meta = package[: manifest.metadata_size(package)]  # noqa: F821
    del package  # noqa: F821
    gc.collect()
    print("HEAP manifest %d" % gc.mem_alloc())

    def check_manifest():
        manifest.verify(meta, roots, "drready-node", "ESP32_GENERIC", 1780000000, 0)  # noqa: F821

    print("MANIFEST verify_ms %.2f" % (best_us(check_manifest, 10) / 1000))


def sha256_64k(buf):
    h = hashlib.sha256(buf)
    for _ in range(15):
        h.update(buf)
    h.digest()


def sha512_16k(buf):
    h = sha512(buf)
    for _ in range(3):
        h.update(buf)
    h.digest()


gc.collect()
block = bytes(4096)  # small: a 48K heap has no 64 KiB in one piece
us = best_us(lambda: sha256_64k(block), 10)
print("SHA256 MBps %.1f" % (16 * len(block) / us))
from security.sha512 import sha512  # noqa: E402

us = best_us(lambda: sha512_16k(block), 3)
print("SHA512 KBps %.1f" % (4 * len(block) / 1.024 / us * 1000))
gc.collect()
print("HEAP live %d" % gc.mem_alloc())
print("HEAP total %d" % (gc.mem_alloc() + gc.mem_free()))
