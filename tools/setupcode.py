"""Setup codes: 16 Crockford base32 characters (80 random bits) and a check character.

    code, chars = new(os.urandom(10))   # "7K3M-Q9XD-2HNV-R8TB-F", the 16 characters
    chars = normalize(typed)            # ValueError if it is not a setup code

Shared by tools/provision.py (the first code, on the label) and tools/ctl.py (a code
rotated in use), so both read a typed code the same way. The device never sees a code:
it holds only the verifier record, setup.json (firmware/security/enroll.py).
"""

import re

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U
CHARS = 16  # 16 x 5 bits = 80 bits
# the code as provision.py show_code prints it, on a line of its own (what tools that start
# a fresh simulated device read from its output)
PRINTED = re.compile(r"^\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}-[0-9A-Z])$", re.M)


def _gf32_mul(a, b):
    """Product in GF(32) = GF(2)[x] / (x^5 + x^2 + 1)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 32:
            a ^= 0x25
    return r


def check_char(values):
    """The check character: c = sum of x^(i+1) * v_i over GF(32), so that the whole code,
    check character first, weighs to zero. It catches every single wrong character and
    every swap of two different neighbours (check character included)."""
    c, w = 0, 1
    for v in values:
        w = _gf32_mul(w, 2)
        c ^= _gf32_mul(w, v)
    return CROCKFORD[c]


def new(random10):
    """(grouped code for people, the 16 characters a verifier is made of) from 10 random bytes."""
    n = int.from_bytes(random10, "big")
    values = [(n >> (5 * i)) & 31 for i in range(CHARS - 1, -1, -1)]
    chars = "".join(CROCKFORD[v] for v in values)
    full = chars + check_char(values)
    return "-".join(full[i : i + 4] for i in range(0, len(full), 4)), chars


def normalize(text):
    """The 16 code characters of a typed setup code; ValueError if it is not one."""
    t = text.upper().replace("-", "").replace(" ", "").replace("O", "0").replace("I", "1").replace("L", "1")
    if len(t) != CHARS + 1 or any(c not in CROCKFORD for c in t):
        raise ValueError("not a setup code (17 characters such as 7K3M-Q9XD-2HNV-R8TB-F)")
    values = [CROCKFORD.index(c) for c in t[:CHARS]]
    if check_char(values) != t[-1]:
        raise ValueError("the setup code has a typing error (its check character does not match)")
    return t[:CHARS]

