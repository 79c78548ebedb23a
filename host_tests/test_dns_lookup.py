"""hal/dns.py resolve() against a name server on 127.0.0.1 (dns_server.py), on CPython and
under the MicroPython unix port: what it takes, what it passes over, how long it waits."""
import asyncio
import os
import subprocess
import sys
import time

import pytest
from dns_server import FORGED, NameServer

from hal import dns

HERE = os.path.dirname(os.path.abspath(__file__))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
NAME = "updates.drready.test"


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(dns, "WAIT_S", 0.5)


def resolve(ns, host=NAME):
    """(A lookup that never ends fails here after 5 s, rather than hang the suite.)"""
    return asyncio.run(asyncio.wait_for(dns.resolve(host, {"dns_server": ns.addr}), 5))


def test_replies_with_another_id_or_from_another_port_are_passed_over():
    ns = NameServer({NAME: "127.0.0.5"}, forge_first=True, spoof_first=True)
    try:
        assert resolve(ns) == "127.0.0.5" != FORGED
    finally:
        ns.close()
    assert ns.queries == [(NAME, 1)]


def test_a_stream_of_junk_does_not_stretch_the_wait_nor_stop_the_tries(fast):
    ns = NameServer({}, silent=True, junk_every=0.1)
    t0 = time.monotonic()
    try:
        with pytest.raises(dns.DNSError, match="no answer from the name server %s for %s" % (ns.addr, NAME)):
            resolve(ns)
    finally:
        ns.close()
    assert 1.4 <= time.monotonic() - t0 < 2.5 and ns.queries == [(NAME, 1)] * 3


def test_a_failing_server_is_asked_again_and_no_such_name_is_final(fast):
    ns = NameServer({}, rcode=2)
    try:
        with pytest.raises(dns.DNSError, match="RCODE 2"):
            resolve(ns)
        assert len(ns.queries) == 3
        ns.rcode = 0
        with pytest.raises(dns.NoSuchHost, match="NXDOMAIN"):
            resolve(ns, "nowhere.test")
    finally:
        ns.close()
    assert ns.queries[3:] == [("nowhere.test", 1)]


def test_addresses_and_localhost_need_no_server():
    assert asyncio.run(dns.resolve("192.0.2.7", {"dns_server": "127.0.0.1:9"})) == "192.0.2.7"
    assert asyncio.run(dns.resolve("LocalHost", {"dns_server": "127.0.0.1:9"})) == "127.0.0.1"


def test_a_closed_port_is_an_error_at_once():
    t0 = time.monotonic()
    with pytest.raises(dns.DNSError, match="127.0.0.1:9"):
        asyncio.run(dns.resolve(NAME, {"dns_server": "127.0.0.1:9"}))
    assert time.monotonic() - t0 < 1


MP_RESOLVE = """
import asyncio, sys, time
sys.path.insert(0, %(fw)r)
from hal import dns
dns.WAIT_S = 0.5
for host in %(hosts)r:
    t0 = time.ticks_ms()
    try:
        r = asyncio.run(dns.resolve(host, {"dns_server": %(ns)r}))
    except dns.DNSError as e:
        r = "%%s: %%s" %% (type(e).__name__, e)
    print("%%s %%d ms %%s" %% (host, time.ticks_diff(time.ticks_ms(), t0), r))
"""


def test_the_unix_port_takes_the_answer_and_passes_over_the_rest(tmp_path):
    ns = NameServer({NAME: "127.0.0.5"}, forge_first=True, spoof_first=True, junk_every=0.1)
    script = tmp_path / "mp_resolve.py"
    script.write_text(MP_RESOLVE % {"fw": os.path.join(os.path.dirname(HERE), "build", "firmware"), "ns": ns.addr,
                                    "hosts": [NAME, "nowhere.test"]})
    try:
        r = subprocess.run([MICROPYTHON, str(script)], capture_output=True, text=True, timeout=30)
    finally:
        ns.close()
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(NAME) and lines[0].endswith(" 127.0.0.5"), r.stdout + r.stderr
    assert lines[1].endswith("NoSuchHost: no such host (NXDOMAIN)"), r.stdout
    assert ns.queries == [(NAME, 1), ("nowhere.test", 1)]


def test_the_unix_port_gives_up_after_its_tries_whatever_junk_comes(tmp_path):
    ns = NameServer({}, silent=True, junk_every=0.1)
    script = tmp_path / "mp_resolve.py"
    script.write_text(MP_RESOLVE % {"fw": os.path.join(os.path.dirname(HERE), "build", "firmware"), "ns": ns.addr,
                                    "hosts": [NAME]})
    try:
        r = subprocess.run([MICROPYTHON, str(script)], capture_output=True, text=True, timeout=30)
    finally:
        ns.close()
    assert "DNSError: no answer from the name server" in r.stdout, r.stdout + r.stderr
    ms = int(r.stdout.split()[1])
    assert 1400 <= ms < 2500 and ns.queries == [(NAME, 1)] * 3, r.stdout
