"""Updates on CPython (firmware/update/): packages signed here with `cryptography`
(host_tests/update_pkgs.py, outside the repository's signing tool) and with
tools/sign.py; every refusal leaves the running release; the firmware image path on the
shim's esp32.Partition; main.py's slot selection; the root keys the build puts in."""
import hashlib
import json
import os
import subprocess
import sys
import time

import esp32
import pytest
import update
from update import boot, files, image, state
from update.receiver import BUSY, NO_ROOT, NO_SPACE, UNSUPPORTED, Receiver, UpdateError
from update_pkgs import BOARD, DAY, PRODUCT, T0, Signer, bundle, new_key
from update_pkgs import image as fw_image

from security import manifest as fm
from tools import build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIRMWARE = os.path.join(ROOT, "build", "firmware")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SIGN = [sys.executable, os.path.join(ROOT, "tools", "sign.py")]


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(boot, "log", lambda text: None)


def install(sd, pkg, roots, now=T0, chunk=500, **kw):
    meta, payload = pkg
    r = Receiver(str(sd), roots=roots, **kw)
    off = r.start(meta, now)
    while off < len(payload):
        off = r.write(off, payload[off : off + chunk])
    return r.finish()


def running(sd):
    """Boot, and pass the health check: the version the device then runs."""
    boot.choose(str(sd))
    update.confirm_if_trial(str(sd))
    return update.version(str(sd))


@pytest.fixture
def device(tmp_path):
    """A device running 1.1.0 (counter 3, delegation list 2) from slot a."""
    s = Signer(keyring_counter=2)
    install(tmp_path, s.package("1.1.0", 3, bundle("1.1.0")), s.roots)
    assert running(tmp_path) == "1.1.0"
    return tmp_path, s


def refused(sd, s, pkg, now=T0, runs="1.1.0", **kw):
    before = state.load(str(sd))
    with pytest.raises(fm.ManifestError) as e:
        install(sd, pkg, s.roots, now=now, **kw)
    after = state.load(str(sd))
    for k in ("counter", "keyring", "active", "trial", "pending", "slots"):
        assert after[k] == before[k], k
    assert running(sd) == runs  # the old version keeps running
    return e.value.reason


def test_packages_built_outside_the_repository_are_refused(device):
    sd, s = device
    meta, payload = s.package("1.2.0", 4, bundle("1.2.0"))
    flipped = bytearray(meta)
    flipped[-1] ^= 1  # the manifest signature
    assert refused(sd, s, (bytes(flipped), payload)) == fm.BAD_SIGNATURE
    body = bytearray(payload)
    body[5] ^= 0x40  # a byte of app.mpy
    assert refused(sd, s, (meta, bytes(body))) == fm.PAYLOAD
    assert refused(sd, s, (meta[:-10], payload)) == fm.MALFORMED  # truncated metadata
    assert refused(sd, s, (meta, payload[:-1])) == fm.PAYLOAD  # truncated payload
    assert refused(sd, s, s.package("1.0.9", 2, bundle("1.0.9"))) == fm.ROLLBACK
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), expires=T0)) == fm.EXPIRED
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), board="ESP32_GENERIC")) == fm.WRONG_TARGET
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), product="other")) == fm.WRONG_TARGET
    # wrongly delegated: a key the list does not name, another manufacturer's root, a key
    # for other boards, beyond its counters, outside its window, an older (revoked) list
    stranger = new_key()
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), signer=stranger)) == fm.DELEGATION
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), root=new_key())) == fm.BAD_SIGNATURE
    d = s.delegation
    for other in (
        (d[0], d[1], d[2], d[3], d[4], d[5], ["ESP32_GENERIC"]),
        (d[0], d[1], d[2], 0, 3, d[5], d[6]),
        (d[0], T0 + DAY, T0 + 2 * DAY, d[3], d[4], d[5], d[6]),
    ):
        assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), delegations=[other])) == fm.DELEGATION
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0"), keyring_counter=1)) == fm.DELEGATION
    # and the device still takes a good one
    assert install(sd, s.package("1.2.0", 4, bundle("1.2.0")), s.roots).version == "1.2.0"
    assert running(sd) == "1.2.0" and state.load(str(sd))["counter"] == 4


def test_no_root_key_built_in_no_update(tmp_path):
    s = Signer()
    meta, _ = s.package("1.2.0", 4, bundle("1.2.0"))
    r = Receiver(str(tmp_path))  # the roots of update/keys.py: none in the source tree
    with pytest.raises(UpdateError) as e:
        r.start(meta, T0)
    assert e.value.reason == NO_ROOT and "root public key" in str(e.value)


def test_too_little_space(device, monkeypatch):
    sd, s = device
    monkeypatch.setattr(files, "free_bytes", lambda path: 10000)
    assert refused(sd, s, s.package("1.2.0", 4, bundle("1.2.0", extra=bytes(9000)))) == NO_SPACE


def test_a_package_with_an_image_and_files_is_refused(device):
    sd, s = device
    assert refused(sd, s, s.package("1.2.0", 4, {"firmware": fw_image("1"), "main.py": b""})) == UNSUPPORTED


def test_the_keyring_floor_and_counter_only_go_up(device):
    sd, s = device
    s.keyring_counter = 5
    install(sd, s.package("1.2.0", 9, bundle("1.2.0")), s.roots)
    assert state.load(str(sd))["counter"] == 3  # not before the new release proved healthy
    running(sd)
    rec = state.load(str(sd))
    assert (rec["counter"], rec["keyring"]) == (9, 5)
    s.keyring_counter = 4
    assert refused(sd, s, s.package("1.3.0", 9, bundle("1.3.0")), runs="1.2.0") == fm.DELEGATION


# -- packages made with tools/sign.py --------------------------------------------------


def sign_tool(*args):
    r = subprocess.run(SIGN + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def test_a_bundle_signed_with_the_signing_tool_installs_and_refusals_hold(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    sign_tool("keygen", "--role", "root", "--out", str(keys / "root.key"))
    sign_tool("keygen", "--role", "update", "--out", str(keys / "upd.key"))
    sign_tool("delegate", "--root-key", str(keys / "root.key"), "--update-key", str(keys / "upd.key.pub"),
              "--product", PRODUCT, "--board", BOARD, "--board", "ESP32_GENERIC_S3", "--not-after", "+365d",
              "--out", str(keys / "k.keyring"))
    root = bytes.fromhex((keys / "root.key.pub").read_text().split()[2])

    def signed(version, counter, expires="+30d", board=BOARD):
        out = tmp_path / ("%s-%s.pkg" % (version, board))
        sign_tool("sign", "--key", str(keys / "upd.key"), "--keyring", str(keys / "k.keyring"), "--product", PRODUCT,
                  "--board", board, "--version", version, "--counter", str(counter), "--expires", expires,
                  "--out", str(out), FIRMWARE)
        data = out.read_bytes()
        n = fm.metadata_size(data)
        return data[:n], data[n:]

    sd = tmp_path / "state"
    sd.mkdir()
    now = int(time.time())
    m = install(sd, signed("1.4.0", 3), [root], now=now)
    assert m.version == "1.4.0" and len(m.items) > 20  # the whole node, file by file
    assert running(sd) == "1.4.0"
    slot = state.slot_dir(str(sd), "a")
    for name, _size, digest in m.items:
        with open(os.path.join(slot, name), "rb") as f:
            assert hashlib.sha256(f.read()).digest() == digest, name

    class S:
        roots = [root]

    assert refused(sd, S, signed("1.3.0", 2), now=now, runs="1.4.0") == fm.ROLLBACK
    assert refused(sd, S, signed("1.5.0", 4, expires="+1h"), now=now + 2 * 3600, runs="1.4.0") == fm.EXPIRED
    assert refused(sd, S, signed("1.5.0", 4, board="ESP32_GENERIC_S3"), now=now, runs="1.4.0") == fm.WRONG_TARGET
    meta, payload = signed("1.5.0", 4)
    assert refused(sd, S, (meta, payload[: len(payload) // 2]), now=now, runs="1.4.0") == fm.PAYLOAD


# -- firmware images on the shim's esp32.Partition --------------------------------------


@pytest.fixture
def board(tmp_path):
    esp32._flash_reset(fw_image("1.0.0"))
    yield tmp_path
    esp32._flash_reset()


def running_image(size):
    buf = bytearray(size)
    esp32.Partition(esp32.Partition.RUNNING).readblocks(0, buf)
    return bytes(buf)


def test_a_firmware_image_goes_to_the_next_partition_and_is_confirmed(board):
    s = Signer()
    new = fw_image("2.0.0", size=3 * 4096 + 1)
    r = Receiver(str(board), roots=s.roots)
    meta, payload = s.package("2.0.0", 4, {"firmware": new})
    assert r.start(meta, T0) == 0
    for i in range(0, len(payload), 1000):
        r.write(i, payload[i : i + 1000])
    assert r.finish().version == "2.0.0"
    assert esp32._flash.ota["boot"] == "ota_1" and esp32._flash.running == "ota_0"  # nothing runs it yet
    assert running_image(len(fw_image("1.0.0"))) == fw_image("1.0.0")  # the running image untouched
    with pytest.raises(UpdateError) as e:  # waiting for its first boot
        r.start(meta, T0)
    assert e.value.reason == BUSY
    esp32._reset()
    assert esp32._flash.ota["state"] == "PENDING_VERIFY" and running_image(len(new)) == new
    boot.choose(str(board))
    assert update.confirm_if_trial(str(board)) == "2.0.0"
    rec = state.load(str(board))
    assert esp32._flash.ota["state"] == "VALID" and rec["counter"] == 4 and rec["firmware"]["version"] == "2.0.0"
    esp32._reset()
    assert esp32._flash.running == "ota_1"
    # the next image goes to ota_0, the one not running
    nxt = image.next_partition()
    assert nxt is not None and nxt.info()[4] == "ota_0"


def test_a_firmware_image_never_confirmed_is_rolled_back(board):
    s = Signer()
    install(board, s.package("2.0.0", 4, {"firmware": fw_image("2.0.0")}), s.roots)
    esp32._reset()  # boots the new image: it dies before its health check
    boot.choose(str(board))
    esp32._reset()  # the bootloader rolls back
    assert esp32._flash.running == "ota_0"
    boot.choose(str(board))
    rec = state.load(str(board))
    assert rec["pending"] is None and rec["counter"] == 0 and rec["firmware"] is None
    assert update.confirm_if_trial(str(board)) is None
    assert running_image(len(fw_image("1.0.0"))) == fw_image("1.0.0")


def test_a_firmware_image_runs_its_own_modules_not_the_bundle_before_it(board):
    """An application bundle (1.1.0), then a firmware image (2.0.0, a security fix): the
    image's trial boot and every boot after its confirmation run its own modules; the
    bundle, made for the old image, is dropped. An image the bootloader rolls back leaves
    the bundle running as before."""
    s = Signer()
    install(board, s.package("1.0.1", 2, bundle("1.0.1")), s.roots)
    assert running(board) == "1.0.1"
    install(board, s.package("1.1.0", 3, bundle("1.1.0")), s.roots)
    assert running(board) == "1.1.0"
    install(board, s.package("2.0.0", 5, {"firmware": fw_image("2.0.0")}), s.roots)
    esp32._reset()
    assert boot.choose(str(board)) is None and update.version(str(board)) == "2.0.0"
    assert update.confirm_if_trial(str(board)) == "2.0.0"
    rec = state.load(str(board))
    assert rec["active"] is None and rec["previous"] is None and rec["counter"] == 5 and rec["slots"] == {}
    esp32._reset()
    assert boot.choose(str(board)) is None and update.version(str(board)) == "2.0.0"
    # a bundle for the new image installs and runs on it as usual, and the old bundles'
    # files go as it is staged: flash is not kept for code that never runs again
    slots = [os.path.join(str(board), "slots", x) for x in ("a", "a.meta", "b", "b.meta")]
    assert all(os.path.exists(p) for p in slots)
    with open(slots[3] + ".new", "wb") as f:  # and what a stage that never ended left
        f.write(b"metadata of a stage cut short")
    install(board, s.package("2.0.1", 6, bundle("2.0.1")), s.roots)
    assert running(board) == "2.0.1"
    assert [os.path.exists(p) for p in slots + [slots[3] + ".new"]] == [True, True, False, False, False]


def test_a_firmware_image_rolled_back_leaves_the_bundle_running(board):
    s = Signer()
    install(board, s.package("1.1.0", 3, bundle("1.1.0")), s.roots)
    assert running(board) == "1.1.0"
    install(board, s.package("2.0.0", 5, {"firmware": fw_image("2.0.0")}), s.roots)
    esp32._reset()
    assert boot.choose(str(board)) is None  # the image's trial: it dies before its confirmation
    esp32._reset()  # the bootloader goes back to the old image
    assert boot.choose(str(board)) == "a" and update.version(str(board)) == "1.1.0"
    assert state.load(str(board))["counter"] == 3


def test_a_firmware_image_resumes_from_its_last_checkpoint(board):
    s = Signer()
    new = fw_image("2.0.0", size=20 * 4096 + 5)
    meta, payload = s.package("2.0.0", 4, {"firmware": new})
    r = Receiver(str(board), roots=s.roots)
    r.start(meta, T0)
    r.write(0, payload[:70000])
    r = Receiver(str(board), roots=s.roots)
    done = 70000 // 4096 * 4096  # the blocks in flash when 64 KB had passed since the start
    assert r.start(meta, T0) == done  # and re-hashes them from flash
    r.write(done, payload[done:])
    r.finish()
    esp32._reset()
    assert running_image(len(new)) == new


def test_firmware_refusals(board, monkeypatch):
    s = Signer()
    too_big = s.package("2.0.0", 4, {"firmware": b"\xe9" * (0x180000 + 1)})
    with pytest.raises(UpdateError) as e:
        install(board, too_big, s.roots)
    assert e.value.reason == NO_SPACE
    with pytest.raises(UpdateError) as e:  # not an ESP image: the bootloader's own check refuses it
        install(board, s.package("2.0.0", 4, {"firmware": b"\x00" * 5000}), s.roots)
    assert e.value.reason == UNSUPPORTED and "bootloader refused" in str(e.value)
    assert state.load(str(board))["pending"] is None and esp32._flash.ota["boot"] == "ota_0"
    meta, payload = s.package("2.0.0", 4, {"firmware": fw_image("2.0.0")})
    bad = bytearray(payload)
    bad[-1] ^= 1
    with pytest.raises(fm.ManifestError) as e:
        install(board, (meta, bytes(bad)), s.roots)
    assert e.value.reason == fm.PAYLOAD and esp32._flash.ota["boot"] == "ota_0"
    monkeypatch.setattr(image, "next_partition", lambda: None)  # the unix port: no OTA partitions
    with pytest.raises(UpdateError) as e:
        install(board, (meta, payload), s.roots)
    assert e.value.reason == UNSUPPORTED


def test_the_shim_partition_is_a_block_device():
    esp32._flash_reset()
    p = esp32.Partition("ota_1")
    assert p.info() == (0, 0x11, 0x190000, 0x180000, "ota_1", False)
    assert p.ioctl(4, 0) == 0x180000 // 4096 and p.ioctl(5, 0) == 4096 and p.ioctl(1, 0) == 0
    p.writeblocks(1, b"\x0f" * 4096)
    p.writeblocks(1, b"\xf0" * 16, 8)  # no erase: NOR flash only clears bits
    buf = bytearray(24)
    p.readblocks(1, buf)
    assert bytes(buf) == b"\x0f" * 8 + b"\x00" * 16
    assert p.ioctl(6, 1) == 0
    p.readblocks(1, buf)
    assert bytes(buf) == b"\xff" * 24
    with pytest.raises(OSError):
        p.writeblocks(0, b"x" * 100)  # an erase covers whole 4096-byte sectors
    assert [x.info()[4] for x in esp32.Partition.find(esp32.Partition.TYPE_APP)] == ["ota_0", "ota_1"]
    assert esp32.Partition(esp32.Partition.RUNNING).get_next_update() == p
    with pytest.raises(OSError):
        esp32.Partition("nothing")


# -- boot: main.py picks the slot --------------------------------------------------------


SLOT_APP = b"""RESTART = 4
def main(path):
    import update
    print("APP", update.version(%r), __file__)
    return 0
"""


def test_main_py_runs_the_active_slot_and_reverts_an_unconfirmed_trial(tmp_path):
    """Under the unix port, with the factory image build/firmware: main.py runs app from
    the slot an update installed, counting its trial boot; without a confirmation the
    next boot runs the factory image again."""
    sd = tmp_path / "state"
    sd.mkdir()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"state_dir": str(sd)}))
    s = Signer()
    install(sd, s.package("9.9.0", 4, {"app.py": SLOT_APP % str(sd).encode()}), s.roots)

    def boot_once():
        env = dict(os.environ, MICROPYPATH=FIRMWARE + ":.frozen")
        r = subprocess.run([MICROPYTHON, os.path.join(FIRMWARE, "main.py"), str(cfg)], env=env, capture_output=True,
                           text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    rc, out = boot_once()
    assert rc == 0 and "APP 9.9.0 %s/app.py" % state.slot_dir(str(sd), "a") in out, out
    assert state.load(str(sd))["boots"] == 1
    rc, out = boot_once()  # never confirmed: back to the factory image (its app needs a real config)
    assert "APP" not in out and "update: version 9.9.0 was not confirmed" in out, out
    assert state.load(str(sd))["active"] is None


def test_a_release_that_cannot_run_is_reported_and_reverted_at_the_next_boot(tmp_path):
    """A trial whose app raises as it loads: main.py prints what it raised and exits 1 (a
    board resets after 30 s, never staying at the REPL); the next boot reverts."""
    sd = tmp_path / "state"
    sd.mkdir()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"state_dir": str(sd)}))
    s = Signer()
    install(sd, s.package("9.9.1", 4, {"app.py": b"raise AttributeError('broken release')\n"}), s.roots)
    env = dict(os.environ, MICROPYPATH=FIRMWARE + ":.frozen")
    argv = [MICROPYTHON, os.path.join(FIRMWARE, "main.py"), str(cfg)]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "AttributeError: broken release" in r.stdout + r.stderr, r
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert "update: version 9.9.1 was not confirmed" in r.stdout, r
    assert state.load(str(sd))["active"] is None


@pytest.mark.parametrize("app_src, raised, slept", [
    ("def main(path):\n    raise TypeError('broken release')\n", ["TypeError"], [30]),  # a crash: reset, not too often
    ("import nonexistent_module\n", ["ModuleNotFoundError"], [30]),  # cannot even import
    ("RESTART = 4\ndef main(path):\n    return RESTART\n", [], []),  # an update, a factory reset: at once
])
def test_main_py_on_a_board_resets_after_a_crash_rather_than_stop_at_the_repl(app_src, raised, slept, tmp_path,
                                                                               monkeypatch):
    """main.py as a board runs it (CPython, the shim's machine.reset raising SystemExit): what
    app raises is printed, and the board resets, so an unconfirmed trial reverts."""
    fake = tmp_path / "app.py"
    fake.write_text(app_src)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "app", None)  # put back as it was at teardown, and until then
    del sys.modules["app"]  # main.py imports the stand-in above
    monkeypatch.setattr(sys, "platform", "esp32")
    monkeypatch.setattr(sys, "argv", ["main.py", str(tmp_path / "config.json")])
    printed = []
    monkeypatch.setattr(sys, "print_exception", printed.append, raising=False)
    monkeypatch.setattr(boot, "select", lambda path: None)
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    with open(os.path.join(ROOT, "firmware", "main.py")) as f:
        code = compile(f.read(), "main.py", "exec")
    with pytest.raises(SystemExit) as e:
        exec(code, {"__name__": "__main__"})
    assert str(e.value) == "machine.reset()"
    assert waits == slept
    assert [type(x).__name__ for x in printed] == raised


def test_a_clean_stop_before_the_confirmation_does_not_spend_the_trial(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM in the 30 s between READY and the confirmation: the next start is
    the trial again (app._spare_trial), not a revert. Not before READY (a start that never
    got up has spent it), nor after the window (a healthy release is confirmed by then)."""
    import app

    class Clock:
        ms = 0

        def real_ms(self):
            return self.ms

    s = Signer()
    install(tmp_path, s.package("1.2.0", 4, bundle("1.2.0")), s.roots)
    assert boot.choose(str(tmp_path)) == "a"  # its trial boot
    cfg = {"state_dir": str(tmp_path)}
    clock = Clock()
    monkeypatch.setattr(app, "_up", None)
    app._spare_trial(cfg, clock)
    assert state.load(str(tmp_path))["boots"] == 1
    monkeypatch.setattr(app, "_up", 1000)  # READY at 1 s
    clock.ms = 1000 + app._CONFIRM_MS
    app._spare_trial(cfg, clock)
    assert state.load(str(tmp_path))["boots"] == 1
    clock.ms = 1000 + app._CONFIRM_MS - 1
    app._spare_trial(cfg, clock)
    assert state.load(str(tmp_path))["boots"] == 0
    assert boot.choose(str(tmp_path)) == "a"  # the trial again
    assert update.confirm_if_trial(str(tmp_path)) == "1.2.0"
    rec = state.load(str(tmp_path))
    app._spare_trial(cfg, clock)  # nothing on trial: nothing to do
    assert state.load(str(tmp_path)) == rec and rec["failed"] is None


def test_a_trial_boot_that_was_never_counted_is_not_confirmed(tmp_path, monkeypatch):
    """boot could not write its choice (a full filesystem, say): the factory image ran,
    and the update on the record, never run, must not be confirmed by it."""
    s = Signer()
    install(tmp_path, s.package("1.2.0", 4, bundle("1.2.0")), s.roots)

    def full(state_dir, rec):
        raise OSError(28, "no space left on device")

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path)}))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # select forgets the update modules
    with monkeypatch.context() as m:
        m.setattr(state, "save", full)
        assert boot.select(str(cfg)) is None  # the factory image
    assert update.confirm_if_trial(str(tmp_path)) is None
    rec = state.load(str(tmp_path))
    assert rec["pending"] is not None and rec["counter"] == 0


def test_boot_falls_back_when_a_slot_is_gone(tmp_path):
    s = Signer()
    install(tmp_path, s.package("1.1.0", 3, bundle("1.1.0")), s.roots)
    running(tmp_path)
    files.remove_tree(state.meta_path(str(tmp_path), "a"))
    assert boot.choose(str(tmp_path)) is None and state.load(str(tmp_path))["active"] is None


def test_select_puts_the_slot_first_and_forgets_the_boot_modules(tmp_path, monkeypatch):
    s = Signer()
    install(tmp_path, s.package("1.1.0", 3, bundle("1.1.0")), s.roots)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path)}))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    assert boot.select(str(cfg)) == "a"
    assert sys.path[0] == state.slot_dir(str(tmp_path), "a")
    assert "update" not in sys.modules and "update.boot" not in sys.modules and "hal.store" not in sys.modules


# -- root keys in the build --------------------------------------------------------------


def test_the_build_puts_the_given_root_keys_in_and_none_by_default(tmp_path):
    from update import keys

    assert keys.ROOTS == ()  # the source tree holds no key
    sign_tool("keygen", "--role", "root", "--out", str(tmp_path / "r1.key"))
    sign_tool("keygen", "--role", "root", "--out", str(tmp_path / "r2.key"))
    pubs = [str(tmp_path / "r1.key.pub"), str(tmp_path / "r2.key.pub")]
    out = tmp_path / "build" / "firmware"
    build.build(str(out), pubs)
    env = dict(os.environ, MICROPYPATH=str(out))
    code = "from update import keys; print(' '.join(k.hex() for k in keys.ROOTS))"
    r = subprocess.run([MICROPYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    want = [open(p).read().split()[2] for p in pubs]
    assert r.stdout.split() == want, r.stdout + r.stderr
    build.build(str(out), [])  # built again without: no key
    r = subprocess.run([MICROPYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == ""


@pytest.mark.parametrize("content, want", [
    (None, "cannot read"),
    ("ed25519 update " + "00" * 32, "not a root public key file"),
    ("-----BEGIN " + "PRIVATE KEY-----", "not a root public key file"),  # split: no key block in the repository
    ("ed25519 root " + "zz" * 32, "not 64 hex digits"),
])
def test_a_bad_root_key_file_stops_the_build_with_one_line(tmp_path, content, want):
    path = tmp_path / "root.key.pub"
    if content is not None:
        path.write_text(content)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), "--root-keys", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and want in r.stderr, r.stderr
