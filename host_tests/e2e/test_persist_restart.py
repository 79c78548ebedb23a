"""Settings survive a restart, end to end: the real node (MicroPython unix port, 64K heap)
takes a Set over plain UDP from a --legacy-write controller, stops on SIGTERM, starts
again on the same state directory and answers with the values it was given."""
import json
import os

from . import enl

BATTERY = 0x027D01


def test_battery_settings_survive_sigterm_and_restart(node_factory, state_dirs, address_pool):
    state = state_dirs()
    pair = address_pool.pair()
    first = node_factory(state=state, pair=pair)
    with enl.RawController(first.ctrl) as c:
        res = c.request(first.addr, BATTERY, enl.SETC, [(0xEB, (1500).to_bytes(4, "big")), (0xDA, b"\x42")])
        assert res.esv == enl.SET_RES and res.props == [(0xEB, b""), (0xDA, b"")], res.raw.hex()
    first.proc.wait_for("set 027D01 DA=42", 5)
    node_factory.stop(first)  # SIGTERM: STOPPED, exit 0

    path = os.path.join(state, "settings.json")
    with open(path) as f:
        assert json.load(f) == {"027D01": ["EB=000005DC", "DA=42"]}
    assert not os.path.exists(path + ".tmp")

    again = node_factory(state=state, pair=pair)
    with enl.RawController(again.ctrl) as c:
        res = c.get(again.addr, BATTERY, [0xDA, 0xEB])
        assert res.esv == enl.GET_RES, res.raw.hex()
        assert res.props == [(0xDA, b"\x42"), (0xEB, (1500).to_bytes(4, "big"))], res.raw.hex()
    assert not any("skipped" in line or "damaged" in line for line in again.lines), "\n".join(again.lines)
