"""Build the security services at boot: the event log, the button and, on a provisioned
device, enrollment and the secure channel (security/provisioned.py, loaded only for the
channel). app._boot runs this after the start-up code is gone, and drops these modules
too, so neither weighs on the heap while the node runs.

A provisioned device whose heap cannot hold the secure channel beside its objects does
not stop serving ECHONET Lite for it: a start that runs out of heap while it builds the
channel, before READY, leaves a note (`out_of_heap`), the node starts again at once,
and that start runs without the channel, as an unprovisioned device does (Gets for all,
Sets only from legacy_write), saying so on its console and in its security log. Once it
is up the note goes, so the start after it tries the channel again.
"""
import os
import sys

import app
from hal import store


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _config(path):
    """The config as far as it can be read: startup checks it properly and says what is wrong."""
    try:
        cfg = store.load(path)
    except ValueError:
        cfg = None
    return cfg if isinstance(cfg, dict) else {}


def _paths(cfg):
    """(state directory, identity directory, the out-of-heap note) of a config."""
    state = cfg.get("state_dir", ".")
    # where provision.py put the identity: /identity on a board, STATE/identity for the simulator
    return state, cfg.get("identity_dir", state + "/identity" if sys.platform == "linux" else "/identity"), state + app.NO_ROOM


def out_of_heap(path, secure):
    """The node ran out of heap before it was up (app.main); secure: this start was building
    the secure channel. Then leave the note and return True: start again, without it.
    Otherwise take any note away and return False: the heap is too small even without
    the channel, and the next start tries the channel again."""
    state, _ident, note = _paths(_config(path))
    if secure:
        store.save(note, _running(state))
        return True
    if store.exists(note):
        os.remove(note)
    return False


def _running(state):
    """What runs: the application's version and, on a board, the firmware image's
    partition. The note holds it, so that an update that ran out of heap and was rolled
    back leaves the previous version its secure channel."""
    from update import version
    from update.boot import running_partition

    try:
        v = version(state)
    except ValueError:  # a damaged update record (app.serve reports it)
        v = "?"
    return [v, running_partition()]


def setting(cfg, key, default, low, high):
    v = cfg.get(key, default)
    return v if isinstance(v, int) and low <= v <= high else default


def build(path):
    """Before the node: read the device certificate and key and make the TLS contexts,
    one per session slot (3 KB each, living as long as the node), so that they are in the
    heap before start-up fragments it. The rest comes in attach(), after the start-up
    code is gone, so the two never take the heap at once."""
    cfg = _config(path)
    state, ident, note = _paths(cfg)
    cert = _read(ident + "/device_cert.der")
    key = _read(ident + "/device_key.der")
    contexts = None
    off = False
    if cert is not None and key is not None and store.exists(note):
        # out_of_heap's note: for what runs now, this start goes without the channel; a note
        # of something else (an update came or went since), or one a power cut left
        # unfinished, is dropped and the channel tried
        try:
            off = store.load(note) == _running(state)
        except ValueError:
            pass
        if not off:
            os.remove(note)
    if cert is not None and key is not None:
        if off:  # provisioned, but this start goes without the channel: the bytes are not needed
            cert = b""
        else:
            from security.provisioned import tls

            app.secure_start = True  # from here a lack of heap is the channel's (out_of_heap)
            contexts = tls(cfg, ident, cert, key)
        key = b""  # in the contexts now, if anywhere: not held through start-up
    return cfg, ident, cert, key, contexts


def attach(pre, node, identity, clock):
    """The security event log, enrollment, the button and, on a provisioned device, the
    secure channel, connected to the node. An unprovisioned device runs without the secure
    channel (Gets for all, Sets only from the addresses in legacy_write) and says why."""
    from hal.button import Presses
    from hal.clock import wall
    from security.audit import Audit
    from security.eventlog import EventLog

    cfg, ident, cert, key, contexts = pre
    state = cfg.get("state_dir", ".")
    audit = Audit(EventLog(state, wall))
    node.audit = audit.set_request
    button = None
    if sys.platform != "linux":
        from hal import board

        try:
            button = board.open_pins()[1]
        except ValueError as e:
            app.log("board.json: %s" % e)
    presses = Presses(button, state)
    if contexts is None and cert is not None and key is not None:  # build found out_of_heap's note
        app.log("ERROR secure channel off: the last start ran out of heap with it (README, Memory: the heap "
                "each configuration needs); Sets are taken only from legacy_write addresses until a start with more heap")
        audit.event("boot", "out of heap: secure channel off")
        return app.Security(state, None, audit, None, presses)
    if cert is None or key is None:
        # enrollment runs over the secure channel: without it, its code is not even loaded
        app.log("secure channel off: no device certificate and key in %s; provision this device "
                "(tools/provision.py); until then Sets are taken only from legacy_write addresses" % ident)
        audit.event("boot", "unprovisioned: secure channel off")
        return app.Security(state, None, audit, None, presses)
    from security.provisioned import attach as secure

    return secure(cfg, state, ident, cert, contexts, node, identity, clock, audit, presses)
