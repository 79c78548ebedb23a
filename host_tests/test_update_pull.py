"""Pulling an update over HTTPS (firmware/update/pull.py) from a server on 127.0.0.1 with
a certificate made for the test: the whole package, nothing when it runs already, resume
with a Range request after a dropped connection, a server the configured CA does not
vouch for, a refused package, a server that never finishes its answer (a tarpit); on
CPython and under the MicroPython unix port, where the node's loop goes on meanwhile."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from dns_server import NameServer
from https_server import PackageServer, Tarpit, make_ca
from https_server import pem as https_pem
from update import pull, state
from update.receiver import Receiver
from update_pkgs import BOARD, T0, Signer, bundle

from security import manifest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SIGNER = Signer()
run = asyncio.run
META, PAYLOAD = SIGNER.package("2.0.0", 4, bundle("2.0.0", extra=bytes(range(256)) * 12))
PACKAGE = META + PAYLOAD


@pytest.fixture
def server(tmp_path):
    s = PackageServer(PACKAGE, str(tmp_path))
    yield s
    s.close()


def receiver(d):
    return Receiver(str(d), roots=SIGNER.roots, board_name=BOARD)


def test_a_package_is_pulled_verified_and_installed(server, tmp_path):
    m = run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
    assert m is not None and m.version == "2.0.0"
    rec = state.load(str(tmp_path))
    assert rec["active"] == "a" and rec["trial"] and rec["slots"]["a"]["version"] == "2.0.0"
    assert server.ranges == ["bytes=0-"]
    # the package this device runs is not fetched again beyond its metadata
    assert run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0)) is None


def test_a_package_whose_trial_keeps_failing_is_not_pulled_again(server, tmp_path, monkeypatch):
    """Installed, booted, never confirmed: each revert is counted (update/boot.py); after
    pull.FAILED_TRIALS in a row the pull leaves that package alone, and nothing is staged."""
    from update import boot

    monkeypatch.setattr(boot, "log", lambda text: None)
    d = str(tmp_path)
    for n in range(1, pull.FAILED_TRIALS + 1):
        m = run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
        assert m is not None and m.version == "2.0.0", n
        boot.choose(d)  # its trial boot: it dies before its confirmation
        assert boot.choose(d) is None  # the next boot reverts
        assert state.load(d)["failed"][1] == n
    before = state.load(d)
    with pytest.raises(pull.PullError, match="failed its trial here 3 times in a row"):
        run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
    assert state.load(d) == before  # nothing staged
    assert receiver(tmp_path).failed_trials(META) == 3
    # another package on the server is pulled as usual, and a revert of it counts afresh
    meta, payload = SIGNER.package("2.0.1", 4, bundle("2.0.1"))
    server.package = meta + payload
    m = run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
    assert m is not None and m.version == "2.0.1"
    boot.choose(d)
    boot.choose(d)
    assert state.load(d)["failed"][1] == 1 and receiver(tmp_path).failed_trials(META) == 0


def test_a_dropped_download_resumes_with_a_range_request(server, tmp_path):
    files = sorted(bundle("2.0.0", extra=bytes(range(256)) * 12).items(), key=lambda kv: kv[0].encode())
    first = len(files[0][1])  # app.mpy complete, the next file begun when the connection drops
    server.drop_after = len(META) + first + 100
    with pytest.raises(pull.PullError, match="stopped at"):
        run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
    assert state.load(str(tmp_path))["active"] is None
    m = run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
    assert m is not None and m.version == "2.0.0"
    assert server.ranges == ["bytes=0-", "bytes=0-", "bytes=%d-" % (len(META) + first)]


def test_a_server_the_configured_ca_does_not_vouch_for_is_refused(server, tmp_path):
    other_key, other = make_ca("some other CA")
    from https_server import pem

    with pytest.raises(OSError, match="(?i)certificate"):
        run(pull.pull(server.url, pem(other), receiver(tmp_path), T0))
    assert server.ranges == []  # not a byte was asked of it


def test_a_refused_package_stages_nothing(tmp_path):
    meta, payload = SIGNER.package("2.0.0", 4, bundle("2.0.0"), board="ESP32_GENERIC")
    s = PackageServer(meta + payload, str(tmp_path))
    try:
        with pytest.raises(manifest.ManifestError) as e:
            run(pull.pull(s.url, s.ca_pem(), receiver(tmp_path), T0))
        assert e.value.reason == manifest.WRONG_TARGET
        assert not os.path.exists(state.slot_dir(str(tmp_path), "a"))
    finally:
        s.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1/pkg", "https://", "https://127.0.0.1:x/pkg", 7])
def test_only_https_urls(url, tmp_path):
    with pytest.raises(pull.PullError):
        run(pull.pull(url, b"", receiver(tmp_path), T0))


def test_config_needs_a_ca(tmp_path):
    with pytest.raises(pull.PullError, match="update_ca"):
        run(pull.from_config({"update_url": "https://127.0.0.1/pkg"}, receiver(tmp_path), T0))
    assert run(pull.from_config({}, receiver(tmp_path), T0)) is None


def test_header_lines_are_bounded_not_the_headers(server, tmp_path):
    server.headers = [("X-Pad-%d" % i, "p" * 300) for i in range(8)]  # 2.4 KB of headers in short lines
    m = run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
    assert m is not None and m.version == "2.0.0"
    server.headers = [("X-Pad", "p" * 1100)]
    with pytest.raises(pull.PullError, match="over-long header line"):
        run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))


def test_an_error_status_is_refused(server, tmp_path):
    with pytest.raises(pull.PullError, match="HTTP 404"):
        run(pull.pull(server.url + "x", server.ca_pem(), receiver(tmp_path), T0))


@pytest.fixture
def tarpit():
    t = Tarpit(every=0.5)
    yield t
    t.close()


def test_a_tarpit_ends_the_pull_by_its_deadline(tarpit, server, tmp_path):
    """A server sending a byte every half second never trips the per-step timeout; the
    pull's deadline ends it, and the event loop went on meanwhile."""
    ticks = []

    async def both():
        async def tick():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.1)

        t = asyncio.create_task(tick())
        try:
            await pull.pull(tarpit.url, server.ca_pem(), receiver(tmp_path), T0, deadline=2)
        finally:
            t.cancel()

    t0 = time.monotonic()
    with pytest.raises(pull.PullError, match="took over 2 s"):
        run(both())
    assert tarpit.connected.is_set() and time.monotonic() - t0 < 4
    assert len(ticks) >= 15  # ten a second while the pull waited


def test_the_deadline_is_a_config_key(tarpit, server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem())
    cfg = {"update_url": tarpit.url, "update_ca": str(ca), "update_pull_timeout_s": 1}
    t0 = time.monotonic()
    with pytest.raises(pull.PullError, match="took over 1 s"):
        run(pull.from_config(cfg, receiver(tmp_path), T0))
    assert time.monotonic() - t0 < 3


MP_PULL = """
import asyncio
import sys
import time
sys.path.insert(0, %(fw)r)
from update import pull
from update.receiver import Receiver
%(prelude)s
cfg = {"update_url": %(url)r, "update_ca": %(ca)r, "state_dir": %(sd)r%(more)s}
r = %(cls)s(cfg["state_dir"], roots=[bytes.fromhex(%(root)r)], board_name="unix")
try:
    m = asyncio.run(pull.from_config(cfg, r, %(now)d))
    print("INSTALLED", m.version if m else None)
except pull.PullError as e:
    print("PULLERROR", e)
"""


def mp_pull_script(server, tmp_path, prelude="", cls="Receiver", more=""):
    """A script pulling from server under the unix port, and its state directory."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem())
    sd = tmp_path / "state"
    sd.mkdir()
    script = tmp_path / "mp_pull.py"
    script.write_text(MP_PULL % {"fw": os.path.join(ROOT, "build", "firmware"), "url": server.url, "ca": str(ca),
                                 "sd": str(sd), "root": SIGNER.roots[0].hex(), "now": T0, "prelude": prelude,
                                 "cls": cls, "more": more})
    return script, sd


def test_the_unix_port_pulls_and_resumes(server, tmp_path):
    script, sd = mp_pull_script(server, tmp_path)
    first = len(bundle("2.0.0", extra=bytes(range(256)) * 12)["app.mpy"])  # the first item
    server.drop_after = len(META) + first + 100

    def mp():
        r = subprocess.run([MICROPYTHON, "-X", "heapsize=100K", str(script)], capture_output=True, text=True, timeout=60)
        return r.stdout + r.stderr

    assert "PULLERROR the download stopped" in mp()
    out = mp()
    assert "INSTALLED 2.0.0" in out, out
    assert server.ranges == ["bytes=0-", "bytes=0-", "bytes=%d-" % (len(META) + first)], out
    rec = json.loads((sd / "update.json").read_text())
    assert rec["active"] == "a" and rec["slots"]["a"]["version"] == "2.0.0"
    assert "INSTALLED None" in mp()  # it runs that package now


MP_TARPIT = """
import asyncio
import socket
import sys
import time
sys.path.insert(0, %(fw)r)
from update import pull
from update.receiver import Receiver
echoed = []

async def echo(s):  # a UDP service in the same loop as the pull
    while True:
        try:
            data, src = s.recvfrom(64)
        except OSError:  # nothing there yet
            await asyncio.sleep_ms(10)
            continue
        s.sendto(data, src)
        echoed.append(data)

async def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.bind(socket.getaddrinfo("127.0.0.1", %(port)d)[0][-1])
    t = asyncio.create_task(echo(s))
    print("ECHO")
    cfg = {"update_url": %(url)r, "update_ca": %(ca)r, "update_pull_timeout_s": 4%(more)s}
    t0 = time.ticks_ms()
    try:
        await pull.from_config(cfg, Receiver(%(state)r), 0)  # (the pull never gets as far as the receiver)
    except (pull.PullError, OSError) as e:
        print("PULLERROR after %%d ms, %%d echoed: %%s" %% (time.ticks_diff(time.ticks_ms(), t0), len(echoed), e))
    t.cancel()

asyncio.run(main())
"""


def test_the_unix_port_serves_on_while_a_tarpit_holds_the_pull(tarpit, server, tmp_path):
    """Under the unix port: a UDP echo task in the pull's event loop answers every datagram
    while a tarpit holds the pull, and the pull ends with its deadline (4 s here)."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem())
    out = _serve_beside(MP_TARPIT, tarpit.url, ca, tmp_path, lambda: tarpit.connected.wait(3))
    assert "PULLERROR" in out and "10 echoed: the pull took over 4 s" in out, out
    ms = int(out.split("after ")[1].split(" ms")[0])
    assert 4000 <= ms < 5000, out


def _serve_beside(template, url, ca, tmp_path, started, more=""):
    """Run template (MP_TARPIT) under the unix port: ten datagrams to its echo task, 0.2 s
    apart, once started() says the pull is waiting; each must come back within 1 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a free port for the echo
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "mp_tarpit.py"
    script.write_text(template % {"fw": os.path.join(ROOT, "build", "firmware"), "url": url, "ca": str(ca),
                                  "port": port, "state": str(tmp_path), "more": more})
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=100K", str(script)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline() == "ECHO\n"
        assert started(), "the pull never got as far as the server"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(1)
            for i in range(10):  # over 2 s of the pull's 4
                c.sendto(b"ping %d" % i, ("127.0.0.1", port))
                assert c.recvfrom(64)[0] == b"ping %d" % i
                time.sleep(0.2)
        return p.communicate(timeout=10)[0]
    finally:
        p.kill()
        p.wait()


NAME = "updates.drready.test"


@pytest.fixture
def named(tmp_path):
    """The package server by name, and a name server that points the name at it (sending
    a forged reply, with another ID, before each real one)."""
    s = PackageServer(PACKAGE, str(tmp_path), name=NAME)
    ns = NameServer({NAME: "127.0.0.1"}, forge_first=True)
    yield s, ns
    s.close()
    ns.close()


def _cfg(server, tmp_path, **more):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem())
    return dict({"update_url": server.url, "update_ca": str(ca)}, **more)


def test_a_server_named_in_update_url_is_looked_up_and_its_name_checked(named, tmp_path):
    server, ns = named
    m = run(pull.from_config(_cfg(server, tmp_path, dns_server=ns.addr), receiver(tmp_path), T0))
    assert m is not None and m.version == "2.0.0"
    assert ns.queries == [(NAME, 1)]  # one A query, answered: the forged reply before it was passed over


def test_a_name_pointed_at_a_server_without_that_name_is_refused(server, tmp_path):
    """A forged answer can only lead the pull to a server that fails the certificate check:
    this one's certificate is for 127.0.0.1 alone."""
    ns = NameServer({NAME: "127.0.0.1"})
    try:
        cfg = _cfg(server, tmp_path, dns_server=ns.addr)
        cfg["update_url"] = server.url.replace("127.0.0.1", NAME)
        with pytest.raises(OSError, match="(?i)certificate|hostname"):
            run(pull.from_config(cfg, receiver(tmp_path), T0))
    finally:
        ns.close()
    assert ns.queries == [(NAME, 1)] and server.ranges == []


def test_the_unix_port_looks_up_the_server_and_checks_its_name(named, tmp_path):
    server, ns = named
    script, sd = mp_pull_script(server, tmp_path, more=', "dns_server": %r' % ns.addr)
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=100K", str(script)], capture_output=True, text=True, timeout=60)
    assert "INSTALLED 2.0.0" in r.stdout, r.stdout + r.stderr
    assert ns.queries == [(NAME, 1)] and server.ranges == ["bytes=0-"]


def test_the_unix_port_serves_on_while_the_name_server_is_silent(tmp_path):
    """getaddrinfo would hold the whole interpreter here; hal/dns.py waits on the loop:
    every datagram to the echo task comes back, and the lookup gives up after its tries
    (3 of 1 s here)."""
    ns = NameServer({}, silent=True)
    try:
        prelude = "\n    from hal import dns\n    dns.WAIT_S = 1"
        out = _serve_beside(MP_TARPIT.replace("    t0 = time.ticks_ms()", prelude + "\n    t0 = time.ticks_ms()"),
                            "https://%s/pkg" % NAME, make_ca_pem(tmp_path), tmp_path, lambda: _wait_for(ns.queries),
                            more=', "dns_server": %r' % ns.addr)
    finally:
        ns.close()
    assert "10 echoed: no answer from the name server %s for %s" % (ns.addr, NAME) in out, out
    ms = int(out.split("after ")[1].split(" ms")[0])
    assert 3000 <= ms < 4000, out
    assert ns.queries == [(NAME, 1)] * 3


def make_ca_pem(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(https_pem(make_ca()[1]))
    return ca


def _wait_for(items, timeout=3):
    end = time.monotonic() + timeout
    while not items and time.monotonic() < end:
        time.sleep(0.01)
    return bool(items)


def test_a_pull_and_a_push_never_receive_at_once(server, tmp_path):
    """Both stage into the same inactive slot: while one receives, the other is turned away."""
    import update

    from security.updates import UpdateService

    class Server:
        sessions = []

    class Session:
        server = Server()

    service = UpdateService(str(tmp_path), None, lambda: T0, lambda: None)
    me = Session()
    Server.sessions.append(me)
    assert service.start(me, len(META)) == {"offset": 0}  # a push begins ...
    try:
        with pytest.raises(pull.PullError, match="being pushed over the secure channel"):
            run(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))  # ... and the pull waits
    finally:
        service.close()
    assert getattr(update, "receiving", None) is None

    async def push_during_pull():
        task = asyncio.create_task(pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0))
        while getattr(update, "receiving", None) is None:
            await asyncio.sleep(0)
        answer = service.start(me, len(META))
        return answer, await task

    server.every = 0.01  # (a slow server: the push comes while the pull receives)
    answer, m = run(push_during_pull())
    assert answer == {"error": "an update is being pulled from update_url; try again when it is done"}
    assert m is not None and m.version == "2.0.0" and getattr(update, "receiving", None) is None


def test_a_refusal_raised_after_the_channel_reloaded_its_modules_is_logged(monkeypatch):
    """The secure channel drops security.payload when its last session ends, so a refusal
    may come as a ManifestError class loaded afresh, not the one the task could import:
    the update task logs it and goes on to its next check, as it does a failed transfer."""
    class ManifestError(Exception):  # security.payload's, loaded again
        reason = "expired"

    failures = [ManifestError("expired: the package expired"), OSError(113, "no route to host")]

    checks = []

    async def from_config(cfg, receiver, now):
        checks.append(now)
        if failures:
            raise failures.pop(0)
        await asyncio.sleep(10)  # the third check: it went on after both

    monkeypatch.setattr(pull, "from_config", from_config)
    monkeypatch.setattr(pull, "INTERVAL_S", 0.01)
    logged = []

    async def both():
        try:
            await asyncio.wait_for(pull.task({"update_url": "https://x/pkg"}, lambda: T0, logged.append, RuntimeError), 0.5)
        except asyncio.TimeoutError:
            pass

    run(both())
    assert len(checks) == 3
    assert logged == ["update refused: expired: the package expired", "update pull failed: OSError(113, 'no route to host')"]


def test_while_an_update_waits_for_its_confirmation_the_pull_checks_again_soon(monkeypatch):
    """Refused as BUSY (the update running on trial is confirmed within a minute of its
    start): the next check comes after pull.BUSY_S, then twice as long each time up to
    update_interval_s, not after a whole interval; other refusals wait the interval."""
    from update.receiver import BUSY, UpdateError

    outcomes = [UpdateError(BUSY, "on trial")] * 4 + [UpdateError("expired", "old")]
    assert waits_between_checks(monkeypatch, outcomes, 400) == [60, 120, 240, 400, 400]


def waits_between_checks(monkeypatch, outcomes, interval):
    """The sleeps of pull.task between checks whose outcomes are these: an exception
    raised, or None (nothing new); the task ends when they run out."""
    async def from_config(cfg, receiver, now):
        if not outcomes:
            raise asyncio.CancelledError()
        o = outcomes.pop(0)
        if o is not None:
            raise o

    slept = []

    async def sleep(s):
        slept.append(s)

    monkeypatch.setattr(pull, "from_config", from_config)
    monkeypatch.setattr(pull.asyncio, "sleep", sleep)
    with pytest.raises(asyncio.CancelledError):
        run(pull.task({"update_url": "https://x/pkg", "update_interval_s": interval}, lambda: T0, lambda t: None,
                      RuntimeError))
    return slept


def test_after_a_failed_transfer_the_pull_tries_again_soon_then_less_often(monkeypatch):
    """No network at boot, a name server or update server down: the next check comes after
    pull.RETRY_S, then twice as long after each failure in a row, up to update_interval_s;
    a check that gets through (nothing new, or a refusal) starts that over."""
    from update.receiver import UpdateError

    outcomes = [OSError(113, "no route")] * 5 + [None, OSError(113, "no route"), UpdateError("expired", "old"),
                                                  OSError(113, "no route")]
    assert pull.RETRY_S == 600
    assert waits_between_checks(monkeypatch, outcomes, 4000) == [600, 1200, 2400, 4000, 4000, 4000, 600, 4000, 600]


def test_a_firmware_image_on_trial_counts_as_installed(tmp_path):
    """What the device runs on trial is not pulled again (nor refused as BUSY): an image,
    which has no slot of its own, is known by the pending record."""
    from update_pkgs import image

    rec = state.fresh()
    meta, _ = SIGNER.package("3.0.0", 5, {"firmware": image("3.0.0")})
    import hashlib

    rec["pending"] = {"kind": "firmware", "counter": 5, "keyring": 0, "version": "3.0.0",
                      "meta": hashlib.sha256(meta).hexdigest(), "label": "ota_1"}
    state.save(str(tmp_path), rec)
    assert receiver(tmp_path).installed(meta)
    assert not receiver(tmp_path).installed(META)


SLOW_BOARD = """
class SlowBoard(Receiver):  # a board's flash: checking every staged byte takes its time
    def finish(self):
        time.sleep(1.5)
        return Receiver.finish(self)
"""


def test_an_update_checked_after_the_deadline_is_installed_and_says_so(server, tmp_path):
    """Under the unix port: the deadline is the network's. The device's own check and switch
    after it are not cut short (MicroPython's wait_for drops a result that comes late, and
    the update was installed while the log said the pull failed)."""
    script, sd = mp_pull_script(server, tmp_path, SLOW_BOARD, "SlowBoard", ', "update_pull_timeout_s": 1')
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=100K", str(script)], capture_output=True, text=True, timeout=60)
    assert "INSTALLED 2.0.0" in r.stdout, r.stdout + r.stderr
    assert json.loads((sd / "update.json").read_text())["slots"]["a"]["version"] == "2.0.0"


def test_a_server_silent_for_a_step_ends_the_pull(monkeypatch, server, tmp_path):
    """Each step (connecting with its handshake, a read) has TIMEOUT_S of its own, well
    inside the pull's deadline."""
    t = Tarpit(every=5)
    monkeypatch.setattr(pull, "TIMEOUT_S", 1)
    try:
        t0 = time.monotonic()
        with pytest.raises(pull.PullError, match="did not answer within 1 s"):
            run(pull.pull(t.url, server.ca_pem(), receiver(tmp_path), T0, deadline=30))
        assert time.monotonic() - t0 < 3
    finally:
        t.close()


def test_a_push_whose_session_ended_no_longer_holds_off_the_pull(tmp_path):
    """A controller that began a push and left, while another controller's session stays
    open (a HEMS keeps one), lets the pull have its turn."""
    import update

    from security.control import Control

    class Server:
        controllers = sessions = None

    pusher, other = object(), object()
    control = Control(Server(), "00", None, None, None, str(tmp_path), lambda: 0, lambda: T0, lambda: None)
    service = control.updates()
    assert service.start(pusher, len(META)) == {"offset": 0}
    control.close(other)  # another session ended: the push goes on
    assert getattr(update, "receiving", None) is service
    control.close(pusher)  # the pushing one did (security/channel.py, as each session ends)
    assert getattr(update, "receiving", None) is None
