"""tools/ctl.py, the command-line controller, against the real node over loopback UDP:
discover, get (with SNA shown), set accepted from a legacy_write address and refused
from any other, and one clear line with exit 2 (bad argument) or 1 (no reply)."""
import os
import subprocess

import pytest

from .harness import PYTHON, ROOT

CTL = os.path.join(ROOT, "tools", "ctl.py")


def ctl(*args, timeout=30):
    return subprocess.run([PYTHON, CTL] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_discover_lists_objects_and_identity(node):
    r = ctl("--bind", node.ctrl, "discover", node.addr)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "node %s: Get_Res" % node.addr in r.stdout
    assert "0EF001  node profile" in r.stdout and "027D01  storage battery" in r.stdout, r.stdout
    ident = next(line for line in r.stdout.splitlines() if "identification 83" in line).split()[-1]
    assert len(ident) == 34 and ident.startswith("FEFFFFFF") and ident.endswith("0EF001"), ident
    assert "manufacturer   8A FFFFFF" in r.stdout


def test_get_prints_epc_pdc_edt(node):
    r = ctl("--bind", node.ctrl, "get", node.addr, "027D01", "80", "DA")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "027D01 Get_Res from %s" % node.addr, r.stdout
    props = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert props["80"][0] == "1" and props["80"][1] in ("30", "31"), r.stdout
    assert props["DA"][0] == "1", r.stdout


def test_get_of_a_missing_property_shows_sna(node):
    r = ctl("--bind", node.ctrl, "get", node.addr, "027D01", "80", "F0")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Get_SNA" in r.stdout
    assert any(line.split()[:2] == ["F0", "0"] and "SNA" in line for line in r.stdout.splitlines()), r.stdout


def test_set_from_legacy_write_address_is_accepted(node):
    r = ctl("--bind", node.ctrl, "set", node.addr, "027D01", "DA=42")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "027D01 Set_Res" in r.stdout and "DA=42 accepted" in r.stdout, r.stdout
    node.proc.wait_for("set 027D01 DA=42", 5)
    r = ctl("--bind", node.ctrl, "get", node.addr, "027D01", "DA")
    assert r.returncode == 0 and "  DA   1  42" in r.stdout, r.stdout + r.stderr


def test_set_from_another_address_is_refused(node_factory):
    n = node_factory(legacy_write=())  # no controller may Set over plain UDP
    r = ctl("--bind", n.ctrl, "set", n.addr, "027D01", "DA=42")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "SetC_SNA" in r.stdout and "DA=42 refused" in r.stdout, r.stdout
    r = ctl("--bind", n.ctrl, "get", n.addr, "027D01", "DA")
    assert r.returncode == 0 and "  DA   1  42" not in r.stdout, r.stdout


def test_no_reply_is_exit_1_with_one_line(address_pool):
    addr, ctrl = address_pool.pair()  # nothing runs at addr
    r = ctl("--bind", ctrl, "--timeout", "0.5", "get", addr, "027D01", "80")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctl: no reply from %s" % addr), r.stderr


def test_watch_listens_and_stops(address_pool):
    _addr, ctrl = address_pool.pair()
    r = ctl("--bind", ctrl, "watch", "--seconds", "0.3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("watching 224.0.23.0:3610 on %s" % ctrl), r.stdout


BAD = [
    (["discover", "127.0.0.1"], "--bind"),
    (["--bind", "nope", "discover", "127.0.0.1"], "--bind 'nope'"),
    (["--bind", "127.0.0.1", "discover", "224.0.23.0"], "unicast"),
    (["--bind", "127.0.0.1", "get", "127.0.0.1", "027D", "80"], "EOJ"),
    (["--bind", "127.0.0.1", "get", "127.0.0.1", "027D01", "7G"], "EPC"),
    (["--bind", "127.0.0.1", "set", "127.0.0.1", "027D01", "DA"], "EPC=HEX"),
    (["--bind", "127.0.0.1", "set", "127.0.0.1", "027D01", "DA=4"], "hex bytes"),
    (["--bind", "127.0.0.1", "frobnicate"], "invalid choice"),
    (["--bind", "10.255.255.254", "discover", "127.0.0.1"], "cannot bind 10.255.255.254:3610"),
]


@pytest.mark.parametrize("argv, words", BAD, ids=[w for _a, w in BAD])
def test_bad_arguments_are_one_line_and_exit_2(argv, words):
    r = ctl(*argv)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctl: ") and words in lines[0], r.stderr
    assert r.stdout == ""
