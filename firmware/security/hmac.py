"""HMAC-SHA256 (RFC 2104) over MicroPython's C hashlib.sha256.

    mac = hmac_sha256(key, message)          # 32 bytes
    h = HMAC(key); h.update(a); h.update(b); h.digest()
    check(key, message, tag)                 # constant-time comparison

hashlib objects on MicroPython have no copy() and are final after digest(), so an HMAC
object gives its digest once (a second call raises ValueError); make a new one per
message. Truncated tags (RFC 4231 test case 5) are compared by check() with the
truncated length, at least 16 bytes.
"""

import hashlib

from security.ct import equal

_BLOCK = 64  # SHA-256 block size


class HMAC:
    digest_size = 32

    def __init__(self, key, msg=None):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        k = bytearray(_BLOCK)
        k[0 : len(key)] = key
        for i in range(_BLOCK):
            k[i] ^= 0x36  # ipad
        self._inner = hashlib.sha256(k)
        for i in range(_BLOCK):
            k[i] ^= 0x36 ^ 0x5C  # ipad off, opad on
        self._outer_key = bytes(k)
        self._done = False
        if msg is not None:
            self._inner.update(msg)

    def update(self, msg):
        if self._done:
            raise ValueError("HMAC already finalized")
        self._inner.update(msg)

    def digest(self):
        if self._done:
            raise ValueError("HMAC already finalized")
        self._done = True
        outer = hashlib.sha256(self._outer_key)
        outer.update(self._inner.digest())
        return outer.digest()


def hmac_sha256(key, msg):
    return HMAC(key, msg).digest()


def check(key, msg, tag):
    """True if tag is the HMAC-SHA256 of msg under key, or its first len(tag) >= 16 bytes."""
    n = len(tag)
    if n < 16 or n > 32:
        return False
    return equal(hmac_sha256(key, msg)[:n], tag)
