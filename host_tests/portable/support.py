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


def assert_every_get_readable(node, net, dev, batch=16):
    """Get every EPC of dev's 0x9F (in batches): each answered, in order, with a value of
    its declared size, and the whole reply Get_Res."""
    from echonet import propmap
    from echonet.declare import size_range

    epcs = propmap.decode(dev.get(0x9F))
    eoj = "%06X" % dev.eoj
    for k in range(0, len(epcs), batch):
        part = epcs[k : k + batch]
        body = "".join("%02X00" % e for e in part)
        out = request(node, net, "1081 0001 05FF01 %s 62 %02X %s" % (eoj, len(part), body))
        frame = out[0][1]
        assert out[0][0] == SRC and frame[10] == 0x72 and frame[11] == len(part)
        i = 12
        for e in part:
            assert frame[i] == e
            lo, hi = size_range(dev.spec(e))
            assert lo <= frame[i + 1] <= hi, hex(e)
            i += 2 + frame[i + 1]
        assert i == len(frame)


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    raise AssertionError("%s not raised" % exc.__name__)
