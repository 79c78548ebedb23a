"""Signed update metadata: parse and verify, sans-I/O (bytes and time in, a verdict out).

    m = verify(metadata, root_public_keys, product, board, now, stored_counter, keyring_floor=0)
    p = Payload(m); p.feed(chunk) ...; p.finish()      # the items that follow, as they stream
    m = check_package(package, ...)                    # the two at once, for a package in memory

docs/updates.md is the reference for the formats, the key hierarchy and the refusals;
tools/sign.py writes what this reads. In short, all integers big-endian:

    metadata := "EUP1" K:u16 M:u16
                root_key_id[8] keyring[K] keyring_sig[64]
                update_key_id[8] manifest[M] manifest_sig[64]
    package  := metadata, then the payload: each item's bytes in manifest order
    key id   := SHA-256(public key)[:8]
    signature := Ed25519 over TAG || SHA-256(body), TAG = b"ECHONET-UPD-KR1" for the
                 keyring (root key), b"ECHONET-UPD-MF1" for the manifest (update key):
                 47 bytes, so R || A || message is one SHA-512 block on the device.
    keyring  := counter:u32 n:u8 n * (public_key[32] not_before:u64 not_after:u64
                counter_min:u32 counter_max:u32 np:u8 np * str8 nb:u8 nb * str8)
    manifest := product:str8 board:str8 version:str8 counter:u32 expires:u64
                n:u16 n * (name:str8 size:u32 sha256[32])
    str8     := length:u8 bytes

The exact signed bytes travel in the package; nothing is re-serialized before checking.

Every refusal is a ManifestError whose .reason is one of the constants below.
"""

import hashlib
from struct import unpack_from

# what a verified manifest is, and the payload check, live in security/payload.py: once
# the metadata is verified, update/receiver.py drops this module and keeps only that one
from security.payload import (  # noqa: F401  (re-exported: one import for every user)
    BAD_SIGNATURE,
    DELEGATION,
    EXPIRED,
    FIRMWARE,
    MALFORMED,
    PAYLOAD,
    ROLLBACK,
    WRONG_TARGET,
    Items,
    Manifest,
    ManifestError,
    Payload,
)

MAGIC = b"EUP1"
KEYRING_MAGIC = b"EUK1"  # a keyring on its own, as tools/sign.py delegate writes it
KEYRING_TAG = b"ECHONET-UPD-KR1"
MANIFEST_TAG = b"ECHONET-UPD-MF1"
HEAD = 8  # bytes of metadata that give its total size (metadata_size)
ANY = "*"  # in a delegation's product or board list: any
MAX_KEYS = 16
MAX_NAMES = 16


class Delegation:
    """One update-signing key the root vouches for, and what it may sign."""

    def __init__(self, public_key, not_before, not_after, counter_min, counter_max, products, boards):
        self.public_key = public_key
        self.key_id = key_id(public_key)
        self.not_before = not_before
        self.not_after = not_after
        self.counter_min = counter_min
        self.counter_max = counter_max
        self.products = products
        self.boards = boards

    def allows(self, product, board):
        return (ANY in self.products or product in self.products) and (ANY in self.boards or board in self.boards)


class Keyring:
    """The root-signed delegation list: a counter (its version) and the keys."""

    def __init__(self, counter, keys):
        self.counter = counter
        self.keys = keys

    def find(self, kid):
        for k in self.keys:
            if k.key_id == kid:
                return k
        return None


def key_id(public_key):
    return hashlib.sha256(public_key).digest()[:8]


def signed_message(tag, body):
    """The 47 bytes an Ed25519 signature covers."""
    return tag + hashlib.sha256(body).digest()


# --- parsing ------------------------------------------------------------------------


def _is_name_char(c, extra):
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in extra


def check_name(s, extra, what, allow_any):
    """s (bytes) as a str if it is 1..64 characters of [A-Za-z0-9] + extra."""
    if allow_any and s == b"*":
        return ANY
    if not 0 < len(s) <= 64:
        raise ManifestError(MALFORMED, what + " length")
    for c in s:
        if not _is_name_char(c, extra):
            raise ManifestError(MALFORMED, "bad character in " + what)
    return s.decode()


def check_path(s):
    """s (bytes) as a str if it is an item name: FIRMWARE, or a relative path whose
    components are [A-Za-z0-9._-]+ and not . or .. (at most 255 bytes)."""
    if not 0 < len(s) <= 255:
        raise ManifestError(MALFORMED, "item name length")
    start = 0
    n = len(s)
    for i in range(n + 1):
        if i == n or s[i] == 47:  # "/"
            part = s[start:i]
            if not part or part == b"." or part == b"..":
                raise ManifestError(MALFORMED, "bad item path")
            start = i + 1
        elif not _is_name_char(s[i], b"._-"):
            raise ManifestError(MALFORMED, "bad character in item name")
    return s.decode()


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        p = self.pos
        if p + n > len(self.data):
            raise ManifestError(MALFORMED, "truncated")
        self.pos = p + n
        return p

    def fields(self, fmt, n):
        """struct fmt (n bytes) at the current position, unpacked."""
        return unpack_from(fmt, self.data, self.take(n))

    def u8(self):
        return self.data[self.take(1)]

    def raw(self, n):
        p = self.take(n)
        return bytes(self.data[p : p + n])

    def end(self):
        if self.pos != len(self.data):
            raise ManifestError(MALFORMED, "trailing bytes")


def parse_keyring(body):
    r = _Reader(body)
    counter, n = r.fields(">IB", 5)
    if not 0 < n <= MAX_KEYS:
        raise ManifestError(MALFORMED, "keyring size")
    keys = []
    for _ in range(n):
        pk = r.raw(32)
        not_before, not_after, counter_min, counter_max = r.fields(">QQII", 24)
        if not_before >= not_after or counter_min > counter_max:
            raise ManifestError(MALFORMED, "empty delegation window")
        lists = []
        for what in ("product", "board"):
            m = r.u8()
            if not 0 < m <= MAX_NAMES:
                raise ManifestError(MALFORMED, what + " list size")
            lists.append([check_name(r.raw(r.u8()), b"._-", what, True) for _ in range(m)])
        d = Delegation(pk, not_before, not_after, counter_min, counter_max, lists[0], lists[1])
        for k in keys:
            if k.key_id == d.key_id:
                raise ManifestError(MALFORMED, "key listed twice")
        keys.append(d)
    r.end()
    return Keyring(counter, keys)


def parse_manifest(body):
    r = _Reader(body)
    product = check_name(r.raw(r.u8()), b"._-", "product", False)
    board = check_name(r.raw(r.u8()), b"._-", "board", False)
    version = check_name(r.raw(r.u8()), b"._+-", "version", False)
    counter, expires, n = r.fields(">IQH", 14)
    if not n:
        raise ManifestError(MALFORMED, "no items")
    at = []
    last = b""
    for _ in range(n):
        at.append(r.pos)
        raw = r.raw(r.u8())
        if raw <= last:
            raise ManifestError(MALFORMED, "items not in strictly ascending name order")
        last = raw
        check_path(raw)
        r.take(36)  # size:u32 sha256[32]
    r.end()
    return Manifest(product, board, version, counter, expires, Items(body, at))


def metadata_size(head):
    """Total metadata size from its first HEAD bytes."""
    if len(head) < HEAD or bytes(head[0:4]) != MAGIC:
        raise ManifestError(MALFORMED, "not an update package")
    k, m = unpack_from(">HH", head, 4)
    return 152 + k + m


def split(metadata):
    """(root_id, keyring, keyring_sig, update_id, manifest, manifest_sig) of exactly one
    metadata block, unauthenticated. The two bodies are memoryviews into metadata, not
    copies: a bundle's manifest is a few KB, and a board's heap is small."""
    size = metadata_size(metadata)
    if len(metadata) != size:
        raise ManifestError(MALFORMED, "metadata is %d bytes, its header says %d" % (len(metadata), size))
    k, m = unpack_from(">HH", metadata, 4)
    mv = memoryview(metadata)
    p = 8
    root_id = bytes(mv[p : p + 8])
    keyring = mv[p + 8 : p + 8 + k]
    p += 8 + k
    keyring_sig = bytes(mv[p : p + 64])
    p += 64
    update_id = bytes(mv[p : p + 8])
    manifest = mv[p + 8 : p + 8 + m]
    p += 8 + m
    return root_id, keyring, keyring_sig, update_id, manifest, bytes(mv[p : p + 64])


# --- verification -------------------------------------------------------------------


def _ed25519_verify(public_key, message, signature):
    # imported here, not at the top: a caller that is done verifying (update/receiver.py)
    # drops the module and its SHA-512 again, some 20 KB of a small heap
    from security import ed25519

    return ed25519.verify(public_key, message, signature)


def _root_key(root_id, root_public_keys):
    for pk in root_public_keys:
        if key_id(pk) == root_id:
            return pk
    return None


def verify_keyring(root_id, body, sig, root_public_keys, keyring_floor=0):
    """The Keyring in body if a trusted root signed it and it is not older than the
    newest one this device accepted (keyring_floor)."""
    root = _root_key(root_id, root_public_keys)
    if root is None:
        raise ManifestError(BAD_SIGNATURE, "delegation list not signed by a trusted root key")
    if not _ed25519_verify(root, signed_message(KEYRING_TAG, body), sig):
        raise ManifestError(BAD_SIGNATURE, "delegation list signature does not verify")
    ring = parse_keyring(body)
    if ring.counter < keyring_floor:
        raise ManifestError(DELEGATION, "delegation list %d is older than %d: revoked" % (ring.counter, keyring_floor))
    return ring


def verify_keyring_file(data, root_public_keys, keyring_floor=0):
    """A keyring on its own ("EUK1" K:u16 root_key_id[8] keyring[K] sig[64]), as
    `tools/sign.py delegate` writes it: for pushing a revocation to a device."""
    if len(data) < 14 or bytes(data[0:4]) != KEYRING_MAGIC:
        raise ManifestError(MALFORMED, "not a delegation list")
    k = unpack_from(">H", data, 4)[0]
    if len(data) != 14 + k + 64:
        raise ManifestError(MALFORMED, "truncated delegation list")
    return verify_keyring(bytes(data[6:14]), bytes(data[14 : 14 + k]), bytes(data[14 + k :]), root_public_keys, keyring_floor)


def verify(metadata, root_public_keys, product, board, now, stored_counter, keyring_floor=0, signatures_done=None):
    """The Manifest in metadata (exactly the metadata: see metadata_size), or a
    ManifestError. The checks run in this order; the first that fails gives the reason:

     1. malformed       the framing does not parse
     2. bad signature   the keyring's root key id is none of root_public_keys, or its
                        signature does not verify
     3. malformed       the (signed) keyring does not parse
     4. delegation      the keyring's counter is below keyring_floor: a newer list that
                        this device has accepted revoked it
     5. delegation      the update key id is not in the keyring, or now is outside the
                        key's [not_before, not_after) window
     6. bad signature   the manifest signature does not verify under that key
     7. malformed       the (signed) manifest does not parse
     8. wrong product/board   the manifest names another product or board than the device
     9. delegation      the key is not delegated for that product and board, or for the
                        manifest's security counter
    10. expired metadata      now >= the manifest's expiry time
    11. rollback        its security counter is below stored_counter; an equal counter
                        is accepted (reinstalling the same release is allowed)

    ("delegation" is DELEGATION, "unknown or revoked/expired delegation".)
    now: Unix seconds from a trusted clock. stored_counter, keyring_floor: the highest
    security counter and keyring counter this device has accepted so far; once an
    install has succeeded the caller stores manifest.counter and manifest.keyring.counter.
    signatures_done(): called once both signatures are checked, before the manifest is
    parsed (update/receiver.py frees the Ed25519 code there: the peak heap of an update).
    """
    if not isinstance(metadata, bytes):  # the Manifest reads its items from these bytes later:
        metadata = bytes(metadata)  # a copy the caller cannot change once they are verified
    root_id, kbody, ksig, update_id, mbody, msig = split(metadata)
    ring = verify_keyring(root_id, kbody, ksig, root_public_keys, keyring_floor)
    signer = ring.find(update_id)
    if signer is None:
        raise ManifestError(DELEGATION, "signing key %s is not in delegation list %d" % (update_id.hex(), ring.counter))
    if not signer.not_before <= now < signer.not_after:
        raise ManifestError(DELEGATION, "signing key %s is not valid at this time" % update_id.hex())
    if not _ed25519_verify(signer.public_key, signed_message(MANIFEST_TAG, mbody), msig):
        raise ManifestError(BAD_SIGNATURE, "manifest signature does not verify")
    if signatures_done:
        signatures_done()
    m = parse_manifest(mbody)
    if m.product != product or m.board != board:
        raise ManifestError(WRONG_TARGET, "package is for %s/%s, this device is %s/%s" % (m.product, m.board, product, board))
    if not signer.allows(m.product, m.board):
        raise ManifestError(DELEGATION, "signing key is not delegated for %s/%s" % (m.product, m.board))
    if not signer.counter_min <= m.counter <= signer.counter_max:
        raise ManifestError(DELEGATION, "signing key is not delegated for security counter %d" % m.counter)
    if now >= m.expires:
        raise ManifestError(EXPIRED, "metadata expired")
    if m.counter < stored_counter:
        raise ManifestError(ROLLBACK, "security counter %d is below %d" % (m.counter, stored_counter))
    m.keyring = ring
    m.keyring_counter = ring.counter
    m.signer = signer
    m.metadata_size = len(metadata)
    return m


def check_package(package, root_public_keys, product, board, now, stored_counter, keyring_floor=0):
    """verify() the metadata at the start of package, then check the payload after it."""
    size = metadata_size(package)
    if len(package) < size:
        raise ManifestError(MALFORMED, "package shorter than its metadata")
    mv = memoryview(package)
    m = verify(bytes(mv[:size]), root_public_keys, product, board, now, stored_counter, keyring_floor)
    p = Payload(m)
    p.feed(mv[size:])
    p.finish()
    return m
