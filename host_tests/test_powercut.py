"""Power cuts while the settings are written (design principle 5: nothing lost, nothing
bricked). hal/store.save runs against a fake filesystem that cuts the power after the
k-th write operation, for every k of a save: the first save (no file yet) and a save
replacing an existing record. After each cut the filesystem keeps only what had reached
the disk, and loading must give exactly the old or the new record, never a torn or lost
one; booting on it must restore that state into a node.

The fake filesystem (host_tests/fakefs.py) keeps only what had reached the disk; three
interpreters' ways of making data durable are walked: CPython (os.fsync), the
MicroPython board (no fsync; os.sync) and the MicroPython unix port (flush is an fsync).
"""
import json

import pytest
from fakefs import MODELS, FakeFS, Inode, PowerCut, installer

import app
from echonet import persist
from hal import store
from hal.clock import Clock
from portable.support import make_node

PATH = "state/settings.json"
OLD = {"027D01": ["EB=000007D0", "DA=42"]}
NEW = {"027D01": ["EB=00000BB8", "DA=43", "A7=14", "81=08"]}


@pytest.fixture
def use(monkeypatch):
    """use(fs): point hal/store at a fake filesystem."""
    return installer(monkeypatch, [store])


def _start(model, old, use):
    """A filesystem holding `old` (None: no settings file yet), safely on disk."""
    fs = use(FakeFS(model))
    if old is not None:
        store.save(PATH, old)
    return fs.reboot()


def _ops_of_save(model, old, use):
    fs = use(_start(model, old, use))
    n0 = len(fs.ops)
    store.save(PATH, NEW)
    return fs.ops[n0:]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("old", [None, OLD], ids=["first-save", "replace"])
def test_a_cut_at_any_write_leaves_the_old_or_the_new_record(model, old, use):
    ops = _ops_of_save(model, old, use)
    assert ops.count("write") >= 3 and ops[-1] == "rename", ops  # json.dump writes in pieces
    seen = []
    for k in range(len(ops) + 1):
        fs = _start(model, old, use)
        fs.cut = k
        use(fs)
        if k < len(ops):
            with pytest.raises(PowerCut):
                store.save(PATH, NEW)
        else:
            store.save(PATH, NEW)
        after = use(fs.reboot())
        got = store.load(PATH)
        assert got in (old, NEW), "cut after %d of %s: loaded %r" % (k, ops, got)
        seen.append(got)
        # a leftover .tmp is never read, and the next save goes through
        store.save(PATH, NEW)
        use(after.reboot())
        assert store.load(PATH) == NEW
    # the new record appears at one cut point (the rename) and stays: no flip-flopping
    first_new = seen.index(NEW)
    assert seen[:first_new] == [old] * first_new and seen[first_new:] == [NEW] * (len(seen) - first_new)
    assert ops[first_new - 1] == "rename", (first_new, ops)


def _boot_node(fs, use):
    """Boot as app.main does after the start-up code: restore, then the settings writer."""
    use(fs)
    node, _net = make_node(now=1767225600)
    cfg = {"state_dir": "state"}
    saver = app.settings(cfg, node, Clock(1, 1767225600))
    return node, saver


def test_a_boot_after_each_cut_restores_that_record_into_the_node(use, capsys):
    ops = _ops_of_save("board", OLD, use)
    for k in range(len(ops) + 1):
        fs = _start("board", OLD, use)
        fs.cut = k
        use(fs)
        try:
            store.save(PATH, NEW)
        except PowerCut:
            pass
        node, saver = _boot_node(fs.reboot(), use)
        b = node.devices[0]
        want = NEW if k == len(ops) else OLD
        assert persist.snapshot(node) == want, k
        assert b.get(0xDA) == bytes.fromhex(want["027D01"][1][3:]) and b.settings.mode == b.get(0xDA)[0], k
        assert saver.last == persist.digest(want) and not saver.flush(), k  # nothing to write again
    assert "skipped" not in capsys.readouterr().out


def test_a_boot_on_a_damaged_file_starts_without_settings(use, capsys):
    fs = FakeFS("board")
    inode = Inode()
    inode.cache = inode.disk = b'{"027D01": ["DA=4'  # not something a save can leave: written by hand?
    fs.names[PATH] = inode
    node, saver = _boot_node(fs, use)
    assert persist.snapshot(node) == {}
    out = capsys.readouterr().out
    assert out.startswith("settings not restored state/settings.json: damaged (")


def test_the_harness_catches_a_save_that_is_not_atomic(use):
    """The walk above is only worth something if it fails a save that writes in place, or
    renames before the data is on disk."""

    def in_place(path, obj):
        with store.open(path, "w") as f:
            json.dump(obj, f)
            f.flush()
        store.os.sync()

    def no_sync(path, obj):
        with store.open(path + ".tmp", "w") as f:
            json.dump(obj, f)
        store.os.rename(path + ".tmp", path)

    for bad in (in_place, no_sync):
        torn = []
        n = 0
        while True:
            fs = _start("board", OLD, use)
            fs.cut = n
            use(fs)
            try:
                bad(PATH, NEW)
                done = True
            except PowerCut:
                done = False
            use(fs.reboot())
            try:
                got = store.load(PATH)
            except ValueError:
                got = "torn"
            if got not in (OLD, NEW):
                torn.append((n, got))
            if done:
                break
            n += 1
        assert torn, bad.__name__
