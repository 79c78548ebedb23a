"""The boot of a provisioned device's secure channel: the TLS contexts, enrollment, the
enrolled controllers and the server. security/boot.py loads it only when the channel
runs (never on an unprovisioned device, nor on a start without the channel for want of
heap), and it is dropped after boot with security/boot.py.
"""
import app
from hal import store
from security import MAX_SESSIONS, SECURE_PORT
from security.boot import setting


def tls(cfg, ident, cert, key):
    """One TLS server context per session slot (security/channel.py contexts)."""
    from security.channel import contexts

    try:
        return contexts(cert, key, setting(cfg, "max_sessions", MAX_SESSIONS, 1, 8))
    except (OSError, ValueError) as e:
        if isinstance(e, OSError) and e.args and e.args[0] == 12:  # ENOMEM: mbedTLS found no memory (a board's IDF heap)
            raise MemoryError("TLS contexts: %s" % (e,))
        # mbedTLS refused the key or the certificate
        raise app.ConfigError("the device key or certificate in %s cannot be used (%s): provision this device again"
                              % (ident, e))


def attach(cfg, state, ident, cert, contexts, node, identity, clock, audit, presses):
    """Enrollment and the secure channel, connected to the node: app.Security."""
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
