"""Signed update metadata (firmware/security/manifest.py): the happy path and every
refusal. MicroPython cannot sign, so the signed packages come from
host_tests/data/ed25519/manifests.json, which host_tests/test_sign_tool.py builds with
tools/sign.py from the RFC 8032 test secret keys (published test vectors, not keys of
this project) and checks for reproducibility. Unsigned bodies are built here by hand."""

import hashlib
import json
from struct import pack

from security import manifest as fm

from .support import h

DATA = __file__.rsplit("/", 2)[0] + "/data/ed25519/"


def fixtures():
    with open(DATA + "manifests.json") as f:
        return json.load(f)


F = fixtures()
ROOTS = [h(F["root_public_key"])]
T = F["times"]
NOW = T["now"]
PRODUCT = F["product"]
BOARD = F["board"]


def pkg(name):
    return h(F["packages"][name])


def check(data, roots=None, product=PRODUCT, board=BOARD, now=NOW, counter=0, floor=0):
    return fm.check_package(data, ROOTS if roots is None else roots, product, board, now, counter, floor)


def reason(data, **kw):
    try:
        check(data, **kw)
    except fm.ManifestError as e:
        assert str(e).startswith(e.reason)
        return e.reason
    return None


def test_a_good_package_is_accepted():
    data = pkg("good")
    m = check(data)
    assert (m.product, m.board, m.version) == (PRODUCT, BOARD, "1.2.0")
    assert (m.counter, m.expires) == (T["counter"], T["expires"])
    assert m.keyring is not None and m.keyring.counter == T["keyring_counter"]
    assert m.signer is not None and m.signer.key_id == fm.key_id(h(F["update_public_key"]))
    assert [(n, s) for n, s, _d in m.items] == [("echonet/node.mpy", 768), ("main.py", 22)]
    # the item digests are the SHA-256 of the payload that follows the metadata
    size = fm.metadata_size(data)
    assert m.metadata_size == size
    assert m.payload_size() == len(data) - size
    p = size
    for _n, s, d in m.items:
        assert hashlib.sha256(data[p : p + s]).digest() == d
        p += s
    assert data[size : size + 768] == bytes(range(256)) * 3
    # verify() takes the metadata alone
    assert fm.verify(data[:size], ROOTS, PRODUCT, BOARD, NOW, 0).counter == T["counter"]


def test_a_firmware_image_package():
    m = check(pkg("firmware"))
    assert m.items[0][0] == fm.FIRMWARE and m.items[0][1] == 400 and m.version == "1.3.0"


def test_any_of_several_root_keys():
    other = h(F["other_public_key"])
    assert check(pkg("good"), roots=[other] + ROOTS).counter == T["counter"]
    assert check(pkg("other_root"), roots=ROOTS + [other]).counter == T["counter"]


def test_security_counter():
    data = pkg("good")
    c = T["counter"]
    assert check(data, counter=c - 1).counter == c
    assert check(data, counter=c).counter == c  # equal: reinstalling the same release is allowed
    assert reason(data, counter=c + 1) == fm.ROLLBACK
    assert reason(data, counter=0xFFFFFFFF) == fm.ROLLBACK


def test_expiry():
    data = pkg("good")
    assert check(data, now=T["expires"] - 1)
    assert reason(data, now=T["expires"]) == fm.EXPIRED
    assert reason(data, now=T["expires"] + 86400) == fm.EXPIRED


def test_wrong_product_or_board():
    data = pkg("good")
    assert reason(data, board="ESP32_GENERIC_S3") == fm.WRONG_TARGET
    assert reason(data, product="other-product") == fm.WRONG_TARGET
    assert reason(data, board="esp32_generic") == fm.WRONG_TARGET


def test_untrusted_root():
    assert reason(pkg("other_root")) == fm.BAD_SIGNATURE
    assert reason(pkg("good"), roots=[]) == fm.BAD_SIGNATURE
    assert reason(pkg("good"), roots=[h(F["other_public_key"])]) == fm.BAD_SIGNATURE


def test_delegation_refusals():
    data = pkg("good")
    assert reason(pkg("undelegated_signer")) == fm.DELEGATION  # signer not in the keyring
    assert reason(pkg("board_not_delegated")) == fm.DELEGATION
    assert reason(pkg("counter_not_delegated")) == fm.DELEGATION
    assert reason(data, now=T["not_before"] - 1) == fm.DELEGATION  # key not yet valid
    assert check(data, now=T["not_before"])
    assert reason(data, now=T["not_after"]) == fm.DELEGATION  # key expired (checked before the manifest's expiry)
    assert check(data, floor=T["keyring_counter"])
    assert reason(data, floor=T["keyring_counter"] + 1) == fm.DELEGATION  # a newer keyring was seen


def test_revocation_by_a_newer_keyring():
    newer = h(F["keyring_v4_revokes_update_key"])
    ring = fm.verify_keyring_file(newer, ROOTS, T["keyring_counter"])
    assert ring.counter == 4
    assert ring.find(fm.key_id(h(F["update_public_key"]))) is None
    assert ring.find(fm.key_id(h(F["other_public_key"]))) is not None
    # once the device stores 4, the update key's packages (under keyring 3) are refused
    assert reason(pkg("good"), floor=ring.counter) == fm.DELEGATION
    for bad, why in ((newer[:-1], fm.MALFORMED), (newer + b"\x00", fm.MALFORMED), (b"EUP1" + newer[4:], fm.MALFORMED)):
        try:
            fm.verify_keyring_file(bad, ROOTS)
            raise AssertionError("accepted")
        except fm.ManifestError as e:
            assert e.reason == why
    try:
        fm.verify_keyring_file(newer, ROOTS, 5)
        raise AssertionError("accepted")
    except fm.ManifestError as e:
        assert e.reason == fm.DELEGATION
    tampered = bytearray(newer)
    tampered[20] ^= 1
    try:
        fm.verify_keyring_file(bytes(tampered), ROOTS)
        raise AssertionError("accepted")
    except fm.ManifestError as e:
        assert e.reason == fm.BAD_SIGNATURE


def test_signed_but_malformed_manifest():
    assert reason(pkg("signed_but_malformed")) == fm.MALFORMED


def _regions(data):
    k = (data[4] << 8) | data[5]
    m = (data[6] << 8) | data[7]
    size = 152 + k + m
    return (
        (0, 8, fm.MALFORMED),  # magic and lengths
        (8, 16, fm.BAD_SIGNATURE),  # root key id
        (16, 16 + k + 64, fm.BAD_SIGNATURE),  # keyring and its signature
        (16 + k + 64, 16 + k + 72, fm.DELEGATION),  # update key id
        (16 + k + 72, size, fm.BAD_SIGNATURE),  # manifest and its signature
        (size, len(data), fm.PAYLOAD),
    )


def test_every_tampered_byte_is_refused():
    data = pkg("good")
    for start, end, why in _regions(data):
        for i in range(start, end, 3 if why != fm.PAYLOAD else 97):
            bad = bytearray(data)
            bad[i] ^= 0x20
            got = reason(bytes(bad))
            if start == 0 and i >= 4:
                # a length: the pieces move, so whatever no longer fits refuses it
                assert got in (fm.MALFORMED, fm.BAD_SIGNATURE, fm.PAYLOAD), (i, got)
            else:
                assert got == why, (i, got, why)


def test_truncated_or_extended_packages_are_refused():
    data = pkg("good")
    size = fm.metadata_size(data)
    for n in (0, 1, 4, 7, 8, 16, 100, size - 64, size - 1):
        assert reason(data[:n]) == fm.MALFORMED, n
    for n in (size, size + 1, size + 768, len(data) - 1):
        assert reason(data[:n]) == fm.PAYLOAD, n
    assert reason(data + b"\x00") == fm.PAYLOAD
    assert reason(b"") == fm.MALFORMED
    try:
        fm.verify(data, ROOTS, PRODUCT, BOARD, NOW, 0)  # metadata with the payload still on
        raise AssertionError("accepted")
    except fm.ManifestError as e:
        assert e.reason == fm.MALFORMED


def test_garbage_gives_manifest_errors_only():
    x = 12345
    for n in range(0, 300, 7):
        buf = bytearray(n)
        for i in range(n):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = x >> 16 & 0xFF
        if n >= 8:
            buf[0:4] = b"EUP1"
            if n >= 152:
                buf[4:8] = pack(">HH", (n - 152) // 2, (n - 152) - (n - 152) // 2)
        assert reason(bytes(buf)) in (fm.MALFORMED, fm.BAD_SIGNATURE), n


# --- the parsers, on bodies built here ---------------------------------------------


def s8(b):
    return bytes([len(b)]) + b


def manifest_body(items, product=b"p", board=b"b", version=b"1.0", counter=1, expires=100):
    out = s8(product) + s8(board) + s8(version) + pack(">IQH", counter, expires, len(items))
    for name, size, digest in items:
        out += s8(name) + pack(">I", size) + digest
    return out


def keyring_body(entries, counter=1):
    out = pack(">IB", counter, len(entries))
    for pk, nb, na, cmin, cmax, products, boards in entries:
        out += pk + pack(">QQII", nb, na, cmin, cmax) + bytes([len(products)])
        out += b"".join(s8(p) for p in products) + bytes([len(boards)]) + b"".join(s8(b) for b in boards)
    return out


def malformed(fn, body):
    try:
        fn(body)
    except fm.ManifestError as e:
        return e.reason == fm.MALFORMED
    return False


def test_manifest_parser():
    z = bytes(32)
    m = fm.parse_manifest(manifest_body([(b"a.mpy", 1, z), (b"b/c.mpy", 0, z), (b"firmware", 9, z)]))
    assert [i[0] for i in m.items] == ["a.mpy", "b/c.mpy", "firmware"]
    long = b"/".join([b"d" * 63] * 4)  # 255 bytes: the longest name
    assert fm.parse_manifest(manifest_body([(long, 1, z)])).items[0][0] == long.decode()
    assert m.version == "1.0" and m.counter == 1 and m.expires == 100
    big = fm.parse_manifest(manifest_body([(b"x", 0xFFFFFFFF, z)], counter=0xFFFFFFFF, expires=2**64 - 1))
    assert big.counter == 0xFFFFFFFF and big.expires == 2**64 - 1 and big.items[0][1] == 0xFFFFFFFF
    for bad in (b"", b"/abs", b"a//b", b"a/", b"../x", b"a/../b", b"./a", b"a/.", b"a b", b"a\\b", b"\xc3\xa9"):
        assert malformed(fm.parse_manifest, manifest_body([(bad, 1, z)])), bad
    assert malformed(fm.parse_manifest, manifest_body([]))
    assert malformed(fm.parse_manifest, manifest_body([(b"b", 1, z), (b"a", 1, z)]))  # order
    assert malformed(fm.parse_manifest, manifest_body([(b"a", 1, z), (b"a", 1, z)]))  # duplicate
    good = manifest_body([(b"a", 1, z)])
    assert malformed(fm.parse_manifest, good + b"\x00")
    for n in range(len(good)):
        assert malformed(fm.parse_manifest, good[:n]), n
    for product, board, version in (
        (b"", b"b", b"1"),
        (b"p", b"a/b", b"1"),
        (b"*", b"b", b"1"),
        (b"p", b"b", b"1 0"),
        (b"p", b"x" * 65, b"1"),
    ):
        assert malformed(fm.parse_manifest, manifest_body([(b"a", 1, z)], product, board, version)), (product, board, version)
    assert fm.parse_manifest(manifest_body([(b"a", 1, z)], version=b"1.0.0+build-7_rc")).version == "1.0.0+build-7_rc"


def test_keyring_parser():
    pk1 = h(F["update_public_key"])
    pk2 = h(F["other_public_key"])
    e1 = (pk1, 10, 20, 0, 5, [b"p"], [b"*"])
    e2 = (pk2, 10, 20, 3, 3, [b"*"], [b"b1", b"b2"])
    ring = fm.parse_keyring(keyring_body([e1, e2], counter=9))
    assert ring.counter == 9 and len(ring.keys) == 2
    d1 = ring.find(fm.key_id(pk1))
    d2 = ring.find(fm.key_id(pk2))
    assert d1 is not None and d1.allows("p", "anything") and not d1.allows("q", "b1")
    assert d2 is not None and d2.allows("any", "b2") and not d2.allows("any", "b3")
    assert ring.find(bytes(8)) is None
    assert malformed(fm.parse_keyring, keyring_body([]))
    assert malformed(fm.parse_keyring, keyring_body([e1, e1]))  # the same key twice
    assert malformed(fm.parse_keyring, keyring_body([(pk1, 20, 20, 0, 5, [b"p"], [b"b"])]))  # empty window
    assert malformed(fm.parse_keyring, keyring_body([(pk1, 10, 20, 6, 5, [b"p"], [b"b"])]))  # empty counter range
    assert malformed(fm.parse_keyring, keyring_body([(pk1, 10, 20, 0, 5, [], [b"b"])]))
    assert malformed(fm.parse_keyring, keyring_body([(pk1, 10, 20, 0, 5, [b"p"], [b"b b"])]))
    assert malformed(fm.parse_keyring, keyring_body([e1] * 17))
    good = keyring_body([e1])
    assert malformed(fm.parse_keyring, good + b"\x00")
    for n in range(len(good)):
        assert malformed(fm.parse_keyring, good[:n]), n


# --- the payload, streamed --------------------------------------------------------


def _manifest(parts):
    items = [(n, len(d), hashlib.sha256(d).digest()) for n, d in parts]
    return fm.Manifest("p", "b", "1", 1, 100, items)


def _stream(m, data, step):
    p = fm.Payload(m)
    got = [b""] * len(m.items)
    for i in range(0, len(data), step):
        for index, piece in p.feed(data[i : i + step]):
            got[index] += bytes(piece)
    p.finish()
    return got


def test_payload_streams_in_any_chunk_size():
    parts = [("a", b"first item"), ("b", b""), ("c", bytes(range(200))), ("d", b""), ("e", b"x")]
    m = _manifest(parts)
    data = b"".join(d for _n, d in parts)
    for step in (1, 3, 10, 64, 211, 1000):
        assert _stream(m, data, step) == [d for _n, d in parts], step
    only_empty = _manifest([("a", b"")])
    fm.Payload(only_empty).finish()


def test_payload_refusals():
    parts = [("a", b"hello"), ("b", b"world!")]
    m = _manifest(parts)
    data = b"helloworld!"
    for bad in (b"jello" + b"world!", b"hello" + b"world?"):
        for step in (1, 4, 100):
            try:
                _stream(m, bad, step)
                raise AssertionError("accepted")
            except fm.ManifestError as e:
                assert e.reason == fm.PAYLOAD
    for bad in (data[:-1], data[:5], b"", data + b"!"):
        try:
            _stream(m, bad, 3)
            raise AssertionError("accepted")
        except fm.ManifestError as e:
            assert e.reason == fm.PAYLOAD
    # the first item is reported good only once its last byte is in
    p = fm.Payload(m)
    p.feed(b"hell")
    assert p.index == 0
    p.feed(b"o")
    assert p.index == 1
