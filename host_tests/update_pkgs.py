"""Update packages made here with `cryptography`, straight from the format in
docs/updates.md, without tools/sign.py or firmware/security/manifest.py: what a package
"built outside this repository" looks like. Every key is generated per test run."""
import hashlib
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRODUCT = "drready-node"
BOARD = "unix"  # what update.board() says under CPython and the unix port
T0 = 1_780_000_000  # "now" for the device in these tests
DAY = 86400


def new_key():
    return Ed25519PrivateKey.generate()


def pub(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kid(key):
    return hashlib.sha256(pub(key)).digest()[:8]


def str8(s):
    b = s.encode()
    return bytes([len(b)]) + b


def sign(key, tag, body):
    return key.sign(tag + hashlib.sha256(body).digest())


def keyring_body(counter, delegations):
    """delegations: (key, not_before, not_after, counter_min, counter_max, products, boards)."""
    out = struct.pack(">IB", counter, len(delegations))
    for key, nb, na, cmin, cmax, products, boards in delegations:
        out += pub(key) + struct.pack(">QQII", nb, na, cmin, cmax)
        for names in (products, boards):
            out += bytes([len(names)]) + b"".join(str8(n) for n in names)
    return out


def manifest_body(version, counter, expires, items, product=PRODUCT, board=BOARD):
    out = str8(product) + str8(board) + str8(version) + struct.pack(">IQH", counter, expires, len(items))
    for name, data in items:
        out += str8(name) + struct.pack(">I", len(data)) + hashlib.sha256(data).digest()
    return out


class Signer:
    """A manufacturer: a root key, an update key the root delegates, and packages."""

    def __init__(self, keyring_counter=1, cmin=0, cmax=1000, boards=("*",), window=(T0 - DAY, T0 + 365 * DAY)):
        self.root = new_key()
        self.update = new_key()
        self.keyring_counter = keyring_counter
        self.delegation = (self.update, window[0], window[1], cmin, cmax, [PRODUCT], list(boards))

    @property
    def roots(self):
        return [pub(self.root)]

    def metadata(self, version, counter, items, expires=T0 + 30 * DAY, board=BOARD, product=PRODUCT, signer=None,
                 root=None, delegations=None, keyring_counter=None):
        kbody = keyring_body(self.keyring_counter if keyring_counter is None else keyring_counter,
                             delegations or [self.delegation])
        root = root or self.root
        signer = signer or self.update
        mbody = manifest_body(version, counter, expires, items, product, board)
        return (b"EUP1" + struct.pack(">HH", len(kbody), len(mbody)) + kid(root) + kbody
                + sign(root, b"ECHONET-UPD-KR1", kbody) + kid(signer) + mbody + sign(signer, b"ECHONET-UPD-MF1", mbody))

    def package(self, version, counter, files, **kw):
        """files: {name: bytes} (an app bundle) or {"firmware": image}; items in byte order of names."""
        items = sorted(files.items(), key=lambda kv: kv[0].encode())
        meta = self.metadata(version, counter, items, **kw)
        return meta, b"".join(data for _name, data in items)


def bundle(version, extra=b""):
    """A small application bundle: what matters is that every byte is checked."""
    return {
        "app.mpy": b"M\x06app " + version.encode() + extra,
        "echonet/node.mpy": bytes(range(256)) * 9 + version.encode(),
        "hal/empty.mpy": b"",
        "main.py": b"import app\n",
    }


def image(version, size=3 * 4096 + 100):
    """A firmware image: an ESP image starts with the 0xE9 magic byte."""
    body = (b"\xe9" + version.encode() + bytes(range(256)) * (size // 256 + 1))[:size]
    return body
