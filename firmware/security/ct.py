"""Constant-time comparison of byte strings (MicroPython has no hmac.compare_digest).

    equal(a, b) -> bool

The time taken depends on the lengths only, never on where the contents differ: every
byte is visited, and differences are OR-ed together rather than tested one by one.
Lengths are not secret (a MAC or a digest has a fixed length), so unequal lengths
return False at once. Use it wherever a secret or a MAC is compared with something
an attacker chose.
"""


def equal(a, b):
    """True if the two bytes-like values are equal."""
    n = len(a)
    if n != len(b):
        return False
    diff = 0
    for i in range(n):
        diff |= a[i] ^ b[i]
    return diff == 0
