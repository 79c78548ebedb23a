"""Management requests over the secure channel (security/channel.py), one JSON object each.

Any controller that completed the TLS handshake with a certificate:
    {"op": "hello"}                      -> {"device": unique id, "fp": device cert SHA-256,
                                            "enrolled": name or null, "window_s": seconds left}
    {"op": "enroll-start"}               -> {"challenge", "salt", "iter"}   (security/enroll.py)
    {"op": "enroll", "name", "proof"}    -> {"ok": true, "confirm"}
Enrolled controllers only:
    {"op": "controllers"}                -> {"controllers": [{"fp", "name", "at"}]}
    {"op": "revoke", "id": name or fingerprint prefix (8+ hex)} -> {"ok": true, "revoked": {...}}
    {"op": "set-code", "verifier": {kdf, iter, salt, hash}}    -> {"ok": true}
        a new setup code, chosen by the controller (tools/ctl.py rotate-code); the old stops working
    {"op": "log", "after": seq}          -> {"lines": [...], "more": bool, "head": seq, "head_hash": hex}
                                            records after seq, a page; head: the newest record
    {"op": "status"}                     -> {"heap_alloc", "heap_free", "sessions", "handshakes", "log_seq",
                                            "uptime_s", "version" (as READY gives it),
                                            "frames": {the node's counters, echonet/node.py Stats}}
    {"op": "update-start", "metadata_size"} ... "U" pieces ... {"op": "update-finish"}
        a signed update (security/updates.py)

Every refusal is {"error": one line}. Nothing secret is ever put in a reply or the log.
"""
import os

from security.controllers import check_name, fp_hex
from security.enroll import EnrollError, check_verifier

LOG_PAGE = 900  # bytes of log lines per reply: the reply fits one message


class Control:
    def __init__(self, server, unique, enrollment, audit, store, state_dir, ms, wall, restart):
        self.server = server
        self.unique = unique  # this device's 0x83 unique part, hex
        self.controllers = server.controllers
        self.enrollment = enrollment
        self.audit = audit
        self.store = store
        self.state_dir = state_dir
        self.code_path = state_dir + "/setup.json"  # where a rotated setup-code verifier is kept
        self.ms = ms  # () -> real ms since boot
        self.wall = wall  # () -> Unix seconds
        self.restart = restart  # () -> None: restart the node once the answer is out
        self._updates = None

    def close(self, session=None):
        """Every session ended (None), or `session` did: an unfinished push of it lets go of
        its files (what it staged stays for a resume) and no longer holds off a pull."""
        u = self._updates
        if u is not None and (session is None or u.owner is session):
            u.close()

    def updates(self):
        if self._updates is None:
            from security.updates import UpdateService

            self._updates = UpdateService(self.state_dir, self.audit, self.wall, self.restart)
        return self._updates

    def request(self, s, req):
        op = req.get("op")
        try:
            if op == "hello":
                return self.hello(s)
            if op == "enroll-start":
                return self.enroll_start(s)
            if op == "enroll":
                return self.enroll(s, req)
            if s.ctl is None:
                if op in ("controllers", "revoke", "set-code", "log", "status", "update-start", "update-finish"):
                    return {"error": "this controller is not enrolled: enroll it first (ctl.py enroll)"}
                return {"error": "unknown request %r" % (op,)}
            if op == "controllers":
                return {"controllers": self.controllers.items}
            if op == "revoke":
                return self.revoke(s, req)
            if op == "set-code":
                return self.set_code(s, req)
            if op == "log":
                return self.log_page(req)
            if op == "status":
                return self.status()
            if op in ("update-start", "update-finish"):
                return self.updates().request(s, req)
            return {"error": "unknown request %r" % (op,)}
        except (KeyError, TypeError, ValueError) as e:  # a field missing or of the wrong kind
            return {"error": "bad %s request: %s" % (op, e)}

    def update_data(self, s, offset, data):
        if s.ctl is None:
            return {"error": "this controller is not enrolled: enroll it first (ctl.py enroll)"}
        return self.updates().data(s, offset, data)

    def hello(self, s):
        return {
            "device": self.unique,
            "fp": fp_hex(self.server.fp),
            "enrolled": s.ctl["name"] if s.ctl else None,
            "window_s": self.enrollment.window_left(self.ms()),
        }

    def enroll_start(self, s):
        if s.fp is None:
            return {"error": "no client certificate: a controller enrolls with its own certificate"}
        try:
            self.enrollment.check_open(self.ms())
        except EnrollError as e:
            return {"error": str(e)}
        s.challenge = os.urandom(32)
        v = self.enrollment.verifier
        return {"challenge": s.challenge.hex(), "salt": v["salt"], "iter": v["iter"]}

    def enroll(self, s, req):
        name = check_name(req["name"])
        proof = bytes.fromhex(req["proof"])
        if s.fp is not None:
            self.controllers.check_add(s.fp, name)  # before the proof is spent: the name is free, there is room
        challenge, s.challenge = s.challenge, None  # used once, whatever the outcome
        if challenge is None or s.fp is None:
            return {"error": "ask for a challenge first (enroll-start)"}
        was_locked = self.enrollment.locked
        try:
            confirm = self.enrollment.check(challenge, proof, s.fp, self.server.fp, self.ms())
        except EnrollError as e:
            self.audit.event("enroll-fail", "%s fp=%s: %s" % (s.who(), fp_hex(s.fp)[:8], e))
            if self.enrollment.locked and not was_locked:
                self.audit.event("lockout", "after %d wrong setup codes" % self.enrollment.failures)
            return {"error": str(e)}
        try:
            s.ctl = self.controllers.add(s.fp, name, self.wall())
        except (ValueError, OSError) as e:
            return {"error": str(e)}
        self.audit.event("enroll", "%s fp=%s" % (name, s.ctl["fp"][:16]))
        return {"ok": True, "confirm": confirm.hex()}

    def revoke(self, s, req):
        rec = self.controllers.remove(req["id"])
        if rec is None:
            return {"error": "no single enrolled controller matches %r (give its name or 8+ hex digits of its fingerprint)"
                    % (req["id"],)}
        self.audit.event("revoke", "%s fp=%s by %s" % (rec["name"], rec["fp"][:16], s.who()))
        self.server.drop(bytes.fromhex(rec["fp"]))
        return {"ok": True, "revoked": rec}

    def set_code(self, s, req):
        rec = req["verifier"]
        key = check_verifier(rec)
        rec = {"v": 1, "kdf": rec["kdf"], "iter": rec["iter"], "salt": rec["salt"], "hash": rec["hash"]}
        self.store.save(self.code_path, rec)
        self.enrollment.set_verifier(rec, key)
        self.audit.event("config", "setup code changed by %s" % s.who())
        return {"ok": True}

    def status(self):
        import gc

        gc.collect()
        st = self.server.node.stats
        return {"heap_alloc": gc.mem_alloc(), "heap_free": gc.mem_free(), "sessions": len(self.server.sessions),
                "handshakes": self.server.handshakes, "log_seq": self.audit.log.seq, "uptime_s": self.ms() // 1000,
                "version": self.server.version,
                "frames": {"received": st.received, "replies": st.replies, "announcements": st.announcements,
                           "sets": st.sets, "refused": st.refused, "ignored": st.ignored, "malformed": st.malformed,
                           "errors": st.errors}}

    def log_page(self, req):
        after = int(req.get("after", 0))
        lines, size, more = [], 0, False
        for line in self.audit.log.lines():
            if int(line.split(" ", 1)[0]) <= after:
                continue
            if size + len(line) > LOG_PAGE and lines:
                more = True
                break
            lines.append(line)
            size += len(line) + 4
        log = self.audit.log
        return {"lines": lines, "more": more, "head": log.seq, "head_hash": "".join("%02x" % b for b in log.head)}
