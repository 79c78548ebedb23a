"""tools/provision.py: a development CA, a device's key pair, certificate, identity and
setup code, and writing them to the simulator's state directory and to a board (the
MicroPython unix port behind a pty stands in for one).

Every key is made here, in temporary directories: none is committed. Checked: file
permissions; the certificate chains to the CA (CPython cryptography) and the key and
certificate load in MicroPython's tls module (what the device will use); the setup code
is printed once and stored nowhere; the node uses identity.json for its 0x83; two
devices share nothing; bad input gives one line and exit 2.
"""
import datetime
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from e2e import enl
from e2e.harness import AddressPool, start_node, stop_node
from pty_board import MICROPYTHON, PtyBoard

from tools import provision, setupcode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "provision.py")
PYTHON = sys.executable
CODE_RE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]\b")


def run(*args, timeout=60):
    return subprocess.run([PYTHON, TOOL] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ca") / "ca")
    r = run("ca", "--out", d)
    assert r.returncode == 0, r.stdout + r.stderr
    return d


def make_device(ca, out, *extra):
    r = run("device", "--ca-cert", os.path.join(ca, "ca_cert.pem"), "--ca-key", os.path.join(ca, "ca.key"),
            "--out", out, *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    codes = CODE_RE.findall(r.stdout + r.stderr)
    assert len(codes) == 1, "the setup code must be printed exactly once:\n" + r.stdout
    return codes[0], r


def one_line_exit_2(r, words):
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provision: ") and words in lines[0], r.stderr


def test_ca_is_p256_self_signed_development_and_never_overwritten(ca):
    assert mode(os.path.join(ca, "ca.key")) == 0o600
    assert mode(ca) == 0o700
    with open(os.path.join(ca, "ca_cert.pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(ca, "ca.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert "DEVELOPMENT" in cert.subject.rfc4514_string()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(cert)
    with open(os.path.join(ca, "ca.key"), "rb") as f:
        before = f.read()
    one_line_exit_2(run("ca", "--out", ca), "never overwritten")
    with open(os.path.join(ca, "ca.key"), "rb") as f:
        assert f.read() == before


def test_device_files_chain_to_the_ca_and_load_in_micropython(ca, tmp_path):
    out = str(tmp_path / "dev")
    days = [datetime.datetime.now(datetime.timezone.utc).date().isoformat()]
    code, r = make_device(ca, out)
    days.append(datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    assert "█" in r.stdout  # the QR code (segno)
    assert sorted(os.listdir(out)) == ["ca_cert.der", "device_cert.der", "device_key.der", "identity.json", "setup.json"]
    assert mode(out) == 0o700
    assert mode(os.path.join(out, "device_key.der")) == 0o600 and mode(os.path.join(out, "setup.json")) == 0o600
    with open(os.path.join(out, "identity.json")) as f:
        rec = json.load(f)
    unique = rec["unique"]
    assert re.fullmatch(r"[0-9a-f]{20}", unique)
    # the production date (node profile 0x8E): today, UTC (either side of a midnight during the run)
    assert rec["date"] in days
    assert unique.upper() in r.stdout  # the device is named

    with open(os.path.join(out, "device_cert.der"), "rb") as f:
        cert = x509.load_der_x509_certificate(f.read())
    with open(os.path.join(ca, "ca_cert.pem"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(out, "ca_cert.der"), "rb") as f:
        assert x509.load_der_x509_certificate(f.read()) == ca_cert
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == unique.upper()
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == unique.upper()
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with open(os.path.join(out, "device_key.der"), "rb") as f:
        key = serialization.load_der_private_key(f.read(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert provision._spki(key.public_key()) == provision._spki(cert.public_key())

    # what the device will do with them: MicroPython's tls (mbedTLS) takes the DER files
    prog = ("import tls\nctx = tls.SSLContext(tls.PROTOCOL_DTLS_SERVER)\n"
            "ctx.load_cert_chain(open('device_cert.der','rb').read(), open('device_key.der','rb').read())\n"
            "ctx.load_verify_locations(open('ca_cert.der','rb').read())\nprint('LOADED')\n")
    m = subprocess.run([MICROPYTHON, "-c", prog], cwd=out, capture_output=True, text=True, timeout=30)
    assert m.returncode == 0 and m.stdout.strip() == "LOADED", m.stdout + m.stderr

    # the setup code: 16 Crockford characters (80 bits) and a check character
    assert len(code.replace("-", "")) == 17 and not set(code) & set("ILOU")
    with open(os.path.join(out, "setup.json")) as f:
        record = json.load(f)
    assert record["kdf"] == "pbkdf2-hmac-sha256" and record["iter"] >= 10000 and len(bytes.fromhex(record["salt"])) >= 16
    assert provision.verify_code(record, code)
    assert provision.verify_code(record, code.lower().replace("-", " "))  # as someone might type it
    assert not provision.verify_code(record, code[:-1] + ("0" if code[-1] != "0" else "1"))  # check character
    wrong = list(code)
    wrong[0] = "0" if wrong[0] != "0" else "1"
    assert not provision.verify_code(record, "".join(wrong))
    # ... and it is stored nowhere
    for name in os.listdir(out):
        with open(os.path.join(out, name), "rb") as f:
            data = f.read().upper()
        for form in (code, code.replace("-", ""), code.replace("-", "")[:16]):
            assert form.encode() not in data, "setup code found in " + name


def test_check_character_catches_one_wrong_character_and_neighbour_swaps():
    for _ in range(20):
        code, chars = provision.new_setup_code()
        full = code.replace("-", "")
        assert provision.normalize_code(code) == chars
        for i in range(17):
            for c in setupcode.CROCKFORD:
                if c != full[i]:
                    with pytest.raises(ValueError):
                        provision.normalize_code(full[:i] + c + full[i + 1 :])
        for i in range(16):
            if full[i] != full[i + 1]:
                with pytest.raises(ValueError):
                    provision.normalize_code(full[:i] + full[i + 1] + full[i] + full[i + 2 :])


def test_two_devices_share_nothing(ca, tmp_path):
    code1, _ = make_device(ca, str(tmp_path / "a"), "--no-qr")
    code2, r2 = make_device(ca, str(tmp_path / "b"), "--no-qr")
    assert "█" not in r2.stdout
    assert code1 != code2
    for name in ("identity.json", "device_key.der", "device_cert.der", "setup.json"):
        with open(tmp_path / "a" / name, "rb") as f1, open(tmp_path / "b" / name, "rb") as f2:
            assert f1.read() != f2.read(), name


def _other_key(tmp_path, kind):
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    p = tmp_path / ("%s.key" % kind)
    p.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return str(p)


@pytest.mark.parametrize("case, words", [
    ("existing-out", "already exists"),
    ("missing-ca-cert", "does not exist"),
    ("missing-ca-key", "does not exist"),
    ("rsa-key", "not an ECDSA P-256 key (it is RSA)"),
    ("key-not-of-ca", "does not belong to CA certificate"),
    ("not-a-key", "not a private key"),
    ("device-cert-as-ca", "not a CA certificate"),
    ("bad-maker", "6 hex digits"),
])
def test_device_refuses_bad_input(ca, tmp_path, case, words):
    cert, key = os.path.join(ca, "ca_cert.pem"), os.path.join(ca, "ca.key")
    out = str(tmp_path / "dev")
    extra = []
    if case == "existing-out":
        os.mkdir(out)
    elif case == "missing-ca-cert":
        cert = str(tmp_path / "nope.pem")
    elif case == "missing-ca-key":
        key = str(tmp_path / "nope.key")
    elif case == "rsa-key":
        key = _other_key(tmp_path, "rsa")
    elif case == "key-not-of-ca":
        key = _other_key(tmp_path, "ec")
    elif case == "not-a-key":
        key = cert
    elif case == "device-cert-as-ca":
        make_device(ca, str(tmp_path / "d0"), "--no-qr")
        cert, key = str(tmp_path / "d0" / "device_cert.der"), str(tmp_path / "d0" / "device_key.der")
    elif case == "bad-maker":
        extra = ["--manufacturer-code", "XYZ"]
    r = run("device", "--ca-cert", cert, "--ca-key", key, "--out", out, *extra)
    one_line_exit_2(r, words)
    assert not CODE_RE.search(r.stdout)
    if case != "existing-out":
        assert not os.path.exists(out)


def test_to_state_gives_the_simulated_node_its_identity(ca, tmp_path):
    dev = str(tmp_path / "dev")
    make_device(ca, dev, "--no-qr")
    with open(os.path.join(dev, "identity.json")) as f:
        rec = json.load(f)
    unique = bytes.fromhex(rec["unique"])
    y, m, d = map(int, rec["date"].split("-"))
    state = tempfile.mkdtemp(prefix="e2e-state-")  # fixed-length path, as the e2e harness uses
    try:
        r = run("to-state", "--state", state, dev)
        assert r.returncode == 0, r.stdout + r.stderr
        assert mode(os.path.join(state, "identity")) == 0o700
        assert mode(os.path.join(state, "identity", "device_key.der")) == 0o600
        for name in ("device_key.der", "device_cert.der", "ca_cert.der", "setup.json"):
            with open(os.path.join(dev, name), "rb") as a, open(os.path.join(state, "identity", name), "rb") as b:
                assert a.read() == b.read(), name
        assert run("to-state", "--state", state, dev).returncode == 0  # the same device again: fine

        addr, ctrl = AddressPool().pair()
        proc = start_node(addr, state, (ctrl,))
        try:
            with enl.RawController(ctrl) as c:
                res = c.get(addr, enl.NODE_PROFILE, [0x83, 0x8E])
            assert res.esv == enl.GET_RES, res.raw.hex()
            assert res.edt(0x83)[4:14] == unique, res.raw.hex()
            assert res.edt(0x8E) == bytes((y >> 8, y & 0xFF, m, d)), res.raw.hex()  # production date YYYY MM DD
        finally:
            stop_node(proc)
        with open(os.path.join(state, "identity.json")) as f:
            assert bytes.fromhex(json.load(f)["unique"]) == unique  # the node kept it

        other = str(tmp_path / "other")
        make_device(ca, other, "--no-qr")
        one_line_exit_2(run("to-state", "--state", state, other), "--force")
        r = run("to-state", "--state", state, "--force", other)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_to_board_writes_identity_files(ca, tmp_path):
    dev, other = str(tmp_path / "dev"), str(tmp_path / "other")
    make_device(ca, dev, "--no-qr")
    make_device(ca, other, "--no-qr")
    root = tempfile.mkdtemp(prefix="pty-board-")
    board = PtyBoard(root).start()
    try:
        os.makedirs(os.path.join(root, "state"))
        with open(os.path.join(root, "state", "identity.json"), "w") as f:
            json.dump({"unique": "00" * 10}, f)  # what the node made for itself on first boot
        r = run("to-board", "--port", board.port, "--no-reset", dev)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "SHA-256 on the board matches" in r.stdout
        for name in ("device_key.der", "device_cert.der", "ca_cert.der", "setup.json"):
            with open(os.path.join(dev, name), "rb") as a, open(os.path.join(root, "identity", name), "rb") as b:
                assert a.read() == b.read(), name
        with open(os.path.join(dev, "identity.json"), "rb") as a, open(os.path.join(root, "state", "identity.json"), "rb") as b:
            assert a.read() == b.read()
        one_line_exit_2(run("to-board", "--port", board.port, "--no-reset", other), "--force")
        assert board.alive()
    finally:
        board.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("argv, words", [
    (["to-board", "DIR"], "serial port"),
    (["to-board", "--port", "/dev/does-not-exist", "DIR"], "does not exist"),
    (["to-board", "--port", "/dev/null", "NODIR"], "not a device directory"),
    (["to-board", "--port", "/dev/null", "DIR"], "cannot open serial port /dev/null"),
    (["to-state", "--state", "STATE", "NODIR"], "not a device directory"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_commands_are_one_line_and_exit_2(ca, tmp_path, argv, words):
    dev = str(tmp_path / "dev")
    make_device(ca, dev, "--no-qr")
    subst = {"DIR": dev, "NODIR": str(tmp_path / "nodir"), "STATE": str(tmp_path / "state")}
    one_line_exit_2(run(*[subst.get(a, a) for a in argv]), words)


@pytest.mark.parametrize("date", ["2026-13-01", "2026-02-31", "26-11-27", "2026-11-27T00:00", "2026-W48-5", "2026/11/27",
                                  "0000-01-01", 20261127])
def test_a_damaged_production_date_is_refused(ca, tmp_path, date):
    dev = str(tmp_path / "dev")
    make_device(ca, dev, "--no-qr")
    path = os.path.join(dev, "identity.json")
    with open(path) as f:
        rec = json.load(f)
    rec["date"] = date
    os.chmod(path, 0o644)
    with open(path, "w") as f:
        json.dump(rec, f)
    one_line_exit_2(run("to-state", "--state", str(tmp_path / "state"), dev), "damaged")
