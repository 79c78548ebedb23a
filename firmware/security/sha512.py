"""SHA-512 in pure Python (FIPS 180-4 §6.4), because MicroPython's hashlib has none.

Ed25519 (security/ed25519.py) needs it: the challenge k = SHA-512(R || A || M).

    h = sha512(b"abc")
    h.update(more)
    h.digest()      # 64 bytes; may be called again, and update() may continue after it

Speed: 64-bit words are big ints on ESP32 (31-bit small ints) and mostly on x64 too, so
every operation allocates; the round function therefore does as few operations as it can:
- a rotation is taken from the word doubled to 128 bits (x | x << 64) with one shift,
  so each Sigma is one OR, three shifts and two XORs;
- sums are reduced to 64 bits once, at the end: the bits above 63 that the doubled
  words and the carries leave behind never reach the low 64 bits;
- the message schedule W is one list per object, reused for every block; blocks are
  read in place with struct.unpack_from (no slicing of the input);
- the 80 round constants are kept as 640 bytes and unpacked per block: as big ints they
  would hold about 4 KB of heap for good.
About 0.35 ms per 128-byte block under the unix port on x86-64; on an ESP32 expect tens
of milliseconds, so signed messages stay short (docs/updates.md: a signature covers 47
bytes, which with R and A is one block).
"""

from struct import pack, unpack_from

_M = 0xFFFFFFFFFFFFFFFF

# FIPS 180-4 §4.2.3: the first 64 bits of the fractional parts of the cube roots of the
# first 80 primes, four to a line as in the standard (host_tests/portable/test_sha512.py
# derives them again from the primes).
_K = bytes.fromhex(
    "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc"
    "3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118"
    "d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
    "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694"
    "e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c65"
    "2de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
    "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4"
    "c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e70"
    "27b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
    "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353b"
    "a2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30"
    "d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
    "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8"
    "391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3"
    "748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
    "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532b"
    "ca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed178"
    "06f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
    "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c"
    "4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817"
)

# FIPS 180-4 §5.3.5: the first 64 bits of the fractional parts of the square roots of
# the first 8 primes.
_H0 = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)  # fmt: skip


def _compress(h, w, data, off):
    """One 128-byte block of data at off into the state h (list of 8 words); w is scratch."""
    m = _M
    k = unpack_from(">80Q", _K, 0)
    w[0:16] = unpack_from(">16Q", data, off)
    for t in range(16, 80):
        x = w[t - 15]
        x2 = x | x << 64
        y = w[t - 2]
        y2 = y | y << 64
        # sigma0 = ROTR1 ^ ROTR8 ^ SHR7, sigma1 = ROTR19 ^ ROTR61 ^ SHR6
        w[t] = (w[t - 16] + w[t - 7] + (x2 >> 1 ^ x2 >> 8 ^ x >> 7) + (y2 >> 19 ^ y2 >> 61 ^ y >> 6)) & m
    a, b, c, d, e, f, g, hh = h
    for t in range(80):
        e2 = e | e << 64
        a2 = a | a << 64
        # T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t]; Sigma1 = ROTR14 ^ ROTR18 ^ ROTR41
        t1 = hh + (e2 >> 14 ^ e2 >> 18 ^ e2 >> 41) + (g ^ (e & (f ^ g))) + k[t] + w[t]
        # T2 = Sigma0(a) + Maj(a, b, c); Sigma0 = ROTR28 ^ ROTR34 ^ ROTR39
        t2 = (a2 >> 28 ^ a2 >> 34 ^ a2 >> 39) + ((a & b) | (c & (a | b)))
        hh = g
        g = f
        f = e
        e = (d + t1) & m
        d = c
        c = b
        b = a
        a = (t1 + t2) & m
    h[0] = (h[0] + a) & m
    h[1] = (h[1] + b) & m
    h[2] = (h[2] + c) & m
    h[3] = (h[3] + d) & m
    h[4] = (h[4] + e) & m
    h[5] = (h[5] + f) & m
    h[6] = (h[6] + g) & m
    h[7] = (h[7] + hh) & m


class sha512:
    """Streaming SHA-512 with the hashlib interface: update(data), digest()."""

    digest_size = 64
    block_size = 128

    def __init__(self, data=None):
        self._h = list(_H0)
        self._w = [0] * 80
        self._buf = bytearray(128)
        self._fill = 0  # bytes waiting in _buf
        self._len = 0  # bytes hashed so far
        if data is not None:
            self.update(data)

    def update(self, data):
        n = len(data)
        self._len += n
        i = 0
        fill = self._fill
        buf = self._buf
        if fill:
            take = 128 - fill
            if take > n:
                take = n
            buf[fill : fill + take] = memoryview(data)[:take]
            fill += take
            i = take
            if fill < 128:
                self._fill = fill
                return
            _compress(self._h, self._w, buf, 0)
        h = self._h
        w = self._w
        while n - i >= 128:
            _compress(h, w, data, i)
            i += 128
        fill = n - i
        if fill:
            buf[0:fill] = memoryview(data)[i:]
        self._fill = fill

    def digest(self):
        """The hash of everything so far; the object stays usable."""
        h = list(self._h)
        fill = self._fill
        # padding: 0x80, zeros, the length in bits as 128 bits big-endian (FIPS 180-4 §5.1.2)
        tail = bytearray(256 if fill >= 112 else 128)
        tail[0:fill] = self._buf[0:fill]
        tail[fill] = 0x80
        bits = self._len * 8
        tail[len(tail) - 16 :] = pack(">QQ", bits >> 64, bits & _M)
        _compress(h, self._w, tail, 0)
        if len(tail) == 256:
            _compress(h, self._w, tail, 128)
        return pack(">8Q", h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])

    def hexdigest(self):
        return self.digest().hex()
