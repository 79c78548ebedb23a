"""Bare UDP echo server for `make bench`: the practical limit for the node's round trips.

Runs under the MicroPython unix port with the firmware in place from its ROMFS image, as
the node runs (`tools/romfs.py build/firmware.romfs 256K bench_echo ADDR`, MICROPYPATH=tools),
and takes the same receive path as the node (app.serve): hal.udp.Endpoint on ADDR:3610, asyncio,
Endpoint.receive_loop on the unicast and the multicast socket; it sends each datagram
back unchanged with Endpoint.send, to the source address at port 3610, as the node sends
its replies.

With `tick` after ADDR it also runs one task that sleeps a second at a time, as the node's
clock tick does (app._tick): what any timer costs each datagram under MicroPython's
asyncio, which then weighs the timer at each wake-up (and would poll twice, once more
with a zero timeout, but for `hal.udp.Endpoint`, which stands in for its wait).
"""

import asyncio
import sys

from hal.udp import Endpoint


async def tick():
    while True:
        await asyncio.sleep_ms(1000)  # pyright: ignore[reportAttributeAccessIssue] (MicroPython)


async def serve(addr, ticking):
    ep = Endpoint(addr)
    print("READY %s:%d echo%s" % (ep.addr, ep.port, " with a tick" if ticking else ""))

    def echo(data, src):
        ep.send(src, data)

    loops = [ep.receive_loop(sock, echo, print, print) for sock in (ep.unicast, ep.multicast)]
    try:
        await asyncio.gather(*loops, *([tick()] if ticking else []))
    finally:
        ep.close()


def main():
    if len(sys.argv) < 2 or sys.argv[2:] not in ([], ["tick"]):
        print("usage: bench_echo.py ADDR [tick]")
        return 2
    try:
        asyncio.run(serve(sys.argv[1], sys.argv[2:] == ["tick"]))
    except KeyboardInterrupt:
        pass
    print("STOPPED")
    return 0


sys.exit(main())
