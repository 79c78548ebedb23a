"""`make demo` (tools/demo.py) in its short form: the node under the MicroPython unix port,
driven over real UDP by the demo's controller through a few simulated hours, battery only.
The assertions are on what the node reported (the samples the demo wrote), not on the
demo's own summary: the battery charges in up-DR, discharges in down-DR and stops at the
reserve by itself, and the plot is a PNG."""
import csv
import os
import subprocess
import time
from typing import Any

from .harness import PYTHON, ROOT

DEMO = os.path.join(ROOT, "tools", "demo.py")
RESERVE = 40  # not the node's default (30): the node must use what the controller set
CHARGE = 0x42
DISCHARGE = 0x43
STANDBY = 0x44
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rows(path) -> list[dict[str, Any]]:
    """The samples, numbers as numbers (empty: None)."""
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            out.append({k: v if k in ("time", "phase") else None if v == "" else float(v) if "." in v else int(v)
                        for k, v in r.items()})
    return out


def test_short_demo_charges_discharges_and_stops_at_the_reserve(tmp_path):
    out = tmp_path / "demo.png"
    t0 = time.monotonic()
    # the demo picks a free 127.210.n.1/.2 pair itself (n from its pid: parallel runs differ)
    proc = subprocess.run([PYTHON, DEMO, "--short", "--seconds", "9", "--reserve", str(RESERVE), "--charge-w", "1200",
                           "--discharge-w", "3000", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=90)
    took = time.monotonic() - t0
    log = "exit %s after %.1f s\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, took, proc.stdout, proc.stderr)
    assert proc.returncode == 0, log

    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10000, "not a PNG plot (%d bytes)\n%s" % (len(data), log)

    rows = _rows(tmp_path / "demo.csv")
    assert len(rows) > 30, log
    assert [r["t_node"] for r in rows] == sorted(r["t_node"] for r in rows), "sample times go backwards"
    soc = [r["bat_soc_pct"] for r in rows]
    assert all(r["bat_reserve_pct"] == RESERVE for r in rows), "0xA7 is not the reserve the controller set"

    # up-DR: charging (0xD3 > 0, 0xCF charging) and the state of charge rises
    up = [r for r in rows if r["phase"] == "up-DR"]
    assert up and any(r["bat_w"] > 0 and r["bat_state"] == CHARGE for r in up), log
    assert up[-1]["bat_soc_pct"] > up[0]["bat_soc_pct"], "SOC did not rise in up-DR: %s" % [r["bat_soc_pct"] for r in up]
    assert all(r["bat_w"] >= 0 for r in up), "discharging during up-DR"

    # down-DR: discharging (0xD3 < 0), the state of charge falls to the reserve and stays there
    down = [r for r in rows if r["phase"] == "down-DR"]
    assert down and any(r["bat_w"] < 0 and r["bat_state"] == DISCHARGE for r in down), log
    first_out = next(i for i, r in enumerate(rows) if r["phase"] == "down-DR" and r["bat_w"] < 0)
    assert rows[first_out]["bat_soc_pct"] > RESERVE
    stop = next((i for i, r in enumerate(rows) if i > first_out and r["bat_w"] == 0), None)
    assert stop is not None, "0xD3 never returned to 0 after discharging:\n%s" % [(r["bat_soc_pct"], r["bat_w"]) for r in rows]
    at = rows[stop]
    assert at["phase"] == "down-DR" and at["bat_mode"] == DISCHARGE, "the battery stopped before reaching the reserve: %s" % at
    assert at["bat_soc_pct"] == RESERVE and at["bat_state"] == STANDBY, "stopped at %s %% (reserve %d), 0xCF %02X" % (
        at["bat_soc_pct"], RESERVE, at["bat_state"])
    assert all(r["bat_w"] == 0 and r["bat_soc_pct"] == RESERVE for r in rows[stop:]), "moved again after the reserve"
    # and never below the reserve (0xE4 never under 0xA7)
    assert min(soc) == RESERVE, soc
    assert soc[0] > RESERVE

    # the announcements the node multicast reached the controller: the Sets of 0xDA and the
    # actual state 0xCF (charging, discharging, standby at the reserve); none went autonomous
    with open(tmp_path / "demo-inf.csv", newline="") as f:
        infs = {(i["eoj"], i["epc"], i["edt"]) for i in csv.DictReader(f)}
    for epc, code in (("DA", CHARGE), ("DA", DISCHARGE), ("CF", CHARGE), ("CF", DISCHARGE), ("CF", STANDBY)):
        assert ("027D01", epc, "%02X" % code) in infs, "no INF %s=%02X from the battery: %s" % (epc, code, sorted(infs))
    assert ("027D01", "DA", "46") not in infs, "the battery returned to automatic although the controller kept sending"

    assert "never below the reserve" in proc.stdout, log
    assert took < 30, "the short demo took %.1f s" % took
