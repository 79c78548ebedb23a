"""Give a device its own identity and credentials, and put them on a board or in the
simulator's state directory. There is no default credential: every device gets its own.

    provision.py ca --out ~/drready-dev-ca
        a DEVELOPMENT CA: ca_cert.pem and ca.key (ECDSA P-256, key file 0600). A
        manufacturer uses its own CA instead (any ECDSA P-256 CA certificate and key, PEM or DER).
    provision.py device --ca-cert ~/drready-dev-ca/ca_cert.pem --ca-key ~/drready-dev-ca/ca.key --out dev1
        one device, in a new directory dev1/ (0700):
          identity.json    {"unique": "<20 hex digits>", "date": "YYYY-MM-DD"}: the 10 random bytes
                           behind 0x83 (and the device certificate's subject) and the production
                           date, today's (UTC), served as node profile 0x8E; read by
                           firmware/startup.py load_identity
          device_key.der   the device's ECDSA P-256 private key, PKCS#8 DER, 0600
          device_cert.der  its X.509 certificate, signed by the CA; subject CN and serialNumber =
                           the unique id (hex), O = "DRready manufacturer <code>", clientAuth+serverAuth
          ca_cert.der      the CA certificate the device trusts, DER
          setup.json       only a verifier of the setup code (below), never the code, 0600
        and prints the setup code, once: 16 characters of Crockford base32 (80 random bits)
        and a check character, grouped by four (e.g. 7K3M-Q9XD-2HNV-R8TB-F), as text and as a
        QR code (payload DRREADY1:<17 characters>:<unique id>). Write it on the device's label
        or hand it to its owner: it is stored nowhere.
    provision.py rotate-key --ca-cert ~/drready-dev-ca/ca_cert.pem --ca-key ~/drready-dev-ca/ca.key dev1
        a new device key and certificate in dev1/, for the same identity and setup code (key
        rotation); then to-board or to-state installs them.
    provision.py to-board --port /dev/ttyUSB0 dev1
        copies the DER files and setup.json to /identity/ on the board and identity.json to
        /state/identity.json (--state-dir), over the board's REPL like tools/deploy.py, each
        checked by its SHA-256 on the board, then resets the board (not with --no-reset).
    provision.py to-state --state state dev1
        the same for the simulator: STATE/identity/ and STATE/identity.json.

setup.json: {"v": 1, "kdf": "pbkdf2-hmac-sha256", "iter": 10000, "salt": "<32 hex>",
"hash": "<64 hex>"}, hash = PBKDF2-HMAC-SHA256(password = the 16 code characters, upper
case, ASCII, without separators and check character; salt = 16 random bytes; iter; 32
bytes). To check a code a user types: upper-case it, drop '-' and spaces, read O as 0 and
I, L as 1 (Crockford), verify the check character (check_char: a weighted sum over GF(32)), then
compare the hash in constant time. The code has 80 bits of entropy, so the verifier does
not need to be slow; 10000 iterations keep a check on the ESP32 to seconds.

A board or state directory that already holds another device's certificate (another
unique id) keeps it: to-board and to-state refuse unless --force (a device's identity,
its 0x83, changes with it). A rotated key of the same device is installed without --force. The
random identity.json a node makes for itself on first boot is replaced without --force.

Exit codes: 0 done; 2 a bad argument (missing or wrong CA, a key that is not P-256, an
output that exists, a bad port, no MicroPython answering); 1 the board failed while writing.
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from tools import setupcode  # noqa: E402
from tools.deploy import Device, ToolError, port_problem  # noqa: E402

CODE_CHARS = setupcode.CHARS
KDF_ITER = 10000
SALT_BYTES = 16
QR_PREFIX = "DRREADY1"

CA_CERT, CA_KEY = "ca_cert.pem", "ca.key"
DEVICE_FILES = ("device_key.der", "device_cert.der", "ca_cert.der", "setup.json")  # to identity/
SECRET_FILES = ("device_key.der", "setup.json")  # 0600
IDENTITY = "identity.json"  # to the state directory
BOARD_DIR = "identity"
STATE_DIR = "state"  # board_config.py's default state_dir


class ArgError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        print("provision: %s (provision.py -h for help)" % message, file=sys.stderr)
        sys.exit(2)


# -- setup code ---------------------------------------------------------------------

def new_setup_code():
    """(grouped code for people, the 16 characters the verifier is made of)."""
    return setupcode.new(os.urandom(CODE_CHARS * 5 // 8))


def normalize_code(text):
    """The 16 code characters of a typed setup code; ValueError if it is not one."""
    return setupcode.normalize(text)


def verifier(chars, salt=None, iterations=KDF_ITER):
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    h = hashlib.pbkdf2_hmac("sha256", chars.encode("ascii"), salt, iterations, 32)
    return {"v": 1, "kdf": "pbkdf2-hmac-sha256", "iter": iterations, "salt": salt.hex(), "hash": h.hex()}


def verify_code(record, typed):
    """True if typed is the setup code record (setup.json) was made from."""
    import hmac

    try:
        chars = normalize_code(typed)
    except ValueError:
        return False
    h = hashlib.pbkdf2_hmac("sha256", chars.encode("ascii"), bytes.fromhex(record["salt"]), record["iter"], 32)
    return hmac.compare_digest(h.hex(), record["hash"])


# -- files --------------------------------------------------------------------------

def _write_new(path, data, mode):
    """Create path (never overwrite) with mode from the start: no moment with wider permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # whatever the umask


def _write_replace(path, data, mode):
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    _write_new(tmp, data, mode)
    os.replace(tmp, path)


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ArgError("cannot read %s %s: %s" % (what, path, e.strerror or e))


def load_key(path):
    data = _read(path, "CA key")
    try:
        key = (serialization.load_pem_private_key(data, None) if b"-----BEGIN" in data
               else serialization.load_der_private_key(data, None))
    except TypeError:
        raise ArgError("CA key %s is encrypted: give it unencrypted (keep the file 0600)" % path)
    except ValueError:
        raise ArgError("CA key %s is not a private key in PEM or DER" % path)
    except Exception as e:  # e.g. UnsupportedAlgorithm
        raise ArgError("CA key %s cannot be read (%s)" % (path, type(e).__name__))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ArgError("CA key %s is not an ECDSA P-256 key (it is %s)" % (path, _key_kind(key)))
    return key


def _key_kind(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "EC " + key.curve.name
    return type(key).__name__.lstrip("_").replace("PrivateKey", "")


def load_cert(path):
    data = _read(path, "CA certificate")
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise ArgError("CA certificate %s is not an X.509 certificate in PEM or DER" % path)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _spki(pub):
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _ski(pub):
    return x509.SubjectKeyIdentifier.from_public_key(pub)


# -- ca -----------------------------------------------------------------------------

def make_ca(out, name, days):
    os.makedirs(out, mode=0o700, exist_ok=True)
    for f in (CA_CERT, CA_KEY):
        if os.path.exists(os.path.join(out, f)):
            raise ArgError("%s already exists: a CA is never overwritten (give another --out)" % os.path.join(out, f))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DEVELOPMENT ONLY - not for production"),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(_ski(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_new(os.path.join(out, CA_KEY), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()), 0o600)
    _write_new(os.path.join(out, CA_CERT), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert


# -- device -------------------------------------------------------------------------

def check_ca(cert, key, cert_path):
    pub = cert.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey) or not isinstance(pub.curve, ec.SECP256R1):
        raise ArgError("CA certificate %s does not hold an ECDSA P-256 key" % cert_path)
    if pub.public_numbers() != key.public_key().public_numbers():
        raise ArgError("the CA key does not belong to CA certificate %s" % cert_path)
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise ArgError("certificate %s is not a CA certificate (BasicConstraints CA:TRUE)" % cert_path)
    if cert.not_valid_after_utc <= _now():
        raise ArgError("CA certificate %s expired on %s" % (cert_path, cert.not_valid_after_utc.date()))


def issue(ca_cert, ca_key, unique, maker, days):
    """A new device key and its certificate for the identity unique (10 bytes)."""
    uid = unique.hex().upper()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DRready manufacturer %s" % maker),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, uid),
        x509.NameAttribute(NameOID.COMMON_NAME, uid),
    ])
    now = _now()
    end = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(_ski(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.DER))


def make_device(ca_cert, ca_key, out, maker, days):
    unique = os.urandom(10)
    uid = unique.hex().upper()
    key_der, cert_der = issue(ca_cert, ca_key, unique, maker, days)
    code, chars = new_setup_code()
    files = {
        "device_key.der": key_der,
        "device_cert.der": cert_der,
        "ca_cert.der": ca_cert.public_bytes(serialization.Encoding.DER),
        "setup.json": json.dumps(verifier(chars)).encode(),
        IDENTITY: json.dumps({"unique": unique.hex(), "date": _now().date().isoformat()}).encode(),
    }
    os.makedirs(out, mode=0o700)
    os.chmod(out, 0o700)
    for name, data in files.items():
        _write_new(os.path.join(out, name), data, 0o600 if name in SECRET_FILES else 0o644)
    return uid, code


def rotate_key(ca_cert, ca_key, src, days):
    """A new key and certificate for the device in directory src, same identity (0x83, setup
    code): replaces device_key.der and device_cert.der there. Returns the unique id."""
    files = load_dir(src)
    unique = bytes.fromhex(json.loads(files[IDENTITY])["unique"])
    old = x509.load_der_x509_certificate(files["device_cert.der"])
    org = old.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    maker = str(org[0].value).rsplit(" ", 1)[-1] if org else "FFFFFF"
    key_der, cert_der = issue(ca_cert, ca_key, unique, maker, days)
    _write_replace(os.path.join(src, "device_key.der"), key_der, 0o600)
    _write_replace(os.path.join(src, "device_cert.der"), cert_der, 0o644)
    _write_replace(os.path.join(src, "ca_cert.der"), ca_cert.public_bytes(serialization.Encoding.DER), 0o644)
    return unique.hex().upper()


def show_code(code, uid, qr, out=print):
    out("Setup code (shown only now, stored nowhere: put it on the device's label or give it to its owner):")
    out("")
    out("    " + code)
    out("")
    if not qr:
        return
    try:
        import segno
    except ImportError:
        out("(no QR code: the segno package is missing; `make venv` installs it)")
        return
    segno.make("%s:%s:%s" % (QR_PREFIX, code.replace("-", ""), uid), error="m").terminal(compact=True)


# -- to-board / to-state ------------------------------------------------------------

def load_dir(src):
    """{name: bytes} of a device directory made by `device`, checked."""
    if not os.path.isdir(src):
        raise ArgError("%s is not a device directory (make one with: provision.py device ... --out %s)" % (src, src))
    files = {}
    for name in DEVICE_FILES + (IDENTITY,):
        p = os.path.join(src, name)
        if not os.path.isfile(p):
            raise ArgError("%s is missing from %s: make the directory with provision.py device" % (name, src))
        files[name] = _read(p, "file")
    try:
        rec = json.loads(files[IDENTITY])
        unique = bytes.fromhex(rec["unique"])
        if "date" in rec:  # the production date (0x8E): exactly what firmware/startup.py load_identity reads
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", rec["date"]) or rec["date"] < "0001":
                raise ValueError
            datetime.date.fromisoformat(rec["date"])  # a day that exists
        cert = x509.load_der_x509_certificate(files["device_cert.der"])
        ca = x509.load_der_x509_certificate(files["ca_cert.der"])
        key = serialization.load_der_private_key(files["device_key.der"], None)
        json.loads(files["setup.json"])["hash"]
    except (ValueError, KeyError, TypeError) as e:
        raise ArgError("%s holds a damaged file (%s): make the device again" % (src, type(e).__name__))
    if len(unique) != 10:
        raise ArgError("%s/identity.json: unique must be 10 bytes" % src)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != unique.hex().upper():
        raise ArgError("%s: the certificate's subject is not this identity.json's unique id" % src)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or _spki(key.public_key()) != _spki(cert.public_key()):
        raise ArgError("%s: device_key.der does not belong to device_cert.der" % src)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ArgError("%s: device_cert.der is not signed by ca_cert.der" % src)
    return files


def same_device(old_der, new_der):
    """Both certificates name the same device (its unique id): a rotated key, not another device."""
    try:
        a, b = (x509.load_der_x509_certificate(d).subject.get_attributes_for_oid(NameOID.COMMON_NAME) for d in (old_der, new_der))
    except ValueError:
        return False
    return bool(a) and bool(b) and a[0].value == b[0].value


def to_state(src, state, force, log=print):
    files = load_dir(src)
    d = os.path.join(state, BOARD_DIR)
    old = os.path.join(d, "device_cert.der")
    if os.path.exists(old) and not force:
        with open(old, "rb") as f:
            if not same_device(f.read(), files["device_cert.der"]):
                raise ArgError("%s already holds another device's certificate; --force replaces it (the device's 0x83 "
                               "changes)" % state)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        for name in DEVICE_FILES:
            _write_replace(os.path.join(d, name), files[name], 0o600 if name in SECRET_FILES else 0o644)
        _write_replace(os.path.join(state, IDENTITY), files[IDENTITY], 0o644)
    except OSError as e:
        raise ArgError("cannot write to state directory %s: %s" % (state, e.strerror or e))
    log("provision: wrote %s/ (%s) and %s to %s" % (BOARD_DIR, ", ".join(DEVICE_FILES), IDENTITY, state))


_READ_B = "try:\n f = open(%r, 'rb')\n print(f.read().hex())\n f.close()\nexcept OSError:\n print('-')\n"


def to_board(device, src, state_dir, force, log=print):
    files = load_dir(src)
    remote = {BOARD_DIR + "/" + n: files[n] for n in DEVICE_FILES}
    remote[state_dir + "/" + IDENTITY] = files[IDENTITY]
    cert_path = BOARD_DIR + "/device_cert.der"
    old = device.run(_READ_B % cert_path).strip()
    if old != "-" and not same_device(bytes.fromhex(old), files["device_cert.der"]) and not force:
        raise ToolError("the board already holds another device's certificate (/%s); --force (make provision "
                        "FORCE=1) replaces it (the device's 0x83 changes)" % cert_path)
    for d in (BOARD_DIR, state_dir):
        device.mkdir(d)
    for path in sorted(remote):
        device.put(path, remote[path])
    after = device.scan(sorted(remote))
    bad = [p for p in remote if after.hashes.get(p) != hashlib.sha256(remote[p]).hexdigest()]
    if bad:
        raise ToolError("%s differs on the board after copying: run it again" % bad[0], code=1)
    log("provision: wrote /%s/ (%s) and /%s/%s on %s; SHA-256 on the board matches"
        % (BOARD_DIR, ", ".join(DEVICE_FILES), state_dir, IDENTITY, device.port))


# -- command line -------------------------------------------------------------------

def parse(argv):
    ap = Parser(prog="provision.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    p = sub.add_parser("ca", help="create a DEVELOPMENT CA (ECDSA P-256): ca_cert.pem, ca.key (0600)")
    p.add_argument("--out", required=True, help="directory for ca_cert.pem and ca.key (created 0700)")
    p.add_argument("--name", default="DRready DEVELOPMENT CA", help="the CA's common name")
    p.add_argument("--days", type=int, default=3650, help="validity in days (default 3650)")
    p = sub.add_parser("device", help="a device's key, certificate, identity and setup code")
    p.add_argument("--ca-cert", required=True, help="the CA certificate, PEM or DER")
    p.add_argument("--ca-key", required=True, help="the CA's ECDSA P-256 private key, PEM or DER, unencrypted")
    p.add_argument("--out", required=True, help="new directory for the device's files (must not exist)")
    p.add_argument("--manufacturer-code", default="FFFFFF", help="6 hex digits for the certificate's O (FFFFFF: experimental)")
    p.add_argument("--days", type=int, default=7300, help="certificate validity in days (default 7300; never past the CA's)")
    p.add_argument("--no-qr", action="store_true", help="print the setup code as text only")
    p = sub.add_parser("rotate-key", help="a new key and certificate for a device directory, same identity and code")
    p.add_argument("--ca-cert", required=True, help="the CA certificate, PEM or DER")
    p.add_argument("--ca-key", required=True, help="the CA's ECDSA P-256 private key, PEM or DER, unencrypted")
    p.add_argument("--days", type=int, default=7300, help="certificate validity in days (default 7300; never past the CA's)")
    p.add_argument("dir")
    p = sub.add_parser("to-board", help="copy a device directory to a board: /identity/ and /STATE_DIR/identity.json")
    p.add_argument("--port", default="", help="serial port of the board, e.g. /dev/ttyUSB0")
    p.add_argument("--state-dir", default=STATE_DIR, help="the node's state_dir on the board (default state)")
    p.add_argument("--force", action="store_true", help="replace another device's certificate on the board")
    p.add_argument("--no-reset", action="store_true", help="no soft reset before and no reset after (the unix port)")
    p.add_argument("dir")
    p = sub.add_parser("to-state", help="copy a device directory to the simulator's state directory")
    p.add_argument("--state", required=True, help="the simulator's state directory (make sim STATE=)")
    p.add_argument("--force", action="store_true", help="replace another device's certificate there")
    p.add_argument("dir")
    return ap.parse_args(argv)


def fail(message, code=2):
    print("provision: " + message, file=sys.stderr)
    return code


def main(argv=None, out=print):
    args = parse(argv)
    try:
        if args.cmd == "ca":
            if not 1 <= args.days <= 36500:
                raise ArgError("--days must be from 1 to 36500")
            make_ca(args.out, args.name, args.days)
            out("provision: DEVELOPMENT CA written: %s (certificate), %s (private key, 0600)"
                % (os.path.join(args.out, CA_CERT), os.path.join(args.out, CA_KEY)))
            out("provision: for development only; products use the manufacturer's CA. Never commit %s." % CA_KEY)
        elif args.cmd == "device":
            maker = args.manufacturer_code.upper()
            if len(maker) != 6 or any(c not in "0123456789ABCDEF" for c in maker):
                raise ArgError("--manufacturer-code %r must be 6 hex digits" % args.manufacturer_code)
            if not 1 <= args.days <= 36500:
                raise ArgError("--days must be from 1 to 36500")
            if os.path.lexists(args.out):
                raise ArgError("%s already exists: a device directory is never overwritten (give a new --out)" % args.out)
            for p in (args.ca_cert, args.ca_key):
                if not os.path.isfile(p):
                    raise ArgError("%s does not exist: give the CA's files (make a development CA with: provision.py ca "
                                   "--out DIR)" % p)
            ca_cert, ca_key = load_cert(args.ca_cert), load_key(args.ca_key)
            check_ca(ca_cert, ca_key, args.ca_cert)
            uid, code = make_device(ca_cert, ca_key, args.out, maker, args.days)
            out("provision: device %s written to %s (device_key.der 0600; certificate signed by %s)"
                % (uid, args.out, ca_cert.subject.rfc4514_string()))
            show_code(code, uid, not args.no_qr, out)
        elif args.cmd == "rotate-key":
            if not 1 <= args.days <= 36500:
                raise ArgError("--days must be from 1 to 36500")
            ca_cert, ca_key = load_cert(args.ca_cert), load_key(args.ca_key)
            check_ca(ca_cert, ca_key, args.ca_cert)
            uid = rotate_key(ca_cert, ca_key, args.dir, args.days)
            out("provision: device %s in %s has a new key and certificate; install them with to-board or to-state, "
                "then controllers connect with --ca (or enroll again)" % (uid, args.dir))
        elif args.cmd == "to-state":
            to_state(args.dir, args.state, args.force, out)
        else:
            problem = port_problem(args.port)
            if problem:
                raise ArgError(problem)
            load_dir(args.dir)  # a bad directory is found before the board is touched
            with Device(args.port, reset=not args.no_reset, tool="provision") as device:
                to_board(device, args.dir, args.state_dir, args.force, out)
                if not args.no_reset:
                    device.reset()
                    out("provision: reset the board; the node starts with this identity")
    except ArgError as e:
        return fail(str(e))
    except ToolError as e:
        return fail(str(e), e.code)
    except KeyboardInterrupt:
        return fail("interrupted", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

