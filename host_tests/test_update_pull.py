"""Pulling an update over HTTPS (firmware/update/pull.py) from a server on 127.0.0.1 with
a certificate made for the test: the whole package, nothing when it runs already, resume
with a Range request after a dropped connection, a server the configured CA does not
vouch for, a refused package; on CPython and under the MicroPython unix port."""
import json
import os
import subprocess
import sys

import pytest
from https_server import PackageServer, make_ca
from update import pull, state
from update.receiver import Receiver
from update_pkgs import BOARD, T0, Signer, bundle

from security import manifest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SIGNER = Signer()
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
    m = pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0)
    assert m is not None and m.version == "2.0.0"
    rec = state.load(str(tmp_path))
    assert rec["active"] == "a" and rec["trial"] and rec["slots"]["a"]["version"] == "2.0.0"
    assert server.ranges == ["bytes=0-"]
    # the package this device runs is not fetched again beyond its metadata
    assert pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0) is None


def test_a_dropped_download_resumes_with_a_range_request(server, tmp_path):
    files = sorted(bundle("2.0.0", extra=bytes(range(256)) * 12).items(), key=lambda kv: kv[0].encode())
    first = len(files[0][1])  # app.mpy complete, the next file begun when the connection drops
    server.drop_after = len(META) + first + 100
    with pytest.raises(pull.PullError, match="stopped at"):
        pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0)
    assert state.load(str(tmp_path))["active"] is None
    m = pull.pull(server.url, server.ca_pem(), receiver(tmp_path), T0)
    assert m is not None and m.version == "2.0.0"
    assert server.ranges == ["bytes=0-", "bytes=0-", "bytes=%d-" % (len(META) + first)]


def test_a_server_the_configured_ca_does_not_vouch_for_is_refused(server, tmp_path):
    other_key, other = make_ca("some other CA")
    from https_server import pem

    with pytest.raises(OSError, match="(?i)certificate"):
        pull.pull(server.url, pem(other), receiver(tmp_path), T0)
    assert server.ranges == []  # not a byte was asked of it


def test_a_refused_package_stages_nothing(tmp_path):
    meta, payload = SIGNER.package("2.0.0", 4, bundle("2.0.0"), board="ESP32_GENERIC")
    s = PackageServer(meta + payload, str(tmp_path))
    try:
        with pytest.raises(manifest.ManifestError) as e:
            pull.pull(s.url, s.ca_pem(), receiver(tmp_path), T0)
        assert e.value.reason == manifest.WRONG_TARGET
        assert not os.path.exists(state.slot_dir(str(tmp_path), "a"))
    finally:
        s.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1/pkg", "https://", "https://127.0.0.1:x/pkg", 7])
def test_only_https_urls(url, tmp_path):
    with pytest.raises(pull.PullError):
        pull.pull(url, b"", receiver(tmp_path), T0)


def test_config_needs_a_ca(tmp_path):
    with pytest.raises(pull.PullError, match="update_ca"):
        pull.from_config({"update_url": "https://127.0.0.1/pkg"}, receiver(tmp_path), T0)
    assert pull.from_config({}, receiver(tmp_path), T0) is None


MP_PULL = """
import sys
sys.path.insert(0, %(fw)r)
from update import pull
from update.receiver import Receiver
cfg = {"update_url": %(url)r, "update_ca": %(ca)r, "state_dir": %(sd)r}
r = Receiver(cfg["state_dir"], roots=[bytes.fromhex(%(root)r)], board_name="unix")
try:
    m = pull.from_config(cfg, r, %(now)d)
    print("INSTALLED", m.version if m else None)
except pull.PullError as e:
    print("PULLERROR", e)
"""


def test_the_unix_port_pulls_and_resumes(server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem())
    sd = tmp_path / "state"
    sd.mkdir()
    script = tmp_path / "mp_pull.py"
    script.write_text(MP_PULL % {"fw": os.path.join(ROOT, "build", "firmware"), "url": server.url, "ca": str(ca),
                                 "sd": str(sd), "root": SIGNER.roots[0].hex(), "now": T0})
    first = len(bundle("2.0.0", extra=bytes(range(256)) * 12)["app.mpy"])  # the first item
    server.drop_after = len(META) + first + 100

    def run():
        r = subprocess.run([MICROPYTHON, "-X", "heapsize=100K", str(script)], capture_output=True, text=True, timeout=60)
        return r.stdout + r.stderr

    assert "PULLERROR the download stopped" in run()
    out = run()
    assert "INSTALLED 2.0.0" in out, out
    assert server.ranges == ["bytes=0-", "bytes=0-", "bytes=%d-" % (len(META) + first)], out
    rec = json.loads((sd / "update.json").read_text())
    assert rec["active"] == "a" and rec["slots"]["a"]["version"] == "2.0.0"
    assert "INSTALLED None" in run()  # it runs that package now
