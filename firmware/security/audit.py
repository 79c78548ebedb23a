"""What goes into the security event log, and how often.

    audit = Audit(eventlog)
    audit.event("enroll", "ctl 1a2b3c4d hems")      # always written
    audit.noisy("auth-fail", "tls 192.168.1.9")     # at most BURST per minute per kind
    audit.set_request(src, eoj, allowed, ok, "DA=42")  # Node.audit: DR commands, refused writes
    audit.tick(now_ms)                               # once a second: writes the counts it held back

A flood (a HEMS that keeps trying plain-UDP Sets, a port scanner failing TLS handshakes)
must not wear out the flash nor push the important records out of the ring, so noisy
kinds together are written BURST times a minute and the rest counted in one summary
record a minute: at most 4 records a minute, so a sustained flood takes the 64 to 128
records of the ring about half an hour to rotate out (the important kinds, written by
event(), are never held back).
"""

BURST = 3  # noisy records a minute, all noisy kinds together
PERIOD_MS = 60000


def who(src):
    """A requester as the log and the console name it: a controller, or an address."""
    name = getattr(src, "who", None)
    if name is not None:
        return name()
    from hal.udp import peer_ip

    try:
        return "udp:" + peer_ip(src)
    except (TypeError, ValueError, IndexError):
        return "udp:?"


class Audit:
    def __init__(self, eventlog):
        self.log = eventlog
        self._written = 0  # noisy records written this period
        self._held = {}  # kind -> records held back this period
        self._since = 0

    def event(self, kind, detail=""):
        self.log.add(kind, detail)

    def noisy(self, kind, detail=""):
        if self._written < BURST:
            self._written += 1
            self.log.add(kind, detail)
        else:
            self._held[kind] = self._held.get(kind, 0) + 1

    def set_request(self, src, eoj, allowed, ok, props):
        if allowed:  # a DR command (every write is one): who, what, and whether it all took
            self.noisy("set", "%s %06X %s%s" % (who(src), eoj, props, "" if ok else " (some refused)"))
        else:
            self.noisy("set-refused", "%s %06X %s" % (who(src), eoj, props))

    def tick(self, now_ms):
        if now_ms - self._since < PERIOD_MS:
            return
        self._since = now_ms
        if self._held:  # one record for all that was held back
            self.log.add("held-back", " ".join("%s=%d" % kv for kv in self._held.items()) + " in the last minute")
        self._held = {}
        self._written = 0
