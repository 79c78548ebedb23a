"""pychonet plumbing shared by the loopback tests and the namespace helper script.

pychonet's UDPServer hands every datagram to each subscribed coroutine function
(`UDPServer.subscribe`); ECHONETAPIClient is one such subscriber. `Recorder` is another:
it keeps the raw frames, so a test can assert the bytes pychonet received, not only
what pychonet made of them.
"""
import asyncio

try:
    from . import enl
except ImportError:  # run as a script inside a namespace
    import enl


class Recorder:
    def __init__(self, server):
        self.frames = []  # (Frame, (host, port))
        self._changed = asyncio.Event()
        server.subscribe(self.on_datagram)

    async def on_datagram(self, data, addr):
        try:
            frame = enl.parse(data)
        except ValueError:
            return
        self.frames.append((frame, addr))
        self._changed.set()

    async def wait(self, pred, timeout=10.0):
        """The first recorded frame with pred(frame, addr) true; waits for it if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for frame, addr in self.frames:
                if pred(frame, addr):
                    return frame
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError("no matching frame within %.0f s; got %s" % (
                    timeout, [(a[0], f.raw.hex()) for f, a in self.frames[-20:]]))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def reply(self, host, tid, timeout=10.0):
        """The frame host sent with this TID."""
        return await self.wait(lambda f, a: a[0] == host and f.tid == tid, timeout)


def quiet(*_args, **_kw):
    """pychonet logs with print() by default, e.g. for every unknown sender."""
