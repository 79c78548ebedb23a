"""The simulator's command line (tools/sim.py, what `make sim` runs): a wrong setting gives
one clear line and exit code 2 before anything starts; the state directory keeps the
device's identity across restarts; `make sim` runs the node and stops it cleanly."""
import json
import os
import signal
import socket
import subprocess

import pytest

from . import enl
from .harness import HEAP, PYTHON, READY_TIMEOUT, ROOT, SIM, Proc

FOREIGN_ADDR = "10.255.255.254"  # an address this host does not own (checked below)


def _owned(addr):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((addr, 0))
            return True
        except OSError:
            return False


BAD = [
    # (flag, value, words the one line must contain)
    ("--addr", "999.1.1.1", ["ADDR=999.1.1.1", "IPv4"]),
    ("--addr", FOREIGN_ADDR, ["ADDR=" + FOREIGN_ADDR, "not an address of this host"]),
    ("--heap", "abc", ["HEAP=abc"]),
    ("--heap", "10", ["HEAP=10", "under 40K"]),  # bytes: MicroPython's own message was all one got
    ("--heap", "16K", ["HEAP=16K", "under 40K"]),  # a traceback from asyncio
    ("--speed", "0", ["SPEED=0"]),
    ("--legacy-write", "notanip", ["LEGACY_WRITE", "notanip"]),
    ("--objects", "toaster", ["OBJECTS", "toaster"]),
    ("--dr-timeout", "1h", ["DR_TIMEOUT=1h"]),
    ("--dr-timeout", "20000000", ["DR_TIMEOUT=20000000"]),
    ("--secure", "maybe", ["SECURE=maybe"]),
    ("--state", "LONG", ["STATE=", "too long"]),  # LONG: a path of over 255 bytes under tmp_path
]


@pytest.mark.parametrize("flag,value,words", BAD, ids=[b[0][2:] + "=" + b[1] for b in BAD])
def test_bad_setting_is_one_line_and_exit_2(flag, value, words, address_pool, tmp_path):
    if value == FOREIGN_ADDR:
        assert not _owned(FOREIGN_ADDR), "this host owns %s: the test needs an address it does not own" % FOREIGN_ADDR
    addr, ctrl = address_pool.pair()
    state = tmp_path / "state"
    args = {"--addr": addr, "--heap": HEAP, "--state": str(state), "--legacy-write": ctrl}
    args[flag] = value if value != "LONG" else os.path.join(str(state), *["d" * 60] * 4)
    argv = [PYTHON, SIM] + [x for kv in args.items() for x in kv]
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, "want one line on stderr, got:\n" + r.stderr
    assert lines[0].startswith("sim: ") and all(w in lines[0] for w in words), lines[0]
    assert r.stdout == "", "the node must not start: " + r.stdout
    # nothing was set up for a node either
    assert not (state / "config.json").exists() and not (state / "identity.json").exists()
    assert not os.path.exists(args["--state"]) or args["--state"] == str(state)


def test_dr_timeout_reaches_the_node_config(address_pool, tmp_path):
    from tools import sim

    addr, ctrl = address_pool.pair()
    for value, want in (("0", 0), ("900", 900), (None, 3600)):
        state = tmp_path / ("state-%s" % value)
        argv = ["--addr", addr, "--state", str(state)] + (["--dr-timeout", value] if value else [])
        with open(sim.config(sim.parse(argv))) as f:
            assert json.load(f)["dr_timeout_s"] == want


def _identity(node):
    """0x83 of every object that has one, read over the wire."""
    out = {}
    with enl.RawController(node.ctrl) as c:
        inst = c.get(node.addr, enl.NODE_PROFILE, [0xD6])
        assert inst.esv == enl.GET_RES, inst.raw.hex()
        for eoj in [enl.NODE_PROFILE] + enl.decode_instances(inst.edt(0xD6)):
            maps = c.get(node.addr, eoj, [0x9F])
            if 0x83 in enl.decode_map(maps.edt(0x9F)):
                res = c.get(node.addr, eoj, [0x83, 0x8A])
                assert res.esv == enl.GET_RES, res.raw.hex()
                out[eoj] = res.edt(0x83)
                assert len(out[eoj]) == 17, res.raw.hex()
                if out[eoj][0] == 0xFE:  # manufacturer-defined: the manufacturer code comes next
                    assert out[eoj][1:4] == res.edt(0x8A), res.raw.hex()
    assert enl.NODE_PROFILE in out  # mandatory for the node profile
    return out


def test_identity_is_created_once_and_kept(node_factory, state_dirs):
    state = state_dirs()
    os.chmod(state, 0o755)  # as a directory a user made would be
    first = node_factory(state=state)
    path = os.path.join(state, "identity.json")
    assert os.path.exists(path), "no identity.json in the state directory after the first start"
    # what the node writes there later (a rotated verifier, say) gets the umask's mode: the
    # directory keeps other users of the host out of all of it
    assert os.stat(state).st_mode & 0o777 == 0o700, oct(os.stat(state).st_mode)
    with open(path) as f:
        stored = json.load(f)
    before = _identity(first)
    node_factory.stop(first)

    again = node_factory(state=state)
    with open(path) as f:
        assert json.load(f) == stored, "identity.json was rewritten by a restart"
    assert _identity(again) == before, "0x83 changed across a restart"

    other = node_factory()  # a fresh state directory is another device
    assert _identity(other)[enl.NODE_PROFILE] != before[enl.NODE_PROFILE]


def _processes_mentioning(text):
    """{pid: command line} of the processes whose command line contains text."""
    found = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if text in cmd:
                found[int(d)] = cmd
    return found


def test_make_sim_runs_and_stops_on_sigterm(address_pool, state_dirs):
    # `make sim` would pip-install into .venv if it were out of date: never from a test
    q = subprocess.run(["make", "-q", ".venv/.installed"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    if q.returncode != 0:
        pytest.fail(".venv is out of date with the requirements files: run `make venv` first", pytrace=False)
    addr, ctrl = address_pool.pair()
    state = state_dirs()
    make = Proc(["make", "-s", "sim", "ADDR=" + addr, "HEAP=" + HEAP, "STATE=" + state, "LEGACY_WRITE=" + ctrl])
    try:
        ready = make.wait_for("READY", READY_TIMEOUT)
        assert ready.startswith("READY %s:3610 " % addr), ready
        running = _processes_mentioning(state)
        assert len(running) >= 2, "expected sim.py and micropython under make, found %s" % running
        with enl.RawController(ctrl) as c:  # it serves
            res = c.get(addr, enl.NODE_PROFILE, [0x80])
            assert res.esv == enl.GET_RES and res.props == [(0x80, b"\x30")], res.raw.hex()
        make.send_signal(signal.SIGTERM)  # make alone, as a service manager or `kill` would
        make.p.wait(15)
        left = _processes_mentioning(state)
        assert not left, "make exited on SIGTERM but left running:\n%s\noutput:\n%s" % (
            "\n".join("%d %s" % kv for kv in sorted(left.items())), make.output())
        make.wait_for("STOPPED", 5)
    finally:
        make.kill_group()  # whatever is still in make's process group
    assert not any(line.startswith("Traceback") for line in make.lines), make.output()


def test_a_press_with_no_node_running_is_withdrawn(state_dirs):
    state = state_dirs()
    with open(os.path.join(state, "config.json"), "w") as f:
        f.write("{}")
    r = subprocess.run([PYTHON, os.path.join(ROOT, "tools", "press.py"), "--state", state, "long"], cwd=ROOT,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no node running in %s took the long press" % state in r.stderr, (r.returncode, r.stderr)
    assert not os.path.exists(os.path.join(state, "button"))  # the next start does not reset itself


def test_a_heap_too_small_says_so_and_what_to_read(address_pool, state_dirs):
    addr, ctrl = address_pool.pair()
    state = state_dirs()
    # the battery alone, the default under 96K
    r = subprocess.run([PYTHON, SIM, "--addr", addr, "--heap", "40K", "--state", state, "--legacy-write", ctrl],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)  # app._OUT_OF_HEAP
    # with the secure channel, then (security/boot.py out_of_heap) once more without it
    out = r.stdout.splitlines()
    first = out.index("restarting without the secure channel")
    assert [line for line in out[:first] if line.startswith("ERROR")] == [
        "ERROR out of heap with the secure channel: starting again without it; "
        "give MicroPython more (HEAP=) to have it"], r.stdout
    assert not any(line.startswith("Traceback") for line in out[:first]), r.stdout  # an expected way to start
    assert [line for line in out[first:] if line.startswith("ERROR")] == [
        "ERROR out of heap without the secure channel: give MicroPython more (HEAP=) or configure fewer objects"], r.stdout
    assert r.stderr.strip().splitlines()[-1] == (
        "sim: HEAP=40K is too small for the battery: README, Memory, gives the heap each configuration needs"), r.stderr
    assert not os.path.exists(os.path.join(state, "secure-channel-off"))  # the next start tries it again
