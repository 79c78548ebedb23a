"""Power cuts during updates (design principle 5; MCUboot's simulator is the model): the
filesystem (host_tests/fakefs.py) and the flash of the shim's esp32.Partition cut the
power after the k-th write operation, and EVERY k of a whole update is walked: staging,
the switch, the restart, the trial boot and the confirmation. After each cut the device
powers up again (the bootloader, then update/boot.py picks the app slot) and must:

- run a complete, correctly signed release: the app slot it boots holds exactly the
  files, and the flash partition it runs exactly the image, of a package whose metadata
  verifies under the root key, the old release or the new one; never a mix, never a
  half-written slot, never the factory image;
- never run a release whose security counter is below the stored counter, and the
  stored counter never goes down from one cut point to the next;
- then, left to run and given the update again, end on the new release, confirmed.
"""
import esp32
import pytest
import update
from fakefs import MODELS, FakeFS, PowerCut, installer
from update import boot, files, receiver, state
from update.receiver import Receiver
from update_pkgs import T0, Signer, bundle, image

from hal import store
from security import manifest

SD = "state"
CHUNK = 700  # bytes per write(): several per file, and pieces that straddle files
SIGNER = Signer()
OLD = SIGNER.package("1.1.0", 3, bundle("1.1.0"))
NEW = SIGNER.package("1.2.0", 5, bundle("1.2.0", extra=b" with more bytes" * 40))
OLD_FW = SIGNER.package("7.0.0", 3, {"firmware": image("7.0.0")})
NEW_FW = SIGNER.package("7.1.0", 5, {"firmware": image("7.1.0", size=5 * 4096 + 77)})


@pytest.fixture
def use(monkeypatch):
    monkeypatch.setattr(boot, "log", lambda text: None)
    return installer(monkeypatch, [store, files, receiver, boot])


_VERIFIED = {}


def verified(meta):
    """The Manifest of meta, verified once per package (the checks run thousands of times)."""
    if meta not in _VERIFIED:
        _VERIFIED[meta] = manifest.verify(meta, SIGNER.roots, "drready-node", "unix", T0, 0)
    return _VERIFIED[meta]


def install(meta, payload):
    r = Receiver(SD, roots=SIGNER.roots)
    off = r.start(meta, T0)
    while off < len(payload):
        off = r.write(off, payload[off : off + CHUNK])
    return r.finish()


def power_on():
    """The bootloader picks the flash image, then main.py's update/boot.py the app slot."""
    esp32._reset()
    return boot.choose(SD)


def node_up():
    """The node started and announced itself: its health check passed."""
    update.confirm_if_trial(SD)


def device(model, use):
    """A device running firmware OLD_FW from ota_0 and app OLD from slot a, both
    installed by an update and confirmed (counter 3); as it is on disk and in flash."""
    esp32._flash_reset(b"\xe9factory image")
    use(FakeFS(model))
    store.makedirs(SD)
    for pkg in (OLD_FW, OLD):
        install(*pkg)
        power_on()
        node_up()
    rec = state.load(SD)
    assert (rec["active"], rec["counter"], rec["firmware"]["version"]) == ("a", 3, "7.0.0")
    assert esp32.Partition(esp32.Partition.RUNNING).info()[4] == "ota_1"
    return FakeFS.reboot(files.os.stat.__self__), esp32._flash.snapshot()


class Cutter:
    """The power goes after `cut` write operations, filesystem and flash together."""

    def __init__(self, fs, cut):
        self.fs = fs
        self.cut = cut
        self.flash = 0
        self.fs_op = FakeFS.op.__get__(fs)
        fs.op = self.on_fs

    def count(self):
        return len(self.fs.ops) + self.flash

    def _maybe_cut(self, what):
        if self.fs.dead or (self.cut is not None and self.count() >= self.cut):
            self.fs.dead = True
            raise PowerCut(what)

    def on_fs(self, what):
        self._maybe_cut(what)
        self.fs_op(what)

    def on_flash(self, what):
        self._maybe_cut(what)
        self.flash += 1


def run_until_cut(use, start, cut, work):
    """Run work() on a copy of the start state with the power going after `cut` writes
    (None: never); then the power comes back. Returns the writes work() made."""
    fs = use(start[0].reboot())
    esp32._flash = start[1].snapshot()
    cutter = Cutter(fs, cut)
    esp32._hook = cutter.on_flash
    try:
        work()
        assert cut is None or cut >= cutter.count(), "work() finished before cut point %s" % cut
    except PowerCut:
        pass
    finally:
        esp32._hook = None
    use(fs.reboot())
    return cutter.count()


def converge(pkg, done):
    """The device keeps running and is given the update again until done()."""
    for _ in range(3):
        if done():
            return
        try:
            install(*pkg)
        except receiver.UpdateError as e:  # the new release is installed and waits for its boot
            assert e.reason == receiver.BUSY
        power_on()
        node_up()
    assert done()


def app_in(slot):
    """(version, counter) of the release in slot, after proving every file of it intact
    and its metadata signed."""
    assert slot in state.SLOTS, "booted the factory image"
    with vars(files)["open"](state.meta_path(SD, slot), "rb") as f:  # the fake filesystem's open
        meta = f.read()
    assert meta in (OLD[0], NEW[0])
    m = verified(meta)
    assert files.SlotWriter(state.slot_dir(SD, slot), m.items).verify() is None, "slot %s is not intact" % slot
    return m.version, m.counter


def firmware_running():
    """(version, counter) of the image the bootloader runs, after proving it is exactly a
    signed image: its bytes hash to the digest of the package's manifest."""
    part = esp32.Partition(esp32.Partition.RUNNING)
    for meta, payload in (OLD_FW, NEW_FW):
        buf = bytearray(len(payload))
        part.readblocks(0, buf)
        if bytes(buf) == payload:
            m = verified(meta)
            p = manifest.Payload(m)
            p.feed(buf)
            p.finish()
            return m.version, m.counter
    raise AssertionError("running partition %s holds no signed image" % part.info()[4])


def walk(model, use, pkg, check, done):
    start = device(model, use)

    def work():
        install(*pkg)
        power_on()
        node_up()

    total = run_until_cut(use, start, None, work)
    counters = []
    seen = set()
    for k in range(total + 1):
        writes = run_until_cut(use, start, k, work)
        assert writes == k, (writes, k)
        slot = power_on()
        rec = state.load(SD)
        seen.add(check(slot, rec))
        counters.append(rec["counter"])
        node_up()
        converge(pkg, done)
    assert counters == sorted(counters), "the stored security counter went down: %s" % counters
    assert counters[0] == 3 and counters[-1] == 5
    return total, seen


@pytest.mark.parametrize("model", MODELS)
def test_every_cut_of_an_app_update_boots_a_whole_signed_release(model, use):
    def check(slot, rec):
        version, counter = app_in(slot)
        assert counter >= rec["counter"], "runs %s (counter %d) below the stored %d" % (version, counter, rec["counter"])
        return version

    def done():
        rec = state.load(SD)
        return not rec["pending"] and app_in(rec["active"]) == ("1.2.0", 5) and rec["counter"] == 5

    total, seen = walk(model, use, NEW, check, done)
    assert seen == {"1.1.0", "1.2.0"}
    assert total > 60, total  # every file, the progress records, the switch, the trial boot, the confirmation


@pytest.mark.parametrize("model", MODELS)
def test_every_cut_of_a_firmware_update_runs_a_whole_signed_image(model, use):
    def check(slot, rec):
        version, counter = firmware_running()
        assert counter >= rec["counter"], "runs firmware %s (counter %d) below the stored %d" % (version, counter, rec["counter"])
        if version == "7.0.0":
            assert app_in(slot) == ("1.1.0", 3)  # the old image with the bundle made for it
        else:
            assert slot is None, "image 7.1.0 runs the bundle made for 7.0.0"  # its own modules
        return version

    def done():
        rec = state.load(SD)
        ota = esp32._flash.ota
        return (not rec["pending"] and firmware_running() == ("7.1.0", 5) and rec["counter"] == 5
                and ota["state"] == "VALID" and rec["firmware"]["version"] == "7.1.0" and rec["active"] is None)

    total, seen = walk(model, use, NEW_FW, check, done)
    assert seen == {"7.0.0", "7.1.0"}
    assert total > 12, total  # 6 blocks erased and written, records, set_boot, mark valid


def test_the_walk_catches_a_switch_that_is_not_atomic(use, monkeypatch):
    """The walks above are only worth something if they fail an update that goes live
    before its files are all staged: here, the record flips to the new slot first."""
    real = receiver.Receiver._start_app

    def flip_first(self, rec, m, digest):
        first = real(self, rec, m, digest)
        rec["active"] = rec["stage"]["slot"]
        state.save(SD, rec)
        return first

    monkeypatch.setattr(receiver.Receiver, "_start_app", flip_first)
    with pytest.raises(AssertionError):
        walk("board", use, NEW, lambda slot, rec: app_in(slot)[0], lambda: True)
