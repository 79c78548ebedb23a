"""SHA-512 (FIPS 180-4), HMAC-SHA256 (RFC 4231) and the constant-time compare: the hash
side of firmware/security. Expected values are the published ones: FIPS 180-2
Appendix C / the NIST CSRC "Examples with intermediate values" for SHA-512, RFC 4231
section 4 for HMAC-SHA256. On CPython the SHA-512 is also compared with hashlib's."""

import sys
from struct import unpack

from security import ct
from security.hmac import HMAC, check, hmac_sha256
from security.sha512 import _H0, _K, sha512

from .support import h, raises

CPYTHON = sys.implementation.name == "cpython"

ABC = (
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)
EMPTY = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
M448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
D448 = (
    "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
    "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"
)
M896 = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
D896 = (
    "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
    "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
)
MILLION_A = (
    "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
    "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
)


def test_fips_180_examples():
    assert sha512(b"abc").digest() == h(ABC)
    assert sha512(b"").digest() == h(EMPTY)
    assert sha512().digest() == h(EMPTY)
    assert sha512(M448).hexdigest() == D448  # 448 bits: padding fits the same block
    assert sha512(M896).hexdigest() == D896  # 896 bits: padding needs a second block


def test_one_million_a():
    # FIPS 180-2 Appendix C.3. 1 MB takes about 3 s under the unix port: CPython only.
    if not CPYTHON:
        return
    s = sha512()
    block = b"a" * 1000
    for _ in range(1000):
        s.update(block)
    assert s.hexdigest() == MILLION_A


def _primes(n):
    out = []
    c = 2
    while len(out) < n:
        if all(c % q for q in out):
            out.append(c)
        c += 1
    return out


def _iroot(n, k):
    """floor(n ** (1/k)) by Newton's method from above (no floats, no bit_length)."""
    x = 1
    while x**k <= n:
        x <<= 1
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def test_constants_are_the_fips_definitions():
    # K: first 64 bits of the fractional parts of the cube roots of the first 80 primes;
    # H0: of the square roots of the first 8 primes (FIPS 180-4 §4.2.3, §5.3.5).
    primes = _primes(80)
    mask = (1 << 64) - 1
    assert list(unpack(">80Q", _K)) == [_iroot(p << 192, 3) & mask for p in primes]
    assert list(_H0) == [_iroot(p << 128, 2) & mask for p in primes[:8]]


def test_streaming_matches_one_shot_at_every_split():
    data = bytes(range(256)) * 2  # 512 bytes: four blocks
    whole = sha512(data).digest()
    for cut in (0, 1, 63, 111, 112, 127, 128, 129, 255, 256, 300, 511, 512):
        s = sha512(data[:cut])
        s.update(data[cut:])
        assert s.digest() == whole, cut
    s = sha512()
    for i in range(0, len(M896)):
        s.update(M896[i : i + 1])
    assert s.hexdigest() == D896
    s = sha512()
    for i in range(0, len(data), 7):
        s.update(bytearray(data[i : i + 7]))
    assert s.digest() == whole
    assert sha512(memoryview(data)).digest() == whole


def test_digest_leaves_the_object_usable():
    s = sha512(b"ab")
    assert s.digest() == s.digest()
    s.update(b"c")
    assert s.digest() == h(ABC)


def test_padding_boundaries_against_hashlib():
    # lengths around 111/112 (last length that pads in one block) and 128
    if not CPYTHON:
        return
    import hashlib

    for n in list(range(0, 300)) + [1000, 4096, 4097]:
        data = bytes((i * 7 + n) & 0xFF for i in range(n))
        assert sha512(data).digest() == hashlib.sha512(data).digest(), n


# --- HMAC-SHA256, RFC 4231 section 4 -------------------------------------------------

RFC4231 = (
    # (test case, key, data, HMAC-SHA-256)
    (1, b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (2, b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (3, b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (4, bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (5, b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),  # truncated to 128 bits
    (
        6,
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        7,
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
)


def test_hmac_sha256_rfc4231_cases_1_to_7():
    for case, key, data, mac in RFC4231:
        expected = h(mac)
        assert hmac_sha256(key, data)[: len(expected)] == expected, case
        assert check(key, data, expected), case


def test_hmac_streaming_and_single_use():
    _case, key, data, mac = RFC4231[6]
    m = HMAC(key)
    for i in range(0, len(data), 10):
        m.update(data[i : i + 10])
    assert m.digest() == h(mac)
    assert raises(ValueError, m.digest)
    assert raises(ValueError, m.update, b"x")


def test_hmac_check_refuses_wrong_and_short_tags():
    _case, key, data, mac = RFC4231[0]
    tag = h(mac)
    assert check(key, data, tag)
    for i in range(32):
        bad = bytearray(tag)
        bad[i] ^= 0x01
        assert not check(key, data, bytes(bad)), i
    assert not check(key, data + b"!", tag)
    assert not check(b"\x0c" + key[1:], data, tag)
    # (key + b"\x00" would give the same MAC: HMAC pads short keys with zeros, RFC 2104)
    assert not check(key, data, tag[:15])  # too short to mean anything
    assert not check(key, data, b"")
    assert not check(key, data, tag + b"\x00")


def test_constant_time_equal():
    assert ct.equal(b"", b"")
    assert ct.equal(b"abc", bytearray(b"abc"))
    assert ct.equal(memoryview(b"xabc")[1:], b"abc")
    assert not ct.equal(b"abc", b"abd")
    assert not ct.equal(b"abc", b"bbc")
    assert not ct.equal(b"abc", b"ab")
    assert not ct.equal(b"", b"\x00")
    a = bytes(range(256))
    for i in range(256):
        b = bytearray(a)
        b[i] ^= 0x80
        assert not ct.equal(a, b)
