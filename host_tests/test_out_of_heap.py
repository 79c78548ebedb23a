"""A provisioned node short of heap for its secure channel (security/boot.py out_of_heap,
app.main): a start building the channel runs out of heap, leaves a note and asks to
start again; the next runs without the channel; the note names what ran, so an update
that came or went since gets its channel tried again. End to end in
host_tests/e2e/test_small_heap.py and test_sim_cli.py."""
import asyncio
import json
import os
import sys
import types

import pytest
import update
import update.boot
from update import state as update_state

import app
from security import boot, channel

FACTORY_RUN = [update.FACTORY, update.boot.running_partition()]


@pytest.fixture
def device(tmp_path, monkeypatch):
    """A config whose identity directory holds a key and a certificate (their contents do
    not matter here: channel.contexts is replaced), and the note's path."""
    ident = tmp_path / "identity"
    ident.mkdir()
    (ident / "device_cert.der").write_bytes(b"cert")
    (ident / "device_key.der").write_bytes(b"key")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path), "identity_dir": str(ident)}))
    monkeypatch.setattr(app, "secure_start", False)
    monkeypatch.setattr(channel, "contexts", lambda cert, key, n: ["ctx"] * n)
    return str(cfg), str(tmp_path) + app.NO_ROOM


@pytest.fixture
def no_heap(monkeypatch):
    """app._boot runs out of heap, after security/boot.py build (which sets
    app.secure_start when it makes the channel); sys.print_exception is MicroPython's."""

    def boot_(path):
        boot.build(path)
        raise MemoryError("memory allocation failed, allocating 512 bytes")

    monkeypatch.setattr(app, "_boot", boot_)
    monkeypatch.setattr(sys, "print_exception", lambda e: None, raising=False)


def read(path):
    with open(path) as f:
        return json.load(f)


def test_the_start_that_runs_out_of_heap_asks_for_one_without_the_channel(device, no_heap, monkeypatch, capsys):
    cfg, note = device
    traced = []
    monkeypatch.setattr(sys, "print_exception", traced.append, raising=False)
    assert app.main(cfg) == app.RESTART
    assert read(note) == FACTORY_RUN
    assert "ERROR out of heap with the secure channel: starting again without it" in capsys.readouterr().out
    assert traced == []  # an expected way to start: no traceback
    # the start without the channel (a new process, or a reset) runs out of heap too:
    # it stops, and forgets the note, so the next start tries the channel again
    monkeypatch.setattr(app, "secure_start", False)
    assert boot.build(cfg)[4] is None and app.secure_start is False
    assert app.main(cfg) == 3  # app._OUT_OF_HEAP
    assert "ERROR out of heap without the secure channel" in capsys.readouterr().out
    assert len(traced) == 1  # where it ran out
    assert not os.path.exists(note)


def test_a_fallback_that_cannot_leave_its_note_stops_and_shows_where(device, no_heap, monkeypatch, capsys):
    cfg, note = device
    traced = []
    monkeypatch.setattr(sys, "print_exception", traced.append, raising=False)

    def full(path, secure):
        raise OSError(28, "no space left")

    monkeypatch.setattr(boot, "out_of_heap", full)
    assert app.main(cfg) == 3  # app._OUT_OF_HEAP: no note, so no start without the channel
    assert "ERROR out of heap with the secure channel: give MicroPython more" in capsys.readouterr().out
    assert len(traced) == 1


def test_a_start_without_the_channel_never_writes_the_note(device, no_heap, monkeypatch):
    # up to READY it has removed the note (app.serve): running out of heap after that, and
    # before READY, must not be taken for a start with the channel, over and over
    cfg, note = device
    open(note, "w").close()
    monkeypatch.setattr(boot, "build", lambda path: None)  # nothing builds the channel
    assert app.main(cfg) == 3
    assert not os.path.exists(note)


def test_an_unprovisioned_node_out_of_heap_just_stops(device, no_heap, tmp_path):
    cfg, note = device
    for name in ("device_cert.der", "device_key.der"):
        (tmp_path / "identity" / name).unlink()
    assert app.main(cfg) == 3 and app.secure_start is False
    assert not os.path.exists(note)


def test_once_up_a_lack_of_heap_does_not_turn_the_channel_off(device, no_heap, monkeypatch):
    # after READY (a flood of TLS sessions, say): the node stops as before, and its next
    # start tries the secure channel again; no way for a peer to switch the channel off
    cfg, note = device
    monkeypatch.setattr(app, "_up", True)
    assert app.main(cfg) == 3
    assert not os.path.exists(note)


def test_the_note_holds_only_for_what_ran_out_of_heap(device, monkeypatch, tmp_path):
    cfg, note = device
    made = []
    monkeypatch.setattr(channel, "contexts", lambda cert, key, n: made.append(n) or ["ctx"] * n)
    assert boot.out_of_heap(cfg, True) is True
    assert boot.build(cfg)[4] is None and made == []  # the same version: no TLS contexts, no channel
    assert os.path.exists(note)  # (app.serve removes it once the node is up)
    # a firmware image rolled back by the bootloader: another partition runs
    monkeypatch.setattr(update.boot, "running_partition", lambda: "ota_1")
    assert boot.build(cfg)[4] == ["ctx", "ctx"] and made == [2]
    assert not os.path.exists(note)
    # an application update rolled back: another version runs
    monkeypatch.undo()
    monkeypatch.setattr(channel, "contexts", lambda cert, key, n: made.append(n) or ["ctx"] * n)
    assert boot.out_of_heap(cfg, True) is True
    monkeypatch.setattr(update, "version", lambda state_dir: "2.0.0")
    assert boot.build(cfg)[4] == ["ctx", "ctx"] and made == [2, 2]
    assert not os.path.exists(note)


def test_a_note_cut_short_by_a_power_cut_is_no_note(device):
    cfg, note = device
    with open(note, "w") as f:
        f.write('["fac')
    assert boot.build(cfg)[4] == ["ctx", "ctx"]
    assert not os.path.exists(note)


def test_mbedtls_out_of_memory_is_a_lack_of_heap_not_a_bad_key(device, monkeypatch):
    # mbedTLS allocates from the IDF heap on a board and says ENOMEM as an OSError
    cfg, note = device

    def enomem(cert, key, n):
        raise OSError(12)

    monkeypatch.setattr(channel, "contexts", enomem)
    with pytest.raises(MemoryError):
        boot.build(cfg)
    assert app.secure_start is True


def test_a_damaged_update_record_does_not_keep_a_device_short_of_heap_from_serving(device, no_heap, tmp_path):
    """out_of_heap notes the running version, which a damaged record cannot give: noted as
    "?", so the next start goes without the channel and serves, as without the damage."""
    cfg, note = device
    (tmp_path / "update.json").write_text('{"bad": 1}')
    assert app.main(cfg) == app.RESTART
    with open(note) as f:
        assert json.load(f)[0] == "?"


class _Endpoint:
    addr = "127.0.0.9"
    unicast = multicast = None

    def receive_loop(self, sock, handle, failed, log):
        return None

    def close(self):
        pass


class _Stop(Exception):
    pass


def _serve_until_loops(tmp_path, monkeypatch, note_present, tasks=None, pending=True):
    """app.serve up to its loops, for a start without the secure channel (sec.server None);
    the update calls it makes, recorded; tasks: a list that gets the loops' names."""
    from hal.clock import Clock
    from portable.support import make_node

    calls = []
    if pending:
        rec = update_state.fresh()
        rec["pending"] = {"kind": "app", "counter": 2, "keyring": 0, "version": "2.0.0", "meta": "00", "label": "a"}
        update_state.save(str(tmp_path), rec)  # an update waits for its confirmation
    monkeypatch.setitem(sys.modules, "update", update)  # serve drops it once up: the patched one, each time

    async def gather(*loops):
        for t in loops:
            if getattr(t, "__name__", "") == "_tick":  # what it is to confirm (after _CONFIRM_MS)
                calls.append(t.cr_frame.f_locals["trial"])
            if tasks is not None:
                tasks.append(getattr(t, "__name__", None))
            if hasattr(t, "close"):
                t.close()
        raise _Stop

    monkeypatch.setattr(app, "_gather", gather)
    for name in ("mem_alloc", "mem_free"):  # MicroPython's, for the READY line
        monkeypatch.setattr(app.gc, name, lambda: 0, raising=False)
    if note_present:
        (tmp_path / "secure-channel-off").write_text("[]")
    node, _ = make_node()
    sec = app.Security(str(tmp_path), None, None, None, None)
    with pytest.raises(_Stop):
        asyncio.run(app.serve(node, _Endpoint(), Clock(1, 0), None, sec, {"state_dir": str(tmp_path)}))
    return calls


def test_a_start_without_the_channel_for_want_of_heap_confirms_no_update(tmp_path, monkeypatch):
    assert _serve_until_loops(tmp_path, monkeypatch, note_present=True) == [None]
    assert not (tmp_path / "secure-channel-off").exists()  # and the next start tries the channel
    # an unprovisioned device (no note) is healthy as it is: its trial is confirmed
    assert _serve_until_loops(tmp_path, monkeypatch, note_present=False) == [str(tmp_path)]


def test_a_trial_boot_on_a_board_arms_the_watchdog_and_feeds_it(tmp_path, monkeypatch):
    """On a board (the shim's machine.WDT), the boot of an update on trial runs a task that
    feeds a 60 s hardware watchdog: a release that hangs resets the board, and reverts.
    Other boots, and the simulator, arm none."""
    import machine

    from hal import board

    armed = []
    real = machine.WDT

    def wdt(id=0, timeout=5000):
        armed.append(real(id, timeout))
        return armed[-1]

    monkeypatch.setattr(machine, "WDT", wdt)
    monkeypatch.setattr(board, "PATH", str(tmp_path / "board.json"))  # none: the default pins
    monkeypatch.setattr(sys, "platform", "esp32")
    names = []
    _serve_until_loops(tmp_path, monkeypatch, note_present=False, tasks=names)
    assert names.count("feed") == 1 and len(armed) == 1 and armed[0].timeout == app._WATCHDOG_S * 1000
    # the task feeds it every second
    feeder = board.watchdog(60, True)
    assert feeder is not None

    async def run_a_while():
        try:
            await asyncio.wait_for(feeder, 2.5)
        except asyncio.TimeoutError:
            pass

    asyncio.run(run_a_while())
    assert armed[-1].fed == 3
    # no update on trial: none armed
    (tmp_path / "update.json").unlink()
    names = []
    _serve_until_loops(tmp_path, monkeypatch, note_present=False, tasks=names, pending=False)
    assert "feed" not in names and len(armed) == 2  # (the one made above)
    monkeypatch.setattr(sys, "platform", "linux")
    names = []
    _serve_until_loops(tmp_path, monkeypatch, note_present=False, tasks=names)
    assert "feed" not in names and len(armed) == 2


def test_a_production_image_arms_the_watchdog_at_every_boot(tmp_path, monkeypatch):
    """A production image (its board name says so: boards/*/mpconfigvariant_PROD.cmake) has
    no REPL, so nothing stops the watchdog guarding it in normal service; a development
    image keeps its REPL usable and arms it on trial boots only."""
    import machine

    from hal import board

    armed = []
    monkeypatch.setattr(machine, "WDT", lambda id=0, timeout=5000: armed.append(timeout) or types.SimpleNamespace())
    monkeypatch.setattr(board, "PATH", str(tmp_path / "board.json"))
    monkeypatch.setattr(sys, "platform", "esp32")
    for name, want in (("DRready node (ESP32, 4MiB, OTA, production) with ESP32", 1),
                       ("DRready node (ESP32, 4MiB, OTA) with ESP32", 0)):
        monkeypatch.setattr(board.os, "uname", lambda name=name: types.SimpleNamespace(machine=name))
        names = []
        _serve_until_loops(tmp_path, monkeypatch, note_present=False, tasks=names, pending=False)
        assert names.count("feed") == want, name
    assert armed == [app._WATCHDOG_S * 1000]
