"""Bare UDP echo server for `make bench`: the practical limit for the node's round trips.

Runs under the MicroPython unix port with MICROPYPATH=build/firmware:.frozen and takes the
same receive path as the node (app._receive): hal.udp.Endpoint on ADDR:3610, asyncio,
Endpoint.recv on the unicast and the multicast socket, the is_own filter; then it sends
each datagram back unchanged with Endpoint.send, to the source address at port 3610, as
the node sends its replies.

    micropython tools/bench_echo.py ADDR
"""

import asyncio
import sys

from hal.udp import Endpoint


async def _receive(ep, sock):
    while True:
        data, src = await ep.recv(sock)
        if not ep.is_own(src):
            ep.send(src, data)


async def serve(addr):
    ep = Endpoint(addr)
    print("READY %s:%d echo" % (ep.addr, ep.port))
    try:
        await asyncio.gather(_receive(ep, ep.unicast), _receive(ep, ep.multicast))
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
