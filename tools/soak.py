"""A long run of the simulated node under a controller's load: `make soak` (not part of
make test). It starts the node as `make sim` does (all five objects, the secure channel,
fast simulated time), enrolls a controller with the setup code the node prints, and then,
from its own loopback address, for MINUTES of real time:

- reads every property of every object's 0x9F, a few at a time, round and round (plain UDP);
- about once a second, a Set from a list of demand-response commands and settings, or a
  settable property written back with the value it reads (plain UDP, from LEGACY_WRITE);
- every 30 s asks the node for its heap over the secure channel (status: after a
  collection), on one session kept open the whole run.

At the end it stops the node and prints what happened: requests, replies, refusals by
object and service, unanswered requests, the heap at the start and at the end. It exits
1 if a request went unanswered, the node stopped by itself or printed an error, or its
heap in use after a collection grew by more than LEAK_BYTES from the second quarter of
the run to its end (a leak: a running node puts no new long-lived objects on the heap,
README, Memory; the first minutes fill what is bounded).

    .venv/bin/python tools/soak.py [--minutes 10] [--speed 3600] [--heap 128K] [--objects all]
"""
import argparse
import os
import random
import shutil
import socket
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))
sys.path.insert(0, ROOT)

from echonet import propmap  # noqa: E402  (plain Python, imports on CPython too)
from tools import el, secure, setupcode  # noqa: E402
from tools.demo import DemoError, Node  # noqa: E402  (tools/sim.py as a child process)

TIMEOUT_S = 3.0
STATUS_EVERY_S = 30
LEAK_BYTES = 4096  # heap growth allowed between the first and the last samples: noise, not a leak
# DR commands and settings a controller sends (class, EPC, values), as a HEMS would
COMMANDS = [
    (0x027D, 0xDA, (0x42, 0x43, 0x44, 0x46)),  # battery: charge, discharge, standby, auto
    (0x027D, 0xEB, (b"\x00\x00\x03\xe8", b"\x00\x00\x07\xd0")),  # charging power 1 kW, 2 kW
    (0x026B, 0xC7, (0x00, 0x01)),  # water heater: energy-shift participation
    (0x026B, 0xCA, (0x09, 0x0C, 0x0F)),  # daytime heating shift time 1
    (0x02A6, 0xB8, (0x41, 0x42)),  # hybrid: solar linkage
    (0x027E, 0xDA, (0x42, 0x44, 0x46)),  # EV: charge, standby, idle
    (0x027C, 0xCA, (0x41, 0x42)),  # fuel cell: generate, stop
]


def free_pair():
    """A node and a controller address where nothing holds the node's ports (UDP 3610, TCP
    3611), so a soak runs beside anything else on this machine."""
    net = el.free_net((61, 62), ((socket.SOCK_DGRAM, 3610), (socket.SOCK_STREAM, 3611)))
    if net is None:
        raise SystemExit("soak: no free loopback addresses found; give --addr and --ctrl")
    return net + "61", net + "62"


def parse(argv):
    ap = argparse.ArgumentParser(description="long run of the simulated node under load (make soak)")
    ap.add_argument("--minutes", type=float, default=10.0, help="real minutes to run (default 10)")
    ap.add_argument("--speed", default="3600", help="simulated seconds per real second (default 3600: a day in 24 s)")
    ap.add_argument("--heap", default="128K", help="MicroPython heap (default 128K: all five with the secure channel)")
    ap.add_argument("--objects", default="all", help="device objects, as make sim OBJECTS= (default all)")
    ap.add_argument("--addr", help="the node's loopback address (default: a free one, 127.x.y.61)")
    ap.add_argument("--ctrl", help="the controller's loopback address (default: beside it, 127.x.y.62)")
    ap.add_argument("--seed", type=int, default=None, help="random seed of the Set choice")
    args = ap.parse_args(argv)
    if args.addr is None or args.ctrl is None:
        addr, ctrl = free_pair()
        args.addr = args.addr or addr
        args.ctrl = args.ctrl or ctrl
    for a in (args.addr, args.ctrl):
        if not a.startswith("127."):
            ap.error("%s: the soak runs on loopback only (127.0.0.0/8)" % a)
    if args.minutes <= 0:
        ap.error("--minutes must be more than 0")
    return args


def enroll(node, args, home):
    code = next((m.group(1) for m in map(setupcode.PRINTED.match, node.lines) if m), None)
    if code is None:
        raise RuntimeError("the node printed no setup code")
    me = secure.ControllerIdentity.load_or_create(home)
    with secure.Connection(args.addr, me, secure.Pins(home), bind=args.ctrl, timeout=10, enrolling=True) as c:
        secure.enroll(c, me, setupcode.normalize(code), "soak")
        secure.Pins(home).put(c.where, c.device_fp, c.device)
    return secure.Connection(args.addr, me, secure.Pins(home), bind=args.ctrl, timeout=10)


def maps(ctl, addr):
    """{eoj: (getmap, setmap)} of the node's device objects."""
    d6 = ctl.request(addr, el.NODE_PROFILE, el.GET, [(0xD6, b"")], TIMEOUT_S).props[0][1]
    out = {}
    for eoj in el.decode_instances(d6):
        f = ctl.request(addr, eoj, el.GET, [(0x9F, b""), (0x9E, b"")], TIMEOUT_S)
        got = dict(f.props)
        out[eoj] = (propmap.decode(got[0x9F]), propmap.decode(got[0x9E]))
    return out


def main(argv=None):
    args = parse(argv)
    rnd = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="soak-")  # the controller's home (the node's state is demo.Node's)
    node = Node(args.addr, args.ctrl, args.speed, [args.objects], args.heap)
    counts = {}  # (what, eoj, esv name) -> n
    heap = []  # (real s, heap_alloc after a collection)
    lost = []

    def count(what, eoj, esv):
        k = (what, eoj, el.esv_name(esv))
        counts[k] = counts.get(k, 0) + 1

    try:
        node.wait_ready()
        print("soak: %s" % next(line for line in node.lines if line.startswith("READY")), flush=True)
        if not any(line.startswith("SECURE ") for line in node.lines):  # e.g. started without it, short of heap
            print("soak: the node runs without its secure channel, which the soak reads the heap over:\n  "
                  + "\n  ".join(line for line in node.lines if line.startswith("ERROR")), file=sys.stderr)
            return 1
        session = enroll(node, args, os.path.join(tmp, "home"))
        with el.Controller(args.ctrl) as ctl, session:
            objs = maps(ctl, args.addr)
            reads = [(eoj, e) for eoj, (getmap, _) in sorted(objs.items()) for e in getmap]
            writes = [(eoj, e) for eoj, (getmap, setmap) in sorted(objs.items()) for e in setmap if e in getmap]
            cmds = [(eoj, e, v) for cls, e, vals in COMMANDS for eoj in objs if eoj >> 8 == cls for v in vals]
            start = time.monotonic()
            end = start + args.minutes * 60
            next_status = start
            next_set = start + 1
            next_report = start + 60
            i = 0
            while time.monotonic() < end and node.p.poll() is None:
                now = time.monotonic()
                if now >= next_status:
                    st = session.request({"op": "status"})
                    heap.append((now - start, st["heap_alloc"]))
                    next_status += STATUS_EVERY_S
                if now >= next_set:
                    next_set += 1
                    if rnd.random() < 0.5 and cmds:
                        eoj, e, v = rnd.choice(cmds)
                        edt = v if isinstance(v, bytes) else bytes((v,))
                    else:  # write back what it reads
                        eoj, e = rnd.choice(writes)
                        try:
                            edt = ctl.request(args.addr, eoj, el.GET, [(e, b"")], TIMEOUT_S).props[0][1]
                        except TimeoutError:
                            lost.append("Get %06X %02X" % (eoj, e))
                            continue
                    try:
                        count("set", eoj, ctl.request(args.addr, eoj, el.SETC, [(e, edt)], TIMEOUT_S).esv)
                    except TimeoutError:
                        lost.append("SetC %06X %02X" % (eoj, e))
                if now >= next_report:
                    print("soak: %.0f min, %d requests, %d unanswered, heap %s" % (
                        (now - start) / 60, sum(counts.values()), len(lost), heap[-1][1] if heap else "?"), flush=True)
                    next_report += 60
                batch = [reads[(i + k) % len(reads)] for k in range(6) if reads[(i + k) % len(reads)][0] == reads[i][0]]
                i = (i + len(batch)) % len(reads)
                eoj = batch[0][0]
                try:
                    count("get", eoj, ctl.request(args.addr, eoj, el.GET, [(e, b"") for _, e in batch], TIMEOUT_S).esv)
                except TimeoutError:
                    lost.append("Get %06X %s" % (eoj, " ".join("%02X" % e for _, e in batch)))
            st = session.request({"op": "status"})
            heap.append((time.monotonic() - start, st["heap_alloc"]))
    except (DemoError, RuntimeError, secure.SecureError, TimeoutError) as e:  # it did not start, or stopped answering
        print("soak: FAIL: %s" % e, file=sys.stderr)
        print("soak: the node's last lines:\n  " + "\n  ".join(list(node.lines)[-20:]), file=sys.stderr)
        return 1
    finally:
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    rc = node.p.returncode
    return report(args, node, counts, heap, lost, rc)


def report(args, node, counts, heap, lost, rc):
    errors = [line for line in node.lines
              if line.startswith(("ERROR", "Traceback", "tick skipped", "receive error", "error handling frame"))]
    print("\nsoak: %.1f min at SPEED=%s (%.1f simulated days), HEAP=%s, objects %s" % (
        args.minutes, args.speed, args.minutes * 60 * float(args.speed) / 86400, args.heap, args.objects))
    print("%-4s %-8s %-10s %8s" % ("", "object", "reply", "count"))
    for (what, eoj, esv), n in sorted(counts.items()):
        print("%-4s %06X   %-10s %8d" % (what, eoj, esv, n))
    print("requests %d, unanswered %d" % (sum(counts.values()) + len(lost), len(lost)))
    for line in lost[:10]:
        print("  unanswered: %s" % line)
    # the first minutes fill what is bounded (values first changed, the settings record, the
    # management code of the open session): a leak is growth from the second quarter on
    q = max(1, len(heap) // 4)
    first = sorted(h for _, h in heap[q : 2 * q])[q // 2] if len(heap) >= 2 * q else heap[0][1]
    last = sorted(h for _, h in heap[-q:])[q // 2]
    print("heap in use after a collection: %d in the second quarter of the run, %d at the end (medians of %d samples),"
          " min %d, max %d" % (first, last, q, min(h for _, h in heap), max(h for _, h in heap)))
    problems = []
    if lost:
        problems.append("%d requests unanswered" % len(lost))
    if rc != 0 or "STOPPED" not in node.lines:
        problems.append("the node did not stop cleanly (exit %s)" % rc)
    if errors:
        problems.append("the node reported errors: %s" % "; ".join(errors[:3]))
    if last - first > LEAK_BYTES:
        problems.append("heap grew by %d bytes" % (last - first))
    print("soak: " + ("FAIL: " + "; ".join(problems) if problems else "PASS"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
