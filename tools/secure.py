"""The controller's side of the secure channel (firmware/security/channel.py): TLS 1.2+
with this controller's own certificate, then length-prefixed messages.

    me = ControllerIdentity.load_or_create(home)        # home/ctl_key.pem, ctl_cert.pem
    with Connection("192.168.1.23", me, pins=Pins(home)) as c:
        c.request({"op": "hello"})                      # a JSON management request
        frame = c.echonet(0x027D01, el.SETC, [(0xDA, b"\\x42")])

How the controller knows it reached the right device: with a CA (--ca, the manufacturer's
or the simulator's STATE/dev-ca/ca_cert.pem) TLS checks the device certificate's chain;
without one, the device certificate is pinned at enrollment, after the device proved it
knows the setup code (firmware/security/enroll.py), and every later connection must show
the same certificate.
"""

import datetime
import hashlib
import json
import os
import socket
import ssl
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

try:
    from tools import el
except ImportError:  # run as a script from tools/
    import el

SECURE_PORT = 3611
MAX_MSG = 65535
KEY, CERT, PINS = "ctl_key.pem", "ctl_cert.pem", "devices.json"
TAG = b"DRready-enroll-1"  # firmware/security/enroll.py


class SecureError(Exception):
    """One line for the user: what went wrong and what to do."""


class Refused(SecureError):
    """The device answered and refused: its own one line."""


def default_home():
    return os.environ.get("DRREADY_CTL_HOME") or os.path.join(os.path.expanduser("~"), ".config", "drready-ctl")


def fingerprint(der):
    return hashlib.sha256(der).digest()


class ControllerIdentity:
    def __init__(self, key_path, cert_path):
        self.key_path = key_path
        self.cert_path = cert_path
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.fp = fingerprint(self.der)

    @classmethod
    def load_or_create(cls, home):
        """This controller's key and self-signed certificate, made on first use (key 0600)."""
        key_path, cert_path = os.path.join(home, KEY), os.path.join(home, CERT)
        if not os.path.exists(cert_path):
            try:
                os.makedirs(home, mode=0o700, exist_ok=True)
                key = ec.generate_private_key(ec.SECP256R1())
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DRready controller %s" % os.urandom(4).hex())])
                now = datetime.datetime.now(datetime.timezone.utc)
                cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                        .serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(minutes=5))
                        .not_valid_after(now + datetime.timedelta(days=3650))
                        .sign(key, hashes.SHA256()))
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
                with open(cert_path + ".tmp", "wb") as f:
                    f.write(cert.public_bytes(serialization.Encoding.PEM))
                os.replace(cert_path + ".tmp", cert_path)
            except OSError as e:
                raise SecureError("cannot create this controller's key in %s: %s" % (home, e.strerror or e))
        try:
            return cls(key_path, cert_path)
        except (OSError, ValueError) as e:
            raise SecureError("this controller's certificate in %s cannot be read (%s): delete %s and %s to make new ones "
                              "(and enroll again)" % (home, type(e).__name__, KEY, CERT))


class Pins:
    """Device certificates this controller enrolled with:
    {"host:port": {"fp": SHA-256 hex, "device": the certificate's CN, the device's unique id}}."""

    def __init__(self, home):
        self.path = os.path.join(home, PINS)
        try:
            with open(self.path) as f:
                self.items = json.load(f)
        except FileNotFoundError:
            self.items = {}
        except (OSError, ValueError) as e:
            raise SecureError("%s is damaged (%s): delete it and enroll again" % (self.path, type(e).__name__))

    def get(self, where):
        pin = self.items.get(where)
        return pin if isinstance(pin, dict) and "fp" in pin else None

    def put(self, where, fp, device):
        self.items[where] = {"fp": fp.hex(), "device": device}
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.items, f, indent=1)
        os.replace(self.path + ".tmp", self.path)


class Connection:
    def __init__(self, host, me, pins=None, ca=None, port=SECURE_PORT, bind=None, timeout=10.0, enrolling=False):
        self.where = "%s:%d" % (host, port)
        self.timeout = timeout
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False  # the device is named by its certificate, not by DNS
        if ca:
            try:
                ctx.load_verify_locations(ca)
            except (OSError, ssl.SSLError) as e:
                raise SecureError("--ca %s is not a CA certificate file (%s)" % (ca, e))
        else:
            ctx.verify_mode = ssl.CERT_NONE  # checked below against the pin instead
        ctx.load_cert_chain(me.cert_path, me.key_path)
        try:
            raw = socket.create_connection((host, port), timeout, source_address=(bind, 0) if bind else None)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests, answered at once
        except OSError as e:
            raise SecureError("cannot reach the secure channel at %s (%s): is the node running and provisioned?"
                              % (self.where, e.strerror or e))
        try:
            self.sock = ctx.wrap_socket(raw)
        except ssl.SSLCertVerificationError as e:
            raw.close()
            raise SecureError("the device at %s is not signed by --ca %s (%s)" % (self.where, ca, e.verify_message))
        except (OSError, ssl.SSLError) as e:
            raw.close()
            raise SecureError("TLS handshake with %s failed (%s)" % (self.where, e))
        der = self.sock.getpeercert(binary_form=True) or b""
        self.device_fp = fingerprint(der)
        self.device = device_name(der)
        self.repinned = False
        pin = pins.get(self.where) if pins else None
        if pin is not None and pin["fp"] != self.device_fp.hex():
            if ca and pin["device"] == self.device:  # the same device, its key rotated, vouched for by the CA
                self.repinned = True
            else:
                self.close()
                raise SecureError("the device at %s shows another certificate than when this controller enrolled: it "
                                  "is not the same device (or its key was rotated: pass --ca to accept the new one)"
                                  % self.where)
        if pin is None and not ca and not enrolling:
            self.close()
            raise SecureError("this controller has not enrolled with %s: run `ctl.py enroll` first, or pass --ca "
                              "to check the device against its manufacturer CA" % self.where)

    def send(self, payload):
        self.sock.sendall(struct.pack(">H", len(payload)) + payload)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise SecureError("no answer from %s within %g s" % (self.where, self.timeout))
            except OSError as e:
                raise SecureError("the connection to %s broke (%s)" % (self.where, e))
            if not chunk:
                raise SecureError("the device at %s closed the connection (revoked, or not allowed)" % self.where)
            buf += chunk
        return buf

    def recv(self):
        self.sock.settimeout(self.timeout)
        n = struct.unpack(">H", self._exact(2))[0]
        return self._exact(n)

    def request(self, obj):
        """The device's JSON answer; SecureError with its one line when it refuses."""
        return self.call(json.dumps(obj).encode())

    def call(self, payload, keep_error=False):
        """Send one message, return the device's JSON answer. Refused with its one line when
        it refuses (unless keep_error: then the answer, "error" and all)."""
        self.send(payload)
        while True:
            msg = self.recv()
            if msg[:1] == b"{":
                break  # (an ECHONET frame here would be an INF: not ours)
        reply = json.loads(msg)
        if "error" in reply and not keep_error:
            raise Refused(reply["error"])
        return reply

    def echonet(self, deoj, esv, props, tid=1):
        self.send(el.build(tid, el.CONTROLLER, deoj, esv, props))
        while True:
            msg = self.recv()
            if msg[:1] != b"\x10":
                continue
            f = el.parse(msg)
            if f.tid == tid and f.seoj == deoj:
                return f

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def device_name(der):
    """The device's unique id: its certificate's common name ("" if it has none)."""
    try:
        cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    return str(cn[0].value) if cn else ""


def proof(key, side, challenge, fp_controller, fp_device):
    import hmac

    return hmac.new(key, TAG + side + challenge + fp_controller + fp_device, hashlib.sha256).digest()


def enroll(conn, me, code_chars, name):
    """Prove the setup code (16 characters) to the device; check its proof back. The caller
    pins conn.device_fp after this returns."""
    import hmac

    start = conn.request({"op": "enroll-start"})
    try:  # not yet authenticated: check what it sent before spending work on it
        salt, n, challenge = bytes.fromhex(start["salt"]), start["iter"], bytes.fromhex(start["challenge"])
        if type(n) is not int or not 1000 <= n <= 10000000 or len(salt) < 16 or len(challenge) != 32:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise SecureError("the device at %s sent a malformed enrollment challenge" % conn.where)
    key = hashlib.pbkdf2_hmac("sha256", code_chars.encode("ascii"), salt, n, 32)
    mine = proof(key, b"C", challenge, me.fp, conn.device_fp)
    reply = conn.request({"op": "enroll", "name": name, "proof": mine.hex()})
    if not hmac.compare_digest(bytes.fromhex(reply.get("confirm", "")), proof(key, b"D", challenge, me.fp, conn.device_fp)):
        raise SecureError("the device accepted the code but could not prove it knows it: this is not the device "
                          "the code belongs to; do not use it")
    return reply


CHUNK = 1024  # payload bytes per "U" message (the device takes messages up to 1536 bytes)


def push_update(conn, package, metadata_size, progress=None):
    """Send a package to the device, from where an earlier push stopped; the device's
    finish answer ({"version", ...}). Refused when the device refuses it."""
    off = conn.request({"op": "update-start", "metadata_size": metadata_size})["offset"]
    stalled = 0
    while off < len(package):
        reply = conn.call(b"U" + struct.pack(">I", off) + package[off : off + CHUNK], keep_error=True)
        if "error" in reply and "offset" not in reply:
            raise Refused(reply["error"])
        stalled = stalled + 1 if reply["offset"] <= off else 0
        if stalled >= 3:
            raise Refused("the device does not take the package at offset %d: %s" % (off, reply.get("error", "")))
        off = reply["offset"]  # where the device wants to go on (it may skip what it has)
        if progress:
            progress(min(off, len(package)), len(package))
    return conn.request({"op": "update-finish"})
