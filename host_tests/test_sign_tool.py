"""tools/sign.py end to end (keygen -> delegate -> sign -> inspect, as subprocesses),
the firmware verifier against what it writes, Ed25519 against `cryptography`, and the
signed fixtures the portable manifest tests use.

The fixtures (host_tests/data/ed25519/manifests.json) are signed with the RFC 8032 §7.1
TEST 1, 2 and 3 secret keys: published test vectors, not keys of this project. Ed25519
signatures are deterministic, so test_committed_fixtures_are_reproducible rebuilds them
and compares byte for byte; `python host_tests/test_sign_tool.py` rewrites the file.
"""

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (os.path.join(ROOT, "firmware"), ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

from security import ed25519  # noqa: E402
from security import manifest as fm  # noqa: E402
from tools import sign  # noqa: E402

SIGN = os.path.join(ROOT, "tools", "sign.py")
FIXTURES = os.path.join(HERE, "data", "ed25519", "manifests.json")
RFC8032 = os.path.join(HERE, "data", "ed25519", "rfc8032.json")
PRODUCT = "drready-node"
BOARD = "ESP32_GENERIC"


# --- fixtures for host_tests/portable/test_manifest.py -------------------------------


def rfc_key(name):
    """The secret key of an RFC 8032 §7.1 test vector (a published test value)."""
    with open(RFC8032) as f:
        for v in json.load(f)["vectors"]:
            if v["name"] == name:
                return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["secret_key"]))
    raise KeyError(name)


def build_manifest_fixtures():
    root = rfc_key("TEST 1")
    update = rfc_key("TEST 2")
    other = rfc_key("TEST 3")  # an untrusted root, or an update key nobody delegated
    t = {
        "not_before": 1767225600,  # 2026-01-01T00:00:00Z
        "not_after": 1798761600,  # 2027-01-01T00:00:00Z
        "expires": 1790000000,  # 2026-09-21T13:33:20Z
        "now": 1780000000,  # 2026-05-28T20:26:40Z
        "counter": 7,
        "keyring_counter": 3,
    }
    payload = [("echonet/node.mpy", bytes(range(256)) * 3), ("main.py", b"import app\napp.main()\n")]
    items = [(n, len(d), hashlib.sha256(d).digest()) for n, d in payload]
    data = b"".join(d for _n, d in payload)

    def ring(counter=3, key=update, boards=(BOARD, "ESP32_GENERIC_S3"), cmin=0, cmax=1000, signer=root):
        entry = (sign.public_bytes(key), t["not_before"], t["not_after"], cmin, cmax, [PRODUCT], list(boards))
        return sign.keyring_file(signer, sign.keyring_body(counter, [entry]))

    def package(keyring=None, key=update, body=None, payload_bytes=data):
        body = body or sign.manifest_body(PRODUCT, BOARD, "1.2.0", t["counter"], t["expires"], items)
        return (sign.metadata(keyring or ring(), key, body) + payload_bytes).hex()

    good_body = sign.manifest_body(PRODUCT, BOARD, "1.2.0", t["counter"], t["expires"], items)
    image = bytes(range(200)) * 2
    fw_body = sign.manifest_body(PRODUCT, BOARD, "1.3.0", 8, t["expires"], [("firmware", 400, hashlib.sha256(image).digest())])
    return {
        "note": (
            "Signed update packages for host_tests/portable/test_manifest.py, built by "
            "host_tests/test_sign_tool.py (build_manifest_fixtures) with tools/sign.py. Keys: the RFC 8032 "
            "section 7.1 TEST 1 (root), TEST 2 (update) and TEST 3 (other) secret keys, which are published test "
            "vectors: not keys of this project, never to be trusted by a device."
        ),
        "root_public_key": sign.public_bytes(root).hex(),
        "update_public_key": sign.public_bytes(update).hex(),
        "other_public_key": sign.public_bytes(other).hex(),
        "product": PRODUCT,
        "board": BOARD,
        "times": t,
        "packages": {
            "good": package(),
            "firmware": (sign.metadata(ring(), update, fw_body) + image).hex(),
            "other_root": package(keyring=ring(signer=other)),
            "undelegated_signer": package(key=other),
            "board_not_delegated": package(keyring=ring(boards=("ESP32_GENERIC_S3",))),
            "counter_not_delegated": package(keyring=ring(cmax=5)),
            "signed_but_malformed": package(body=good_body + b"\x00"),
        },
        # a newer delegation list that drops the update key for the other key
        "keyring_v4_revokes_update_key": ring(counter=4, key=other).hex(),
    }


def fixtures_text():
    return json.dumps(build_manifest_fixtures(), indent=1, sort_keys=True) + "\n"


def test_committed_fixtures_are_reproducible():
    with open(FIXTURES) as f:
        assert f.read() == fixtures_text(), "run: python host_tests/test_sign_tool.py"


# --- Ed25519 against cryptography (OpenSSL) -----------------------------------------


def test_ed25519_agrees_with_cryptography():
    rng = __import__("random").Random(8032)
    for i in range(60):
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        pk = sign.public_bytes(key)
        msg = rng.randbytes((0, 1, 47, 64, 111, 112, 128, 129, 300, 1000)[i % 10])
        sig = key.sign(msg)
        assert ed25519.verify(pk, msg, sig)
        bad = bytearray(sig)
        bad[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not ed25519.verify(pk, msg, bytes(bad))
        if msg:
            m2 = bytearray(msg)
            m2[rng.randrange(len(msg))] ^= 1 << rng.randrange(8)
            assert not ed25519.verify(pk, bytes(m2), sig)
        other = sign.public_bytes(Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)))
        assert not ed25519.verify(other, msg, sig)


def test_rfc8032_vectors_reproduce_with_cryptography():
    """The transcribed vectors are right: an independent implementation derives the
    same public keys and signatures from the secret keys."""
    with open(RFC8032) as f:
        for v in json.load(f)["vectors"]:
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["secret_key"]))
            assert sign.public_bytes(key).hex() == v["public_key"], v["name"]
            assert key.sign(bytes.fromhex(v["message"])).hex() == v["signature"], v["name"]


# --- the CLI ------------------------------------------------------------------------


def run(*args, ok=True):
    r = subprocess.run([sys.executable, SIGN, *args], capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def fails(*args, want):
    """The CLI refuses with exit 2 and one error line containing want."""
    r = run(*args, ok=False)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert want in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for name, role in (("root", "root"), ("upd", "update"), ("upd2", "update"), ("root2", "root")):
        run("keygen", "--role", role, "--out", str(d / (name + ".key")))
    run(
        "delegate", "--root-key", str(d / "root.key"), "--update-key", str(d / "upd.key.pub"), "--product", PRODUCT,
        "--board", BOARD, "--not-after", "+365d", "--out", str(d / "k1.keyring"),
    )  # fmt: skip
    return d


def roots(keys):
    return [sign.load_public(str(keys / "root.key.pub"), "root")]


def bundle(tmp_path):
    app = tmp_path / "app"
    (app / "echonet").mkdir(parents=True)
    (app / "main.py").write_bytes(b"import app\napp.main()\n")
    (app / "echonet" / "node.mpy").write_bytes(os.urandom(3000))
    (app / "echonet" / "empty.mpy").write_bytes(b"")
    return app


def sign_args(keys, out, src, *extra, counter="5", board=BOARD, expires="+30d", key="upd.key", keyring="k1.keyring"):
    return (
        "sign", "--key", str(keys / key), "--keyring", str(keys / keyring), "--product", PRODUCT, "--board", board,
        "--version", "1.2.0", "--counter", counter, "--expires", expires, "--out", str(out), *extra, str(src),
    )  # fmt: skip


def test_keygen_writes_a_private_key_only_its_owner_reads(keys):
    mode = stat.S_IMODE(os.stat(keys / "root.key").st_mode)
    assert mode == 0o600
    text = (keys / "root.key").read_text()
    assert "role: root" in text
    pub = (keys / "root.key.pub").read_text().split()
    assert pub[:2] == ["ed25519", "root"] and len(bytes.fromhex(pub[2])) == 32
    assert (keys / "upd.key.pub").read_text().split()[1] == "update"


def test_keygen_refuses_to_overwrite(keys):
    before = (keys / "root.key").read_bytes()
    fails("keygen", "--role", "root", "--out", str(keys / "root.key"), want="exists; not overwriting")
    assert (keys / "root.key").read_bytes() == before


def test_sign_and_inspect_a_bundle(keys, tmp_path):
    app = bundle(tmp_path)
    pkg = tmp_path / "app.pkg"
    run(*sign_args(keys, pkg, app, "--root", str(keys / "root.key.pub")))
    r = run("inspect", str(pkg), "--root", str(keys / "root.key.pub"))
    assert r.stdout.strip().endswith("OK")
    assert "echonet/empty.mpy" in r.stdout and "main.py" in r.stdout
    data = pkg.read_bytes()
    m = fm.check_package(data, roots(keys), PRODUCT, BOARD, int(time.time()), 5)
    assert [i[0] for i in m.items] == ["echonet/empty.mpy", "echonet/node.mpy", "main.py"]
    assert m.version == "1.2.0" and m.counter == 5
    # the payload follows the metadata, item after item
    size = fm.metadata_size(data)
    assert data[size:] == b"".join((app / n).read_bytes() for n, _s, _d in m.items)


def test_sign_a_firmware_image(keys, tmp_path):
    image = tmp_path / "micropython.bin"
    image.write_bytes(os.urandom(5000))
    pkg = tmp_path / "fw.pkg"
    run(*sign_args(keys, pkg, image))
    m = fm.check_package(pkg.read_bytes(), roots(keys), PRODUCT, BOARD, int(time.time()), 0)
    assert list(m.items) == [("firmware", 5000, hashlib.sha256(image.read_bytes()).digest())]


def refused(data, keys, reason, board=BOARD, now=None, counter=0, floor=0):
    now = int(time.time()) if now is None else now
    with pytest.raises(fm.ManifestError) as e:
        fm.check_package(data, roots(keys), PRODUCT, board, now, counter, floor)
    assert e.value.reason == reason, str(e.value)


@pytest.fixture(scope="module")
def package(keys, tmp_path_factory):
    d = tmp_path_factory.mktemp("pkg")
    pkg = d / "app.pkg"
    run(*sign_args(keys, pkg, bundle(d)))
    return pkg.read_bytes()


def test_tampered_packages_are_refused(keys, package):
    size = fm.metadata_size(package)
    k = int.from_bytes(package[4:6], "big")
    manifest_at = 16 + k + 64 + 8
    for at, reason in (
        (20, fm.BAD_SIGNATURE),  # keyring body
        (16 + k + 10, fm.BAD_SIGNATURE),  # keyring signature
        (manifest_at + 3, fm.BAD_SIGNATURE),  # manifest body
        (size - 1, fm.BAD_SIGNATURE),  # manifest signature
        (9, fm.BAD_SIGNATURE),  # root key id: no trusted root has it
        (16 + k + 64 + 1, fm.DELEGATION),  # update key id: not in the keyring
        (0, fm.MALFORMED),  # magic
        (size + 100, fm.PAYLOAD),  # a payload byte
        (len(package) - 1, fm.PAYLOAD),
    ):
        bad = bytearray(package)
        bad[at] ^= 0x01
        refused(bytes(bad), keys, reason)


def test_truncated_packages_are_refused(keys, package):
    size = fm.metadata_size(package)
    for n in (0, 3, 8, 100, size - 1):
        refused(package[:n], keys, fm.MALFORMED)
    for n in (size, size + 1, len(package) - 1):
        refused(package[:n], keys, fm.PAYLOAD)
    refused(package + b"\x00", keys, fm.PAYLOAD)


def test_rolled_back_expired_and_wrong_board_packages_are_refused(keys, package):
    now = int(time.time())
    fm.check_package(package, roots(keys), PRODUCT, BOARD, now, 5)  # same counter: reinstall allowed
    refused(package, keys, fm.ROLLBACK, counter=6)
    refused(package, keys, fm.EXPIRED, now=now + 31 * 86400)
    refused(package, keys, fm.WRONG_TARGET, board="ESP32_GENERIC_S3")


def test_wrongly_delegated_packages_are_refused(keys, tmp_path, package):
    now = int(time.time())
    # the delegation ran out (the package itself has not expired yet)
    pkg = tmp_path / "long.pkg"
    run(*sign_args(keys, pkg, bundle(tmp_path), expires="+400d"))
    refused(pkg.read_bytes(), keys, fm.DELEGATION, now=now + 370 * 86400)
    # a key the list does not name: upd2's manifest behind k1's keyring, spliced by hand
    run(
        "delegate", "--root-key", str(keys / "root.key"), "--update-key", str(keys / "upd2.key.pub"), "--product", PRODUCT,
        "--not-after", "+30d", "--out", str(tmp_path / "k2.keyring"),
    )  # fmt: skip
    other = tmp_path / "other.pkg"
    run(*sign_args(keys, other, bundle(tmp_path / "b"), keyring=str(tmp_path / "k2.keyring"), key="upd2.key"))
    a, b = package, other.read_bytes()
    ka, kb = int.from_bytes(a[4:6], "big"), int.from_bytes(b[4:6], "big")
    spliced = a[:4] + a[4:6] + b[6:8] + a[8 : 16 + ka + 64] + b[16 + kb + 64 :]
    refused(spliced, keys, fm.DELEGATION)
    # a delegation list from another root
    run(
        "delegate", "--root-key", str(keys / "root2.key"), "--update-key", str(keys / "upd.key.pub"), "--product", PRODUCT,
        "--not-after", "+30d", "--out", str(tmp_path / "k3.keyring"),
    )  # fmt: skip
    pkg3 = tmp_path / "k3.pkg"
    run(*sign_args(keys, pkg3, bundle(tmp_path / "c"), keyring=str(tmp_path / "k3.keyring")))
    refused(pkg3.read_bytes(), keys, fm.BAD_SIGNATURE)


def test_revocation_by_a_newer_delegation_list(keys, tmp_path, package):
    now = int(time.time())
    k1 = fm.verify_keyring_file((keys / "k1.keyring").read_bytes(), roots(keys))
    kid = fm.key_id(sign.load_public(str(keys / "upd.key.pub"), "update")).hex()
    out = tmp_path / "k-revoked.keyring"
    run(
        "delegate", "--root-key", str(keys / "root.key"), "--from", str(keys / "k1.keyring"), "--revoke", kid,
        "--update-key", str(keys / "upd2.key.pub"), "--product", PRODUCT, "--not-after", "+30d", "--out", str(out),
    )  # fmt: skip
    ring = fm.verify_keyring_file(out.read_bytes(), roots(keys), k1.counter)
    assert ring.counter == k1.counter + 1 and [k.key_id.hex() for k in ring.keys] != [kid]
    assert ring.find(bytes.fromhex(kid)) is None
    # a device that stored the new list's counter refuses packages under the old list
    fm.check_package(package, roots(keys), PRODUCT, BOARD, now, 0, k1.counter)
    refused(package, keys, fm.DELEGATION, floor=ring.counter)
    # and the revoked key can no longer sign against the new list
    fails(*sign_args(keys, tmp_path / "x.pkg", bundle(tmp_path), keyring=str(out)), want="not in delegation list")


def test_inspect_reports_refusals(keys, package, tmp_path):
    bad = bytearray(package)
    bad[30] ^= 0x40
    p = tmp_path / "bad.pkg"
    p.write_bytes(bytes(bad))
    r = run("inspect", str(p), "--root", str(keys / "root.key.pub"), ok=False)
    assert r.returncode == 1 and "REFUSED: bad signature" in r.stdout, r.stdout
    p.write_bytes(package)
    r = run("inspect", str(p), "--root", str(keys / "root.key.pub"), "--counter", "9", ok=False)
    assert r.returncode == 1 and "REFUSED: rollback" in r.stdout, r.stdout
    r = run("inspect", str(p), "--root", str(keys / "root2.key.pub"), ok=False)
    assert r.returncode == 1 and "REFUSED: bad signature" in r.stdout, r.stdout


def test_bad_input_gives_one_line_and_exit_2(keys, tmp_path):
    app = bundle(tmp_path)
    out = tmp_path / "x.pkg"
    fails(*sign_args(keys, out, tmp_path / "missing"), want="does not exist")
    fails(*sign_args(keys, out, app, key="missing.key"), want="does not exist")
    fails(*sign_args(keys, out, app, key="root.key"), want="is a root key; this needs a update key")
    fails(*sign_args(keys, out, app, key="upd.key.pub"), want="is a public key")
    fails(*sign_args(keys, out, app, keyring="upd.key.pub"), want="not a delegation list")
    fails(*sign_args(keys, out, app, counter="abc"), want="is not a number")
    fails(*sign_args(keys, out, app, counter="-1"), want="out of range")
    fails(*sign_args(keys, out, app, expires="soon"), want="is not a time")
    fails(*sign_args(keys, out, app, expires="2001-01-01"), want="in the past")
    fails(*sign_args(keys, out, app, board="ESP32_GENERIC_S3"), want="not delegated for drready-node/ESP32_GENERIC_S3")
    fails(*sign_args(keys, out, app, board="bad board"), want="board 'bad board'")
    fails("sign", "--key", str(keys / "upd.key"), want="the following arguments are required")
    fails("frobnicate", want="invalid choice")
    fails("delegate", "--root-key", str(keys / "upd.key"), "--update-key", str(keys / "upd.key.pub"), "--product", PRODUCT,
          "--not-after", "+1d", "--out", str(tmp_path / "k.keyring"), want="is a update key; this needs a root key")  # fmt: skip
    fails("delegate", "--root-key", str(keys / "root.key"), "--update-key", str(keys / "root.key.pub"), "--product", PRODUCT,
          "--not-after", "+1d", "--out", str(tmp_path / "k.keyring"), want="is a root key; this needs a update key")  # fmt: skip
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key\n")
    fails(*sign_args(keys, out, app, key=str(garbage)), want="not a private key file")
    assert not out.exists()


def test_a_bundle_with_a_symbolic_link_is_refused(keys, tmp_path):
    """A link would sign what it points to, outside the tree (a file), or leave out what is
    behind it (a directory, which os.walk does not enter): both refused, nothing written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("x = 1\n")
    for name, target in (("linked", outside), ("host.py", outside / "secret.py")):
        app = bundle(tmp_path / name)
        os.symlink(target, app / name)
        out = tmp_path / ("%s.pkg" % name)
        fails(*sign_args(keys, out, app), want="is a symbolic link")
        assert not out.exists()


def test_an_expired_delegation_is_refused_when_signing(keys, tmp_path):
    # `delegate` will not write a window that has already ended, so this list is made
    # with the tool's own functions and the same root key
    now = int(time.time())
    root = sign.load_private(str(keys / "root.key"), "root")
    upd = sign.load_public(str(keys / "upd.key.pub"), "update")
    entry = (upd, now - 10 * 86400, now - 86400, 0, 100, [PRODUCT], ["*"])
    ring = tmp_path / "old.keyring"
    ring.write_bytes(sign.keyring_file(root, sign.keyring_body(1, [entry])))
    fails(*sign_args(keys, tmp_path / "x.pkg", bundle(tmp_path), keyring=str(ring)), want="expired on")
    fails(
        "delegate", "--root-key", str(keys / "root.key"), "--update-key", str(keys / "upd.key.pub"), "--product", PRODUCT,
        "--not-before", str(now - 86400), "--not-after", str(now - 1), "--out", str(tmp_path / "k.keyring"), want="in the past",
    )  # fmt: skip


def test_no_private_key_is_in_the_repository():
    """Every file git would take in: tracked, or new and not ignored. The keys the README's
    commands make (make sim's state/, sign.py's keys/) are ignored, and stay out."""
    pattern = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE" + rb" KEY-----")
    if os.path.isdir(os.path.join(ROOT, ".git")):
        r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True)
        paths = [os.path.join(ROOT, p) for p in r.stdout.decode().split("\0") if p]
    else:  # an exported tree: every file but what .gitignore keeps out
        skip = {".git", ".venv", "build", "state", "keys", "node_modules", "__pycache__", ".pytest_cache"}
        paths = []
        for d, dirs, files in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in skip]
            paths += [os.path.join(d, f) for f in files if not f.endswith((".key", ".pkg"))]
    assert len(paths) > 100, paths
    for path in paths:
        if os.path.isfile(path):  # (not one deleted in the work tree)
            with open(path, "rb") as fh:
                assert not pattern.search(fh.read()), path


if __name__ == "__main__":
    with open(FIXTURES, "w") as f:
        f.write(fixtures_text())
    print("wrote", FIXTURES)
