"""Helpers for the portable suite: plain Python that runs under CPython (pytest) and under
the MicroPython unix port (run_mp.py). No pytest features here."""
from drready.battery import StorageBattery
from echonet.identity import Identity
from echonet.node import Node
from echonet.objects import NodeProfile

ID = Identity(b"\xff\xff\xff", bytes(range(10)))
SRC = ("127.0.0.3", 3610)


def h(text):
    return bytes.fromhex(text.replace(" ", ""))


class Net:
    """Collects what the node sends: (dest, frame); dest None = multicast group."""

    def __init__(self):
        self.sent = []

    def send(self, dest, frame):
        self.sent.append((dest, bytes(frame)))

    def take(self):
        out = self.sent
        self.sent = []
        return out

    def unicast(self):
        return [f for d, f in self.take() if d is not None]


def make_node(allow=True, batteries=1, now=0):
    devices = [StorageBattery(i + 1, ID, now=now) for i in range(batteries)]
    net = Net()
    node = Node(NodeProfile(ID, devices), devices, net.send, lambda src: allow)
    return node, net


def request(node, net, text, src=SRC, now=0):
    node.receive(h(text), src, now)
    return net.take()


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    raise AssertionError("%s not raised" % exc.__name__)
