"""A receive loop in a heap cut into pieces too small for a read (hal/udp.py, Endpoint
reserve), under the real unix port: a long-running node can have kilobytes free and no
257 bytes in one piece. The endpoint keeps room from its start for a short read (twice
that on the unix port, whose recvfrom copies what it read), gives it up for one, and
takes it back once the read and its datagram are over."""
import os
import subprocess
import sys

from .harness import FIRMWARE_MAIN

FIRMWARE = os.path.dirname(FIRMWARE_MAIN)
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
N = 3

SCRIPT = """
import asyncio, gc, socket, sys
from hal.udp import Endpoint, peer_ip, sockaddr

addr, ctrl, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ep = Endpoint(addr)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(sockaddr(ctrl, 0))
to = sockaddr(addr, 3610)
got = []
failed = []
pieces = [None] * 1500  # made first: no list grows while the heap is cut up
# requests of 240 bytes, made first too: most of the short read's 256
requests = [b"%03d" % k + b"x" * 237 for k in range(n)]

def handle(data, src):
    if peer_ip(src) == ctrl:  # (another node on this host multicasting to the group)
        got.append(len(data))

async def tick():
    while True:
        await asyncio.sleep_ms(1000)

async def main():
    asyncio.create_task(ep.receive_loop(ep.unicast, handle, failed.append, print))
    asyncio.create_task(tick())
    await asyncio.sleep_ms(20)
    # fill the heap with pieces of 9 blocks (a 100-byte bytearray and its object), then
    # free every other one: holes of 144 bytes at most
    i = 0
    try:
        while i < len(pieces):
            pieces[i] = bytearray(100)
            i += 1
    except MemoryError:
        pass
    for j in range(1, i, 2):
        pieces[j] = None
    gc.collect()
    try:
        bytearray(257)
        cut = False
    except MemoryError:
        cut = True
    for k in range(n):
        c.sendto(requests[k], to)
        for _ in range(100):
            await asyncio.sleep_ms(10)
            if len(got) > k or len(failed) > k:
                break
    print("cut", cut, "got", got == [240] * n, "failed", len(failed), "reserve", ep.reserve is not None)

asyncio.run(main())
"""


def test_a_datagram_is_read_in_a_heap_with_no_room_for_it_but_the_reserve(tmp_path, address_pool):
    addr, ctrl = address_pool.pair()
    script = tmp_path / "cut.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH="%s:%s:.frozen" % (tmp_path, FIRMWARE))
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=64K", str(script), addr, ctrl, str(N)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # the heap had no 257 bytes in one piece, yet every request came through whole, each in
    # the reserve's room, and the reserve was made again after each (else the next fails)
    assert r.stdout.split()[-8:] == ["cut", "True", "got", "True", "failed", "0", "reserve", "True"], r.stdout
