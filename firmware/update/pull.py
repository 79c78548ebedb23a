"""Pull an update package from an https:// URL into a Receiver, streaming: the metadata
first (verified before any payload byte is read), then the payload in 1 KB pieces.
An interrupted download goes on where the Receiver says, with an HTTP Range request.

Config (docs/updates.md, "Pulling from an HTTPS server"):
    "update_url": "https://updates.example.com/drready/ESP32_GENERIC/app.pkg"
    "update_ca": "update_ca.pem"     the CA certificate the server's chain must lead to
                                     (PEM or DER file); the server is always checked
    "update_interval_s": 86400       seconds between two checks (default one day)
    "update_pull_timeout_s": 300     the longest one pull may take (default DEADLINE_S)
    "dns_server": "192.168.1.1"      the name server for the URL's host (default: the
                                     network's, hal/dns.py)

The TLS is the platform's (MicroPython `tls`, mbedTLS; CPython's `ssl` in tests), with
CERT_REQUIRED and the server name checked: no other trust anchor, never unverified.

Everything runs on the node's event loop: looking up the server's name (hal/dns.py, its
own tries), connecting, the TLS handshake, the request and each read are awaited with
TIMEOUT_S each, and the whole pull has a deadline, so a server that answers slowly, or a
byte at a time, costs the node nothing but the wait.
"""
import asyncio
import binascii

import update
from update.receiver import BUSY, MAX_METADATA

CHUNK = 1024  # the one buffer: header lines up to this long, then the body in pieces of it
TIMEOUT_S = 30  # for each step: connecting with its TLS handshake, sending the request, a read
DEADLINE_S = 300  # for a whole pull; an unfinished download goes on from there next time
INTERVAL_S = 86400
# the next check after a refusal for an update still on trial, which is confirmed within a
# minute of its start: then twice as long each time, up to update_interval_s (a start that
# confirms nothing, without its secure channel, keeps it on trial until the next one)
BUSY_S = 60
# the next check after a transfer that failed (no network yet at boot, a name server or
# update server down, a deadline cut): then twice as long after each failure in a row, up
# to update_interval_s. An interrupted download goes on from where it stopped.
RETRY_S = 600
# a package whose trial reverted this many times in a row (update/state.py failed) is not
# pulled again: a release that cannot run here would otherwise be downloaded, installed
# and reverted at every boot. Fewer times may be a power cut on its trial boot.
FAILED_TRIALS = 3


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
        from hal.dns import port_number

        host, p = hostport.rsplit(":", 1)
        try:
            port = port_number(p)
        except ValueError:
            raise PullError("update_url has a bad port: %r" % url)
    if not host or " " in url:
        raise PullError("update_url has no host: %r" % url)
    return host, port, path


def check_config(cfg):
    """ValueError, with one line saying what is wrong, for pull settings that cannot work
    (startup.py, at boot)."""
    from hal.dns import is_ip, query, split

    try:
        host = parse_url(cfg["update_url"])[0]
    except PullError as e:
        raise ValueError(str(e))
    if not is_ip(host):
        try:
            query(host, 0)  # a name DNS can carry
        except ValueError as e:
            raise ValueError("update_url: %s" % e)
    if cfg.get("dns_server") is not None:  # (null: the network's, as when it is missing)
        try:
            split(cfg["dns_server"])
        except (ValueError, AttributeError, TypeError):
            raise ValueError("dns_server %r is not an IPv4 address like 192.168.1.1 (or 192.168.1.1:53)"
                             % (cfg["dns_server"],))


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


async def _step(aw):
    """Await one step of the transfer; a server that takes longer than TIMEOUT_S is given up on."""
    try:
        return await asyncio.wait_for(aw, TIMEOUT_S)
    except asyncio.TimeoutError:
        raise PullError("the update server did not answer within %d s" % TIMEOUT_S)


# The two platforms' streams differ here alone. MicroPython's Stream reads into a buffer
# (None: a TLS record not complete yet) and its close() leaves the socket open; CPython's
# StreamReader (the tests) has no readinto().
async def _readinto(r, mv):
    if not hasattr(r, "readinto"):
        data = await r.read(len(mv))
        mv[: len(data)] = data
        return len(data)
    while True:
        n = await r.readinto(mv)  # pyright: ignore[reportAttributeAccessIssue] (MicroPython's Stream)
        if n is not None:
            return n


def _close(w):
    getattr(w, "s", w).close()


class _Get:
    """One GET with a Range from `start`. Its buffer takes the header lines as they come,
    then holds what of the body came with them; read() hands out the body from there."""

    def __init__(self, buf):
        self.buf = buf
        self.mv = memoryview(buf)
        self.pos = self.end = 0  # buf[pos:end]: read from the server, not handed out yet
        self.r = self.w = None
        self.length = -1  # body bytes still to come (Content-Length), -1: up to the end
        self.first = 0  # offset in the package of the first body byte

    async def open(self, ctx, ip, host, port, path, start):
        # MicroPython's (1.22 on) connects, then wraps the socket as channel.py does, with
        # do_handshake_on_connect=False: the handshake runs in the request's write and the
        # first read. To an address (hal/dns.py looked the name up): no blocking lookup
        self.r, w = await _step(asyncio.open_connection(ip, port, ssl=ctx, server_hostname=host))
        self.w = w
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-\r\nUser-Agent: drready-node\r\nConnection: close\r\n\r\n"
        w.write((req % (path, host, start)).encode())
        await _step(w.drain())
        status = (await self._line()).split(b" ")
        code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
        while True:
            line = await self._line()
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
            raise PullError("the update server answered HTTP %d" % code)

    async def _line(self):
        """The next header line, without its CR LF; one longer than the buffer is refused."""
        scan = self.pos
        while True:
            i = self.buf.find(b"\n", scan, self.end)
            if i >= 0:
                line = bytes(self.mv[self.pos : i]).rstrip(b"\r")
                self.pos = i + 1
                return line
            if self.pos:  # the line so far to the front, room for the rest after it
                n = self.end - self.pos
                self.mv[:n] = self.mv[self.pos : self.end]
                self.pos, self.end = 0, n
            if self.end == len(self.buf):
                raise PullError("the update server's answer has an over-long header line")
            scan = self.end
            k = await _step(_readinto(self.r, self.mv[self.end :]))
            if not k:
                raise PullError("the update server closed the connection in its answer")
            self.end += k

    async def read(self, most):
        """The next piece of the body, at most `most` bytes: a memoryview into the buffer,
        valid until the next read; empty at the end of the body."""
        if self.length >= 0:
            most = min(most, self.length)
        if self.pos == self.end and most:
            self.pos = 0
            self.end = await _step(_readinto(self.r, self.mv[:most]))
        n = min(most, self.end - self.pos)
        piece = self.mv[self.pos : self.pos + n]
        self.pos += n
        if self.length > 0:
            self.length -= n
        return piece

    async def skip(self, n):
        while n > 0:
            k = len(await self.read(n))
            if not k:
                raise PullError("the update server's answer ended early")
            n -= k

    def close(self):
        if self.w is not None:
            _close(self.w)
            self.w = None


async def _read_exact(get, n):
    buf = bytearray(n)
    p = 0
    while p < n:
        piece = await get.read(n - p)
        if not piece:
            raise PullError("the download ended inside the package's metadata")
        buf[p : p + len(piece)] = piece
        p += len(piece)
    return bytes(buf)


async def _read_metadata(get):
    """The package's metadata, its size checked before it is read into the heap. The
    framing code (security/manifest.py) is imported here, not by the module: the receiver
    drops it after verifying, and nothing here may keep it."""
    from security import manifest

    head = await _read_exact(get, manifest.HEAD)
    size = manifest.metadata_size(head)
    if size > MAX_METADATA:
        raise PullError("the package's metadata would be %d bytes, more than %d: not a package for this device"
                        % (size, MAX_METADATA))
    return head + await _read_exact(get, size - manifest.HEAD)


async def pull(url, ca, receiver, now, deadline=DEADLINE_S, cfg=None):
    """Download the package at url into receiver, verify and install it: the Manifest, or
    None when the package is what this device runs already. ManifestError for a package
    refused (its .reason), PullError or OSError for the transfer (hal.dns.DNSError for
    the server's name), PullError too when it takes over `deadline` seconds; pulling
    again resumes. cfg: where the name server is configured (hal/dns.py)."""
    host, port, path = parse_url(url)
    if getattr(update, "receiving", None) is not None:  # (update/__init__.py: one at a time)
        raise PullError("an update is being pushed over the secure channel; the next check pulls")
    buf = bytearray(CHUNK)  # before the update fragments the heap
    ctx = _context(ca)
    update.receiving = receiver  # pyright: ignore[reportAttributeAccessIssue] (update/__init__.py)
    try:
        try:
            staged = await asyncio.wait_for(_download(ctx, host, port, path, buf, receiver, now, cfg or {}), deadline)
        except asyncio.TimeoutError:
            raise PullError("the pull took over %d s; the next one goes on from where it stopped" % deadline)
        # the check and the switch are the device's own work, after the network: outside the
        # deadline, which must not cut them short (MicroPython's wait_for drops a result
        # that comes after its time, even one that installed an update)
        return receiver.finish() if staged else None
    finally:
        receiver.abort()  # a transfer left unfinished lets go of what it holds; its staged part stays
        update.receiving = None  # pyright: ignore[reportAttributeAccessIssue] (update/__init__.py)


async def _download(ctx, host, port, path, buf, receiver, now, cfg):
    """Stage the package into receiver: True once all of it is staged, False when it is
    what the device runs already."""
    from hal import dns

    ip = await dns.resolve(host, cfg)
    get = _Get(buf)
    try:
        await get.open(ctx, ip, host, port, path, 0)
        if get.first:
            raise PullError("the update server answered from byte %d, not from the start" % get.first)
        meta = await _read_metadata(get)
        if receiver.installed(meta):
            return False
        if receiver.failed_trials(meta) >= FAILED_TRIALS:
            raise PullError("the package on the server failed its trial here %d times in a row; it is pulled again "
                            "once the server has another" % FAILED_TRIALS)
        offset = receiver.start(meta, now)
        if offset >= receiver.total:  # an earlier pull staged it all, and stopped short of the check
            return True
        if offset:  # go on from there: ask for it, or skip to it if the server ignores Range
            get.close()
            want = len(meta) + offset
            get = _Get(buf)
            await get.open(ctx, ip, host, port, path, want)
            if get.first not in (0, want):
                raise PullError("the update server answered from byte %d, not %d" % (get.first, want))
            await get.skip(want - get.first)
        while True:
            piece = await get.read(CHUNK)
            if not piece:
                break
            offset = receiver.write(offset, piece)
        if offset < receiver.total:
            raise PullError("the download stopped at %d of %d bytes; pulling again goes on from there" % (offset, receiver.total))
        return True
    finally:
        get.close()


async def from_config(cfg, receiver, now):
    """pull() with the url, CA and deadline of the config; None when no update_url is configured."""
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
    return await pull(url, ca, receiver, now, cfg.get("update_pull_timeout_s") or DEADLINE_S, cfg)  # 0: the default


async def task(cfg, wall, log, restart):
    """For the node's event loop: check update_url at boot and every update_interval_s
    (sooner after a failed transfer: RETRY_S, doubling); once an update is installed,
    raise restart() (app.Restart) to boot into it. wall():
    trusted Unix seconds (hal.clock.wall). A pull awaits every step, so the node serves on
    while it runs, and it ends by its deadline (update_pull_timeout_s) however slow the server."""
    if not cfg.get("update_url"):
        return
    interval = cfg.get("update_interval_s") or INTERVAL_S
    busy = BUSY_S
    retry = RETRY_S
    while True:
        from update.receiver import Receiver

        m = None
        left = interval
        try:
            m = await from_config(cfg, Receiver(cfg.get("state_dir", ".")), wall())
        except Exception as e:
            # a refusal is known by its class's name: the secure channel may have dropped and
            # loaded security.payload again meanwhile, and the class with it
            if type(e).__name__ in ("ManifestError", "UpdateError"):
                log("update refused: %s" % e)
                retry = RETRY_S  # (the transfer went through)
                if getattr(e, "reason", None) == BUSY:  # the running update is about to be confirmed
                    left = min(busy, interval)
                    busy = min(busy * 2, interval)
            else:  # the transfer, or anything else: the node serves on, and tries again soon
                log("update pull failed: %r" % (e,))
                left = min(retry, interval)
                retry = min(retry * 2, interval)
            import gc

            gc.collect()  # a transfer cut short leaves its socket and TLS buffers to the collector
        else:
            retry = RETRY_S
        if m:
            log("update %s installed from %s; restarting into it" % (m.version, cfg["update_url"]))
            raise restart()
        while left > 0:  # a day at a time: a board's asyncio sleeps at most about 6 days at once
            await asyncio.sleep(min(left, INTERVAL_S))
            left -= INTERVAL_S
