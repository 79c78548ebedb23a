"""The node serves a Get without allocating heap: the functions on its path keep their frames
within the 11 words MicroPython runs on the C stack (tools/mpy_frames.py reads the sizes
from the compiled firmware), and under the real unix port a Get allocates nothing. So does
the endpoint's part of asyncio's wait (hal/udp.py), for a datagram or another stream's event."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from tools import mpy_frames  # noqa: E402  (conftest.py puts the repository on sys.path)

BUILD = os.path.join(ROOT, "build", "firmware")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

# what one Get of one object runs through, from the receive loop to the socket, and the
# endpoint's part of asyncio's wait (the scheduler's, where no task could catch a MemoryError)
GET_PATH = {
    "echonet/node": ["_get_part", "_skip_props", "Node.serve", "Node._request", "Node._get"],
    "hal/udp": ["Endpoint.read", "Endpoint.__call__", "Endpoint._apart", "Endpoint._out", "Endpoint.remove",
                "Endpoint.send", "Endpoint._send_to", "Endpoint.reply_addr", "Endpoint.is_own"],
}


def _frames(module):
    mpy = os.path.join(BUILD, module + ".mpy")
    if not os.path.exists(mpy):
        pytest.fail("%s missing: make test builds the firmware first (make build)" % mpy)
    return dict(mpy_frames.frames(mpy, os.path.join(ROOT, "firmware", module + ".py")))


@pytest.mark.parametrize("module", sorted(GET_PATH))
def test_the_get_path_runs_on_the_c_stack(module):
    frames = _frames(module)
    too_big = {name: frames.get(name) for name in GET_PATH[module] if frames.get(name, 99) > mpy_frames.STACK_WORDS}
    assert not too_big, "frames over %d words (or not found): %s" % (mpy_frames.STACK_WORDS, too_big)


def _run_mp(code, path):
    env = dict(os.environ, MICROPYPATH=path + ":.frozen")  # .frozen: asyncio and the rest built in
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=256K", "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


def test_the_frame_sizes_read_agree_with_micropython(tmp_path):
    """The decoder against the interpreter: a function the decoder puts over 11 words
    allocates at each call, one within does not."""
    src = tmp_path / "probe.py"
    src.write_text(
        "def small(a, b):\n    return a + b\n"
        "def big(a, b):\n    c = d = e = f = g = h = i = j = k = a\n    return a + b + c + d + e + f + g + h + i + j + k\n"
        "def guarded(a, b, c):\n    try:\n        return a + b + c\n    except OSError:\n        return 0\n"
    )
    subprocess.run([mpy_frames.MPY_CROSS, str(src), "-o", str(tmp_path / "probe.mpy")], check=True)
    words = dict(mpy_frames.frames(str(tmp_path / "probe.mpy"), str(src)))
    assert words["small"] <= mpy_frames.STACK_WORDS < words["big"]
    assert words["guarded"] > mpy_frames.STACK_WORDS  # the try block's three words count
    code = (
        "import micropython, probe\n"
        "for f in (probe.small, probe.big, probe.guarded):\n"
        "    f(1, 2, 3) if f is probe.guarded else f(1, 2)\n"
        "    t = micropython.mem_total()\n"
        "    f(1, 2, 3) if f is probe.guarded else f(1, 2)\n"
        "    print(micropython.mem_total() - t)\n"
    )
    small, big, guarded = (int(x) for x in _run_mp(code, str(tmp_path)))
    assert small == 0
    assert big > 0 and guarded > 0


def test_a_get_allocates_nothing_under_micropython():
    """Served by the compiled firmware: Gets of one and of four properties, and of the node
    profile, once to warm up, then a hundred times each: no heap allocated."""
    code = (
        "import micropython\n"
        "from drready.battery import StorageBattery\n"
        "from echonet.identity import Identity\n"
        "from echonet.node import Node\n"
        "from echonet.objects import NodeProfile\n"
        "ident = Identity(b'\\xff\\xff\\xff', bytes(range(10)))\n"
        "dev = [StorageBattery(1, ident, now=0)]\n"
        "got = [0, 0]\n"
        "def send(dest, frame):\n"
        "    got[0] += 1\n"
        "    got[1] = frame[10]\n"
        "node = Node(NodeProfile(ident, dev), dev, send)\n"
        "src = bytes([2, 0, 0x0E, 0x1A, 127, 0, 0, 3]) + bytes(8)  # as the unix port's recvfrom gives it\n"
        "def gets():\n"
        "    for req in (bytes.fromhex('10810001 05FF01 027D01 62 01 8000'),\n"
        "                bytes.fromhex('10810002 05FF01 027D01 62 04 8000 E400 DA00 D300'),\n"
        "                bytes.fromhex('10810003 05FF01 0EF001 62 02 D600 8300')):\n"
        "        node.serve(req, src)\n"
        "        t = micropython.mem_total()\n"
        "        for i in range(100):\n"
        "            node.serve(req, src)\n"
        "        print(micropython.mem_total() - t, got[0], hex(got[1]))\n"
        "gets()\n"
        # and while a command of this controller is in force (its presence is checked)
        "import app\n"
        "node.who = app.controller_of\n"
        "node.write_allowed = lambda src: True\n"
        "node.serve(bytes.fromhex('10810004 05FF01 027D01 61 01 DA 01 42'), src)\n"
        "print(len(node._heard), hex(got[1]))\n"
        "got[0] = 0\n"
        "gets()\n"
        # from the controller's address, then from it on another port and from other hosts in turn
        "def polls(srcs):\n"
        "    req = bytes.fromhex('10810001 05FF01 027D01 62 01 8000')\n"
        "    node.serve(req, srcs[0])\n"
        "    t = micropython.mem_total()\n"
        "    for i in range(99):\n"
        "        node.serve(req, srcs[i % len(srcs)])\n"
        "    print(micropython.mem_total() - t)\n"
        "polls([src])\n"
        "polls([bytes([2, 0, 0xC3, 0x50 + k, 127, 0, 0, 3 + k]) + bytes(8) for k in range(3)])\n"
    )
    out = _run_mp(code, BUILD)
    assert out[:9] == ["0", "101", "0x72", "0", "202", "0x72", "0", "303", "0x72"]
    assert out[9:11] == ["1", "0x73"]  # the Set accepted (its change announced last): a command in force
    assert out[11:20] == ["0", "101", "0x72", "0", "202", "0x72", "0", "303", "0x72"]
    assert out[20:] == ["0", "0"]
