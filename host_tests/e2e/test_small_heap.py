"""The ECHONET Lite node in the heaps the project aims at, on the unix port: the battery
alone in 64K, all five classes in 96K. The node runs as a device before provisioning
(`make sim SECURE=off`: plain ECHONET Lite, Sets from LEGACY_WRITE), with its bytecode in
place from the ROMFS image as on a board. pychonet discovers it and reads every property
of every object; every settable property is then written with a valid value; the node
must still answer and stop cleanly."""
import pytest

from drready import registry

from . import enl
from .harness import ready_objects
from .test_pychonet import discover_and_read_every_property
from .test_write_every_property import write_every_property


@pytest.mark.parametrize("objects, heap", [(["battery"], "64K"), (list(registry.CLASSES), "96K")], ids=["battery-64K", "all-96K"])
def test_the_node_runs_in_the_target_heap(node_factory, objects, heap):
    n = node_factory(heap=heap, objects=objects, extra=["--secure", "off"])
    assert any(line.startswith("secure channel off") for line in n.lines), n.proc.output()
    ready = next(line for line in n.lines if line.startswith("READY"))
    total = int(ready.rsplit("/", 1)[1])  # "... heap USED/TOTAL": what the GC gives out of -X heapsize
    size = int(heap[:-1]) * 1024
    assert size * 31 // 32 < total <= size, ready  # (less its block table, under 1/32)
    assert len(ready_objects(n.proc)) == len(objects) + 1
    discover_and_read_every_property(n)
    assert write_every_property(n) >= 3 * len(objects)
    with enl.RawController(n.ctrl) as c:  # still serving after all that
        res = c.get(n.addr, enl.NODE_PROFILE, [0x80])
        assert res.esv == enl.GET_RES and res.props == [(0x80, b"\x30")], res
