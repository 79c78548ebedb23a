"""Every object, started at any half hour of the day and then run on: every property in
its 0x9F has a value of its declared size, but for what the class itself says has none
right now (the EV's vehicle properties exactly while 0xC7 says no vehicle), and every
property in both 0x9E and 0x9F takes the value it reads back. The node's clock starts at
the host's time, so a start at any hour is what the simulator does."""
from drready import registry
from echonet import propmap
from echonet.declare import size_range
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net

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


def _write_back(node, net, dev, when):
    """SetC of every settable, readable EPC with the value it reads: Set_Res, PDC 0."""
    eoj = dev.eoj.to_bytes(3, "big")
    setmap = propmap.decode(dev.get(0x9E))
    for e in propmap.decode(dev.get(0x9F)):
        if e not in setmap or e in (0x97, 0x98):  # the node's clock: none here (test_clock_set.py)
            continue
        v = dev.get(e)
        if dev.eoj >> 8 == 0x027E and e == 0xE0:  # taken only while a method is V2G (Appendix note)
            node.receive(b"\x10\x81\x00\x01\x05\xff\x01" + eoj + b"\x61\x01\xdc\x01\x06", SRC, when)
            net.take()
        node.receive(b"\x10\x81\x00\x01\x05\xff\x01" + eoj + bytes((0x61, 1, e, len(v))) + v, SRC, when)
        replies = [f for d, f in net.take() if d is not None]
        assert replies == [b"\x10\x81\x00\x01" + eoj + b"\x05\xff\x01\x71\x01" + bytes((e, 0))], \
            "%06X SetC %02X=%s at %d s after midnight: %s" % (dev.eoj, e, v.hex(), when % 86400, [f.hex() for f in replies])


def test_every_readable_property_has_a_value_from_any_start_time():
    for half_hour in range(48):
        t0 = DAY0 + half_hour * 1800
        devices = [registry.make(name, 1, ID, t0) for name in registry.CLASSES]
        net = Net()
        node = Node(NodeProfile(ID, devices), devices, net.send, lambda src: True)
        node.start(t0)
        for dt in (0, 1, 61, 1800):
            if dt:
                node.tick(t0 + dt)
            for dev in devices:
                _check(dev, t0 + dt)
        for dev in devices:
            _write_back(node, net, dev, t0 + 1800)
