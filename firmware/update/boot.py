"""Boot-time selection of the application slot, run by main.py before it imports app.

A trial slot gets _TRIAL_BOOTS boots to confirm itself (update.confirm_if_trial, after the
node's health check); if it has not, the next boot goes back to the previous slot, as the
ESP-IDF bootloader does for a firmware image that was never marked valid. Each decision
is one atomic write of the update record (update/state.py), so a power cut at any point
boots either the old or the new decision. A slot that is not there (the record names it,
its files are gone) falls back to the previous slot or the factory image, never to nothing.

The modules loaded here are dropped again before app is imported, so that app imports
the update package (and hal) from the slot it runs from, not from the factory image.
"""
import os
import sys

from micropython import const

from update import state

_TRIAL_BOOTS = const(1)  # boots a trial slot gets to confirm itself


def log(text):
    print(text)


def _state_dir(config_path):
    import json

    try:
        with open(config_path) as f:
            return json.load(f).get("state_dir", ".")
    except (OSError, ValueError, AttributeError):
        return None  # app reports the bad config; boot the factory image


def _usable(state_dir, slot):
    """The slot's metadata file is written only once all its files were checked."""
    try:
        os.stat(state.meta_path(state_dir, slot))
        os.stat(state.slot_dir(state_dir, slot))
        return True
    except OSError:
        return False


def running_partition():
    """Label of the firmware image running now (ESP32), None elsewhere."""
    try:
        import esp32
    except ImportError:
        return None
    return esp32.Partition(esp32.Partition.RUNNING).info()[4]  # pyright: ignore[reportArgumentType]


def choose(state_dir):
    """The slot to boot (None: factory), after settling the record: count a trial boot,
    revert an unconfirmed trial, forget a firmware image the bootloader did not keep, and
    run a new firmware image's own modules."""
    rec = state.load(state_dir)
    changed = False
    p = rec["pending"]
    if p and p["kind"] == "firmware" and running_partition() != p["label"]:
        log("update: firmware %s did not start or was not confirmed; running the previous image" % p["version"])
        state.trial_failed(rec, p)
        rec["pending"] = None
        changed = True
    if rec["trial"]:
        if rec["boots"] >= _TRIAL_BOOTS:
            log("update: version %s was not confirmed; back to the previous one" % (p["version"] if p else "?"))
            if p:
                state.trial_failed(rec, p)
            rec["active"] = rec["previous"]
            rec["pending"] = None
            rec["trial"] = False
            rec["boots"] = 0
        else:
            rec["boots"] += 1
        changed = True
    if rec["pending"] and rec["pending"]["kind"] == "firmware":
        # the new image on its trial boot: its own modules, not an application bundle made
        # for the image before it (confirming it drops the bundles; a rollback keeps them)
        if changed:
            state.save(state_dir, rec)
        return None
    slot = rec["active"]
    if slot and not _usable(state_dir, slot):
        back = rec["previous"] if rec["trial"] and rec["previous"] and _usable(state_dir, rec["previous"]) else None
        log("update: slot %s is incomplete; booting %s" % (slot, back or "the factory image"))
        rec["active"] = back
        rec["pending"] = None
        rec["trial"] = False
        slot = back
        changed = True
    if changed:
        state.save(state_dir, rec)
    return slot


def select(config_path):
    """Put the application slot to run first on sys.path (nothing to do for the factory
    image), then forget the modules this needed."""
    state_dir = _state_dir(config_path)
    slot = None
    if state_dir is not None:
        try:
            slot = choose(state_dir)
        except Exception as e:  # a damaged record (unreadable, or not the record's shape): the factory image, which reports it
            log("update: %s; booting the factory image" % e)
    if slot:
        sys.path.insert(0, state.slot_dir(state_dir, slot))
    for name in list(sys.modules):
        if name == "update" or name.startswith("update.") or name in ("hal", "hal.store"):
            del sys.modules[name]
    return slot
