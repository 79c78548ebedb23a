"""A provisioned node short of heap for its secure channel (security/boot.py out_of_heap,
app.main): one start runs out of heap, leaves a note and asks to start again; the next
runs without the channel; the note names what ran, so an update that came or went since
gets its channel tried again. End to end in host_tests/e2e/test_small_heap.py."""
import json
import os
import sys

import pytest
import update

import app
from security import boot, channel


@pytest.fixture
def device(tmp_path):
    """A config whose identity directory holds a key and a certificate (their contents do
    not matter to out_of_heap), and the note's path."""
    ident = tmp_path / "identity"
    ident.mkdir()
    (ident / "device_cert.der").write_bytes(b"cert")
    (ident / "device_key.der").write_bytes(b"key")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path), "identity_dir": str(ident)}))
    return str(cfg), str(tmp_path) + app.NO_ROOM


@pytest.fixture
def no_heap(monkeypatch):
    """app._boot runs out of heap; sys.print_exception is MicroPython's."""

    def boot_(path):
        raise MemoryError("memory allocation failed, allocating 512 bytes")

    monkeypatch.setattr(app, "_boot", boot_)
    monkeypatch.setattr(sys, "print_exception", lambda e: None, raising=False)


def test_the_start_that_runs_out_of_heap_asks_for_one_without_the_channel(device, no_heap):
    cfg, note = device
    assert app.main(cfg) == app.RESTART
    with open(note) as f:
        assert json.load(f) == [update.FACTORY, boot._running(os.path.dirname(note))[1]]
    # the start without the channel runs out of heap too: it stops, and forgets the note
    assert app.main(cfg) == 3  # app._OUT_OF_HEAP
    with pytest.raises(FileNotFoundError):
        open(note)


def test_an_unprovisioned_node_out_of_heap_just_stops(device, no_heap, tmp_path):
    cfg, note = device
    for name in ("device_cert.der", "device_key.der"):
        (tmp_path / "identity" / name).unlink()
    assert app.main(cfg) == 3
    assert not (tmp_path / "secure-channel-off").exists()


def test_the_note_holds_only_for_what_ran_out_of_heap(device, monkeypatch, tmp_path):
    cfg, note = device
    made = []
    monkeypatch.setattr(channel, "contexts", lambda cert, key, n: made.append(n) or ["ctx"] * n)
    assert boot.out_of_heap(cfg) is True
    assert boot.build(cfg)[4] is None and made == []  # the same version: no TLS contexts, no channel
    assert os.path.exists(note)  # (app.serve removes it once the node is up)
    monkeypatch.setattr(update, "version", lambda state_dir: "2.0.0")  # an update came (or went) since
    assert boot.build(cfg)[4] == ["ctx", "ctx"] and made == [2]
    assert not (tmp_path / "secure-channel-off").exists()


def test_a_note_cut_short_by_a_power_cut_is_no_note(device, monkeypatch, tmp_path):
    cfg, note = device
    monkeypatch.setattr(channel, "contexts", lambda cert, key, n: ["ctx"] * n)
    with open(note, "w") as f:
        f.write('["fac')
    assert boot.build(cfg)[4] == ["ctx", "ctx"]
    assert not os.path.exists(note)


def test_once_up_a_lack_of_heap_does_not_turn_the_channel_off(device, no_heap, monkeypatch):
    # after READY (a flood of TLS sessions, say): the node stops as before, and its next
    # start tries the secure channel again; no way for a peer to switch the channel off
    cfg, note = device
    monkeypatch.setattr(app, "_up", True)
    assert app.main(cfg) == 3
    assert not os.path.exists(note)
