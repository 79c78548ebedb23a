"""Make and check signed update packages for the node (docs/updates.md has the formats
and the whole procedure).

    sign.py keygen   --role root|update --out FILE
    sign.py delegate --root-key ROOT.key --out NEW.keyring
                     [--update-key UPD.pub --product P [--product ...] [--board B ...]
                      --not-after WHEN [--not-before WHEN] [--counter-min N] [--counter-max N]]
                     [--from OLD.keyring [--revoke KEYID ...]] [--keyring-counter N]
    sign.py sign     --key UPD.key --keyring K.keyring --product P --board B --version V
                     --counter N --expires WHEN [--root ROOT.pub] --out PACKAGE INPUT
    sign.py inspect  PACKAGE --root ROOT.pub [--root ...] [--product P] [--board B]
                     [--now WHEN] [--counter N] [--keyring-floor N]

INPUT is an application bundle (a directory such as build/firmware: every file in it
becomes an item named by its path) or a firmware image file (one item, "firmware").
WHEN is Unix seconds, an ISO 8601 date or time (UTC unless it says otherwise), or
+N followed by d, h, m or s, counted from now.

Exit status: 0 done; 1 inspect found the package refused (the reason is printed);
2 bad input (one line on stderr says what is wrong and nothing is written).
Key files: the private key is PKCS#8 PEM after a "role:" line, mode 0600, never
overwritten; the public key is one line "ed25519 ROLE HEX" next to it (FILE.pub).
"""

import argparse
import datetime
import hashlib
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "firmware") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "firmware"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from security import manifest as fm  # noqa: E402

ROLES = ("root", "update")
U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF


class Fail(Exception):
    """Bad input: the message is the one line the user sees."""


# --- the formats (firmware/security/manifest.py reads them) -----------------------


def str8(s):
    b = s.encode()
    if len(b) > 255:
        raise Fail("%r is longer than 255 bytes" % s)
    return bytes([len(b)]) + b


def keyring_body(counter, entries):
    """entries: (public_key, not_before, not_after, counter_min, counter_max, products, boards)."""
    out = bytearray(counter.to_bytes(4, "big"))
    out.append(len(entries))
    for pk, not_before, not_after, cmin, cmax, products, boards in entries:
        out += pk + not_before.to_bytes(8, "big") + not_after.to_bytes(8, "big")
        out += cmin.to_bytes(4, "big") + cmax.to_bytes(4, "big")
        for names in (products, boards):
            out.append(len(names))
            for n in names:
                out += str8(n)
    return bytes(out)


def manifest_body(product, board, version, counter, expires, items):
    """items: (name, size, sha256) in ascending order of name bytes."""
    out = bytearray(str8(product) + str8(board) + str8(version))
    out += counter.to_bytes(4, "big") + expires.to_bytes(8, "big") + len(items).to_bytes(2, "big")
    for name, size, digest in items:
        out += str8(name) + size.to_bytes(4, "big") + digest
    return bytes(out)


def public_bytes(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def keyring_file(root_private_key, body):
    """A signed keyring on its own: "EUK1" K:u16 root_key_id[8] body[K] signature[64]."""
    sig = root_private_key.sign(fm.signed_message(fm.KEYRING_TAG, body))
    return fm.KEYRING_MAGIC + len(body).to_bytes(2, "big") + fm.key_id(public_bytes(root_private_key)) + body + sig


def split_keyring_file(data):
    """(root_key_id, body, signature) of a keyring file."""
    if len(data) < 14 or data[:4] != fm.KEYRING_MAGIC:
        raise Fail("not a delegation list (sign.py delegate writes them)")
    k = int.from_bytes(data[4:6], "big")
    if len(data) != 14 + k + 64:
        raise Fail("delegation list is truncated or has trailing bytes")
    return data[6:14], data[14 : 14 + k], data[14 + k :]


def metadata(keyring_file_bytes, update_private_key, body):
    """The signed metadata: the keyring as delegate made it, then the manifest."""
    root_id, kbody, ksig = split_keyring_file(keyring_file_bytes)
    if len(kbody) > 0xFFFF or len(body) > 0xFFFF:
        raise Fail("manifest too large: %d bytes (at most 65535; split the bundle)" % len(body))
    sig = update_private_key.sign(fm.signed_message(fm.MANIFEST_TAG, body))
    head = fm.MAGIC + len(kbody).to_bytes(2, "big") + len(body).to_bytes(2, "big")
    return head + root_id + kbody + ksig + fm.key_id(public_bytes(update_private_key)) + body + sig


# --- input --------------------------------------------------------------------------


def read_file(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise Fail("%s %s does not exist" % (what, path))
    except OSError as e:
        raise Fail("cannot read %s %s: %s" % (what, path, e.strerror))


def load_private(path, role):
    data = read_file(path, "key file")
    found = None
    for line in data.splitlines():
        if line.startswith(b"role:"):
            found = line[5:].strip().decode("ascii", "replace")
            break
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        if data.startswith(b"ed25519 "):
            raise Fail("%s is a public key; this needs the private %s key" % (path, role))
        raise Fail("%s is not a private key file written by sign.py keygen" % path)
    if not isinstance(key, Ed25519PrivateKey):
        raise Fail("%s is not an Ed25519 key" % path)
    if found != role:
        what = "a %s key" % found if found in ROLES else "not tagged with a role"
        raise Fail("%s is %s; this needs a %s key" % (path, what, role))
    return key


def load_public(path, role):
    data = read_file(path, "public key file")
    parts = data.split()
    if len(parts) != 3 or parts[0] != b"ed25519":
        if b"PRIVATE KEY" in data:
            raise Fail("%s is a private key; give the public key (%s.pub)" % (path, path))
        raise Fail("%s is not a public key file (a line 'ed25519 ROLE HEX')" % path)
    found = parts[1].decode("ascii", "replace")
    if found != role:
        raise Fail("%s is a %s key; this needs a %s key" % (path, found, role))
    try:
        pk = bytes.fromhex(parts[2].decode("ascii"))
    except ValueError:
        pk = b""
    if len(pk) != 32:
        raise Fail("%s: the key is not 64 hex digits" % path)
    return pk


def parse_when(text, now):
    t = text.strip()
    try:
        if t.startswith("+"):
            units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
            if t[-1] not in units:
                raise ValueError
            return int(now) + int(t[1:-1]) * units[t[-1]]
        if t.isdigit():
            return int(t)
        d = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        return int(d.timestamp())
    except ValueError:
        raise Fail("%r is not a time: give Unix seconds, an ISO 8601 date or time, or +N[dhms]" % text)


def iso(t):
    if t >= 253402300800:  # beyond year 9999
        return str(t)
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_name(text, what, extra=b"._-"):
    try:
        return fm.check_name(text.encode(), extra, what, False)
    except (fm.ManifestError, UnicodeError):
        raise Fail("%s %r: use 1 to 64 characters of A-Z a-z 0-9 %s" % (what, text, extra.decode()))


def bundle_items(path):
    """(items, payloads) for INPUT: a directory of files, or one firmware image."""
    if os.path.isfile(path):
        data = read_file(path, "firmware image")
        return [(fm.FIRMWARE, data)]
    if not os.path.isdir(path):
        raise Fail("input %s does not exist" % path)
    found = []
    for d, dirs, files in os.walk(path):
        dirs.sort()
        for name in dirs + files:  # what is signed is what the directory holds, nothing it points to
            if os.path.islink(os.path.join(d, name)):
                raise Fail("%s is a symbolic link: a bundle holds files and directories only (copy what it "
                           "points to into the bundle)" % os.path.join(d, name))
        for f in files:
            full = os.path.join(d, f)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if not os.path.isfile(full):
                raise Fail("%s is not a regular file" % full)
            try:
                fm.check_path(rel.encode())
            except (fm.ManifestError, UnicodeError):
                raise Fail("%s: a bundle path is at most 255 bytes of A-Z a-z 0-9 . _ - and /, no . or .. parts" % rel)
            if rel == fm.FIRMWARE:
                raise Fail("a bundle may not contain a top-level file named %r (it names a firmware image)" % rel)
            found.append((rel, read_file(full, "file")))
    if not found:
        raise Fail("directory %s has no files" % path)
    found.sort(key=lambda x: x[0].encode())
    return found


def write_new(path, data, mode):
    """Create path with mode; refuse to replace anything."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise Fail("%s exists; not overwriting it" % path)
    except OSError as e:
        raise Fail("cannot create %s: %s" % (path, e.strerror))
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_atomic(path, data):
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise Fail("cannot write %s: %s" % (path, e.strerror))


def counter_arg(text, what, top=U32):
    try:
        n = int(text, 0)
    except ValueError:
        raise Fail("%s %r is not a number" % (what, text))
    if not 0 <= n <= top:
        raise Fail("%s %d is out of range 0..%d" % (what, n, top))
    return n


# --- commands -----------------------------------------------------------------------


def cmd_keygen(a):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pub = public_bytes(key)
    for path in (a.out, a.out + ".pub"):
        if os.path.exists(path):
            raise Fail("%s exists; not overwriting it" % path)
    head = "# ECHONET Lite node %s key (Ed25519). Secret: keep it offline, never commit it.\nrole: %s\n" % (a.role, a.role)
    write_new(a.out, head.encode() + pem, 0o600)
    write_new(a.out + ".pub", ("ed25519 %s %s\n" % (a.role, pub.hex())).encode(), 0o644)
    print("%s key %s: private %s (mode 0600), public %s.pub" % (a.role, fm.key_id(pub).hex(), a.out, a.out))


def cmd_delegate(a):
    now = int(time.time())
    root = load_private(a.root_key, "root")
    root_pub = public_bytes(root)
    entries = []
    counter = 1
    if a.from_:
        root_id, body, sig = split_keyring_file(read_file(a.from_, "delegation list"))
        try:
            old = fm.verify_keyring(root_id, body, sig, [root_pub])
        except fm.ManifestError as e:
            raise Fail("%s: %s (it must be one this root key signed)" % (a.from_, e))
        counter = old.counter + 1
        entries = [
            (d.public_key, d.not_before, d.not_after, d.counter_min, d.counter_max, d.products, d.boards) for d in old.keys
        ]
    if a.revoke and not a.from_:
        raise Fail("--revoke needs --from OLD.keyring")
    for kid in a.revoke:
        n = len(entries)
        entries = [e for e in entries if fm.key_id(e[0]).hex() != kid.lower()]
        if len(entries) == n:
            raise Fail("key %s is not in %s" % (kid, a.from_ or "the delegation list"))
    if a.update_key:
        pk = load_public(a.update_key, "update")
        if a.not_after is None:
            raise Fail("--not-after is required with --update-key")
        if not a.product:
            raise Fail("--product is required with --update-key")
        not_before = parse_when(a.not_before, now) if a.not_before else now
        not_after = parse_when(a.not_after, now)
        if not not_before < not_after <= U64:
            raise Fail("the validity window %s .. %s is empty" % (iso(not_before), iso(not_after)))
        if not_after <= now:
            raise Fail("--not-after %s is in the past" % iso(not_after))
        cmin = counter_arg(a.counter_min, "--counter-min")
        cmax = counter_arg(a.counter_max, "--counter-max")
        if cmin > cmax:
            raise Fail("--counter-min %d is above --counter-max %d" % (cmin, cmax))
        products = [p if p == fm.ANY else check_name(p, "product") for p in a.product]
        boards = [b if b == fm.ANY else check_name(b, "board") for b in (a.board or [fm.ANY])]
        if len(products) > fm.MAX_NAMES or len(boards) > fm.MAX_NAMES:
            raise Fail("at most %d products and %d boards per key" % (fm.MAX_NAMES, fm.MAX_NAMES))
        entries = [e for e in entries if e[0] != pk]
        entries.append((pk, not_before, not_after, cmin, cmax, products, boards))
    if not entries:
        raise Fail("the delegation list would be empty: give --update-key")
    if len(entries) > fm.MAX_KEYS:
        raise Fail("at most %d keys in a delegation list" % fm.MAX_KEYS)
    if a.keyring_counter is not None:
        n = counter_arg(a.keyring_counter, "--keyring-counter")
        if a.from_ and n < counter:
            raise Fail("--keyring-counter must be above the old list's %d, or the revocation would not stick" % (counter - 1))
        counter = n
    body = keyring_body(counter, entries)
    fm.parse_keyring(body)  # what the device will parse
    write_atomic(a.out, keyring_file(root, body))
    print("delegation list %d signed by root key %s: %s" % (counter, fm.key_id(root_pub).hex(), a.out))
    for e in entries:
        print("  key %s  products %s  boards %s  valid %s .. %s  counters %d..%d" % _entry_fields(e))


def _entry_fields(e):
    pk, nb, na, cmin, cmax, products, boards = e
    return (fm.key_id(pk).hex(), ",".join(products), ",".join(boards), iso(nb), iso(na), cmin, cmax)


def cmd_sign(a):
    now = int(time.time())
    key = load_private(a.key, "update")
    pub = public_bytes(key)
    kfile = read_file(a.keyring, "delegation list")
    root_id, kbody, ksig = split_keyring_file(kfile)
    if a.root:
        try:
            ring = fm.verify_keyring(root_id, kbody, ksig, [load_public(r, "root") for r in a.root])
        except fm.ManifestError as e:
            raise Fail("%s: %s" % (a.keyring, e))
    else:
        try:
            ring = fm.parse_keyring(kbody)
        except fm.ManifestError as e:
            raise Fail("%s: %s" % (a.keyring, e))
    product = check_name(a.product, "product")
    board = check_name(a.board, "board")
    version = check_name(a.version, "version", b"._+-")
    counter = counter_arg(a.counter, "--counter")
    expires = parse_when(a.expires, now)
    d = ring.find(fm.key_id(pub))
    if d is None:
        raise Fail("update key %s is not in delegation list %s; delegate it first" % (fm.key_id(pub).hex(), a.keyring))
    if now >= d.not_after:
        raise Fail("the delegation of update key %s expired on %s; ask for a new one" % (fm.key_id(pub).hex(), iso(d.not_after)))
    if now < d.not_before:
        raise Fail("the delegation of update key %s starts on %s" % (fm.key_id(pub).hex(), iso(d.not_before)))
    if not d.allows(product, board):
        raise Fail("update key %s is not delegated for %s/%s" % (fm.key_id(pub).hex(), product, board))
    if not d.counter_min <= counter <= d.counter_max:
        span = (fm.key_id(pub).hex(), d.counter_min, d.counter_max, counter)
        raise Fail("update key %s is delegated for security counters %d..%d, not %d" % span)
    if expires <= now:
        raise Fail("--expires %s is in the past" % iso(expires))
    if expires > U64:
        raise Fail("--expires is out of range")
    if expires > d.not_after:
        note = "warning: the package expires after its key's delegation (%s); devices refuse it from then on"
        print(note % iso(d.not_after), file=sys.stderr)
    found = bundle_items(a.input)
    if len(found) > 0xFFFF:
        raise Fail("%d files: a package holds at most 65535 items" % len(found))
    items = []
    for name, data in found:
        if len(data) > U32:
            raise Fail("%s is larger than 4 GiB" % name)
        items.append((name, len(data), hashlib.sha256(data).digest()))
    body = manifest_body(product, board, version, counter, expires, items)
    m = fm.parse_manifest(body)  # what the device will parse
    meta = metadata(kfile, key, body)
    package = meta + b"".join(data for _name, data in found)
    if a.root:  # the whole check the device will make
        try:
            fm.check_package(package, [load_public(r, "root") for r in a.root], product, board, now, 0)
        except fm.ManifestError as e:
            raise Fail("the package fails the device's check: %s" % e)
    write_atomic(a.out, package)
    print(
        "%s: %s/%s version %s, security counter %d, expires %s, %d item(s), %d bytes (metadata %d)"
        % (a.out, product, board, version, counter, iso(expires), len(items), len(package), len(meta))
    )
    return m


def cmd_inspect(a):
    package = read_file(a.package, "package")
    roots = [load_public(r, "root") for r in a.root]
    now = parse_when(a.now, time.time()) if a.now else int(time.time())
    stored = counter_arg(a.counter, "--counter")
    floor = counter_arg(a.keyring_floor, "--keyring-floor")
    print("package %s: %d bytes" % (a.package, len(package)))
    try:
        size = fm.metadata_size(package)
        if len(package) < size:
            raise fm.ManifestError(fm.MALFORMED, "package shorter than its metadata")
        root_id, kbody, _ksig, update_id, mbody, _msig = fm.split(package[:size])
        print("metadata: %d bytes, payload: %d bytes" % (size, len(package) - size))
        ring = fm.parse_keyring(kbody)
        print("delegation list %d, signed by root key %s" % (ring.counter, root_id.hex()))
        for d in ring.keys:
            e = (d.public_key, d.not_before, d.not_after, d.counter_min, d.counter_max, d.products, d.boards)
            print("  key %s  products %s  boards %s  valid %s .. %s  counters %d..%d" % _entry_fields(e))
        m = fm.parse_manifest(mbody)
        print("manifest signed by update key %s" % update_id.hex())
        fields = (m.product, m.board, m.version, m.counter, iso(m.expires))
        print("  product %s  board %s  version %s  security counter %d  expires %s" % fields)
        print("  %d item(s), %d bytes" % (len(m.items), m.payload_size()))
        for name, n, digest in m.items:
            print("    %-40s %10d  sha256 %s" % (name, n, digest.hex()))
        product = a.product or m.product
        board = a.board or m.board
        fields = (product, board, iso(now), stored, floor)
        print("check as %s/%s at %s, stored security counter %d, delegation list floor %d" % fields)
        fm.check_package(package, roots, product, board, now, stored, floor)
    except fm.ManifestError as e:
        print("REFUSED: %s" % e)
        return 1
    print("OK")
    return 0


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def parser():
    p = Parser(prog="sign.py", description="Make and check signed update packages (docs/updates.md).")
    sub = p.add_subparsers(dest="cmd", required=True)

    k = sub.add_parser("keygen", help="make a root or update key pair")
    k.add_argument("--role", required=True, choices=ROLES)
    k.add_argument("--out", required=True, help="private key file; the public key goes to OUT.pub")

    d = sub.add_parser("delegate", help="root signs a delegation list of update keys")
    d.add_argument("--root-key", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--update-key", help="public key file of the update key to delegate (or re-delegate)")
    d.add_argument("--product", action="append", default=[], help="product it may sign for (repeat; * = any)")
    d.add_argument("--board", action="append", default=[], help="board it may sign for (repeat; default *)")
    d.add_argument("--not-before", help="start of its validity (default now)")
    d.add_argument("--not-after", help="end of its validity")
    d.add_argument("--counter-min", default="0", help="lowest security counter it may sign (default 0)")
    d.add_argument("--counter-max", default=str(U32), help="highest security counter it may sign")
    d.add_argument("--from", dest="from_", help="start from this delegation list (keeps its keys)")
    d.add_argument("--revoke", action="append", default=[], help="drop this key id from the list (repeat)")
    d.add_argument("--keyring-counter", help="counter of the new list (default: old + 1, or 1)")

    s = sub.add_parser("sign", help="build a signed package from a bundle directory or firmware image")
    s.add_argument("--key", required=True, help="update key (private)")
    s.add_argument("--keyring", required=True, help="delegation list naming the update key")
    s.add_argument("--root", action="append", default=[], help="root public key: check the whole package with it")
    s.add_argument("--product", required=True)
    s.add_argument("--board", required=True)
    s.add_argument("--version", required=True)
    s.add_argument("--counter", required=True, help="security counter (devices refuse lower ones)")
    s.add_argument("--expires", required=True, help="expiry of the package metadata")
    s.add_argument("--out", required=True)
    s.add_argument("input", help="bundle directory or firmware image file")

    i = sub.add_parser("inspect", help="print a package and check it as a device would")
    i.add_argument("package")
    i.add_argument("--root", action="append", required=True, help="root public key file (repeat)")
    i.add_argument("--product", help="device product (default: the package's)")
    i.add_argument("--board", help="device board (default: the package's)")
    i.add_argument("--now", help="time of the check (default now)")
    i.add_argument("--counter", default="0", help="device's stored security counter (default 0)")
    i.add_argument("--keyring-floor", default="0", help="device's stored delegation list counter (default 0)")
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        if a.cmd == "keygen":
            cmd_keygen(a)
        elif a.cmd == "delegate":
            cmd_delegate(a)
        elif a.cmd == "sign":
            cmd_sign(a)
        else:
            return cmd_inspect(a)
    except Fail as e:
        print("sign.py %s: error: %s" % (a.cmd, e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
