"""Ed25519 verification (firmware/security/ed25519.py) against RFC 8032 §7.1 and the
edge cases a strict verifier must refuse. The vectors are in
host_tests/data/ed25519/rfc8032.json, transcribed from the RFC (their secret keys are
published test values, not keys of this project). host_tests/test_sign_tool.py also
checks it against `cryptography` on CPython with random keys."""

import json

from security import ed25519
from security.ed25519 import L, P, decode_point, verify
from security.sha512 import sha512

from .support import h

DATA = __file__.rsplit("/", 2)[0] + "/data/ed25519/"


def vectors():
    with open(DATA + "rfc8032.json") as f:
        out = []
        for v in json.load(f)["vectors"]:
            out.append((v["name"], h(v["public_key"]), h(v["message"]), h(v["signature"])))
        return out


def le(n):
    return n.to_bytes(32, "little")


def test_rfc8032_test_vectors_verify():
    vs = vectors()
    assert [v[0] for v in vs] == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]
    assert len(vs[3][2]) == 1023
    for name, pk, msg, sig in vs:
        assert verify(pk, msg, sig), name
        assert not verify(pk, msg + b"\x00", sig), name
        assert not verify(pk, msg[:-1], sig) or not msg, name
    # a signature does not verify under another vector's key or for its message
    for i in range(len(vs)):
        j = (i + 1) % len(vs)
        assert not verify(vs[j][1], vs[i][2], vs[i][3])
        assert not verify(vs[i][1], vs[j][2], vs[i][3])


def test_bytes_like_arguments():
    _name, pk, msg, sig = vectors()[2]
    assert verify(bytearray(pk), memoryview(msg), bytearray(sig))
    assert verify(memoryview(pk), bytearray(msg), memoryview(sig))


def test_curve_constants_are_rfc8032s():
    # RFC 8032 §5.1: p = 2^255 - 19, d = -121665/121666, L = 2^252 + 2774...8493,
    # B = (X(P), Y(P)) with y = 4/5 and x positive (even), encoded as 0x58 66 66 ... 66.
    assert P == 2**255 - 19
    assert L == 2**252 + 27742317777372353535851937790883648493
    assert ed25519.D * 121666 % P == (-121665) % P
    assert ed25519._SQRT_M1 * ed25519._SQRT_M1 % P == P - 1
    bx = 15112221349535400772501151409588531511454012693041857206046113283949847762202
    by = 46316835694926478169428394003475163141307993866256225615783033603165251855960
    assert by * 5 % P == 4
    assert decode_point(h("58" + "66" * 31)) == (bx, by)
    assert (ed25519._BX, ed25519._BY) == (bx, by)


def _flip(b, i, bit):
    out = bytearray(b)
    out[i] ^= 1 << bit
    return bytes(out)


def test_flipping_any_bit_breaks_it():
    for name, pk, msg, sig in vectors()[1:3]:
        for i in range(64):
            assert not verify(pk, msg, _flip(sig, i, i % 8)), (name, "sig", i)
        for i in range(32):
            assert not verify(_flip(pk, i, (i * 3) % 8), msg, sig), (name, "key", i)
        for i in range(len(msg)):
            for bit in range(8):
                assert not verify(pk, _flip(msg, i, bit), sig), (name, "msg", i, bit)
    _name, pk, msg, sig = vectors()[3]  # the 1023-byte message: a few places
    for i in (0, 127, 128, 511, 1022):
        assert not verify(pk, _flip(msg, i, 7), sig)


def test_non_canonical_s_is_refused():
    # S and S + L give the same [S]B, so the equation alone would accept S + L
    # (malleability); RFC 8032 §5.1.7 requires 0 <= S < L.
    for _name, pk, msg, sig in vectors():
        s = int.from_bytes(sig[32:], "little")
        assert s < L
        assert not verify(pk, msg, sig[:32] + le(s + L))
        assert s + 2 * L < 2**256
        assert not verify(pk, msg, sig[:32] + le(s + 2 * L))
    _name, pk, msg, sig = vectors()[0]
    for s in (L, L + 1, 2**253, 2**256 - 1):
        assert not verify(pk, msg, sig[:32] + le(s))


def test_non_canonical_y_is_refused():
    # y in [p, 2^255): encodings that would decode to y - p if reduced
    _name, pk, msg, sig = vectors()[0]
    for y in [P + i for i in range(19)]:
        for sign in (0, 1 << 255):
            enc = le(y | sign)
            assert decode_point(enc) is None, y - P
            assert not verify(enc, msg, sig)
            assert not verify(pk, msg, enc + sig[32:])
    # the encoding of a real point, with y + p instead of y (possible for y < 19):
    # y = 1 is the identity; y + p = p + 1
    assert decode_point(le(1)) == (0, 1)
    assert decode_point(le(P + 1)) is None


def test_x_zero_with_sign_bit_is_refused():
    # x = 0 happens for y = 1 and y = p - 1; "-0" is not a valid encoding (RFC 8032 §5.1.3)
    assert decode_point(le(1 | 1 << 255)) is None
    assert decode_point(le((P - 1) | 1 << 255)) is None
    assert decode_point(le(P - 1)) == (0, P - 1)


def test_points_that_do_not_decompress():
    # A y decodes iff x^2 = (y^2 - 1)/(d y^2 + 1) is a square mod p; Euler's criterion
    # (x2^((p-1)/2) = 1) decides that independently of the square-root code.
    d = ed25519.D
    refused = 0
    for y in range(2, 60):
        x2 = (y * y - 1) * pow(d * y * y + 1, P - 2, P) % P
        square = pow(x2, (P - 1) // 2, P) == 1
        pt = decode_point(le(y))
        assert (pt is not None) == square, y
        assert (decode_point(le(y | 1 << 255)) is not None) == square, y
        if pt is None:
            refused += 1
            continue
        x = pt[0]
        assert x * x % P == x2 and x & 1 == 0
        assert decode_point(le(y | 1 << 255)) == (P - x, y)
    assert 10 < refused < 48  # about half
    # y = 2 does not decompress: refused as a key and as R
    _name, pk, msg, sig = vectors()[0]
    assert decode_point(le(2)) is None
    assert not verify(le(2), msg, sig)
    assert not verify(pk, msg, le(2) + sig[32:])


# The eight points of small order (1, 2, 4, 8), canonical encodings; the list as
# published by libsodium and in "Taming the many EdDSAs" (Chalkias et al., 2020).
SMALL_ORDER = (
    "0100000000000000000000000000000000000000000000000000000000000000",  # (0, 1) identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1) order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # y = 0, order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # y = 0, order 4
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
)


def test_small_order_list_is_right():
    # Independent of the code under test: a point of order 8 doubles to a point of
    # order 4, which has y = 0; with a = -1 that means x^2 = -y^2, and the curve
    # equation becomes d y^4 + 2 y^2 - 1 = 0.
    ys = [int.from_bytes(h(e), "little") & ((1 << 255) - 1) for e in SMALL_ORDER]
    assert ys[0] == 1 and ys[1] == P - 1 and ys[2] == ys[3] == 0
    for y in ys[4:]:
        assert (ed25519.D * y**4 + 2 * y * y - 1) % P == 0
    for e in SMALL_ORDER:
        assert decode_point(h(e)) is not None  # all are valid points


def test_small_order_keys_and_r_are_refused():
    _name, pk, msg, sig = vectors()[0]
    for e in SMALL_ORDER:
        pt = decode_point(h(e))
        assert pt is not None and ed25519._small_order(pt[0], pt[1])
        for s in (0, 1, int.from_bytes(sig[32:], "little")):
            for r in SMALL_ORDER:
                assert not verify(h(e), msg, h(r) + le(s))
        assert not verify(pk, msg, h(e) + sig[32:])
    # a real key is not small order
    pt = decode_point(pk)
    assert pt is not None and not ed25519._small_order(pt[0], pt[1])


def test_the_identity_forgery_needs_the_small_order_check():
    # A = identity, R = identity, S = 0: [0]B - [k]A = identity = R for every message,
    # so the equation holds; only the small-order check refuses it.
    ident = h(SMALL_ORDER[0])
    X, Y, Z = ed25519._combine(((ed25519._naf(12345, 20), ed25519._table(0, 1)),), 20)
    assert X % P == 0 and (Y - Z) % P == 0
    for msg in (b"", b"any message at all"):
        assert not verify(ident, msg, ident + bytes(32))


# Points by plain double-and-add (the module's _add), independent of the verifier's loop.
def _point(x, y):
    return (x, y, 1, x * y % P)


def _decoded(enc):
    pt = decode_point(h(enc))
    assert pt is not None
    return _point(pt[0], pt[1])


def _mult(k, q):
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = ed25519._add(acc, q)
        q = ed25519._add(q, q)
        k >>= 1
    return acc


def _plus(p1, p2):
    return ed25519._add(p1, p2)


def _encode(pt):
    X, Y, Z, _T = pt
    zi = pow(Z % P, P - 2, P)
    x = X * zi % P
    y = Y * zi % P
    return le(y | (x & 1) << 255)


B = _point(ed25519._BX, ed25519._BY)


def test_b_prime_is_b_doubled_128_times():
    assert _encode(_mult(1 << 128, B)) == _encode(_point(ed25519._B2X, ed25519._B2Y))


def test_half_length_scalars():
    # c0 = c1 k (mod 8L), c1 odd and below L; both near 2^127 for k from a hash, as in
    # verify. For a k whose lattice has an unusually short vector (L - 1, a small k)
    # still right, only longer.
    n = 8 * L
    hashed = [int.from_bytes(sha512(b"k %d" % i).digest(), "little") % L for i in range(300)]
    odd = [0, 1, 2, 3, 8, 2**127, 2**128 - 1, 2**128, 2**128 + 1, L - 1, L - 8, 2**252, n // 3 % L]
    longest = 0
    for k in odd + hashed:
        c0, c1 = ed25519._half(k)
        assert (c0 - c1 * k) % n == 0, k
        assert c1 & 1 and 0 < c1 < L, k
        if k in hashed:
            longest = max(longest, abs(c0), c1)
    assert 2**126 < longest < 2**136


def test_scalars_longer_than_128_bits_are_followed():
    # For about one k in six, c0 or c1 is longer than 128 bits. This signature (made with
    # OpenSSL, its key's secret not kept) needs 132 digits: a loop stopped at 129 refuses it.
    pk = h("a2110758d3afa8b1d949d89d8ada0ee0efb76c2ec05c3fd2a9ff32853aba7595")
    sig = h("1e65138e86795bbafcdae30a7e7fa32b21de42438648a05b5502446fa34ca447"
            "f381e051f331421c06b7bffc175c3d7fcfa122a0f85ceec00c054ff984c5d603")
    k = ed25519._challenge(sig[:32], pk, b"msg 5")
    c0, c1 = ed25519._half(k)
    assert max(abs(c0), c1) >> 130 == 1  # 131 bits
    assert verify(pk, b"msg 5", sig)
    assert not verify(pk, b"msg 6", sig)
    # k = L - 1, whose lattice has no short vector with an odd c1: c1 is then about L
    # long, and the loop runs the full length (k from a stand-in for the hash)
    a, r = 0x5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A % L, 0xA5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5 % L
    a_enc, r_enc = _encode(_mult(a, B)), _encode(_mult(r, B))
    assert ed25519._half(L - 1)[1] > 2**250
    real = ed25519._challenge
    ed25519._challenge = lambda rb, public_key, message: L - 1
    try:
        assert verify(a_enc, b"m", r_enc + le((r + (L - 1) * a) % L))
        assert not verify(a_enc, b"m", r_enc + le((r + (L - 2) * a) % L))
    finally:
        ed25519._challenge = real


def test_a_memoryview_of_wider_items_is_refused():
    # 32 items of 2 bytes are not a 32-byte key: its length counts items
    from array import array

    _name, pk, msg, sig = vectors()[2]
    wide = memoryview(array("H", [pk[i] | pk[i + 1] << 8 for i in range(0, 32, 2)] * 2))
    assert len(wide) == 32
    assert verify(wide, msg, sig) is False
    assert verify(pk, memoryview(array("H", [0xAF82])), sig) is False
    assert verify(pk, msg, memoryview(array("H", list(range(64))))) is False
    assert verify(memoryview(pk), memoryview(msg), memoryview(sig))  # single bytes are fine


def test_torsion_in_a_and_r_gives_the_cofactorless_answer():
    # The shorter scalars hold the equation [S]B - [k]A == R exactly, also for points with
    # a component of small order, where the cofactored equation would differ. A = [a]B + T
    # with T of order 8, R = [r]B - [g]T, S = r + k a: then [S]B - [k]A = [r]B - [k]T,
    # which is R exactly when k = g (mod 8). Each g is tried until one signature holds
    # (k depends on R), and one that does not.
    t8 = _decoded(SMALL_ORDER[4])
    a = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF % L
    A = _plus(_mult(a, B), t8)
    a_enc = _encode(A)
    r = 0xFEDCBA0987654321FEDCBA0987654321FEDCBA0987654321 % L
    rb = _mult(r, B)
    neg_t8 = _point(P - t8[0], t8[1])
    held = refused = 0
    for m in range(40):
        msg = b"torsion %d" % m
        for g in range(8):
            R = _plus(rb, _mult(g, neg_t8))
            r_enc = _encode(R)
            k = ed25519._challenge(r_enc, a_enc, msg)
            sig = r_enc + le((r + k * a) % L)
            assert verify(a_enc, msg, sig) == (k % 8 == g), (m, g)
            if k % 8 == g:
                held += 1
            else:
                refused += 1
        if held >= 2:
            break
    assert held >= 2 and refused >= 8
    # an honest key and an R with an added point of order 4: cofactorless refuses
    A = _mult(a, B)
    a_enc = _encode(A)
    R = _plus(rb, _decoded(SMALL_ORDER[2]))
    r_enc = _encode(R)
    k = ed25519._challenge(r_enc, a_enc, b"m")
    assert not verify(a_enc, b"m", r_enc + le((r + k * a) % L))
    r_enc = _encode(rb)
    k = ed25519._challenge(r_enc, a_enc, b"m")
    assert verify(a_enc, b"m", r_enc + le((r + k * a) % L))


def test_naf_digits():
    # the signed digits add up to k; each nonzero one is odd, below 2^(W-1) in size, and
    # followed by at least W-1 zeros
    w = ed25519._W
    for k in (0, 1, 7, 8, 9, 15, 16, 255, 2**252, L - 1, 2**253 - 1, 2**255 - 1, 0x5555 * 2**200 + 12345):
        digits = ed25519._naf(k, 256)
        total = 0
        last = -w
        for i in range(256):
            d = digits[i]
            if d >= 128:
                d -= 256
            if d:
                assert d & 1 and -(1 << (w - 1)) < d < 1 << (w - 1), (k, i, d)
                assert i - last >= w, (k, i)
                last = i
            total += d << i
        assert total == k, k


def test_wrong_lengths_and_types_return_false():
    _name, pk, msg, sig = vectors()[2]
    assert verify(pk, msg, sig)
    for bad_pk in (pk[:31], pk + b"\x00", b"", None, pk.hex(), 5):
        assert verify(bad_pk, msg, sig) is False
    for bad_sig in (sig[:63], sig + b"\x00", b"", sig[:32], None, sig.hex()):
        assert verify(pk, msg, bad_sig) is False
    for bad_msg in (None, "af82", 0xAF82):
        assert verify(pk, bad_msg, sig) is False


def test_garbage_never_raises():
    x = 0x12345678
    for _ in range(40):
        buf = bytearray(96)
        for i in range(96):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = x >> 16 & 0xFF
        assert verify(bytes(buf[:32]), b"m", bytes(buf[32:])) is False
