"""Ed25519 signature verification (RFC 8032 §5.1.7), strict, in pure Python.

    verify(public_key, message, signature) -> bool

Never raises on bad input: anything that is not a valid signature gives False.

What is refused (beyond a signature that does not verify):
- wrong lengths (public key not 32 bytes, signature not 64) and non-bytes arguments
  (a memoryview of items wider than a byte among them);
- a non-canonical S (S >= L, RFC 8032 §5.1.7 step 1);
- a point encoding whose y is not below p, or with x = 0 and the sign bit set, or
  that does not decompress (RFC 8032 §5.1.3), for the public key A and for R;
- a small-order A or R: [8]A or [8]R is the identity (the eight points of order 1, 2,
  4 and 8). A signature under such a key proves nothing about its holder.

Equation: cofactorless, [S]B - [k]A == R, an exact point equality with the decoded R
(so it equals comparing encodings: R is canonical), for every A and R on the curve, of
any order (verify says why the shorter scalars change nothing). This is what OpenSSL
(and so `cryptography`) and libsodium check. For honest signatures it agrees with the
cofactored [8][S]B == [8]R + [8][k]A; the two can only disagree for a public key with a
torsion component, and keys here are root and update keys the manufacturer made.

How it is fast enough: the equation is checked with scalars half as long (Pornin 2020,
lattice basis reduction: see verify), so usually about 130 doublings instead of 253; extended
coordinates (X:Y:Z:T) on the a = -1 twisted Edwards curve (Hisil-Wong-Carter-Dawson 2008:
dbl-2008-hwcd, add-2008-hwcd-3), one joint double-and-add loop over width-3 NAF digits of
the four scalars (Straus/Shamir), with the odd multiples 1 and 3 of each point made per
call. About 130 doublings and 130 additions, plus two exponentiations for the square
roots; no division (see _mul) and no pow(), so nothing depends on the port's
three-argument pow. Nothing is kept between calls: the module holds its code and eleven
constants.
"""

from security.sha512 import sha512

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of B
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555  # -121665/121666 mod p
_D2 = 2 * D % P
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752  # 2^((p-1)/4) mod p
# base point B (RFC 8032 §5.1)
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
# B' = [2^128]B, for the upper half of the scalar of B (host_tests/portable/test_ed25519.py
# doubles B 128 times to check it)
_B2X = 34445898214599204196824587830670445739267303633182408050117152659121903233060
_B2Y = 43048524062920118298805915568484795959327268000798232147099016825120495085163
_M = (1 << 255) - 1

_W = 3  # NAF width: tables hold the odd multiples 1 and 3 (width 4 runs no faster, four
# tables of 1, 3, 5, 7 hold 2 KB more while they are used: an update needed 3 KB more heap)

# Field arithmetic. A product is brought back near 255 bits by folding: since
# 2^255 = 19 (mod p), z = (z & _M) + (z >> 255) * 19 keeps z's residue for any integer z,
# negative ones included, so correctness never depends on how far numbers are reduced;
# only their size, and so the time, does. Two folds bring a product of two numbers below
# 2^265 in size back below 2^256 (where it stays, step after step); one fold leaves it
# below about 2^280, fine for a value that only goes into sums before the next product.
# This is about twice as fast as z % p (a long division) under MicroPython. Values are
# therefore neither fully reduced nor always positive until a comparison, which uses % P.


def _bytes_like(x):
    """bytes, bytearray, or a memoryview of single bytes: the length of one of another
    kind (an array of 16-bit items, say) counts items, not bytes."""
    if isinstance(x, (bytes, bytearray)):
        return True
    return isinstance(x, memoryview) and len(bytes(x[:1])) <= 1  # (one item's bytes)


def _mul(x, y):
    z = x * y
    z = (z & _M) + (z >> 255) * 19
    return (z & _M) + (z >> 255) * 19


def _sqn(x, n):
    """x^(2^n)."""
    m = _M
    for _ in range(n):
        x = x * x
        x = (x & m) + (x >> 255) * 19
        x = (x & m) + (x >> 255) * 19
    return x


def _pow_p58(x):
    """x^((p-5)/8) = x^(2^252 - 3), by the usual addition chain: 249 squarings to
    x^(2^250 - 1) and 11 multiplications, then two squarings and one more."""
    x2 = _mul(x, x)
    x9 = _mul(_sqn(x2, 2), x)
    x11 = _mul(x9, x2)
    t = _mul(_mul(x11, x11), x9)  # 2^5 - 1
    t = _mul(_sqn(t, 5), t)  # 2^10 - 1
    t10 = t
    t = _mul(_sqn(t, 10), t10)  # 2^20 - 1
    t = _mul(_sqn(t, 20), t)  # 2^40 - 1
    t = _mul(_sqn(t, 10), t10)  # 2^50 - 1
    t50 = t
    t = _mul(_sqn(t, 50), t50)  # 2^100 - 1
    t = _mul(_sqn(t, 100), t)  # 2^200 - 1
    t = _mul(_sqn(t, 50), t50)  # 2^250 - 1
    return _mul(_sqn(t, 2), x)  # (2^250 - 1) * 4 + 1


def decode_point(s):
    """Affine (x, y) of a 32-byte encoding, or None if it is not a canonical point."""
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= _M
    if y >= P:
        return None
    # x^2 = u/v with u = y^2 - 1, v = d y^2 + 1; candidate x = u v^3 (u v^7)^((p-5)/8)
    # (RFC 8032 §5.1.3)
    yy = _mul(y, y)
    u = yy - 1
    v = _mul(D, yy) + 1
    v3 = _mul(_mul(v, v), v)
    uv3 = _mul(u, v3)
    x = _mul(uv3, _pow_p58(_mul(uv3, _mul(v3, v))))
    vxx = _mul(_mul(x, x), v) % P
    u %= P
    if vxx != u:
        if vxx != (P - u) % P:
            return None
        x = _mul(x, _SQRT_M1)
    x %= P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


def _small_order(x, y):
    """True if [8](x, y) is the identity: three doublings, without T."""
    X, Y, Z = x, y, 1
    for _ in range(3):
        a = _mul(X, X)
        b = _mul(Y, Y)
        c = _mul(Z, Z)
        c += c
        e = _mul(X + Y, X + Y) - a - b
        g = b - a
        f = g - c
        h = -a - b
        X = _mul(e, f)
        Y = _mul(g, h)
        Z = _mul(f, g)
    return X % P == 0 and (Y - Z) % P == 0


def _add(p1, p2):
    """Extended-coordinates addition (add-2008-hwcd-3, a = -1), for building tables."""
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = _mul(Y1 - X1, Y2 - X2)
    b = _mul(Y1 + X1, Y2 + X2)
    c = _mul(_mul(T1, _D2), T2)
    d = _mul(Z1 + Z1, Z2)
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return _mul(e, f), _mul(g, h), _mul(f, g), _mul(e, h)


def _table(x, y):
    """Cached forms (Y-X, Y+X, 2dT, 2Z), reduced, of the odd multiples 1, 3, ... below
    2^(_W-1) of (x, y)."""
    q = (x, y, 1, _mul(x, y))
    q2 = _add(q, q)
    out = []
    for _ in range(1 << (_W - 2)):
        X, Y, Z, T = q
        out.append(((Y - X) % P, (Y + X) % P, _mul(T, _D2) % P, (Z + Z) % P))
        q = _add(q, q2)
    return out


def _naf(k, n):
    """Width-_W NAF of 0 <= k < 2^(n-1), as n signed digits in a bytearray (two's
    complement bytes), least significant first. Every nonzero digit is odd, below
    2^(_W-1) in size, and followed by at least _W-1 zeros."""
    b = k.to_bytes((n >> 3) + 2, "little")
    out = bytearray(n)
    width = 1 << _W
    mask = width - 1
    half = width >> 1
    carry = 0
    pos = 0
    while pos < n:
        j = pos >> 3
        v = (((b[j] | b[j + 1] << 8) >> (pos & 7)) & mask) + carry
        if not v & 1:
            # even: digit 0; the carry stays what it was (bit + carry is 0 or 2)
            pos += 1
            continue
        if v < half:
            out[pos] = v
            carry = 0
        else:
            out[pos] = 256 + v - width  # negative digit v - 2^W, as a byte
            carry = 1
        pos += _W
    return out


def _half(k):
    """(c0, c1) with c0 = c1 k (mod 8L), c1 odd and 0 < c1 < L, usually both about 2^127
    in size (Pornin 2020: Optimizing Ed25519 signature verification via lattice basis
    reduction). The extended Euclid of 8L and k gives r = t k (mod 8L) at every step; the
    step where r first drops below 2^128 gives a short pair. If its t is even, the pair
    before it and the pair after it have odd ones (consecutive t are coprime): the shorter
    of those two is taken. (For a k whose lattice has an unusually short vector, L - 1
    say, c1 can be as long as L: the result is still right, only slower, and k comes from
    a hash, so no one picks it.)"""
    r0, r1 = 8 * L, k
    t0, t1 = 0, 1
    while r1 >> 128:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        t0, t1 = t1, t0 - q * t1
    if t1 & 1:
        c0, c1 = r1, t1
    else:  # t0 is odd, and so is the next step's t
        c0, c1 = r0, t0
        q = r0 // r1  # (r1 is not 0: only k = 0 makes it so, and then t1 = 1)
        r2, t2 = r0 - q * r1, t0 - q * t1
        if max(r2, abs(t2)) < max(r0, abs(t0)):
            c0, c1 = r2, t2
    if c1 < 0:
        c0, c1 = -c0, -c1
    return c0, c1


def _combine(parts, n):
    """(X, Y, Z) of the sum of [k]Q over parts, a list of (NAF digits of k, _table(Q)),
    digits n long. The field products are written out (see _mul): one fold for the values
    that only go into sums, two for the rest."""
    m = _M
    X, Y, Z = 0, 1, 1
    e = h = 0
    i = n - 1
    while i >= 0:
        # doubling (dbl-2008-hwcd, a = -1); its T (e h) only if an addition follows
        a = X * X
        a = (a & m) + (a >> 255) * 19
        b = Y * Y
        b = (b & m) + (b >> 255) * 19
        c = Z * Z
        c = (c & m) + (c >> 255) * 19
        c += c
        e = X + Y
        e = e * e - a - b
        e = (e & m) + (e >> 255) * 19
        e = (e & m) + (e >> 255) * 19
        g = b - a
        f = g - c
        h = -a - b
        X = e * f
        X = (X & m) + (X >> 255) * 19
        X = (X & m) + (X >> 255) * 19
        Y = g * h
        Y = (Y & m) + (Y >> 255) * 19
        Y = (Y & m) + (Y >> 255) * 19
        Z = f * g
        Z = (Z & m) + (Z >> 255) * 19
        Z = (Z & m) + (Z >> 255) * 19
        for digits, tab in parts:
            dg = digits[i]
            if not dg:
                continue
            # + or - the odd multiple |dg| of Q (add-2008-hwcd-3 against a cached point)
            if dg < 128:
                c0, c1, c2, c3 = tab[dg >> 1]
            else:
                c1, c0, c2, c3 = tab[(256 - dg) >> 1]
                c2 = -c2
            T = e * h
            T = (T & m) + (T >> 255) * 19
            T = (T & m) + (T >> 255) * 19
            a = (Y - X) * c0
            a = (a & m) + (a >> 255) * 19
            b = (Y + X) * c1
            b = (b & m) + (b >> 255) * 19
            c = T * c2
            c = (c & m) + (c >> 255) * 19
            d = Z * c3
            d = (d & m) + (d >> 255) * 19
            e = b - a
            f = d - c
            g = d + c
            h = b + a
            X = e * f
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = g * h
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = f * g
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
        i -= 1
    return X, Y, Z


def _challenge(rb, public_key, message):
    """k = SHA-512(R || A || M) mod L (the hash object is gone once this returns)."""
    h = sha512(rb)
    h.update(public_key)
    h.update(message)
    return int.from_bytes(h.digest(), "little") % L


def verify(public_key, message, signature):
    """True if signature (64 bytes) is a valid Ed25519 signature of message under
    public_key (32 bytes); False for anything else, never an exception."""
    if not (_bytes_like(public_key) and _bytes_like(message) and _bytes_like(signature)):
        return False
    if len(public_key) != 32 or len(signature) != 64:
        return False
    rb = bytes(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a = decode_point(public_key)
    if a is None or _small_order(a[0], a[1]):
        return False
    r = decode_point(rb)
    if r is None or _small_order(r[0], r[1]):
        return False
    k = _challenge(rb, public_key, message)
    # [S]B - [k]A == R  <=>  [c1]([S]B - [k]A - R) == identity, c1 odd (below). With
    # c0 = c1 k (mod 8L), the group's order, that is [c1 S mod L]B - [c0]A - [c1]R, whose
    # scalars are half as long: half the doublings. [c1 S mod L]B is split in two at
    # bit 128, as [lo]B + [hi]B', B' = [2^128]B. Exactly the cofactorless equation, for
    # any A and R on the curve: [c1]P is the identity only if P is, as c1 is odd and
    # below L, so prime to the order 8L.
    c0, c1 = _half(k)
    s = c1 * s % L
    ax = a[0] if c0 < 0 else P - a[0]  # -[c0]A = [|c0|](-A) for c0 >= 0, [|c0|]A below 0
    c0 = abs(c0)
    n = 129  # digits: enough for scalars below 2^128 (the two halves), more if c0 or c1 is longer
    while (c0 | c1) >> (n - 1):
        n += 1
    X, Y, Z = _combine(
        (
            (_naf(s & ((1 << 128) - 1), n), _table(_BX, _BY)),
            (_naf(s >> 128, n), _table(_B2X, _B2Y)),
            (_naf(c0, n), _table(ax, a[1])),
            (_naf(c1, n), _table(P - r[0], r[1])),
        ),
        n,
    )
    return X % P == 0 and (Y - Z) % P == 0
