"""The secure channel's costs for `make bench` (tools/bench.py calls figures()).

The node runs as `make sim` runs it (tools/sim.py, the unix port, its default heap) on a
loopback address; a CPython controller (tools/secure.py) enrolls with the code the node
prints, then:
- handshake: a full TLS 1.2 handshake with client certificate (ECDHE-ECDSA P-256, the
  controller's side included), connect to first reply, ROUNDS times;
- Get over TLS: one ECHONET Lite Get of 0x027D01 0xDA on an open session, ROUNDS times;
- heap per session: the node's GC heap (its `status` request, after gc.collect) with one
  session open, then with a second one open and idle; the difference is what a session
  costs in the GC heap. The TLS context of each session slot (3 KB on this port) is made at
  boot and is in the READY figure already. mbedTLS's record buffers are outside the GC
  heap on the unix port (and in the ESP-IDF heap on a board), so they are not in it.

Run alone: `python tools/bench_tls.py 127.0.0.9 127.0.0.10` prints the figures as JSON.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import secure, setupcode  # noqa: E402

ROUNDS = 30
HEAP = "256K"  # make sim's default


def _wait_ready(proc, timeout=30):
    out = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
        if line.startswith("READY"):
            return out
    raise RuntimeError("the node did not start:\n" + out)


def figures(addr, ctrl):
    state = tempfile.mkdtemp(prefix="bench-tls-")
    home = os.path.join(state, "ctl")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sim.py"), "--addr", addr, "--heap", HEAP,
                             "--state", state], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out = _wait_ready(proc)
        ready = re.search(r"^READY .* heap (\d+)/(\d+)$", out, re.M)
        code = setupcode.PRINTED.search(out)
        if code is None:
            raise RuntimeError("the node printed no setup code:\n" + out)
        me = secure.ControllerIdentity.load_or_create(home)
        pins = secure.Pins(home)
        with secure.Connection(addr, me, pins, bind=ctrl, enrolling=True) as c:
            secure.enroll(c, me, setupcode.normalize(code.group(1)), "bench")
            pins.put(c.where, c.device_fp, c.device)
        hs = []
        for _ in range(ROUNDS):
            t = time.perf_counter()
            with secure.Connection(addr, me, pins, bind=ctrl) as c:
                c.request({"op": "hello"})
            hs.append((time.perf_counter() - t) * 1000)
        with secure.Connection(addr, me, pins, bind=ctrl) as a:
            gets = []
            for _ in range(ROUNDS):
                t = time.perf_counter()
                a.echonet(0x027D01, 0x62, [(0xDA, b"")])
                gets.append((time.perf_counter() - t) * 1000)
            one = a.request({"op": "status"})
            with secure.Connection(addr, me, pins, bind=ctrl) as b:
                b.request({"op": "hello"})
                two = a.request({"op": "status"})
        return {
            "heap": HEAP,
            "ready_alloc": int(ready.group(1)) if ready else None,
            "heap_total": int(ready.group(2)) if ready else None,
            "handshake_ms": statistics.median(hs),
            "handshake_min_ms": min(hs),
            "handshake_max_ms": max(hs),
            "get_ms": statistics.median(gets),
            "one_session_alloc": one["heap_alloc"],
            "two_sessions_alloc": two["heap_alloc"],
            "per_session": two["heap_alloc"] - one["heap_alloc"],
            "rounds": ROUNDS,
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(state, ignore_errors=True)


def render(w, f):
    """The figures as a docs/benchmarks.md section; w writes one line."""
    w("## Secure channel (TLS, `make sim` heap %s)" % f["heap"])
    w("")
    w("| figure | value |")
    w("|---|---:|")
    w("| full handshake with client certificate, connect to first reply (median of %d; min–max) | %.1f ms (%.1f–%.1f) |"
      % (f["rounds"], f["handshake_ms"], f["handshake_min_ms"], f["handshake_max_ms"]))
    w("| ECHONET Lite Get over an open session (median of %d) | %.2f ms |" % (f["rounds"], f["get_ms"]))
    w("| node heap in use at READY (TLS contexts for every session slot included) | %s of %s |"
      % (f["ready_alloc"], f["heap_total"]))
    w("| node heap in use with one session open | %d |" % f["one_session_alloc"])
    w("| GC heap per additional open session | %d bytes |" % f["per_session"])
    w("")


if __name__ == "__main__":
    print(json.dumps(figures(sys.argv[1], sys.argv[2]), indent=1))
