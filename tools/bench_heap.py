"""Heap the node needs, measured under the MicroPython unix port for `make bench`.

    micropython -X heapsize=100K tools/bench_heap.py STATE_DIR ADDR OBJECTS

OBJECTS is a comma-separated list of registry names, or "all" for every class in
drready/registry.CLASSES. Run with MICROPYPATH=build/firmware:.frozen (the compiled
firmware, as deployed). Prints one line per figure:

    HEAP start N      bytes in use before any firmware module is imported
    HEAP imports N    after importing app, everything it imports and the configured classes
    HEAP boot N       after building and starting the node as app.serve does
    HEAP total N      size of the GC heap
    OBJECTS a b ...   the classes the node was built with

Booting follows app.serve step by step (identity from STATE_DIR, Endpoint on ADDR,
app.build, node.start) but does not enter the receive loop.
"""

import gc
import sys

state_dir = sys.argv[1]
addr = sys.argv[2]
wanted = sys.argv[3]

gc.collect()
start = gc.mem_alloc()

import app  # noqa: E402  (and with it asyncio and every module the node imports)
from drready import registry  # noqa: E402
from hal import store  # noqa: E402
from hal.clock import Clock  # noqa: E402
from hal.udp import Endpoint  # noqa: E402

names = list(registry.CLASSES) if wanted == "all" else wanted.split(",")
for name in names:
    entry = registry.CLASSES[name]
    __import__(entry[0], None, None, (entry[1],))
gc.collect()
imports = gc.mem_alloc()
# printed as soon as known, so a boot that runs out of heap still reports these
print("OBJECTS " + " ".join(names))
print("HEAP start %d" % start)
print("HEAP imports %d" % imports)

cfg = app.check_config({"addr": addr, "state_dir": state_dir, "objects": names})
store.makedirs(state_dir)
identity = app.load_identity(state_dir, cfg)
ep = Endpoint(cfg["addr"])
clock = Clock(cfg.get("speed", 1))
node = app.build(cfg, identity, ep.send, clock.now())
node.start(clock.now())
gc.collect()
boot = gc.mem_alloc()

print("HEAP boot %d" % boot)
print("HEAP total %d" % (gc.mem_alloc() + gc.mem_free()))
ep.close()
