"""A running node puts no new long-lived objects on the heap (README, Memory): neither
commands nor steps add an attribute to an object, its simulated plant, the node or its
counters. An attribute set first at run time grows its instance's table then (on the unix
port a 592-byte allocation for the water heater's plant), in a heap that a long run may
have left without room: the command then fails, again at every try."""
from drready import registry
from echonet import propmap
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net

T0 = 1764201600
# values tried for each settable property: the modes, codes and hours the classes take
VALUES = (0x00, 0x01, 0x09, 0x0C, 0x11, 0x30, 0x41, 0x42, 0x43, 0x44, 0x46, 0x64)


def _names(node, dev):
    return [sorted(o.__dict__) for o in (dev, dev.appliance, node, node.stats)]


def test_a_day_of_commands_and_steps_adds_no_attribute():
    for name in registry.CLASSES:
        dev = registry.make(name, 1, ID, T0)
        net = Net()
        node = Node(NodeProfile(ID, [dev]), [dev], net.send, lambda src: True)
        now = T0
        node.tick(now)
        before = _names(node, dev)
        eoj = dev.eoj.to_bytes(3, "big")
        tid = 0
        taken = 0
        for _hour in range(24):
            for epc in propmap.decode(dev.get(0x9E)):
                size = len(dev.get(epc) or b"\x00")
                for v in VALUES:
                    tid += 1
                    frame = bytes([0x10, 0x81, tid >> 8, tid & 0xFF, 0x05, 0xFF, 0x01]) + eoj
                    node.receive(frame + bytes([0x61, 1, epc, size]) + bytes(size - 1) + bytes([v]), SRC, now)
                    taken += [f[10] for dest, f in net.take() if dest is not None] == [0x71]  # Set_Res
            for _ in range(12):
                now += 300
                node.tick(now)
            net.take()
        assert taken > 24, (name, taken)  # commands were taken, not only refused
        assert _names(node, dev) == before, name
