"""Heap the node needs, measured under the MicroPython unix port for `make bench`.

    MICROPYPATH=tools python tools/romfs.py build/firmware.romfs 100K bench_heap STATE_DIR ADDR OBJECTS

OBJECTS is a comma-separated list of registry names, or "all" for every class in
drready/registry.CLASSES. The firmware runs in place from its ROMFS image, as make sim
runs it (tools/romfs.py). Prints one line per figure:

    HEAP start N      bytes in use before any firmware module is imported
    HEAP imports N    after importing the modules the running node keeps and the configured classes
    HEAP boot N       after building and starting the node as app.main does
    HEAP total N      size of the GC heap
    OBJECTS a b ...   the classes the node was built with

Booting goes through app._boot and app.settings as app.main does (config written to
STATE_DIR, identity, Endpoint on ADDR, the node; the start-up code is then dropped; the
saved settings and their writer) and node.start, but does not enter the receive loop.
"""

import gc
import sys

state_dir = sys.argv[1]
addr = sys.argv[2]
wanted = sys.argv[3]

gc.collect()
start = gc.mem_alloc()

import json  # noqa: E402

# not the secure channel (an unprovisioned node drops it at boot), nor update (dropped at READY)
import app  # noqa: E402  (the serve loop; startup.py is loaded and dropped by app._boot)
import drready.clock  # noqa: E402, F401  (the modules the running node keeps)
import echonet.node  # noqa: E402, F401
import echonet.objects  # noqa: E402, F401
import echonet.persist  # noqa: E402, F401
import hal.button  # noqa: E402, F401  (and the security services every node runs below)
import hal.clock  # noqa: E402, F401
import hal.store  # noqa: E402, F401
import hal.udp  # noqa: E402, F401
import security.audit  # noqa: E402, F401
import security.eventlog  # noqa: E402, F401
from drready import registry  # noqa: E402

names = list(registry.CLASSES) if wanted == "all" else wanted.split(",")
for name in names:
    entry = registry.CLASSES[name]
    __import__(entry[0], None, None, (entry[1],))
del registry  # app._boot drops it with the start-up code
gc.collect()
imports = gc.mem_alloc()
# printed as soon as known, so a boot that runs out of heap still reports these
print("OBJECTS " + " ".join(names))
print("HEAP start %d" % start)
print("HEAP imports %d" % imports)

hal.store.makedirs(state_dir)
path = state_dir + "/config.json"
with open(path, "w") as f:
    json.dump({"addr": addr, "state_dir": state_dir, "objects": names}, f)
cfg, node, ep, clock, _sec = app._boot(path)  # as app.main does: config, identity, network, node, security
saver = app.settings(cfg, node, clock)  # and the saved settings with their writer
node.start(clock.now())
gc.collect()
boot = gc.mem_alloc()

print("HEAP boot %d" % boot)
print("HEAP total %d" % (gc.mem_alloc() + gc.mem_free()))
ep.close()
