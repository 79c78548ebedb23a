"""The receive loop under the real unix port's asyncio: one poll per datagram while a task
sleeps (as the clock tick always does), where MicroPython's scheduler alone polls twice,
no datagram waits behind tasks that are always ready to run, and a socket whose loop is
gone does not keep the scheduler polling (hal/udp.py, Endpoint.read)."""
import os
import socket
import subprocess
import sys
import time

from .harness import FIRMWARE_MAIN

FIRMWARE = os.path.dirname(FIRMWARE_MAIN)

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
N = 200

# Each datagram handled sends the next from a plain socket, so every wake-up of the loop
# is one datagram. The poller is wrapped to count the polls that asyncio makes.
SCRIPT = """
import asyncio, socket, sys, time
from hal.udp import Endpoint, peer_ip, sockaddr

addr, ctrl, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
queue = asyncio.core._io_queue

class Counted:
    def __init__(self, poller):
        self.poller = poller
        self.polls = 0
    def register(self, *a):
        self.poller.register(*a)
    def modify(self, *a):
        self.poller.modify(*a)
    def unregister(self, *a):
        self.poller.unregister(*a)
    def ipoll(self, *a):
        self.polls += 1
        return self.poller.ipoll(*a)

counted = queue.poller = Counted(queue.poller)
ep = Endpoint(addr)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(sockaddr(ctrl, 0))
to = sockaddr(addr, 3610)
got = []
done = asyncio.Event()

def handle(data, src):
    if peer_ip(src) != ctrl:  # (another node on this host multicasting to the group)
        return
    got.append(data)
    if len(got) == n:
        done.set()
    else:
        c.sendto(b"%d" % len(got), to)

async def tick():
    while True:
        await asyncio.sleep_ms(1000)

async def spin():
    while True:
        await asyncio.sleep_ms(0)

async def main():
    loops = [asyncio.create_task(ep.receive_loop(s, handle, print, print)) for s in (ep.unicast, ep.multicast)]
    if mode != "notimer":
        asyncio.create_task(tick())
    if mode == "busy":
        asyncio.create_task(spin())
    await asyncio.sleep_ms(50)  # every task at its first wait
    if mode == "notimer":  # no timer at all: asyncio waits with no timeout, on its listener
        connected = asyncio.Event()

        async def conn(r, w):
            w.close()
            connected.set()

        await asyncio.start_server(conn, addr, 3611)
        loops[0].cancel()
        await asyncio.sleep_ms(10)
        c.sendto(b"0", to)  # for the loop that is gone
        print("waiting")
        await connected.wait()
        print("connected")
        return
    if mode == "cancel":  # a datagram for a loop that is gone, then a new loop for its socket
        loops[0].cancel()
        await asyncio.sleep_ms(10)
        c.sendto(b"0", to)
        start = counted.polls
        await asyncio.sleep_ms(300)
        idle = counted.polls - start
        asyncio.create_task(ep.receive_loop(ep.unicast, handle, print, print))
        await asyncio.wait_for_ms(done.wait(), 10000)
        print("got", len(got), "polls", idle)
        return
    start = counted.polls
    t0 = time.ticks_ms()
    c.sendto(b"0", to)
    await asyncio.wait_for_ms(done.wait(), 10000)
    print("got", len(got), "polls", counted.polls - start, "ms", time.ticks_diff(time.ticks_ms(), t0))

asyncio.run(main())
"""


def _run(tmp_path, address_pool, mode):
    addr, ctrl = address_pool.pair()
    script = tmp_path / "polls.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH="%s:%s:.frozen" % (tmp_path, FIRMWARE))
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=256K", str(script), addr, ctrl, str(N), mode],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    words = r.stdout.split()
    assert words[:2] == ["got", str(N)], r.stdout
    return int(words[3])


def test_one_poll_per_datagram_while_a_task_sleeps(tmp_path, address_pool):
    polls = _run(tmp_path, address_pool, "idle")
    # MicroPython's asyncio alone polls twice per datagram (2N); a few more for the start
    # and for the wait_for's own timer
    assert N <= polls <= N + 10, polls


def test_datagrams_are_served_beside_a_task_that_is_always_ready(tmp_path, address_pool):
    """Every datagram comes through (else the script's wait_for times out and it fails),
    because the zero-timeout poll still runs between ready tasks: several per datagram,
    where a wrapper that skipped them all would poll not once, a task being always ready."""
    polls = _run(tmp_path, address_pool, "busy")
    assert polls > 2 * N, polls


def test_a_datagram_no_loop_waits_for_does_not_keep_the_scheduler_polling(tmp_path, address_pool):
    """A cancelled loop's socket leaves the poller at the first wait its datagram cuts
    short; a new loop for the socket puts it back and reads that datagram and the rest
    (else the script's wait_for times out)."""
    polls = _run(tmp_path, address_pool, "cancel")
    # 300 ms asleep: a poll or two; a socket left in the poller would end every wait at
    # once, thousands of polls
    assert polls <= 5, polls


def test_a_wait_with_no_timer_goes_on_past_a_datagram_no_loop_takes(tmp_path, address_pool):
    """With no timer, asyncio waits with no timeout and then runs the task the wait woke:
    a datagram for a cancelled loop must not end that wait (its socket left the poller at
    the cancel; a wait that ended waking none would make asyncio pop an empty queue and
    stop), and the next event of asyncio's own listener is served."""
    addr, ctrl = address_pool.pair()
    script = tmp_path / "polls.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH="%s:%s:.frozen" % (tmp_path, FIRMWARE))
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=256K", str(script), addr, ctrl, "1", "notimer"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.3)  # the datagram arrives while asyncio waits on its listener alone
        assert p.poll() is None, p.stdout.read()
        socket.create_connection((addr, 3611), timeout=5).close()
        out = p.communicate(timeout=10)[0]
    finally:
        p.kill()
    assert p.returncode == 0 and out.split() == ["connected"], out
