"""Pull an update package from an https:// URL into a Receiver, streaming: the metadata
first (verified before any payload byte is read), then the payload in 1 KB pieces.
An interrupted download goes on where the Receiver says, with an HTTP Range request.

Config (docs/updates.md, "Pulling from an HTTPS server"):
    "update_url": "https://updates.example.com/drready/ESP32_GENERIC/app.pkg"
    "update_ca": "update_ca.pem"     the CA certificate the server's chain must lead to
                                     (PEM or DER file); the server is always checked
    "update_interval_s": 86400       seconds between two checks (default one day)

The TLS is the platform's (MicroPython `tls`, mbedTLS; CPython's `ssl` in tests), with
CERT_REQUIRED and the server name checked: no other trust anchor, never unverified.
"""
import binascii
import socket

from update.receiver import MAX_METADATA

CHUNK = 1024
TIMEOUT_S = 30
INTERVAL_S = 86400


class PullError(Exception):
    pass


def parse_url(url):
    """(host, port, path) of an https URL; PullError for anything else."""
    if not isinstance(url, str) or not url.startswith("https://"):
        raise PullError("update_url must be an https:// URL, not %r" % (url,))
    rest = url[8:]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    host, port = hostport, 443
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        try:
            port = int(p)
        except ValueError:
            raise PullError("update_url has a bad port: %r" % url)
    if not host or " " in url:
        raise PullError("update_url has no host: %r" % url)
    return host, port, path


def der(cert):
    """A certificate as DER: the unix port's mbedTLS parses no PEM."""
    if cert[:5] != b"-----":
        return cert
    body = b"".join(line for line in cert.split(b"\n") if line and line[:5] != b"-----")
    return binascii.a2b_base64(body)


def _context(ca):
    try:
        import tls

        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = tls.CERT_REQUIRED  # pyright: ignore[reportAttributeAccessIssue] (missing from the stubs)
        ctx.load_verify_locations(der(ca))
    except ImportError:  # CPython (tests)
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=der(ca))
    return ctx


class _Get:
    """One GET with a Range from `start`; the body is read with readinto()."""

    def __init__(self, ctx, host, port, path, start):
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], socket.SOCK_STREAM)
        try:
            s.settimeout(TIMEOUT_S)
            s.connect(ai[-1])
            self.s = ctx.wrap_socket(s, server_hostname=host)
        except BaseException:
            s.close()
            raise
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-\r\nUser-Agent: drready-node\r\nConnection: close\r\n\r\n"
        self.s.write((req % (path, host, start)).encode())
        status = self._line().split(b" ")
        code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
        self.length = -1
        self.first = 0  # offset in the package of the first body byte
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"content-range" and code == 206:  # bytes FIRST-LAST/TOTAL
                self.first = int(value.split(b" ")[-1].split(b"-")[0])
        if code not in (200, 206):
            self.close()
            raise PullError("the update server answered HTTP %d" % code)

    def _line(self):
        out = bytearray()
        while len(out) < 1024:
            c = self.s.read(1)
            if not c:
                raise PullError("the update server closed the connection in its answer")
            if c == b"\n":
                return bytes(out).rstrip(b"\r")
            out += c
        raise PullError("the update server's answer has an over-long header line")

    def readinto(self, mv):
        if self.length == 0:
            return 0
        if 0 < self.length < len(mv):
            mv = mv[: self.length]
        readinto = getattr(self.s, "readinto", None)
        n = readinto(mv) if readinto else self.s.recv_into(mv)
        if self.length > 0:
            self.length -= n or 0
        return n or 0

    def skip(self, n, mv):
        while n > 0:
            k = self.readinto(mv[: min(n, len(mv))])
            if not k:
                raise PullError("the update server's answer ended early")
            n -= k

    def close(self):
        self.s.close()


def _read_exact(get, n):
    buf = bytearray(n)
    mv = memoryview(buf)
    p = 0
    while p < n:
        k = get.readinto(mv[p:])
        if not k:
            raise PullError("the download ended inside the package's metadata")
        p += k
    return bytes(buf)


def _read_metadata(get):
    """The package's metadata, its size checked before it is read into the heap. The
    framing code (security/manifest.py) is imported here, not by the module: the receiver
    drops it after verifying, and nothing here may keep it."""
    from security import manifest

    head = _read_exact(get, manifest.HEAD)
    size = manifest.metadata_size(head)
    if size > MAX_METADATA:
        raise PullError("the package's metadata would be %d bytes, more than %d: not a package for this device"
                        % (size, MAX_METADATA))
    return head + _read_exact(get, size - manifest.HEAD)


def pull(url, ca, receiver, now):
    """Download the package at url into receiver, verify and install it: the Manifest, or
    None when the package is what this device runs already. ManifestError for a package
    refused (its .reason), PullError or OSError for the transfer; pulling again resumes."""
    host, port, path = parse_url(url)
    buf = bytearray(CHUNK)  # before the update fragments the heap
    mv = memoryview(buf)
    ctx = _context(ca)
    get = _Get(ctx, host, port, path, 0)
    try:
        if get.first:
            raise PullError("the update server answered from byte %d, not from the start" % get.first)
        meta = _read_metadata(get)
        if receiver.installed(meta):
            return None
        offset = receiver.start(meta, now)
        if offset:  # go on from there: ask for it, or skip to it if the server ignores Range
            get.close()
            want = len(meta) + offset
            get = _Get(ctx, host, port, path, want)
            if get.first not in (0, want):
                raise PullError("the update server answered from byte %d, not %d" % (get.first, want))
            get.skip(want - get.first, mv)
        while True:
            n = get.readinto(mv)
            if not n:
                break
            offset = receiver.write(offset, mv[:n])
        if offset < receiver.total:
            raise PullError("the download stopped at %d of %d bytes; pulling again goes on from there" % (offset, receiver.total))
        return receiver.finish()
    finally:
        get.close()


def from_config(cfg, receiver, now):
    """pull() with the url and CA of the config; None when no update_url is configured."""
    url = cfg.get("update_url")
    if not url:
        return None
    ca_path = cfg.get("update_ca")
    if not ca_path:
        raise PullError("update_url needs update_ca: the CA certificate the update server is checked against")
    try:
        with open(ca_path, "rb") as f:
            ca = f.read()
    except OSError:
        raise PullError("cannot read update_ca %s" % ca_path)
    return pull(url, ca, receiver, now)


async def task(cfg, wall, log, restart):
    """For the node's event loop: check update_url at boot and every update_interval_s;
    once an update is installed, raise restart() (app.Restart) to boot into it. wall():
    trusted Unix seconds (hal.clock.wall). Each pull blocks the loop while it runs."""
    import asyncio

    if not cfg.get("update_url"):
        return
    interval = cfg.get("update_interval_s", INTERVAL_S)
    while True:
        # imported afresh each time: the secure channel drops these modules between uses,
        # and the refusal caught must be the class the receiver raises now
        from security.payload import ManifestError
        from update.receiver import Receiver

        try:
            m = from_config(cfg, Receiver(cfg.get("state_dir", ".")), wall())
            if m:
                log("update %s installed from %s; restarting into it" % (m.version, cfg["update_url"]))
                raise restart()
        except ManifestError as e:
            log("update refused: %s" % e)
        except (PullError, OSError, ValueError, MemoryError) as e:
            log("update pull failed: %r" % (e,))
        await asyncio.sleep(interval)
