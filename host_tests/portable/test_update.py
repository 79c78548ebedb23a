"""Receiving an application update (firmware/update/): staging into the inactive slot,
the switch, trial, confirmation, revert, resume, and every refusal leaving the running
release in place. On a real directory, under CPython and the MicroPython unix port.
MicroPython cannot sign, so the packages are the signed fixtures of test_manifest.py
(RFC 8032 test keys; host_tests/test_update.py does the same with packages it signs)."""

import os

import update
from update import boot, files, state
from update.receiver import BUSY, NOT_STARTED, OFFSET, Receiver, UpdateError

from security import manifest as fm

from .support import h
from .test_manifest import BOARD, NOW, PRODUCT, ROOTS, F, T, pkg

GOOD = pkg("good")
SIZE = fm.metadata_size(GOOD)
META, PAYLOAD = GOOD[:SIZE], GOOD[SIZE:]  # items: echonet/node.mpy (768 bytes), main.py (22)


def quiet(_text):
    pass


boot.log = quiet


def fresh_dir():
    d = "/tmp/drready-update-" + os.urandom(6).hex()
    os.mkdir(d)
    return d


def receiver(d):
    return Receiver(d, roots=ROOTS, product=PRODUCT, board_name=BOARD)


def send(r, payload, chunk=100, start=0):
    off = start
    while off < len(payload):
        off = r.write(off, payload[off : off + chunk])
    return off


def install(d, data=GOOD):
    size = fm.metadata_size(data)
    r = receiver(d)
    send(r, data[size:], start=r.start(data[:size], NOW))
    return r.finish()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def refused(d, data, now=NOW):
    """The reason the package is refused with; the device state is as it was."""
    before = state.load(d)
    size = fm.metadata_size(data)
    r = receiver(d)
    try:
        send(r, data[size:], start=r.start(data[:size], now))
        r.finish()
    except fm.ManifestError as e:
        after = state.load(d)
        for key in ("counter", "keyring", "active", "previous", "trial", "pending", "slots"):
            assert after[key] == before[key], key
        return e.reason
    raise AssertionError("accepted")


def test_an_app_update_goes_to_the_inactive_slot_on_trial_then_is_confirmed():
    d = fresh_dir()
    try:
        m = install(d)
        assert m.version == "1.2.0"
        rec = state.load(d)
        assert (rec["active"], rec["previous"], rec["trial"]) == ("a", None, True)
        assert rec["counter"] == 0  # raised only once the new release proved healthy
        root = state.slot_dir(d, "a")
        assert read(root + "/echonet/node.mpy") == bytes(range(256)) * 3
        assert read(root + "/main.py") == PAYLOAD[768:]
        assert read(state.meta_path(d, "a")) == META
        assert boot.choose(d) == "a"  # the trial boot
        assert update.version(d) == "1.2.0"
        assert update.confirm_if_trial(d) == "1.2.0"
        rec = state.load(d)
        assert (rec["trial"], rec["pending"], rec["counter"], rec["keyring"]) == (False, None, T["counter"], T["keyring_counter"])
        assert update.confirm_if_trial(d) is None  # nothing left to confirm
        assert boot.choose(d) == "a" and boot.choose(d) == "a"
        # the next update goes to slot b, and a trial that is never confirmed reverts to a
        install(d)
        assert state.load(d)["active"] == "b"
        assert boot.choose(d) == "b"  # its one trial boot: the node never confirms
        assert boot.choose(d) == "a"
        rec = state.load(d)
        assert (rec["active"], rec["trial"], rec["pending"], rec["counter"]) == ("a", False, None, T["counter"])
        assert update.version(d) == "1.2.0"
    finally:
        files.remove_tree(d)


def test_an_update_while_one_waits_for_confirmation_is_refused():
    d = fresh_dir()
    try:
        install(d)
        assert refused(d, GOOD) == BUSY
    finally:
        files.remove_tree(d)


def test_refusals_leave_the_running_release():
    d = fresh_dir()
    try:
        install(d)
        boot.choose(d)
        update.confirm_if_trial(d)
        tampered = bytearray(GOOD)
        tampered[SIZE + 100] ^= 1
        assert refused(d, bytes(tampered)) == fm.PAYLOAD
        assert refused(d, GOOD[:-1]) == fm.PAYLOAD  # truncated
        assert refused(d, GOOD + b"x") == fm.PAYLOAD  # a byte too many
        assert refused(d, GOOD, now=T["expires"]) == fm.EXPIRED
        assert refused(d, pkg("other_root")) == fm.BAD_SIGNATURE
        assert refused(d, pkg("undelegated_signer")) == fm.DELEGATION
        assert refused(d, pkg("board_not_delegated")) == fm.DELEGATION
        assert refused(d, pkg("signed_but_malformed")) == fm.MALFORMED
        r = Receiver(d, roots=ROOTS, product=PRODUCT, board_name="ESP32_GENERIC_S3")
        try:
            r.start(META, NOW)
            raise AssertionError("accepted")
        except fm.ManifestError as e:
            assert e.reason == fm.WRONG_TARGET
        rec = state.load(d)
        rec["counter"] = T["counter"] + 1  # a newer release was installed since
        state.save(d, rec)
        assert refused(d, GOOD) == fm.ROLLBACK
        assert update.version(d) == "1.2.0" and boot.choose(d) == "a"
        assert read(state.slot_dir(d, "a") + "/main.py") == PAYLOAD[768:]
    finally:
        files.remove_tree(d)


def test_an_interrupted_transfer_resumes_from_the_last_complete_file():
    d = fresh_dir()
    try:
        r = receiver(d)
        assert r.start(META, NOW) == 0
        assert r.progress == (0, len(PAYLOAD))
        assert r.write(0, PAYLOAD[:500]) == 500
        r = receiver(d)  # connection lost: no file complete yet
        assert r.start(META, NOW) == 0
        assert send(r, PAYLOAD[:780], chunk=390) == 780  # echonet/node.mpy complete, main.py begun
        r = receiver(d)
        assert r.start(META, NOW) == 768
        assert r.progress == (768, len(PAYLOAD))
        try:
            r.write(0, PAYLOAD[:10])
            raise AssertionError("a write at the wrong offset was taken")
        except UpdateError as e:
            assert e.reason == OFFSET and "expected 768" in str(e)
        assert r.write(768, PAYLOAD[768:]) == len(PAYLOAD)
        assert r.finish().version == "1.2.0"
        items = fm.verify(META, ROOTS, PRODUCT, BOARD, NOW, 0).items
        assert boot.choose(d) == "a" and files.SlotWriter(state.slot_dir(d, "a"), items).verify() is None
        # a new Receiver has nothing started
        r = receiver(d)
        try:
            r.write(0, b"x")
            raise AssertionError("write before start")
        except UpdateError as e:
            assert e.reason == NOT_STARTED
    finally:
        files.remove_tree(d)


def test_a_tampered_file_starts_the_transfer_over():
    d = fresh_dir()
    try:
        bad = bytearray(PAYLOAD)
        bad[780] ^= 0x20  # inside main.py
        r = receiver(d)
        r.start(META, NOW)
        try:
            send(r, bytes(bad))
            raise AssertionError("accepted")
        except fm.ManifestError as e:
            assert e.reason == fm.PAYLOAD
        r = receiver(d)
        assert r.start(META, NOW) == 0  # nothing unchecked is kept
        assert state.load(d)["active"] is None
    finally:
        files.remove_tree(d)


def test_the_metadata_of_another_key_is_refused_at_start():
    d = fresh_dir()
    try:
        r = Receiver(d, roots=[h(F["other_public_key"])], product=PRODUCT, board_name=BOARD)
        try:
            r.start(META, NOW)
            raise AssertionError("accepted")
        except fm.ManifestError as e:
            assert e.reason == fm.BAD_SIGNATURE
        assert not files.is_dir(state.slot_dir(d, "a"))  # refused before anything was staged
    finally:
        files.remove_tree(d)
