"""Deploying to a board, without a board: the MicroPython unix port behind a pty
(pty_board.py) stands in for one on a serial port.

tools/deploy.py copies build/firmware onto it (the hashes on the "board" equal the
build's), copies nothing the second time, repairs what differs; tools/board_config.py
writes /config.json without showing the Wi-Fi password; and the node started from that
filesystem, as the board starts it, answers an ECHONET Lite Get byte for byte.

Traffic stays on loopback: the node and the controller bind their own 127.200.x.y
addresses (x: the pytest-xdist worker), so parallel runs do not meet.
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import types

import pytest
from e2e.harness import Proc
from pty_board import MICROPYTHON, PtyBoard

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIRMWARE = os.path.join(ROOT, "build", "firmware")
DEPLOY = os.path.join(ROOT, "tools", "deploy.py")
PROVISION = os.path.join(ROOT, "tools", "board_config.py")
PYTHON = sys.executable
ECHONET_PORT = 3610
BOARD = "DRREADY_ESP32"


def run(argv, env=None, timeout=60):
    r = subprocess.run([PYTHON] + argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       env=dict(os.environ, **(env or {})))
    return r


def tree_hashes(top):
    out = {}
    for d, _dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, top)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def mtimes(top):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(top) for f in files}


@pytest.fixture(scope="module")
def board():
    """A fresh "board" with the firmware deployed once (tools/deploy.py builds first)."""
    root = tempfile.mkdtemp(prefix="pty-board-")
    b = PtyBoard(root).start()
    try:
        r = run([DEPLOY, "--port", b.port, "--no-reset", "--board", BOARD])
        assert r.returncode == 0, r.stdout + r.stderr
        yield types.SimpleNamespace(root=root, port=b.port, pty=b, first=r.stdout)
    finally:
        b.stop()
        shutil.rmtree(root, ignore_errors=True)


def expected_files():
    """What must be on the board: build/firmware, and the board's pins."""
    want = tree_hashes(FIRMWARE)
    with open(os.path.join(ROOT, "boards", BOARD, "board.json"), "rb") as f:
        want["board.json"] = hashlib.sha256(f.read()).hexdigest()
    return want


def on_board(root, names):
    got = tree_hashes(root)
    return {k: got.get(k) for k in names}


def test_first_deploy_copies_every_file_and_hashes_match(board):
    want = expected_files()
    assert on_board(board.root, want) == want
    assert "main.py" in want and "app.mpy" in want and "echonet/node.mpy" in want
    assert "deploy: %d copied, 0 up to date, 0 removed" % len(want) in board.first, board.first
    assert board.pty.alive()  # --no-reset: the unix port was not soft-reset


def test_second_deploy_copies_nothing(board):
    before = mtimes(board.root)
    r = run([DEPLOY, "--port", board.port, "--no-reset", "--board", BOARD, "--no-build"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deploy: 0 copied, %d up to date, 0 removed" % len(expected_files()) in r.stdout, r.stdout
    assert "  copy " not in r.stdout
    assert mtimes(board.root) == before  # not a file was rewritten
    assert on_board(board.root, expected_files()) == expected_files()


def test_deploy_repairs_changed_shadowing_and_stale_files(board):
    with open(os.path.join(board.root, "echonet", "node.mpy"), "wb") as f:
        f.write(b"damaged")
    with open(os.path.join(board.root, "app.py"), "w") as f:  # would be imported instead of app.mpy
        f.write("raise SystemExit('stale source')\n")
    with open(os.path.join(board.root, "hal", "gone.mpy"), "wb") as f:  # a module the build no longer makes
        f.write(b"M")
    with open(os.path.join(board.root, "notes.txt"), "w") as f:  # the user's own file: left alone
        f.write("mine\n")
    r = run([DEPLOY, "--port", board.port, "--no-reset", "--no-build", "--board", BOARD])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deploy: 1 copied, %d up to date, 2 removed" % (len(expected_files()) - 1) in r.stdout, r.stdout
    assert on_board(board.root, expected_files()) == expected_files()
    assert not os.path.exists(os.path.join(board.root, "app.py"))
    assert not os.path.exists(os.path.join(board.root, "hal", "gone.mpy"))
    assert os.path.exists(os.path.join(board.root, "notes.txt"))
    assert not [f for _, _, files in os.walk(board.root) for f in files if f.endswith(".part")]


def test_deploy_stops_what_runs_on_the_board(board):
    """On a board the node runs from main.py when deploy starts, and may start again after a
    Ctrl-C (sys.exit() in main.py soft-reboots the ESP32 port, which runs main.py again):
    deploy keeps interrupting until a REPL answers. Here a program that shrugs off two
    Ctrl-Cs, which mpremote's single Ctrl-C would not stop."""
    import serial

    program = (b"import time\nn = 0\nwhile n < 3:\n    try:\n        while True:\n            time.sleep_ms(10)\n"
               b"    except KeyboardInterrupt:\n        n += 1\n")
    with serial.Serial(board.port, 115200, timeout=2) as ser:
        ser.write(b"\r\x03\r\x01")  # the raw REPL
        assert ser.read_until(b"raw REPL; CTRL-B to exit\r\n>").endswith(b">")
        ser.write(program + b"\x04")  # run, and keep running
        assert ser.read(2) == b"OK"
    r = run([DEPLOY, "--port", board.port, "--no-reset", "--no-build", "--board", BOARD])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deploy: 0 copied" in r.stdout, r.stdout


def test_provision_writes_config_and_never_shows_the_password(board):
    secret = "correct-horse-battery-staple"
    r = run([PROVISION, "--port", board.port, "--no-reset", "--ssid", "homenet", "--objects", "battery,ev_charger",
             "--legacy-write", "127.200.0.9", "--appliances", "battery=drivers.my_battery.ModbusBattery"],
            env={"WIFI_PASSWORD": secret})
    assert r.returncode == 0, r.stdout + r.stderr
    assert secret not in r.stdout + r.stderr
    assert "wrote /config.json" in r.stdout
    with open(os.path.join(board.root, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["wifi"] == {"ssid": "homenet", "password": secret}
    assert cfg["objects"] == ["battery", "ev_charger"] and cfg["legacy_write"] == ["127.200.0.9"]
    assert "addr" not in cfg  # on the board Wi-Fi gives the address
    assert cfg["appliances"] == {"battery": "drivers.my_battery.ModbusBattery"}  # loaded on the board, not here
    assert "appliances battery=drivers.my_battery.ModbusBattery" in r.stdout


def test_provision_check_notes_a_driver_the_build_lacks():
    r = subprocess.run([PYTHON, PROVISION, "--check", "--ssid", "x", "--appliances", "battery=drivers.nope.Battery"],
                       capture_output=True, text=True, timeout=30, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr  # (it may be on the board by other means)
    assert "drivers.nope is not in firmware/" in r.stderr and "firmware/drivers/nope.py" in r.stderr, r.stderr
    r = subprocess.run([PYTHON, PROVISION, "--check", "--ssid", "x", "--objects", "battery"], capture_output=True,
                       text=True, timeout=30, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("argv, env, words", [
    ([DEPLOY, "--no-reset"], {}, "serial port"),
    ([DEPLOY, "--port", "/dev/does-not-exist", "--no-reset"], {}, "does not exist"),
    ([DEPLOY, "--port", "/dev/null", "--no-reset", "--no-build"], {}, "cannot open serial port /dev/null"),
    ([DEPLOY, "--port", "/dev/null", "--board", "NO_SUCH_BOARD"], {}, "unknown board"),
    ([PROVISION, "--port", "/dev/null", "--ssid", "x", "--objects", "toaster"], {"WIFI_PASSWORD": "12345678"}, "toaster"),
    ([PROVISION, "--port", "/dev/null", "--ssid", "x"], {"WIFI_PASSWORD": "short"}, "8 to 63"),
    ([PROVISION, "--port", "/dev/null", "--ssid", "x", "--legacy-write", "1.2.3"], {"WIFI_PASSWORD": "12345678"},
     "LEGACY_WRITE"),
    ([PROVISION, "--port", "/dev/null"], {}, "SSID"),
    ([PROVISION, "--port", "/dev/null", "--ssid", "x", "--appliances", "fuel_cell=drivers.fc.FuelCell"],
     {"WIFI_PASSWORD": "12345678"}, "'fuel_cell' is not one of the objects configured"),
    ([PROVISION, "--port", "/dev/null", "--ssid", "x", "--appliances", "battery"], {"WIFI_PASSWORD": "12345678"},
     "APPLIANCES entry 'battery' is not object=module.name"),
    ([PROVISION, "--ssid", "x"], {"WIFI_PASSWORD": "12345678"}, "serial port"),
    # make provision's first step: the settings checked with no board, before anything is written
    ([PROVISION, "--check", "--ssid", "x", "--objects", "toaster"], {}, "toaster"),
    ([PROVISION, "--check", "--ssid", "x", "--appliances", "battery"], {}, "APPLIANCES entry 'battery'"),
])
def test_a_bad_command_gives_one_line_and_exit_2(argv, env, words):
    full = {k: v for k, v in os.environ.items() if k != "WIFI_PASSWORD"}
    full.update(env)
    r = subprocess.run([PYTHON] + argv, capture_output=True, text=True, timeout=30, cwd=ROOT, stdin=subprocess.DEVNULL,
                       env=full)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr
    assert "12345678" not in r.stdout + r.stderr


def test_provision_asks_for_everything_before_it_writes(board, tmp_path):
    """make provision IDENTITY=... SSID=...: a password not given (no terminal, none in the
    environment) leaves the board as it was, identity included."""
    from tools import provision

    assert provision.main(["ca", "--out", str(tmp_path / "ca")], out=lambda _line: None) == 0
    ca = [str(tmp_path / "ca" / n) for n in (provision.CA_CERT, provision.CA_KEY)]
    assert provision.main(["device", "--ca-cert", ca[0], "--ca-key", ca[1], "--out", str(tmp_path / "dev"), "--no-qr"],
                          out=lambda _line: None) == 0
    before = tree_hashes(board.root)
    env = {k: v for k, v in os.environ.items() if k != "WIFI_PASSWORD"}
    argv = [PYTHON, PROVISION, "--port", board.port, "--no-reset", "--ssid", "homenet", "--identity", str(tmp_path / "dev"),
            "--force"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL, env=env)
    assert r.returncode == 2 and "WIFI_PASSWORD" in r.stderr, r.stdout + r.stderr
    assert tree_hashes(board.root) == before
    # a directory that is no device's is found before the password is asked for, too
    r = run([PROVISION, "--port", board.port, "--no-reset", "--ssid", "homenet", "--identity", str(tmp_path / "ca")])
    assert r.returncode == 2 and "device_key.der is missing" in r.stderr, r.stdout + r.stderr
    assert tree_hashes(board.root) == before


# -- the deployed node, started from the board's filesystem -----------------------------

def _bound_3610():
    out = set()
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            ip_hex, port_hex = line.split()[1].split(":")
            if int(port_hex, 16) == ECHONET_PORT:
                out.add(socket.inet_ntoa(int(ip_hex, 16).to_bytes(4, "little")))
    return out


def address_pair():
    """(node, controller) in 127.200.<worker>.0/24, free of anything bound to port 3610."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    x = int(worker[2:]) + 1 if worker.startswith("gw") else 0
    busy = _bound_3610()
    start = os.getpid() % 120
    for i in range(120):
        n = 2 * ((start + i) % 120) + 10
        node, ctrl = "127.200.%d.%d" % (x, n), "127.200.%d.%d" % (x, n + 1)
        if node not in busy and ctrl not in busy:
            return node, ctrl
    raise AssertionError("no free address pair in 127.200.%d.0/24" % x)


def test_deployed_node_answers_a_get(board, tmp_path):
    from tools import provision, secure

    node, ctrl = address_pair()
    # a device identity (make provision IDENTITY=...), then the config
    assert provision.main(["ca", "--out", str(tmp_path / "ca")], out=lambda _line: None) == 0
    ca = [str(tmp_path / "ca" / n) for n in (provision.CA_CERT, provision.CA_KEY)]
    assert provision.main(["device", "--ca-cert", ca[0], "--ca-key", ca[1], "--out", str(tmp_path / "dev"), "--no-qr"],
                          out=lambda _line: None) == 0
    r = run([PROVISION, "--port", board.port, "--no-reset", "--addr", node, "--objects", "battery",
             "--identity", str(tmp_path / "dev"), "--force"])
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("provision: wrote /identity/") and lines[1].startswith("provision: wrote /config.json")
    # started as the board starts it: main.py from the filesystem's root, modules from there
    env = dict(os.environ, MICROPYPATH=board.root + ":.frozen")
    proc = Proc([MICROPYTHON, "-X", "heapsize=192K", "main.py", "config.json"], cwd=board.root, env=env)
    try:
        line = proc.wait_for("READY", 20)
        assert any(x.startswith("SECURE %s:3611 " % node) for x in proc.lines), proc.output()
        me = secure.ControllerIdentity.load_or_create(str(tmp_path / "ctl"))
        with secure.Connection(node, me, None, ca[0], bind=ctrl) as c:  # the board's certificate, from the CA
            assert c.request({"op": "hello"})["enrolled"] is None
        assert line.startswith("READY %s:3610 objects 0EF001 027D01" % node), line
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ctrl, ECHONET_PORT))  # replies go to port 3610 of the requester
            s.settimeout(5)
            tid = os.getpid() & 0xFFFF
            # Get (0x62) from a controller 05FF01 to the node profile 0EF001: 0x80 and 0xD6
            s.sendto(b"\x10\x81" + struct.pack(">H", tid) + bytes.fromhex("05ff01 0ef001 62 02 8000 d600"), (node, ECHONET_PORT))
            while True:
                data, src = s.recvfrom(1500)
                if src[0] == node and data[2:4] == struct.pack(">H", tid):
                    break
        # Get_Res (0x72) from 0EF001 to 05FF01: operating status 0x30 (on), self-node instance
        # list S: one instance, the storage battery 027D01
        want = b"\x10\x81" + struct.pack(">H", tid) + bytes.fromhex("0ef001 05ff01 72 02 800130 d604 01027d01")
        assert data == want, data.hex()
        assert os.path.isfile(os.path.join(board.root, "state", "identity.json"))  # state lives on the board's filesystem
    finally:
        rc = proc.stop(signal.SIGINT)
    assert "STOPPED" in proc.lines and rc == 0, proc.output()
