"""A signed update pushed to a running simulated node over the secure channel (tools/ctl.py
update), end to end: the node verifies, stages, restarts into the new version, confirms it
and announces it; packages that are tampered, truncated, rolled back, expired, for
another board or wrongly delegated (built outside this repository, host_tests/update_pkgs.py)
are refused with their reason and the node keeps running the version it had.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest
from update_pkgs import Signer, new_key, pub

from tools import build, secure, setupcode

from .harness import HEAP, READY_TIMEOUT, ROOT, Proc, sim_argv, state_dir, stop_node
from .test_secure import CODE_RE

SIGN = [sys.executable, os.path.join(ROOT, "tools", "sign.py")]
DAY = 86400


def sign_tool(*args):
    r = subprocess.run(SIGN + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def signed_build(tmp_path_factory):
    """A firmware build trusting two roots: one made with tools/sign.py, one outside."""
    d = tmp_path_factory.mktemp("upd")
    keys = d / "keys"
    keys.mkdir()
    sign_tool("keygen", "--role", "root", "--out", str(keys / "root.key"))
    sign_tool("keygen", "--role", "update", "--out", str(keys / "upd.key"))
    sign_tool("delegate", "--root-key", str(keys / "root.key"), "--update-key", str(keys / "upd.key.pub"),
              "--product", "drready-node", "--board", "unix", "--not-after", "+365d", "--out", str(keys / "k.keyring"))
    now = int(time.time())
    outside = Signer(window=(now - DAY, now + 365 * DAY))
    (keys / "outside.pub").write_text("ed25519 root %s\n" % pub(outside.root).hex())
    fw = d / "firmware"
    build.build(out=str(fw), root_keys=[str(keys / "root.key.pub"), str(keys / "outside.pub")])
    return d, keys, fw, outside


def _seclog(state):
    lines = []
    for name in ("seclog.0", "seclog.1"):
        if os.path.exists(os.path.join(state, name)):
            with open(os.path.join(state, name)) as f:
                lines += f.read().splitlines()
    return lines


def start(addr, ctrl, state, fw, heap=HEAP):
    proc = Proc(sim_argv(addr, state, heap=heap, extra=["--enroll-backoff", "0", "--firmware", str(fw)]))
    try:
        proc.wait_for("READY", READY_TIMEOUT)
    except BaseException:
        proc.kill_group()
        raise
    return proc


def enroll(proc, addr, ctrl, home):
    """Enroll a controller kept in home with the setup code the node printed; its identity."""
    code = next(m.group(1) for m in map(CODE_RE.match, proc.lines) if m)
    me = secure.ControllerIdentity.load_or_create(home)
    with secure.Connection(addr, me, secure.Pins(home), bind=ctrl, enrolling=True) as c:
        secure.enroll(c, me, setupcode.normalize(code), "hems")
        secure.Pins(home).put(c.where, c.device_fp, c.device)
    return me


def pusher(addr, ctrl, home):
    """push(package path) -> (tools/ctl.py update's exit code, its lines)."""

    def push(path):
        lines = []
        from tools import ctl

        rc = ctl.main(["--home", home, "--bind", ctrl, "update", addr, str(path)], out=lines.append)
        return rc, lines

    return push


def test_a_signed_update_installs_and_bad_packages_are_refused(address_pool, signed_build, tmp_path):
    d, keys, fw, outside = signed_build
    addr, ctrl = address_pool.pair()
    state = state_dir()
    proc = start(addr, ctrl, state, fw)
    home = str(tmp_path / "ctl")
    try:
        assert " version factory " in next(line for line in proc.lines if line.startswith("READY"))
        me = enroll(proc, addr, ctrl, home)
        push = pusher(addr, ctrl, home)

        # the signing tool's package of the built bundle, version 1.1.0
        pkg = tmp_path / "1.1.0.pkg"
        sign_tool("sign", "--key", str(keys / "upd.key"), "--keyring", str(keys / "k.keyring"), "--product",
                  "drready-node", "--board", "unix", "--version", "1.1.0", "--counter", "5", "--expires", "+30d",
                  "--out", str(pkg), str(fw))
        n = len(proc.lines)
        rc, lines = push(pkg)
        assert rc == 0 and lines == ["installed version 1.1.0; the device restarts into it"], (lines, proc.output())
        proc.wait_for("sim: the node asked to start again", 15, start=n)
        ready = proc.wait_for("READY", READY_TIMEOUT, start=n)
        assert " version 1.1.0 " in ready, ready
        proc.wait_for("update 1.1.0 confirmed", 45, start=n)  # after 30 s of healthy running
        from tools import ctl

        lines = []
        assert ctl.main(["--home", home, "--bind", ctrl, "status", addr], out=lines.append) == 0
        assert lines[0] == "version 1.1.0", lines  # what a controller sees of it too

        # built outside the repository: each refused with its reason, 1.1.0 keeps running
        now = int(time.time())
        files = {}
        for root, _dirs, names in os.walk(fw):
            for name in names:
                p = os.path.join(root, name)
                with open(p, "rb") as f:
                    files[os.path.relpath(p, fw)] = f.read()
        good = outside.package("1.2.0", 6, files, expires=now + 30 * DAY)
        rogue = new_key()
        cases = {
            "tampered": (good[0], good[1][:100] + bytes([good[1][100] ^ 1]) + good[1][101:], "payload does not match"),
            "truncated": (good[0], good[1][: len(good[1]) // 2], "payload does not match"),
            "rolled back": (*outside.package("1.0.9", 4, files, expires=now + 30 * DAY), "rollback"),
            "expired": (*outside.package("1.2.0", 6, files, expires=now - 60), "expired"),
            "wrong board": (*outside.package("1.2.0", 6, files, expires=now + 30 * DAY, board="ESP32_GENERIC"),
                            "wrong product/board"),
            "wrongly delegated": (*outside.package("1.2.0", 6, files, expires=now + 30 * DAY, signer=rogue),
                                  "delegation"),
        }
        for what, (meta, payload, _reason) in cases.items():
            path = tmp_path / ("bad-%s.pkg" % what.replace(" ", "-"))
            path.write_bytes(meta + payload)
            rc, _ = push(path)
            assert rc == 3, (what, proc.output()[-3000:], _seclog(state)[-6:])
        log = []
        for name in ("seclog.0", "seclog.1"):
            if os.path.exists(os.path.join(state, name)):
                with open(os.path.join(state, name)) as f:
                    log += f.read().splitlines()
        refusals = [line for line in log if " update-refused " in line]
        for what, (_m, _p, reason) in cases.items():
            assert any(reason in line for line in refusals), (what, refusals)
        # still 1.1.0, and it still answers
        with secure.Connection(addr, me, secure.Pins(home), bind=ctrl) as c:
            assert c.request({"op": "hello"})["enrolled"] == "hems"
        assert sum(1 for line in proc.lines if line.startswith("READY")) == 2  # no restart since 1.1.0
    finally:
        stop_node(proc)
        shutil.rmtree(state, ignore_errors=True)


def test_a_release_that_fails_just_after_ready_is_not_confirmed_and_reverts(address_pool, signed_build, tmp_path):
    """A bundle whose clock tick raises, a second after READY: it is never confirmed, so
    the next start runs the version before it again (not the broken one, round and round)."""
    d, keys, fw, _outside = signed_build
    bad = tmp_path / "bad"
    shutil.copytree(fw, bad)
    with open(os.path.join(ROOT, "firmware", "app.py")) as f:
        app_src = f.read()
    wait = "        await asyncio.sleep_ms(_TICK_MS)\n"
    assert wait in app_src
    src = tmp_path / "app.py"
    src.write_text(app_src.replace(wait, wait + "        raise RuntimeError('broken release')\n", 1))
    subprocess.run([build.MPY_CROSS, "-s", "app", "-o", str(bad / "app.mpy"), str(src)], check=True)
    pkg = tmp_path / "1.1.0-bad.pkg"
    sign_tool("sign", "--key", str(keys / "upd.key"), "--keyring", str(keys / "k.keyring"), "--product",
              "drready-node", "--board", "unix", "--version", "1.1.0-bad", "--counter", "5", "--expires", "+30d",
              "--out", str(pkg), str(bad))
    addr, ctrl = address_pool.pair()
    state = state_dir()
    home = str(tmp_path / "ctl")
    proc = start(addr, ctrl, state, fw)
    try:
        enroll(proc, addr, ctrl, home)
        n = len(proc.lines)
        rc, lines = pusher(addr, ctrl, home)(pkg)
        assert rc == 0, (lines, proc.output())
        ready = proc.wait_for("READY", READY_TIMEOUT, start=n)
        assert " version 1.1.0-bad " in ready, ready
        assert proc.wait_exit(20) == 1  # the release fails as its tasks start
        out = proc.output()
        assert "RuntimeError: broken release" in out and "confirmed" not in out, out
    finally:
        proc.kill_group()
    proc = start(addr, ctrl, state, fw)  # the board resets; here, the node is started again
    try:
        out = proc.output()
        assert "update: version 1.1.0-bad was not confirmed; back to the previous one" in out, out
        assert " version factory " in next(line for line in proc.lines if line.startswith("READY"))
    finally:
        stop_node(proc)
        shutil.rmtree(state, ignore_errors=True)


@pytest.mark.parametrize("record", ["[]", '{"counter": 1, "pending": 5}', '{"counter": 2, "slots": {"a": 7}, "active": "c"}'])
def test_a_damaged_update_record_leaves_the_node_serving(record, node_factory, state_dirs):
    """update.json that does not parse, or not in the record's shape: the factory image
    starts, says so, serves ECHONET Lite and takes no update; the record is left as it is
    (resetting it would lower the security counters)."""
    state = state_dirs()
    with open(os.path.join(state, "update.json"), "w") as f:
        f.write(record)
    n = node_factory(objects=["battery"], state=state)
    out = n.proc.output()
    assert "update: %s/update.json is damaged; booting the factory image" % state in out, out
    assert "ERROR %s/update.json is damaged: the node runs, but takes no update" % state in out, out
    ready = next(line for line in n.lines if line.startswith("READY"))
    assert " version ? " in ready and "Traceback" not in out, out
    with open(os.path.join(state, "update.json")) as f:
        assert f.read() == record
