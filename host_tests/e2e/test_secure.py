"""The secure channel end to end: the real node (unix port, make sim's heap) and a real
TLS client (CPython's ssl, through tools/secure.py and tools/ctl.py) over loopback.

What a new user does with the README: start the node, read the setup code it prints
once, enroll, Set over TLS; and what an attacker tries: plain-UDP Sets, wrong codes,
a revoked certificate, replayed and tampered TLS records, a replayed enrollment proof.
"""
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from tools import ctl, secure, setupcode

from . import enl
from .harness import PYTHON, READY_TIMEOUT, ROOT, Proc, sim_argv, stop_node

CODE_RE = re.compile(r"^\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}-[0-9A-Z])$")
BATTERY = 0x027D01
PRESS = os.path.join(ROOT, "tools", "press.py")


class Node:
    def __init__(self, addr, ctrl, state, backoff="0"):
        self.addr, self.ctrl, self.state = addr, ctrl, state
        self.proc = Proc(sim_argv(addr, state, extra=["--enroll-backoff", backoff]))
        try:
            self.proc.wait_for("READY", READY_TIMEOUT)
        except BaseException:
            self.proc.kill_group()
            raise
        codes = [m.group(1) for m in map(CODE_RE.match, self.proc.lines) if m]
        self.code = codes[0] if codes else None
        self.ca = os.path.join(state, "dev-ca", "ca_cert.pem")

    def press(self, kind):
        """Press the simulated button and wait until the node acted on it."""
        start = len(self.proc.lines)
        subprocess.run([PYTHON, PRESS, "--state", self.state, kind], check=True, capture_output=True)
        self.proc.wait_for("commissioning window open" if kind == "short" else "factory reset", 5, start=start)

    def log_lines(self):
        out = []
        for name in ("seclog.0", "seclog.1"):
            try:
                with open(os.path.join(self.state, name)) as f:
                    out += [line.rstrip("\n") for line in f]
            except FileNotFoundError:
                pass
        return sorted(out, key=lambda line: int(line.split(" ", 1)[0]))


@pytest.fixture
def node(address_pool, state_dirs):
    addr, ctrl = address_pool.pair()
    n = Node(addr, ctrl, state_dirs())
    yield n
    stop_node(n.proc)


def controller(tmp_path, name):
    home = str(tmp_path / name)
    return home, secure.ControllerIdentity.load_or_create(home)


def connect(node, home, me, enrolling=False, ca=None):
    return secure.Connection(node.addr, me, secure.Pins(home), ca, bind=node.ctrl, timeout=5, enrolling=enrolling)


def enroll(node, home, me, name, code=None):
    with connect(node, home, me, enrolling=True) as c:
        secure.enroll(c, me, setupcode.normalize(code or node.code), name)
        secure.Pins(home).put(c.where, c.device_fp, c.device)


def secure_set(node, home, me, edt):
    with connect(node, home, me) as c:
        return c.echonet(BATTERY, enl.SETC, [(0xDA, edt)])


def secure_get(node, home, me, epc=0xDA):
    with connect(node, home, me) as c:
        return c.echonet(BATTERY, enl.GET, [(epc, b"")]).props[0][1]


def run_ctl(node, home, *argv):
    lines = []
    rc = ctl.main(["--home", home, "--bind", node.ctrl] + list(argv), out=lines.append)
    return rc, lines


def test_new_user_flow_enroll_then_set_over_tls_while_plain_udp_set_is_refused(node, tmp_path):
    assert node.code, "make sim must print the setup code on first run:\n" + node.proc.output()
    home = str(tmp_path / "hems")
    # before enrolling, the controller refuses to talk to a device it cannot authenticate
    rc, _ = run_ctl(node, home, "--secure", "set", node.addr, "027D01", "DA=42")
    assert rc == 1
    rc, lines = run_ctl(node, home, "enroll", node.addr, "--code", node.code, "--name", "hems")
    assert rc == 0, lines
    rc, lines = run_ctl(node, home, "--secure", "set", node.addr, "027D01", "DA=42")
    assert rc == 0 and "DA=42 accepted" in lines[-1], lines
    rc, lines = run_ctl(node, home, "--secure", "get", node.addr, "027D01", "DA")
    assert rc == 0 and lines[-1].split() == ["DA", "1", "42"], lines
    # plain UDP: the standard SNA (SetC_SNA, the value echoed), and nothing changes
    with enl.RawController(node.ctrl) as c:
        r = c.request(node.addr, BATTERY, enl.SETC, [(0xDA, b"\x43")])
        assert r.esv == enl.SETC_SNA and r.props == [(0xDA, b"\x43")]
        assert c.request(node.addr, BATTERY, enl.GET, [(0xDA, b"")]).props == [(0xDA, b"\x42")]
    # the security log holds the enrollment, the DR command and the refused write, chained
    rc, lines = run_ctl(node, home, "log", node.addr)
    assert rc == 0 and lines[-1].startswith("chain ok"), lines
    text = "\n".join(lines)
    assert " enroll hems " in text and " set ctl:" in text and " set-refused udp:%s 027D01 DA=43" % node.ctrl in text
    # the code is never written to the state directory, nor logged
    chars = setupcode.normalize(node.code)
    for root, _dirs, files in os.walk(node.state):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read().upper()
            assert chars.encode() not in data and node.code.encode() not in data, f


def test_setup_code_is_printed_once_and_the_identity_is_kept(address_pool, state_dirs):
    addr, ctrl = address_pool.pair()
    state = state_dirs()
    first = Node(addr, ctrl, state)
    stop_node(first.proc)
    again = Node(addr, ctrl, state)
    try:
        assert first.code and again.code is None, again.proc.output()
        secure_line = [line for line in first.proc.lines if line.startswith("SECURE")]
        assert secure_line and secure_line == [line for line in again.proc.lines if line.startswith("SECURE")]
    finally:
        stop_node(again.proc)


def test_wrong_codes_are_refused_and_lock_out_until_the_button(node, tmp_path):
    home, me = controller(tmp_path, "mallory")
    code, _ = setupcode.new(os.urandom(10))  # a valid-looking code, not this device's
    for i in range(1, 11):
        with connect(node, home, me, enrolling=True) as c:
            with pytest.raises(secure.Refused, match="wrong setup code"):
                secure.enroll(c, me, setupcode.normalize(code), "m%d" % i)
    # locked: even the right code is refused now
    with connect(node, home, me, enrolling=True) as c:
        with pytest.raises(secure.Refused, match="locked"):
            secure.enroll(c, me, setupcode.normalize(node.code), "late")
    lines = node.log_lines()
    assert sum(" enroll-fail " in line for line in lines) == 10
    assert any(" lockout " in line for line in lines)
    # physical presence lifts the lockout and opens the window
    node.press("short")
    enroll(node, home, me, "owner")
    assert secure_set(node, home, me, b"\x42").esv == enl.SET_RES


def test_wrong_code_backoff_grows(address_pool, state_dirs, tmp_path):
    addr, ctrl = address_pool.pair()
    n = Node(addr, ctrl, state_dirs(), backoff="2")
    try:
        home, me = controller(tmp_path, "guess")
        wrong = setupcode.normalize(setupcode.new(os.urandom(10))[0])
        with connect(n, home, me, enrolling=True) as c:
            with pytest.raises(secure.Refused, match="wrong setup code"):
                secure.enroll(c, me, wrong, "g")
        with connect(n, home, me, enrolling=True) as c:  # at once: refused without a try
            with pytest.raises(secure.Refused, match=r"wait [12] s"):
                secure.enroll(c, me, setupcode.normalize(n.code), "g")
        time.sleep(2.2)
        enroll(n, home, me, "g")  # after the wait, the right code works
    finally:
        stop_node(n.proc)


def test_enrollment_proof_cannot_be_replayed(node, tmp_path):
    home, me = controller(tmp_path, "a")
    seen = {}
    real = secure.proof

    def spy(key, side, challenge, fp_c, fp_d):
        p = real(key, side, challenge, fp_c, fp_d)
        seen.setdefault(side, p)
        return p

    secure.proof = spy
    try:
        enroll(node, home, me, "first")
    finally:
        secure.proof = real
    node.press("short")  # a window for the attacker
    home2, me2 = controller(tmp_path, "b")
    with connect(node, home2, me2, enrolling=True) as c:
        c.request({"op": "enroll-start"})
        with pytest.raises(secure.Refused, match="wrong setup code"):
            c.request({"op": "enroll", "name": "replay", "proof": seen[b"C"].hex()})
    # the same controller cannot reuse a challenge either: it is consumed by the first try
    with connect(node, home2, me2, enrolling=True) as c:
        with pytest.raises(secure.Refused, match="challenge first"):
            c.request({"op": "enroll", "name": "again", "proof": seen[b"C"].hex()})


def test_a_revoked_controller_is_refused(node, tmp_path):
    home_a, a = controller(tmp_path, "a")
    home_b, b = controller(tmp_path, "b")
    enroll(node, home_a, a, "alice")
    node.press("short")
    enroll(node, home_b, b, "bob")
    assert secure_set(node, home_b, b, b"\x42").esv == enl.SET_RES
    live = connect(node, home_b, b)  # bob's session stays open while alice revokes him
    rc, lines = run_ctl(node, home_a, "revoke", node.addr, "bob")
    assert rc == 0 and lines == ["revoked bob (%s)" % b.fp.hex()[:16]], lines
    with pytest.raises(secure.SecureError):  # his open session was closed
        live.echonet(BATTERY, enl.SETC, [(0xDA, b"\x43")])
    live.close()
    r = secure_set(node, home_b, b, b"\x44")  # a new session: a stranger, Set refused with SNA
    assert r.esv == enl.SETC_SNA and r.props == [(0xDA, b"\x44")]
    with connect(node, home_b, b) as c:
        with pytest.raises(secure.Refused, match="not enrolled"):
            c.request({"op": "controllers"})
    # the command bob put in force (charge) ended with his enrollment, as his silence
    # would have ended it an hour later: the battery is back to automatic (0x46)
    assert secure_get(node, home_a, a) == b"\x46"
    node.proc.wait_for("autonomous 027D01: its controller was revoked", 5)
    rc, lines = run_ctl(node, home_a, "controllers", node.addr)
    assert rc == 0 and "alice" in lines[0] and lines[-1] == "(1 enrolled)", lines
    # an unknown certificate may read, never write
    home_c, c_id = controller(tmp_path, "c")
    with connect(node, home_c, c_id, ca=node.ca) as c:
        assert c.echonet(BATTERY, enl.GET, [(0xDA, b"")]).props == [(0xDA, b"\x46")]
        assert c.echonet(BATTERY, enl.SETC, [(0xDA, b"\x45")]).esv == enl.SETC_SNA


class Proxy:
    """A TCP relay between a client and the node that can flip one bit in the first TLS
    application-data record the client sends, and records what the client sent."""

    def __init__(self, bind, target, tamper=False):
        self.listener = socket.create_server((bind, 0))
        self.addr = self.listener.getsockname()
        self.target = target
        self.tamper = tamper
        self.sent = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        client, _ = self.listener.accept()
        server = socket.create_connection(self.target)
        pending = b""
        try:
            while True:
                r, _, _ = select.select([client, server], [], [], 10)
                if not r:
                    return
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        self.sent += data
                        pending += data
                        out = b""
                        while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5], "big"):
                            n = 5 + int.from_bytes(pending[3:5], "big")
                            rec = bytearray(pending[:n])
                            pending = pending[n:]
                            if self.tamper and rec[0] == 23:  # application data
                                rec[-1] ^= 1
                                self.tamper = False
                            out += rec
                        server.sendall(out)
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()


def test_tampered_and_replayed_tls_records_are_rejected(node, tmp_path):
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "alice")
    assert secure_set(node, home, me, b"\x41").esv == enl.SET_RES
    # a bit flipped in the Set's record: the device drops the connection, nothing is set
    proxy = Proxy(node.ctrl, (node.addr, secure.SECURE_PORT), tamper=True)
    c = secure.Connection(proxy.addr[0], me, None, node.ca, port=proxy.addr[1], timeout=5)
    with pytest.raises(secure.SecureError):
        c.echonet(BATTERY, enl.SETC, [(0xDA, b"\x42")])
    c.close()
    assert secure_get(node, home, me) == b"\x41"
    # every byte of an honest session that set 0x43, sent again on a new connection: the
    # handshake cannot complete (fresh server random), so nothing is set
    proxy = Proxy(node.ctrl, (node.addr, secure.SECURE_PORT))
    with secure.Connection(proxy.addr[0], me, None, node.ca, port=proxy.addr[1], timeout=5) as c:
        assert c.echonet(BATTERY, enl.SETC, [(0xDA, b"\x43")]).esv == enl.SET_RES
    proxy.thread.join(5)
    assert secure_set(node, home, me, b"\x41").esv == enl.SET_RES
    with socket.create_connection((node.addr, secure.SECURE_PORT), timeout=5) as raw:
        raw.sendall(proxy.sent)
        raw.settimeout(5)
        try:
            while raw.recv(4096):
                pass
        except OSError:
            pass
    assert secure_get(node, home, me) == b"\x41"
    assert any(" auth-fail " in line for line in node.log_lines())


def test_factory_reset_forgets_controllers_and_settings_and_keeps_the_identity(node, tmp_path):
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "alice")
    assert secure_set(node, home, me, b"\x42").esv == enl.SET_RES
    secure_line = next(line for line in node.proc.lines if line.startswith("SECURE"))
    start = len(node.proc.lines)
    node.press("long")
    node.proc.wait_for("READY", READY_TIMEOUT, start=start)
    assert secure_line in node.proc.lines[start:]  # the same device certificate
    assert secure_set(node, home, me, b"\x43").esv == enl.SETC_SNA  # alice is forgotten
    assert secure_get(node, home, me, 0xDA) != b"\x43"
    enroll(node, home, me, "alice")  # the label's code works again, the window is open
    lines = node.log_lines()
    reset = [i for i, line in enumerate(lines) if " factory-reset " in line]
    assert reset and not any(" enroll hems" in line for line in lines[: reset[0]])
    assert not any(" set ctl:" in line for line in lines[: reset[0]]), "the log before the reset must be wiped"
    rc, out = run_ctl(node, home, "log", node.addr)
    assert rc == 0 and out[-1].startswith("chain ok: records ") and not out[-1].startswith("chain ok: records 1 "), out


def test_an_altered_log_is_detected_on_export(node, tmp_path):
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "alice")
    secure_set(node, home, me, b"\x42")
    path = os.path.join(node.state, "seclog.0")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("DA=42", "DA=44"))
    rc, lines = run_ctl(node, home, "log", node.addr)
    assert rc == ctl.TAMPERED and lines[-1].startswith("CHAIN BROKEN"), lines


def test_device_key_rotation_keeps_enrolled_controllers_and_repins_with_the_ca(address_pool, state_dirs, tmp_path):
    from tools import provision

    addr, ctrl = address_pool.pair()
    state = state_dirs()
    n = Node(addr, ctrl, state)
    home = str(tmp_path / "a")
    try:
        rc, lines = run_ctl(n, home, "enroll", addr, "--code", n.code, "--name", "alice")
        assert rc == 0, lines
    finally:
        stop_node(n.proc)
    # the device's files as provision.py keeps them, a new key and certificate, installed
    dev = tmp_path / "device"
    dev.mkdir()
    for name in provision.DEVICE_FILES:
        with open(os.path.join(state, "identity", name), "rb") as f:
            (dev / name).write_bytes(f.read())
    with open(os.path.join(state, provision.IDENTITY), "rb") as f:
        (dev / provision.IDENTITY).write_bytes(f.read())
    ca = os.path.join(state, "dev-ca")
    out = []
    assert provision.main(["rotate-key", "--ca-cert", os.path.join(ca, provision.CA_CERT), "--ca-key",
                           os.path.join(ca, provision.CA_KEY), str(dev)], out=out.append) == 0, out
    assert provision.main(["to-state", "--state", state, str(dev)], out=out.append) == 0, out  # same device: no --force
    n = Node(addr, ctrl, state)
    try:
        rc, _ = run_ctl(n, home, "--secure", "get", addr, "027D01", "80")  # the old pin: refused
        assert rc == 1
        rc, lines = run_ctl(n, home, "--ca", n.ca, "--secure", "set", addr, "027D01", "DA=42")
        assert rc == 0 and lines[0].startswith("note: device") and "DA=42 accepted" in lines[-1], lines
        rc, lines = run_ctl(n, home, "--secure", "get", addr, "027D01", "DA")  # the new pin holds
        assert rc == 0 and lines[-1].split() == ["DA", "1", "42"], lines
    finally:
        stop_node(n.proc)


def test_a_log_wiped_or_rewritten_since_the_last_export_is_detected(address_pool, state_dirs, tmp_path):
    addr, ctrl = address_pool.pair()
    state = state_dirs()
    n = Node(addr, ctrl, state)
    home, me = controller(tmp_path, "a")
    try:
        enroll(n, home, me, "alice")
        for v in (b"\x41", b"\x42", b"\x43"):
            secure_set(n, home, me, v)
        rc, lines = run_ctl(n, home, "log", addr)
        assert rc == 0 and "first export" in lines[-1], lines
    finally:
        stop_node(n.proc)
    for name in ("seclog.0", "seclog.1"):  # someone with the flash in hand starts the log afresh
        if os.path.exists(os.path.join(state, name)):
            os.remove(os.path.join(state, name))
    n = Node(addr, ctrl, state)
    try:
        rc, lines = run_ctl(n, home, "log", addr)
        assert rc == ctl.TAMPERED and "went back" in lines[-1], lines
    finally:
        stop_node(n.proc)


def test_rotating_the_setup_code_retires_the_old_one(node, tmp_path):
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "alice")
    rc, lines = run_ctl(node, home, "rotate-code", node.addr)
    assert rc == 0, lines
    new = lines[-1].strip()
    assert CODE_RE.match(lines[-1]) and new != node.code
    with connect(node, home, me) as c:  # a weak verifier is refused
        for rounds in (1, 999):
            with pytest.raises(secure.Refused, match="verifier"):
                c.request({"op": "set-code", "verifier": {"kdf": "pbkdf2-hmac-sha256", "iter": rounds, "salt": "00" * 16,
                                                          "hash": "00" * 32}})
    node.press("short")
    home_b, b = controller(tmp_path, "b")
    with connect(node, home_b, b, enrolling=True) as c:
        with pytest.raises(secure.Refused, match="wrong setup code"):
            secure.enroll(c, b, setupcode.normalize(node.code), "bob")
    enroll(node, home_b, b, "bob", code=new)
    assert secure_set(node, home_b, b, b"\x42").esv == enl.SET_RES
    assert any(" config setup code changed by ctl:" in line for line in node.log_lines())


def test_only_forward_secret_aead_cipher_suites_are_offered(node, tmp_path):
    import ssl

    _home, me = controller(tmp_path, "a")
    for ciphers, ok in (("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA", False), ("ECDHE-ECDSA-AES128-GCM-SHA256", True)):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        ctx.load_verify_locations(node.ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(me.cert_path, me.key_path)
        with socket.create_connection((node.addr, secure.SECURE_PORT), 5, source_address=(node.ctrl, 0)) as raw:
            if ok:
                with ctx.wrap_socket(raw) as s:
                    assert (s.cipher() or ("",))[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
            else:
                with pytest.raises(ssl.SSLError):
                    ctx.wrap_socket(raw)


def test_an_unprovisioned_device_says_why_its_secure_channel_is_off(address_pool, state_dirs):
    import json

    from .harness import FIRMWARE_MAIN

    micropython = os.path.join(os.path.dirname(PYTHON), "micropython")
    addr, ctrl = address_pool.pair()
    state = state_dirs()
    cfg = os.path.join(state, "config.json")
    with open(cfg, "w") as f:
        json.dump({"addr": addr, "state_dir": state, "objects": ["battery"]}, f)
    env = dict(os.environ, MICROPYPATH=os.path.dirname(FIRMWARE_MAIN) + ":.frozen")
    proc = Proc([micropython, "-X", "heapsize=192K", FIRMWARE_MAIN, cfg], env=env)
    try:
        proc.wait_for("READY", READY_TIMEOUT)
        off = [line for line in proc.lines if line.startswith("secure channel off")]
        assert off and "provision this device" in off[0], proc.output()
        assert not any(line.startswith("SECURE") for line in proc.lines)
        with pytest.raises(OSError):
            socket.create_connection((addr, secure.SECURE_PORT), 2, source_address=(ctrl, 0))
        with enl.RawController(ctrl) as c:  # plain reads still work
            assert c.request(addr, BATTERY, enl.GET, [(0x80, b"")]).esv == enl.GET_RES
        # the button cannot open a commissioning window: there is no channel to enroll over
        start = len(proc.lines)
        subprocess.run([PYTHON, PRESS, "--state", state, "short"], check=True, capture_output=True)
        proc.wait_for("no commissioning window: the secure channel is off", 5, start=start)
        with enl.RawController(ctrl) as c:
            assert c.request(addr, BATTERY, enl.GET, [(0x80, b"")]).esv == enl.GET_RES
    finally:
        rc = proc.stop(signal.SIGINT)
    assert rc == 0 and "STOPPED" in proc.lines


def test_revoking_itself_ends_every_session_of_that_controller(node, tmp_path):
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "hems")
    # (each speaks before the next connects: until its first message a session is a
    # stranger's, which a new connection from the same address replaces)
    c1 = connect(node, home, me)
    c1.request({"op": "hello"})
    c2 = connect(node, home, me)
    c2.request({"op": "hello"})
    try:
        assert c1.request({"op": "revoke", "id": "hems"})["revoked"]["name"] == "hems"
        with pytest.raises(secure.SecureError):  # the other session was ended ...
            r = c2.echonet(BATTERY, enl.SETC, [(0xDA, b"\x43")])
            assert r.esv == enl.SETC_SNA  # ... or at least it may no longer write
            raise secure.SecureError("refused")
    finally:
        c1.close()
        c2.close()
    assert secure_set(node, home, me, b"\x44").esv == enl.SETC_SNA


def test_a_taken_name_does_not_spend_the_commissioning_window(node, tmp_path):
    home_a, a = controller(tmp_path, "a")
    enroll(node, home_a, a, "hems")
    node.press("short")
    home_b, b = controller(tmp_path, "b")
    with connect(node, home_b, b, enrolling=True) as c:
        with pytest.raises(secure.Refused, match="already enrolled"):
            secure.enroll(c, b, setupcode.normalize(node.code), "hems")
    enroll(node, home_b, b, "hems2")  # the window is still open, and no try was counted
    assert not any(" enroll-fail " in line for line in node.log_lines())


def test_strangers_holding_both_slots_do_not_keep_an_enrolled_controller_out(node, address_pool, tmp_path):
    """Two hosts that complete a handshake and keep talking (a hello every few seconds)
    would otherwise hold both session slots for as long as they like."""
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "hems")
    strangers = []
    try:
        for i, addr in enumerate(address_pool.pair()):
            _, ident = controller(tmp_path, "stranger%d" % i)
            strangers.append(secure.Connection(node.addr, ident, bind=addr, timeout=5, enrolling=True))
            assert strangers[-1].request({"op": "hello"})["enrolled"] is None
        assert secure_get(node, home, me, 0x80) == b"\x30"  # both slots were taken: the oldest stranger's went
        with pytest.raises(secure.SecureError, match="closed the connection"):
            strangers[0].request({"op": "hello"})
        assert strangers[1].request({"op": "hello"})["enrolled"] is None
    finally:
        for c in strangers:
            c.close()


def _records(sock):
    """TLS handshake messages (type, body) as they arrive on a plain socket."""
    buf = b""
    while True:
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[1:4], "big"):
            head = _exact(sock, 5)
            body = _exact(sock, int.from_bytes(head[3:5], "big"))
            assert head[0] == 22, "not a handshake record: %r" % head
            buf += body
        n = 4 + int.from_bytes(buf[1:4], "big")
        yield buf[0], buf[4:n]
        buf = buf[n:]


def _exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "the node closed the handshake"
        out += chunk
    return out


def _stalled_handshake(node, bind, der):
    """Start a TLS 1.2 handshake, show the certificate der (anyone on the LAN has seen an
    enrolled controller's: TLS 1.2 sends it in clear) and stop before proving its key."""
    def record(body):
        return b"\x16\x03\x03" + len(body).to_bytes(2, "big") + body

    def message(kind, body):
        return bytes((kind,)) + len(body).to_bytes(3, "big") + body

    def ext(kind, body):
        return kind.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body

    exts = (ext(10, b"\x00\x02\x00\x17") + ext(11, b"\x01\x00") + ext(13, b"\x00\x04\x04\x03\x05\x03")
            + ext(0xFF01, b"\x00"))
    hello = (b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x04\xc0\x2b\xc0\x2c" + b"\x01\x00"
             + len(exts).to_bytes(2, "big") + exts)
    s = socket.create_connection((node.addr, secure.SECURE_PORT), 5, source_address=(bind, 0))
    try:
        s.sendall(record(message(1, hello)))
        for kind, _ in _records(s):
            if kind == 14:  # ServerHelloDone
                break
        cert = len(der).to_bytes(3, "big") + der
        s.sendall(record(message(11, len(cert).to_bytes(3, "big") + cert)))
    except BaseException:
        s.close()
        raise
    return s


def test_a_stranger_showing_an_enrolled_certificate_holds_no_more_than_one_slot(node, address_pool, tmp_path):
    """A session is an enrolled controller's once the handshake proved the key, not as its
    certificate goes by: before, two stalled handshakes from one address showing it held
    both slots, each for its 10 s, again and again."""
    home, me = controller(tmp_path, "a")
    enroll(node, home, me, "hems")
    stranger = address_pool.pair()[0]
    first = _stalled_handshake(node, stranger, me.der)
    second = _stalled_handshake(node, stranger, me.der)  # replaces the first: the same address
    try:
        first.settimeout(5)
        assert first.recv(100) == b""  # closed by the node
        assert secure_get(node, home, me, 0x80) == b"\x30"
    finally:
        first.close()
        second.close()


def test_status_shows_the_frame_counters(node, tmp_path):
    """ctl.py status: what the node counted between two looks, exactly, for frames of each kind."""
    home = str(tmp_path / "hems")
    assert run_ctl(node, home, "enroll", node.addr, "--code", node.code, "--name", "hems")[0] == 0

    def status():
        rc, lines = run_ctl(node, home, "status", node.addr)
        assert rc == 0 and [line.split()[0] for line in lines] == list(ctl.STATUS) + ["frames." + k for k in ctl.FRAMES]
        return {k: v if k == "version" else int(v) for k, v in (line.split() for line in lines)}

    before = status()
    with enl.RawController(node.ctrl) as c:
        for _ in range(3):
            assert c.get(node.addr, BATTERY, [0x80]).esv == enl.GET_RES
        assert c.request(node.addr, BATTERY, enl.SETC, [(0xDA, b"\x43")]).esv == enl.SETC_SNA  # plain UDP: refused
        c.sock.sendto(b"\x10\x81\x00", (node.addr, 3610))  # cut short
        c.sock.sendto(enl.build(1, enl.CONTROLLER, 0x05FF01, enl.GET, [(0x80, b"")]), (node.addr, 3610))  # no such object
        assert c.get(node.addr, BATTERY, [0x80]).esv == enl.GET_RES  # (the two above are handled by now)
    after = status()
    delta = {k: after[k] - before[k] for k in before if k != "version"}
    assert delta["frames.received"] == 7 and delta["frames.replies"] == 5 and delta["frames.refused"] == 1
    assert delta["frames.malformed"] == 1 and delta["frames.ignored"] == 1 and delta["frames.sets"] == 0
    assert delta["frames.errors"] == 0 and after["sessions"] == 1  # its own
    assert after["uptime_s"] >= before["uptime_s"] and 0 < after["heap_alloc"] < after["heap_alloc"] + after["heap_free"]
    assert after["log_seq"] > before["log_seq"]  # the refused Set is in the security log
    assert after["version"] == "factory"  # as READY said: no update installed
