"""The boot of a provisioned device's secure channel (security/boot.py calls it only when
the device has its key and certificate, so an unprovisioned node never loads it): the TLS
contexts, enrollment, the enrolled controllers and the server; or, after a start that ran
out of heap with them, none of it (security/boot.py out_of_heap). Dropped after boot
with security/boot.py.
"""
import os

import app
from hal import store
from security import MAX_SESSIONS, SECURE_PORT
from security.boot import setting


def running(state):
    """What runs: the application's version and, on a board, the firmware image's
    partition. out_of_heap's note holds it, so that an update that ran out of heap and
    was rolled back leaves the previous version its secure channel."""
    from update import version
    from update.boot import running_partition

    return [version(state), running_partition()]


def tls(cfg, state, ident, note, cert, key):
    """One TLS server context per session slot (security/channel.py contexts); None when
    the last start ran out of heap with them, for what runs now. A note of something else
    (an update came or went since) is dropped."""
    try:
        v = store.load(note)
    except ValueError:  # cut short by a power cut: no note
        v = None
    if v is not None and v == running(state):
        return None
    if store.exists(note):
        os.remove(note)
    from security.channel import contexts

    try:
        return contexts(cert, key, setting(cfg, "max_sessions", MAX_SESSIONS, 1, 8))
    except (OSError, ValueError) as e:  # mbedTLS refused the key or the certificate
        raise app.ConfigError("the device key or certificate in %s cannot be used (%s): provision this device again"
                              % (ident, e))


def attach(cfg, state, ident, cert, contexts, node, identity, clock, audit, presses):
    """Enrollment and the secure channel, connected to the node: app.Security. Without
    contexts (tls found the note) the device runs as an unprovisioned one, and says why."""
    if contexts is None:
        app.log("ERROR secure channel off: the last start ran out of heap with it (README, Memory: the heap "
                "each configuration needs); Sets are taken only from legacy_write addresses until a start with more heap")
        audit.event("boot", "out of heap: secure channel off")
        return app.Security(state, None, audit, None, presses)
    from hal.clock import wall
    from security.enroll import Enrollment

    try:  # a code rotated in use (state) replaces the label's (identity)
        verifier = store.load(state + "/setup.json") or store.load(ident + "/setup.json")
        enrollment = Enrollment(verifier, state + "/enroll.json", store, setting(cfg, "enroll_backoff_s", 1, 0, 3600))
    except ValueError:
        raise app.ConfigError("setup.json in %s or %s is damaged: provision this device again" % (state, ident))
    from hal.udp import peer_ip
    from security.channel import SecureServer
    from security.controllers import Controllers

    controllers = Controllers(state + "/controllers.json", store)
    sec = app.Security(state, None, audit, enrollment, presses)
    control_args = (identity.unique.hex(), enrollment, audit, store, state, clock.real_ms, wall, sec.request_restart)
    server = SecureServer(cert, contexts, node, controllers, control_args, audit, peer_ip, app.log,
                          setting(cfg, "secure_port", SECURE_PORT, 1, 65535))
    sec.serve_secure(server)
    n = len(controllers.items)
    if not n and enrollment.key is not None:
        enrollment.open_window(clock.real_ms(), presence=False)  # out of the box: ready to be commissioned
    audit.event("boot", "device %s, %d controllers enrolled" % (server.fingerprint[:16], n))
    return sec
