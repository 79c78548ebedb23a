"""Enrollment: a controller proves it knows the setup code, bound to its own certificate.

Inside a TLS session (the device authenticated by its certificate, the controller by the
key of its own), the device gives a fresh random challenge; the controller answers

    proof   = HMAC-SHA256(K, "DRready-enroll-1" | "C" | challenge | fp_controller | fp_device)
    confirm = HMAC-SHA256(K, "DRready-enroll-1" | "D" | challenge | fp_controller | fp_device)

where K = PBKDF2-HMAC-SHA256(setup code, salt, iter) is what setup.json stores, fp_* the
SHA-256 of each side's certificate. The device answers a right proof with confirm, so the
controller knows it reached the device whose code it typed, and pins its certificate.
A challenge is used once, so a proof cannot be replayed; the fingerprints bind it to this
session's two certificates, so it cannot be relayed into another; the code never travels,
and with 80 random bits it cannot be found from a proof seen by a man in the middle.

Guessing is bounded: each wrong proof doubles the wait before the next try
(backoff_s, 2*backoff_s, 4*backoff_s ...), and MAX_FAILURES wrong proofs lock enrollment until
someone with physical access presses the button (open_window). The failure count is kept
on flash, so a reboot does not reset it. Times are real milliseconds since boot.

Sans-I/O: the caller passes the time, the random challenge and the fingerprints.
"""
from security.ct import equal
from security.hmac import hmac_sha256

TAG = b"DRready-enroll-1"
KDF = "pbkdf2-hmac-sha256"  # how setup.json's key is made from the code (on a host)
MAX_FAILURES = 10
WINDOW_S = 900  # a commissioning window stays open 15 minutes


class EnrollError(Exception):
    pass


def check_verifier(rec):
    """The 32-byte key K of a setup.json record; ValueError if the record is not one."""
    try:
        n = rec["iter"]
        if rec["kdf"] != KDF or type(n) is not int or not 1000 <= n <= 10000000 or len(bytes.fromhex(rec["salt"])) < 16:
            raise ValueError
        key = bytes.fromhex(rec["hash"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("not a setup-code verifier")
    if len(key) != 32:
        raise ValueError("not a setup-code verifier")
    return key


def message(side, challenge, fp_controller, fp_device):
    return TAG + side + challenge + fp_controller + fp_device


class Enrollment:
    def __init__(self, verifier, state_path, store, backoff_s=1):
        """verifier: the setup.json record, or None when this device has no setup code;
        ValueError if it is damaged."""
        self.verifier = verifier
        self.key = None if verifier is None else check_verifier(verifier)  # K
        self.path = state_path
        self._store = store
        rec = store.load(state_path, {})
        self.failures = rec.get("failures", 0) if isinstance(rec, dict) else 0
        self.backoff_ms = backoff_s * 1000
        self.window_until = -1  # ms since boot; -1: closed
        # ms since boot before which no proof is taken: after a reboot the wait the last
        # failure earned starts again, so rebooting does not shorten it
        self.next_try = self._wait(self.failures)

    @property
    def locked(self):
        return self.failures >= MAX_FAILURES

    def open_window(self, now_ms, seconds=WINDOW_S, presence=True):
        """Open the commissioning window. presence: someone pressed the button (or the
        simulator's stand-in), which also lifts a lockout; the window a device opens by
        itself at boot (no controller enrolled yet) lifts nothing, so a power cycle is no
        way around the lockout."""
        self.window_until = now_ms + seconds * 1000
        if presence:
            self.next_try = 0
            if self.failures:
                self._set_failures(0)

    def close_window(self):
        self.window_until = -1

    def window_left(self, now_ms):
        return max(0, (self.window_until - now_ms) // 1000) if self.window_until >= 0 else 0

    def check_open(self, now_ms):
        """Raise EnrollError saying why no proof can be taken now."""
        if self.key is None:
            raise EnrollError("this device has no setup code: provision it first (tools/provision.py)")
        if self.locked:
            raise EnrollError("enrollment is locked after %d wrong setup codes: press the device's button" % self.failures)
        if now_ms >= self.window_until:
            raise EnrollError("the commissioning window is closed: press the device's button (make commission for the simulator)")
        if now_ms < self.next_try:
            wait = (self.next_try - now_ms + 999) // 1000
            raise EnrollError("too many wrong setup codes: wait %d s before the next try" % wait)

    def check(self, challenge, proof, fp_controller, fp_device, now_ms):
        """confirm for a right proof; EnrollError (and one more failure counted) otherwise."""
        self.check_open(now_ms)
        if equal(hmac_sha256(self.key, message(b"C", challenge, fp_controller, fp_device)), proof):
            if self.failures:
                self._set_failures(0)
            self.next_try = 0
            self.close_window()  # one controller per window: press again for the next
            return hmac_sha256(self.key, message(b"D", challenge, fp_controller, fp_device))
        self._set_failures(self.failures + 1)
        self.next_try = now_ms + self._wait(self.failures)
        if self.locked:
            raise EnrollError("wrong setup code; enrollment is now locked: press the device's button to unlock")
        raise EnrollError("wrong setup code (%d of %d tries used)" % (self.failures, MAX_FAILURES))

    def _wait(self, failures):
        return self.backoff_ms * (1 << min(failures - 1, 16)) if failures else 0

    def set_verifier(self, verifier, key):
        """A new setup code (rotated by an enrolled controller): the old one stops working."""
        self.verifier = verifier
        self.key = key

    def _set_failures(self, n):
        self.failures = n
        try:
            self._store.save(self.path, {"failures": n})
        except OSError:
            pass  # the count still holds until the next boot
