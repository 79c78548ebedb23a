"""An appliance driver named with APPLIANCES= runs under the unix port in place of the
simulated plant: a module compiled into the firmware image beside the rest, as
tools/build.py puts every module of firmware/ there, and what it reports is what a
controller reads over UDP."""
import os
import struct
import subprocess

import pytest

from tools import build, romfs

from . import enl

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(os.path.dirname(HERE), "portable", "sample_drivers.py")
BATTERY = 0x027D01


@pytest.fixture(scope="module")
def driver_build(tmp_path_factory):
    fw = tmp_path_factory.mktemp("driver") / "firmware"
    build.build(out=str(fw), root_keys=[])
    subprocess.run([build.MPY_CROSS, "-s", "sample_drivers.py", "-o", str(fw / "sample_drivers.mpy"), DRIVER],
                   check=True, timeout=60)
    romfs.write_image(str(fw), romfs.image_of(str(fw)))
    return fw


def test_the_battery_reports_and_obeys_the_driver_appliances_names(node_factory, driver_build):
    n = node_factory(objects=["battery"], extra=["--firmware", str(driver_build),
                                                 "--appliances", "battery=sample_drivers.MeteredBattery"])
    with enl.RawController(n.ctrl) as c:
        f = c.get(n.addr, BATTERY, [0xE4, 0xD3, 0xCF, 0xC9])
        assert f.esv == enl.GET_RES
        assert f.edt(0xE4) == b"\x19"  # 25 %, its meter's reading
        assert struct.unpack(">i", f.edt(0xD3))[0] == -640
        assert f.edt(0xCF) == b"\x43"
        assert struct.unpack(">II", f.edt(0xC9)) == (200, 2500)  # its ratings
        assert c.request(n.addr, BATTERY, enl.SETC, [(0xDA, b"\x42")]).esv == enl.SET_RES
    n.proc.wait_for("set 027D01 DA=42", 5)


def test_a_driver_the_firmware_lacks_stops_the_start_with_one_line(address_pool, state_dirs):
    from .harness import Proc, sim_argv

    addr, _ctrl = address_pool.pair()
    proc = Proc(sim_argv(addr, state_dirs(), objects=["battery"],
                         extra=["--appliances", "battery=drivers.modbus_battery.Battery"]))
    try:
        assert proc.wait_exit(30) == 2
    finally:
        proc.kill_group()
    out = proc.output()
    assert "ERROR appliances: battery: cannot load drivers.modbus_battery.Battery" in out, out
    assert "Traceback" not in out, out


@pytest.mark.parametrize("value, words", [
    ("battery", "is not object=module.name"),
    ("fuel_cell=drivers.fc.FuelCell", "'fuel_cell' is not one of the objects configured"),
    ("battery=MeteredBattery", "is not module.name"),
    ("battery=a.B,battery=c.D", "APPLIANCES names battery twice"),
])
def test_a_bad_appliances_setting_is_one_line_and_exit_2(value, words, address_pool, state_dirs):
    from .harness import PYTHON, SIM

    addr, _ctrl = address_pool.pair()
    r = subprocess.run([PYTHON, SIM, "--addr", addr, "--state", state_dirs(), "--objects", "battery",
                        "--appliances", value], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r
    assert r.stderr.startswith("sim: ") and words in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_driver_that_does_not_start_yet_leaves_the_node_reachable_and_joins_later(node_factory, driver_build,
                                                                                       state_dirs):
    """SlowInverter fails its first try (the node's start): the node starts without the
    battery, serves the rest, then makes the battery at the next try, 5 s on, with the
    setting saved for it before."""
    state = state_dirs()
    with open(os.path.join(state, "settings.json"), "w") as f:
        f.write('{"027D01": ["DA=42"]}')
    n = node_factory(objects=["battery", "water_heater"], state=state,
                     extra=["--firmware", str(driver_build), "--appliances", "battery=sample_drivers.SlowInverter"])
    out = n.proc.output()
    assert "SlowInverter(1) did not start" in out and "the node starts without it and tries again" in out, out
    assert "settings not restored 027D01: no such object now; kept" in out, out
    assert "objects 0EF001 026B01 version" in out, out  # READY without the battery
    with enl.RawController(n.ctrl) as c:
        f = c.get(n.addr, 0x0EF001, [0xD6])
        assert f.edt(0xD6) == bytes.fromhex("01026B01")
        n.proc.wait_for("appliance 027D01 started: served from now on", 15)
        f = c.get(n.addr, 0x0EF001, [0xD6])
        assert f.edt(0xD6) == bytes.fromhex("02026B01027D01")
        f = c.get(n.addr, BATTERY, [0xE4, 0xDA])
        assert f.esv == enl.GET_RES and f.edt(0xE4) == b"\x19" and f.edt(0xDA) == b"\x42"  # its meter; the saved mode
