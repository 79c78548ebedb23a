"""Signed, rollback-safe updates of the application bundle and of the firmware image
(docs/updates.md). What the running node needs is here and imports little:

    confirm_if_trial(state_dir)  after the health check: make a trial update permanent
    version(state_dir)           the running application bundle's version

Once an update is installed the node restarts into it: app.main returns app.RESTART,
on which main.py resets the board (tools/sim.py starts the unix port again).

The rest loads only while an update runs: receiver.Receiver (staging, called by the
transports), pull (HTTPS), boot (main.py's slot selection), state (the record).

The two transports, pull and a push over the secure channel (security/updates.py), stage
into the same slot, so one receives at a time: the one receiving is this package's
attribute `receiving` (set by them, as the channel unloads its modules between uses).
"""
import sys

PRODUCT = "drready-node"  # the product name packages for this firmware are signed for
FACTORY = "factory"  # version() of the image deployed beside main.py (not installed by an update)


def board():
    """This board's name as packages name it: MicroPython's board build name without its
    variant (DRREADY_ESP32-PROD -> DRREADY_ESP32), or "unix" under the unix port."""
    if sys.platform == "linux":
        return "unix"
    build = getattr(sys.implementation, "_build", "") or sys.platform
    return build.split("-")[0]


def confirm_if_trial(state_dir):
    """Call once the node has been up a while with every task started (app._tick, after
    _CONFIRM_MS): a trial app slot, or a new firmware image, becomes permanent and the
    security counters go up. Returns the version confirmed, or None when nothing was on
    trial (the usual case, one small read)."""
    from update import state

    rec = state.load(state_dir)
    p = rec["pending"]
    if not p:
        return None
    if p["kind"] == "app" and not rec["boots"]:
        return None  # no trial boot counted: boot could not record its choice, and ran another slot
    if p["kind"] == "firmware":
        from update.boot import running_partition

        if running_partition() != p["label"]:  # the new image never ran, or the bootloader rolled it back
            rec["pending"] = None
            state.save(state_dir, rec)
            return None
        import esp32

        # tell the bootloader the image is good, or it boots the old one at the next reset
        esp32.Partition.mark_app_valid_cancel_rollback()
    state.confirm(rec)
    state.save(state_dir, rec)
    return p["version"]


def version(state_dir, rec=None):
    """The version of the application running now, from the signed manifest it was
    installed with: an application bundle's, else a firmware image's; FACTORY for the
    image deployed beside main.py. rec: the update record, when the caller has read it."""
    if rec is None:
        from update import state

        rec = state.load(state_dir)
    p = rec["pending"]
    if p and p["kind"] == "firmware":  # a new image on trial runs (update/boot.py choose)
        return p["version"]
    info = rec["slots"].get(rec["active"]) if rec["active"] else rec["firmware"]
    return info["version"] if info else FACTORY
