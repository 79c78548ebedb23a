"""Bare UDP echo server for `make bench`: the practical limit for the node's round trips.

Runs under the MicroPython unix port with the firmware in place from its ROMFS image, as
the node runs (`tools/romfs.py build/firmware.romfs 256K bench_echo ADDR`, MICROPYPATH=tools),
and takes the same receive path as the node (app.serve): hal.udp.Endpoint on ADDR:3610, asyncio,
Endpoint.receive_loop on the unicast and the multicast socket; it sends each datagram
back unchanged with Endpoint.send, to the source address at port 3610, as the node sends
its replies.
"""

import asyncio
import sys

from hal.udp import Endpoint


async def serve(addr):
    ep = Endpoint(addr)
    print("READY %s:%d echo" % (ep.addr, ep.port))

    def echo(data, src):
        ep.send(src, data)

    try:
        await asyncio.gather(*(ep.receive_loop(sock, echo, print, print) for sock in (ep.unicast, ep.multicast)))
    finally:
        ep.close()


def main():
    if len(sys.argv) < 2:
        print("usage: bench_echo.py ADDR")
        return 2
    try:
        asyncio.run(serve(sys.argv[1]))
    except KeyboardInterrupt:
        pass
    print("STOPPED")
    return 0


sys.exit(main())
