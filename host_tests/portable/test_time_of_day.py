"""Every object, started at any half hour of the day and then run on: every property in
its 0x9F has a value of its declared size, but for what the class itself says has none
right now (the EV's vehicle properties exactly while 0xC7 says no vehicle). The node's
clock starts at the host's time, so a start at any hour is what the simulator does."""
from drready import registry
from echonet import propmap
from echonet.declare import size_range
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, Net

DAY0 = 1767225600  # 2026-01-01 00:00 UTC
VEHICLE = (0xC0, 0xC2, 0xC4, 0xCE, 0xCF, 0xD0, 0xE2, 0xE4)


def _check(dev, when):
    absent = VEHICLE if dev.eoj >> 8 == 0x027E and dev.get(0xC7) == b"\x30" else ()
    for e in propmap.decode(dev.get(0x9F)):
        v = dev.get(e)
        where = "%06X EPC %02X at %d s after midnight" % (dev.eoj, e, when % 86400)
        if e in absent:
            assert v is None, where + ": a value with no vehicle"
            continue
        assert v is not None, where + ": no value"
        lo, hi = size_range(dev.spec(e))
        assert lo <= len(v) <= hi, where + ": %d bytes" % len(v)


def test_every_readable_property_has_a_value_from_any_start_time():
    for half_hour in range(48):
        t0 = DAY0 + half_hour * 1800
        devices = [registry.make(name, 1, ID, t0) for name in registry.CLASSES]
        node = Node(NodeProfile(ID, devices), devices, Net().send, lambda src: False)
        node.start(t0)
        for dt in (0, 1, 61, 1800):
            if dt:
                node.tick(t0 + dt)
            for dev in devices:
                _check(dev, t0 + dt)
