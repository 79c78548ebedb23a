"""The update state this device keeps between boots: one small JSON record in the state
directory (state_dir/update.json), written atomically by hal/store.save, so a power cut
leaves either the old record or the new one. Every step of an update that must survive
a reboot is one write of this record:

    counter, keyring  highest security counter / delegation-list counter accepted so far:
                      they only ever go up (raise()), and only when an update is confirmed
    active            app slot booted: "a", "b", or None = the factory image (the files
                      deployed beside main.py)
    previous          the slot to go back to while `active` is on trial
    trial, boots      the active slot is on trial and has been booted this many times
    pending           what confirming will store: {"kind": "app"|"firmware", "counter",
                      "keyring", "version", "meta", "label" (firmware: its partition)}
    slots             {"a": {"version": ..., "meta": sha256 of its metadata, hex}}
    firmware          {"version": ..., "meta": ...} of the firmware image last confirmed
    failed            [meta, n]: the last package whose trial reverted, n times in a row
                      (the pull leaves it alone after FAILED_TRIALS; a push may still send it)
    stage             the transfer under way: {"meta", "kind", "slot" (or partition
                      label), "done": payload bytes safely staged, "item": next item}
"""
from hal import store

SLOTS = ("a", "b")


def path(state_dir):
    return state_dir + "/update.json"


def slot_dir(state_dir, slot):
    return state_dir + "/slots/" + slot


def meta_path(state_dir, slot):
    """The signed metadata of the bundle in slot (written before the slot goes live)."""
    return state_dir + "/slots/" + slot + ".meta"


def fresh():
    return {
        "counter": 0,
        "keyring": 0,
        "active": None,
        "previous": None,
        "trial": False,
        "boots": 0,
        "pending": None,
        "slots": {},
        "firmware": None,
        "failed": None,
        "stage": None,
    }


def load(state_dir):
    """The record, or a fresh one on a device that never updated. A record that does not
    parse is not something store.save leaves (it writes a .tmp, then renames), so it is
    an error the caller reports, never silently reset: that would lower the counters."""
    rec = store.load(path(state_dir))
    if rec is None:
        return fresh()
    if not isinstance(rec, dict) or not isinstance(rec.get("counter"), int):
        raise ValueError("%s is damaged" % path(state_dir))
    base = fresh()
    base.update(rec)
    for key in ("pending", "slots", "firmware", "stage"):  # what the code reads into: the record's shape
        if not isinstance(base[key], dict) and (key == "slots" or base[key] is not None):
            raise ValueError("%s is damaged" % path(state_dir))
    if base["active"] not in (None,) + SLOTS or not isinstance(base["boots"], int) or not isinstance(base["keyring"], int):
        raise ValueError("%s is damaged" % path(state_dir))
    return base


def save(state_dir, rec):
    store.save(path(state_dir), rec)


def inactive(rec):
    """The slot an app update is staged into: never the active one."""
    return "b" if rec["active"] == "a" else "a"


def trial_failed(rec, p):
    """Note in rec (not yet saved) that the pending update p reverted."""
    f = rec["failed"]
    rec["failed"] = [p["meta"], f[1] + 1 if f and f[0] == p["meta"] else 1]


def confirm(rec):
    """Make the pending update permanent in rec (not yet saved): the counters go up, never down."""
    p = rec["pending"]
    if p:
        if p["counter"] > rec["counter"]:
            rec["counter"] = p["counter"]
        if p["keyring"] > rec["keyring"]:
            rec["keyring"] = p["keyring"]
        if p["kind"] == "firmware":
            rec["firmware"] = {"version": p["version"], "meta": p["meta"]}
            # the image's own modules from now on: a bundle was made for the image before
            # (its files go when the next bundle is staged: update/receiver.py)
            rec["active"] = rec["previous"] = None
            rec["slots"] = {}
    rec["pending"] = None
    rec["trial"] = False
    rec["boots"] = 0
