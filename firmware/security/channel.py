"""The secure channel: ECHONET Lite frames and device management over TLS (mbedTLS).

A controller connects over TCP to SECURE_PORT and runs a TLS handshake: the device shows
its certificate (provisioned, signed by the manufacturer CA) and asks for the
controller's. Every message after that, both ways, is

    length:u16 (big-endian) | payload          payload: 1 .. MAX_MSG bytes

and a payload is one of
    an ECHONET Lite frame (first byte 0x10): served by the same Node as UDP, replies come
        back on this connection; Set and SetGet are carried out only for an enrolled
        controller, refused with the standard SNA otherwise;
    a JSON object (first byte "{"): a management request, answered by one JSON object
        (security/control.py lists them);
    "U" offset:u32 data: a piece of an update package (after an update-start request).

Authorisation is per controller: the SHA-256 of the certificate it proved it holds in
the handshake is looked up in the enrolled controllers. The handshake, the cipher and
the record protection are mbedTLS's; nothing here is home-made cryptography.

mbedTLS cannot be asked to accept a certificate from no CA and still tell us which one it
was, except through the verify callback, which belongs to an SSLContext: so each session
slot has its own context, made at start while the heap is whole (3 KB each), and
CERT_OPTIONAL, so that a controller with any certificate (self-signed is usual) gets
through to enroll. mbedTLS still checks the
controller's CertificateVerify signature, so a session's fingerprint is one whose key
the peer holds.
"""
import asyncio
import hashlib
import json
from struct import pack, unpack

from security import SECURE_PORT
from security.controllers import fp_hex

# modules only management loads (security/control.py and what an update needs); dropped
# again when the last session ends
_MANAGEMENT = ("security.control", "security.updates", "update.receiver", "update.files", "update.image",
               "update.state", "security.manifest", "security.payload", "security.ed25519", "security.sha512")
_IPPROTO_TCP, _TCP_NODELAY = 6, 1  # the same on Linux and lwIP; MicroPython's socket lacks the names
# ECDHE (forward secrecy) with the device's ECDSA key, and AEAD records only
CIPHERS = ["TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256", "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"]
MAX_MSG = 1536
HANDSHAKE_S = 10  # the first message must arrive this soon after connecting
IDLE_S = 300  # a silent session of an enrolled controller is closed
GUEST_IDLE_S = 30  # ... of anyone else; and when every slot is taken, the oldest of these goes


class Session:
    def __init__(self, server, peer):
        self.server = server
        self.peer = peer
        self.fp = None  # SHA-256 of the certificate the controller presented
        # its enrolled-controller record, or None
        self.ctl = None  # type: dict | None
        self.challenge = None  # the enrollment challenge given out, used once
        self.stream = None
        self.closed = False
        self.task = None
        self.shook = False  # the handshake is over: fp is a key the peer proved it holds

    @property
    def may_write(self):
        return self.ctl is not None

    def who(self):
        if self.ctl is not None:
            return "ctl:%s(%s)" % (self.ctl["fp"][:8], self.ctl["name"])
        return "tls:%s" % (self.server.peer_ip(self.peer),)

    def attach(self, stream, task):
        self.stream = stream
        self.task = task

    def on_cert(self, cert, depth):
        """mbedTLS's verify callback: keep the leaf certificate's fingerprint."""
        if depth == 0:
            # not yet whose it is: the certificate travels in clear, and only the rest of the
            # handshake proves the key (SecureServer._session looks the controller up at the
            # first message: the unix port's tls cannot tell when the handshake is over)
            self.fp = hashlib.sha256(cert).digest()
        return 0

    def send(self, payload):
        """Queue one message; the session's loop drains it."""
        if self.stream is not None:
            self.stream.write(pack(">H", len(payload)) + bytes(payload))

    def reply(self, obj):
        self.send(json.dumps(obj).encode())


def contexts(cert, key, n):
    """n TLS server contexts with the device's certificate and key: one per session slot."""
    import tls  # MicroPython's mbedTLS binding; imported here so CPython tools can read this module

    out = []
    for _ in range(n):
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.verify_mode = tls.CERT_OPTIONAL  # pyright: ignore[reportAttributeAccessIssue] (missing from the stubs)
        ctx.set_ciphers(CIPHERS)
        out.append(ctx)
    return out


class SecureServer:
    def __init__(self, cert, contexts, node, controllers, control_args, audit, peer_ip, log, port=SECURE_PORT):
        self.fp = hashlib.sha256(cert).digest()  # the device's own, for enrollment proofs
        self.fingerprint = fp_hex(self.fp)
        self.node = node
        self.controllers = controllers
        # management (security/control.py) is loaded on the first request and dropped when the
        # last session closes: most of the time nobody manages the device, and the heap is small
        self.control_args = control_args
        self._control = None
        self.audit = audit
        self.peer_ip = peer_ip
        self.log = log
        self.port = port
        self.sessions = []
        self.server = None
        self.handshakes = 0
        self.version = None  # what the node runs, once app.serve has read it (READY): for status
        self._free = contexts  # one TLS context per session slot: contexts()
        self.max_sessions = len(contexts)

    async def start(self, addr):
        self.server = await asyncio.start_server(self._serve, addr, self.port, backlog=self.max_sessions)

    def close(self):
        if self.server:
            self.server.close()

    def drop(self, fp):
        """Close the sessions of a controller whose enrollment was revoked, and end the DR
        commands it put in force."""
        me = asyncio.current_task()
        for s in self.sessions:
            if s.fp == fp:
                s.ctl = None
                s.closed = True  # the session asking ends after its answer (a task cannot cancel itself)
                if s.task is not None and s.task is not me:  # its loop ends and closes the connection
                    s.task.cancel()
        gone = Session(self, None)
        gone.ctl = {"fp": fp_hex(fp)}
        self.node.drop(self.node.who(gone))  # who: the key its requests were known by

    async def _serve(self, _reader, raw):
        peer = raw.get_extra_info("peername")
        # One unidentified session per address: a newcomer replaces its own address's, so a
        # host that keeps connecting holds one slot at most. And when every slot is taken,
        # the newcomer replaces the oldest session that finished its handshake and is no
        # enrolled controller's: a stranger can hold a slot only until someone else needs
        # it, and never keeps an enrolled controller out by staying (handshakes in
        # progress are left alone: they end within HANDSHAKE_S).
        ip = self.peer_ip(peer)
        guest = next((x for x in self.sessions if x.ctl is None and x.task is not None and self.peer_ip(x.peer) == ip), None)
        if guest is None and not self._free:
            guest = next((x for x in self.sessions if x.ctl is None and x.shook and x.task is not None), None)
        if guest is not None:
            guest.task.cancel()
            await asyncio.sleep_ms(10)  # its loop ends and gives its context back
        for _ in range(10):  # a session that just ended may not have given its slot back yet
            if self._free:
                break
            await asyncio.sleep_ms(20)
        if not self._free:
            self.audit.noisy("busy", "tls %s: %d sessions open" % (self.peer_ip(peer), len(self.sessions)))
            raw.s.close()  # pyright: ignore[reportAttributeAccessIssue] (MicroPython's Stream)
            return
        s = Session(self, peer)
        try:  # the handshake's flights and small replies go out at once, not after Nagle's wait
            raw.s.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)  # pyright: ignore[reportAttributeAccessIssue]
        except OSError:
            pass
        ctx = self._free.pop()
        # since MicroPython 1.24; the esp32 stubs do not list it yet
        ctx.verify_callback = s.on_cert
        try:
            sock = ctx.wrap_socket(raw.s, server_side=True, do_handshake_on_connect=False)  # pyright: ignore[reportAttributeAccessIssue]
            stream = asyncio.StreamReader(sock)
        except (OSError, ValueError, MemoryError) as e:
            self._free.append(ctx)
            self.audit.noisy("busy", "tls %s: cannot open a session (%r)" % (self.peer_ip(peer), e))
            raw.s.close()  # pyright: ignore[reportAttributeAccessIssue] (MicroPython's Stream)
            return
        self.sessions.append(s)
        s.attach(stream, asyncio.current_task())
        try:
            await self._session(s, stream)
        except MemoryError:
            self.audit.noisy("busy", "%s: out of memory, session closed" % s.who())
        except asyncio.CancelledError:  # revoked (drop); a stopping node cancels us too
            pass
        finally:
            self.sessions.remove(s)
            s.attach(None, None)
            ctx.verify_callback = None  # pyright: ignore[reportAttributeAccessIssue]
            self._free.append(ctx)
            sock.close()  # (MicroPython's Stream.close() closes nothing)
            if self.sessions and self._control is not None:
                self._control.close(s)  # a push of its own ends with it
            elif self._control is not None:
                self._control.close()  # an unfinished push lets go of its files (it can resume)
                self._control = None
                import gc

                from unload import drop

                drop(*_MANAGEMENT)  # loaded for the sessions that ended: give the heap back
                gc.collect()

    def control(self):
        if self._control is None:
            from security.control import Control

            self._control = Control(self, *self.control_args)
        return self._control

    async def _session(self, s, stream):
        timeout = HANDSHAKE_S
        first = True  # the first read runs the TLS handshake
        while True:
            try:
                head = await asyncio.wait_for(stream.readexactly(2), timeout)
            except asyncio.TimeoutError:
                return
            except (OSError, EOFError, ValueError) as e:  # a failed handshake, or the peer left
                if first and not isinstance(e, EOFError):
                    self.audit.noisy("auth-fail", "tls %s: handshake failed (%s)" % (self.peer_ip(s.peer), e))
                return
            if first:  # the handshake is over, the key of s.fp proven: who is it?
                first = False
                s.shook = True
                self.handshakes += 1
                if s.fp is not None:
                    s.ctl = self.controllers.find(s.fp)
            n = unpack(">H", head)[0]
            if not 0 < n <= MAX_MSG:
                self.audit.noisy("bad-message", "%s: length %d" % (s.who(), n))
                return
            try:
                msg = await asyncio.wait_for(stream.readexactly(n), timeout)
                if s.closed:
                    return
                self.handle(s, msg)
                await asyncio.wait_for(stream.drain(), IDLE_S)  # a peer that never reads is let go
            except (asyncio.TimeoutError, OSError, EOFError, ValueError):
                return
            if s.closed:  # revoked while answering
                return
            timeout = IDLE_S if s.ctl is not None else GUEST_IDLE_S

    def _safely(self, fn, *args):
        """A request that fails in a way nobody foresaw (a full flash, a number too big) gets
        an answer, and the session and the node go on."""
        try:
            return fn(*args)
        except MemoryError:
            raise
        except Exception as e:
            self.log("secure channel: request failed: %r" % (e,))
            return {"error": "the device could not carry out the request (%s)" % type(e).__name__}

    def handle(self, s, msg):
        kind = msg[0]
        if kind == 0x10:
            self.node.receive(msg, s)
        elif kind == 0x7B:  # "{"
            try:
                req = json.loads(msg)
                if not isinstance(req, dict):
                    raise ValueError
            except ValueError:
                s.reply({"error": "not a JSON object"})
                return
            s.reply(self._safely(self.control().request, s, req))
        elif kind == 0x55 and len(msg) > 5:  # "U"
            s.reply(self._safely(self.control().update_data, s, unpack(">I", msg[1:5])[0], memoryview(msg)[5:]))
        else:
            s.reply({"error": "unknown message type 0x%02x" % kind})

