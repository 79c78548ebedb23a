"""The appliances key of config: an object drives the appliance it names instead of its
simulated plant (startup.py, drready/appliances.py); a bad entry stops the node with one
line, and a driver that does not start leaves its object out until it does."""
import struct

import startup

from app import ConfigError
from drready import appliances
from drready.battery import SimBattery

from .support import ID, SRC, Net, h, request

T0 = 1764201600
METERED = "portable.sample_drivers.MeteredBattery"


def _node(cfg):
    net = Net()
    node = startup.build(cfg, ID, net.send, T0)
    return node, net


def _refused(cfg, *words):
    try:
        startup.check_config(cfg)
        for name in cfg.get("objects", ["battery"]):
            appliances.make(cfg["appliances"], name, 3 if "3" in words else 1, ID, T0)
    except ConfigError as e:
        for w in words:
            assert w in str(e), (w, str(e))
        return
    raise AssertionError("accepted %r" % (cfg,))


def test_an_object_drives_the_appliance_config_names():
    cfg = {"objects": ["battery", "battery", "water_heater"], "appliances": {"battery": METERED}, "legacy_write": [SRC[0]]}
    startup.check_config(cfg)
    node, net = _node(cfg)
    b1, b2, heater = node.devices
    assert type(b1.appliance).__name__ == "MeteredBattery" and b1.appliance.instance == 1
    assert b2.appliance.instance == 2 and b2.appliance is not b1.appliance
    assert type(heater.appliance).__name__ == "SimWaterHeater"  # not named: its simulated plant
    node.tick(T0 + 1)
    assert b1.appliance.steps >= 1
    # ratings and measurements come from the driver: 0xC9 discharging power range, 0xE4 %,
    # 0xD3 instantaneous power (negative: discharging), 0xCF what it does
    out = request(node, net, "1081 0001 05FF01 027D01 62 04 C9 00 E4 00 D3 00 CF 00")[0][1]
    assert out[10] == 0x72
    assert out[12:14] == b"\xc9\x08" and struct.unpack(">II", out[14:22]) == (200, 2500)
    assert out[22:25] == b"\xe4\x01\x19"  # 25 %
    assert out[25:27] == b"\xd3\x04" and struct.unpack(">i", out[27:31])[0] == -640
    assert out[31:34] == b"\xcf\x01\x43"
    # a DR command reaches the driver
    assert request(node, net, "1081 0002 05FF01 027D01 61 01 DA 01 42")[0][1][10] == 0x71
    assert b1.appliance.commands[-1] == 0x42 and not b2.appliance.commands[-1:] == [0x42]


def test_without_appliances_every_object_runs_its_simulated_plant():
    node, _net = _node({"objects": ["battery"]})
    assert isinstance(node.devices[0].appliance, SimBattery)


def test_a_bad_appliances_entry_is_one_line_naming_it():
    _refused({"objects": ["battery"], "appliances": ["battery"]}, "appliances must be an object")
    _refused({"objects": ["battery"], "appliances": {"fuel_cell": METERED}}, "'fuel_cell'", "not one of the objects")
    for where in ("MeteredBattery", "metered.", ".MeteredBattery", 5):
        _refused({"objects": ["battery"], "appliances": {"battery": where}}, "not module.name")
    _refused({"objects": ["battery"], "appliances": {"battery": "portable.no_such_driver.Battery"}},
             "battery", "cannot load portable.no_such_driver.Battery")
    _refused({"objects": ["battery"], "appliances": {"battery": "portable.sample_drivers.Missing"}},
             "cannot load portable.sample_drivers.Missing")
    _refused({"objects": ["battery"], "appliances": {"battery": "portable.sample_drivers.NOT_CALLABLE"}},
             "portable.sample_drivers.NOT_CALLABLE is not a class or function")
    _refused({"objects": ["battery"], "appliances": {"battery": "portable.sample_drivers.not_an_appliance"}},
             "not_an_appliance(1) is not an appliance: subclass the battery's interface")
    _refused({"objects": ["battery"], "appliances": {"battery": "portable.sample_drivers.Unfinished"}},
             "Unfinished(1) does not work as the battery's appliance (NotImplementedError")
    _refused({"objects": ["battery"], "appliances": {"battery": "portable.sample_drivers.Heater"}},
             "Heater(1) does not work as the battery's appliance (ValueError: capacity_wh = None: a rating is")


def test_a_driver_that_cannot_reach_its_appliance_is_one_line_naming_it():
    _refused({"objects": ["battery"], "appliances": {"battery": METERED}}, "3", "MeteredBattery(3) did not start",
             "no inverter at Modbus address 3")


def _metered(**settings):
    cfg = {"objects": ["battery"], "appliances": {"battery": METERED}, "legacy_write": [SRC[0]]}
    node, net = _node(cfg)
    events = []
    node.event = events.append
    node.start(T0)
    net.take()
    return node, net, node.devices[0], events


def test_a_driver_that_stops_answering_is_a_fault_and_the_node_serves_on():
    node, net, b, events = _metered()
    node.tick(T0 + 1)
    b.appliance.down = True
    for k in range(2, 5):
        node.tick(T0 + k)
    # the fault announced once, logged once
    assert [f for d, f in net.take() if d is None and f[4:7] == b"\x02\x7d\x01"] == [
        h("1081 0002 027D01 0EF001 73 01 88 01 41")]
    assert [e for e in events if "ERROR appliance" in e] == [
        "ERROR appliance 027D01: OSError(5, 'inverter did not answer'); 0x88 fault until it works again"]
    # reads go on, from the last values
    out = request(node, net, "1081 0009 05FF01 027D01 62 02 88 00 E4 00")
    assert out == [(SRC, h("1081 0009 027D01 05FF01 72 02 88 01 41 E4 01 19"))]
    # a Set while it is down: the step before it fails, the command still goes through
    assert request(node, net, "1081 000A 05FF01 027D01 61 01 DA 01 42", now=T0 + 5)[0][1][10] == 0x71
    b.appliance.down = False
    node.tick(T0 + 6)
    assert h("1081 0004 027D01 0EF001 73 01 88 01 42") in [f for d, f in net.take() if d is None]
    assert events[-1] == "appliance 027D01 works again"


def test_a_command_the_driver_cannot_pass_on_is_refused_with_the_sna_echo():
    node, net, b, events = _metered()
    b.appliance.refuse = True
    out = request(node, net, "1081 0007 05FF01 027D01 61 01 DA 01 42", now=T0 + 1)
    assert out == [(SRC, h("1081 0007 027D01 05FF01 51 01 DA 01 42"))]
    assert events[-2:] == ["ERROR appliance 027D01 did not take DA=42: OSError(5, 'inverter did not acknowledge')",
                           "set refused 027D01 DA=42"]
    assert b.get(0xDA) != b"\x42"


def test_a_clock_set_leaves_the_drivers_own_attributes_alone():
    from drready.clock import setter

    from .test_clock_set import Clock

    node, net, b, _events = _metered()
    node.set_time = setter(Clock(T0))
    assert request(node, net, "1081 0008 05FF01 027D01 61 01 97 02 0C00", now=T0 + 1)[0][1][10] == 0x71
    node.tick(T0 + 3600)
    assert b.appliance.last == "the driver's own" and b.get(0x88) == b"\x42"


def reply(node, net, text, now):
    """The node's unicast reply to a request, whatever it announced before."""
    net.take()
    return [f for d, f in request(node, net, text, now=now) if d is not None][0]


def test_a_dr_command_that_lapses_while_the_driver_fails_ends_once_it_works():
    node, net, b, events = _metered()
    node.dr_timeout = 10
    assert reply(node, net, "1081 0011 05FF01 027D01 61 01 DA 01 42", T0 + 1)[10] == 0x71
    b.appliance.down = True
    for k in range(2, 20):  # the command lapses at T0 + 11, while the inverter does not answer
        node.tick(T0 + k)
    assert b.get(0xDA) == b"\x42" and b.set_at is not None and b.get(0x88) == b"\x41"
    b.appliance.down = False
    node.tick(T0 + 20)
    assert b.get(0xDA) == b"\x46" and b.set_at is None and b.get(0x88) == b"\x42"  # automatic again
    assert b.appliance.commands[-1] == 0x46
    assert "autonomous 027D01: its controller silent for 10 s" in events
    # and a command refused at the expiry is tried again too
    assert reply(node, net, "1081 0012 05FF01 027D01 61 01 DA 01 42", T0 + 21)[10] == 0x71
    b.appliance.refuse = True
    for k in range(22, 40):
        node.tick(T0 + k)
    assert b.get(0xDA) == b"\x42" and b.set_at is not None
    b.appliance.refuse = False
    node.tick(T0 + 40)
    assert b.get(0xDA) == b"\x46" and b.set_at is None


def test_a_refused_command_leaves_the_objects_settings_as_they_were():
    node, net, b, _events = _metered()
    mode = b.settings.mode
    b.appliance.refuse = True
    assert reply(node, net, "1081 0013 05FF01 027D01 61 01 DA 01 42", T0 + 1)[10] == 0x51
    assert b.settings.mode == mode
    b.appliance.refuse = False
    assert reply(node, net, "1081 0014 05FF01 027D01 61 01 EB 04 000003E8", T0 + 2)[10] == 0x71
    assert b.appliance.commands[-1] == mode  # not the mode the refused Set asked for
    assert b.settings.charge_w == 1000


def test_a_refused_v2g_setpoint_changes_neither_mode_nor_setpoint():
    cfg = {"objects": ["ev_charger"], "appliances": {"ev_charger": "portable.sample_drivers.FlakyEV"},
           "legacy_write": [SRC[0]]}
    night = T0 - T0 % 86400 + 20 * 3600  # 20:00: the car is home
    net = Net()
    node = startup.build(cfg, ID, net.send, night)
    ev = node.devices[0]
    node.start(night)
    assert reply(node, net, "1081 0021 05FF01 027E01 61 01 DC 01 06", night + 1)[10] == 0x71  # V2G
    ev.appliance.refuse = True
    out = reply(node, net, "1081 0022 05FF01 027E01 6E 01 E0 04 000003E8 01 DA 00", night + 2)
    assert out == h("1081 0022 027E01 05FF01 5E 01 E0 04 000003E8 01 DA 01 44")  # mode as it was
    assert ev.settings.power == 0 and ev.settings.mode == 0x44 and ev.get(0xE0) == b"\0\0\0\0"


def test_a_driver_that_cannot_follow_the_clock_does_not_stop_the_clock_set():
    from drready.clock import setter

    from .test_clock_set import Clock

    cfg = {"objects": ["battery", "battery"], "legacy_write": [SRC[0]],
           "appliances": {"battery": "portable.sample_drivers.ClockTrouble"}}
    net = Net()
    node = startup.build(cfg, ID, net.send, T0)
    events = []
    node.event = events.append
    node.set_time = setter(Clock(T0))
    node.start(T0)
    out = reply(node, net, "1081 0031 05FF01 027D01 61 01 97 02 0C00", T0 + 1)
    assert out == h("1081 0031 027D01 05FF01 71 01 97 00")
    moved = [e for e in events if "as the clock moved" in e]
    assert [e[:43] for e in moved] == ["ERROR appliance 027D0%d as the clock moved: " % i for i in (1, 2)]
    assert all("ValueError('the inverter refused the new time'" in e for e in moved), moved  # repr: ...',) in MicroPython


def test_a_hybrid_whose_forecast_fails_keeps_its_fault_until_it_works():
    cfg = {"objects": ["hybrid_heater"], "appliances": {"hybrid_heater": "portable.sample_drivers.FlakyHybrid"}}
    net = Net()
    node = startup.build(cfg, ID, net.send, T0)
    hy = node.devices[0]
    node.start(T0)
    net.take()
    hy.appliance.down = True
    for k in range(1, 5):
        node.tick(T0 + k)
    fault = [f[-1] for d, f in net.take() if d is None and f[12] == 0x88]
    assert fault == [0x41] and hy.get(0x88) == b"\x41"  # announced once, not flipped back by the next tick
    hy.appliance.down = False
    node.tick(T0 + 5)
    assert [f[-1] for d, f in net.take() if d is None and f[12] == 0x88] == [0x42]


def test_a_set_between_failed_steps_does_not_end_a_hybrids_fault():
    """The step before a Set works, the next tick fails again: 0x88 reads 0x41 all along
    (the hybrid puts 0x88 at every step, for its gas back-up, and kept the fault out)."""
    cfg = {"objects": ["hybrid_heater"], "appliances": {"hybrid_heater": "portable.sample_drivers.FlakyHybrid"},
           "legacy_write": [SRC[0]]}
    net = Net()
    node = startup.build(cfg, ID, net.send, T0)
    hy = node.devices[0]
    node.start(T0)
    hy.appliance.down = True
    node.tick(T0 + 1)
    hy.appliance.down = False
    assert reply(node, net, "1081 0042 05FF01 02A601 61 01 B8 01 42", T0 + 2)[10] == 0x71
    assert hy.get(0x88) == b"\x41"
    hy.appliance.down = True
    node.tick(T0 + 3)
    assert hy.get(0x88) == b"\x41"
    hy.appliance.down = False
    net.take()
    node.tick(T0 + 4)
    assert [f[4:] for d, f in net.take() if d is None] == [h("02A601 0EF001 73 02 B2 01 42 88 01 42")]  # works again


def _lapse(node, net):
    node.dr_timeout = 10
    assert reply(node, net, "1081 0041 05FF01 027D01 61 03 DA 01 43 C2 01 03 EC 04 000003E8", T0 + 1)[10] == 0x71


def test_a_half_failed_return_to_automatic_keeps_the_command_as_it_was():
    node, net, b, _events = _metered()
    _lapse(node, net)
    b.appliance.refuse_mode = 0x46  # it takes everything but automatic operation
    for k in range(2, 20):
        node.tick(T0 + k)
    # still discharging at the commanded 1000 W: no limit lifted under the old mode
    assert b.get(0xDA) == b"\x43" and b.get(0xEC) == b"\x00\x00\x03\xe8" and b.settings.discharge_w == 1000
    assert b.set_at is not None and b.get(0x88) == b"\x41"
    b.appliance.refuse_mode = None
    node.tick(T0 + 20)
    assert b.get(0xDA) == b"\x46" and b.get(0xEC) == b"\0\0\0\0" and b.get(0x88) == b"\x42"


def test_a_set_does_not_clear_a_fault_its_own_step_did_not_see():
    node, net, b, events = _metered()
    _lapse(node, net)
    b.appliance.refuse_mode = 0x46
    for k in range(2, 15):  # the lapse at T0 + 11 keeps failing: a fault
        node.tick(T0 + k)
    assert b.get(0x88) == b"\x41"
    b.appliance.refuse = True  # and now no command at all gets through
    net.take()
    assert reply(node, net, "1081 0042 05FF01 027D01 61 01 EC 04 000007D0", T0 + 15.5)[10] == 0x51
    # the step before that Set worked, but the fault is the lapse's: it stands
    assert b.get(0x88) == b"\x41" and not [f for d, f in net.take() if d is None and f[12] == 0x88]
    assert not [e for e in events if e.startswith("appliance 027D01 works again")]


def test_a_driver_out_of_heap_is_its_own_fault_and_the_others_run_on():
    cfg = {"objects": ["battery", "ev_charger"], "appliances": {"battery": METERED}, "legacy_write": [SRC[0]]}
    node, net = _node(cfg)
    b, ev = node.devices
    node.start(T0)
    b.appliance.short = True
    node.tick(T0 + 60)
    assert b.get(0x88) == b"\x41" and ev.get(0x97) == bytes(((T0 + 60) // 3600 % 24, (T0 + 60) // 60 % 60))
    assert reply(node, net, "1081 0043 05FF01 027D01 61 01 DA 01 42", T0 + 61)[10] == 0x71  # Sets still answered


def test_a_setting_the_driver_could_not_take_at_boot_is_kept_and_tried_again():
    from echonet import persist

    node, net, b, events = _metered()
    b.appliance.refuse = True  # the inverter is not answering commands yet
    retry = []
    skipped = persist.restore(node, {"027D01": ["A7=32", "EB=000003E8"]}, T0, retry)
    assert [x.split(":")[0] for x in skipped] == ["027D01 A7=32", "027D01 EB=000003E8"]
    assert all(x.endswith("; kept, tried again at every tick") for x in skipped), skipped
    assert b.get(0xA7) == b"\x1e"  # not taken: the reserve is still the default 30 %
    written = []
    saver = persist.Saver(node, "settings.json", 0, lambda path, rec: written.append(rec), 0, retry)
    assert saver.record() == {"027D01": ["A7=32", "EB=000003E8"]}  # kept in the record meanwhile
    assert reply(node, net, "1081 0051 05FF01 027D01 61 01 AA 04 00000064", T0 + 1)[10] == 0x51  # refused too
    saver.poll(1000)
    assert written == []  # nothing new to write: the file still holds both
    b.appliance.refuse = False
    node.tick(T0 + 2)
    saver.poll(2000)
    assert b.get(0xA7) == b"\x32" and b.settings.lower_pct == 50 and b.settings.charge_w == 1000
    assert retry == [] and saver.record() == {"027D01": ["A7=32", "EB=000003E8"]}
    assert written == []  # what the file held all along
    assert "settings restored 027D01 A7=32" in events


def test_a_step_that_fails_half_way_takes_back_what_it_put():
    """The battery puts the remaining energy (0xE2) and the operation state (0xCF, announced)
    before it finds the state of charge (0xE4) over 100 %: none of it is served or announced."""
    node, net, b, events = _metered()
    node.tick(T0 + 1)
    net.take()
    ask = "1081 0010 05FF01 027D01 62 04 E2 00 CF 00 D3 00 E4 00"
    before = request(node, net, ask)[0][1]
    b.appliance.stored_wh = 5100.0  # over its 5000 Wh capacity: a bad register read
    b.appliance.state = 0x42  # charging
    b.appliance.power_w = 900
    node.tick(T0 + 2)
    assert [f for d, f in net.take() if d is None] == [h("1081 0002 027D01 0EF001 73 01 88 01 41")]
    assert request(node, net, ask)[0][1] == before
    assert b.changed == [] and b.undo is None
    # the next step that works puts them all, and announces the change of state
    b.appliance.stored_wh = 2600.0
    node.tick(T0 + 3)
    assert [f[4:] for d, f in net.take() if d is None] == [h("027D01 0EF001 73 02 CF 01 42 88 01 42")]
    assert request(node, net, ask)[0][1][11:] == h("04 E2 04 00000A28 CF 01 42 D3 04 00000384 E4 01 34")


def test_a_value_outside_its_declared_range_is_a_fault_not_a_wrapped_number():
    node, net, b, events = _metered()
    node.tick(T0 + 1)
    net.take()
    before = request(node, net, "1081 0010 05FF01 027D01 62 03 E2 00 E4 00 CF 00")[0][1]
    # a meter reading below zero would wrap to FFFFFFFB in MicroPython's struct.pack
    b.appliance.stored_wh = -5
    node.tick(T0 + 2)
    assert [f for d, f in net.take() if d is None] == [h("1081 0002 027D01 0EF001 73 01 88 01 41")]
    # (MicroPython writes a one-argument exception as ValueError('...',))
    assert events[-1].startswith("ERROR appliance 027D01: ValueError('E2=-5 outside its range'")
    assert events[-1].endswith("; 0x88 fault until it works again")
    after = request(node, net, "1081 0010 05FF01 027D01 62 03 E2 00 E4 00 CF 00")[0][1]
    assert after == before  # the last good values, not the wrapped ones
    # more than full (0xE4 101 %) and an operation state the class does not have
    b.appliance.stored_wh = 5100.0
    node.tick(T0 + 3)
    b.appliance.stored_wh = 2500.0
    b.appliance.state = 0x47
    node.tick(T0 + 4)
    assert [e for e in events if "ERROR" in e] == [events[-1]]  # logged as it began, once
    assert request(node, net, "1081 0011 05FF01 027D01 62 01 88 00")[0][1][-1] == 0x41
    b.appliance.state = 0x42
    node.tick(T0 + 5)
    assert events[-1] == "appliance 027D01 works again"
    assert [f for d, f in net.take() if d is None] == [h("1081 0003 027D01 0EF001 73 02 CF 01 42 88 01 42")]
    assert request(node, net, "1081 0012 05FF01 027D01 62 03 88 00 E4 00 CF 00")[0][1][12:] == h("88 01 42 E4 01 32 CF 01 42")


def test_put_refuses_a_number_its_declaration_does_not_allow():
    node, _net = _node({"objects": ["battery"]})
    b = node.devices[0]
    for epc, value in ((0xE4, 101), (0xE4, -1), (0xE2, 1000000000), (0xCF, 0x47), (0xCF, 0x142), (0x88, 0x40),
                       (0xD3, -1000000000), (0xD3, 1000000000)):
        try:
            b.put(epc, value)
        except ValueError as e:
            assert str(e) == "%02X=%d outside its range" % (epc, value)
        else:
            raise AssertionError("took %02X=%d" % (epc, value))
    assert b.put(0xE4, 100) and b.get(0xE4) == b"\x64"
    assert b.put(0xAA, 5) and b.put(0xAA, 0) and b.get(0xAA) == b"\0\0\0\0"  # 0: below 1 but its "no setting"
    assert b.put(0xD3, -2500) and b.get(0xD3) == b"\xff\xff\xf6\x3c"
    assert b.put(0xD3, -999999999) and b.put(0xD3, 999999999)  # the signed range's ends


def test_a_revoked_controllers_command_ends_at_once_and_a_failing_driver_is_retried():
    node, net, b, events = _metered()
    node.dr_timeout = 0  # commands never lapse by silence: only the revocation ends this one
    assert reply(node, net, "1081 0051 05FF01 027D01 61 02 DA 01 43 EC 04 000003E8", T0 + 1)[10] == 0x71
    node.tick(T0 + 2)
    b.appliance.refuse_mode = 0x46  # the inverter does not take automatic operation, for now
    node.drop(node.who(SRC))
    assert b.get(0xDA) == b"\x43" and b.set_at is not None and b.get(0x88) == b"\x41"  # a fault, not ignored
    node.tick(T0 + 3)
    assert b.get(0xDA) == b"\x43"
    b.appliance.refuse_mode = None
    node.tick(T0 + 4)  # the next tick tries again
    assert b.get(0xDA) == b"\x46" and b.get(0xEC) == b"\0\0\0\0" and b.set_at is None and b.get(0x88) == b"\x42"
    assert "autonomous 027D01: its controller was revoked" in events


def _slow(answers_from, objects=("battery", "water_heater"), state_dir="/tmp/drready-no-such-dir"):
    """A node whose battery drives SlowInverter, which answers from its answers_from-th try."""
    from .sample_drivers import SlowInverter

    SlowInverter.tries = 0
    SlowInverter.answers_from = answers_from
    del appliances.waiting[:]
    appliances.retry = None
    cfg = {"objects": list(objects), "appliances": {"battery": "portable.sample_drivers.SlowInverter"},
           "legacy_write": [SRC[0]], "state_dir": state_dir}
    logged = []
    net = Net()
    node = startup.build(cfg, ID, net.send, T0, log=logged.append)
    return node, net, logged


class _Clock:
    def __init__(self):
        self.ms = 0

    def real_ms(self):
        return self.ms

    def now(self):
        return T0 + self.ms // 1000


def test_a_driver_that_does_not_start_leaves_its_object_out_and_the_node_starts():
    node, net, logged = _slow(answers_from=3)
    assert [d.eoj for d in node.devices] == [0x026B01]  # the water heater runs; the battery waits
    assert len(logged) == 1 and "inverter did not answer" in logged[0], logged
    assert logged[0].startswith("ERROR appliances: battery: portable.sample_drivers.SlowInverter(1) did not start (OSError")
    assert logged[0].endswith("): the node starts without it and tries again")
    assert appliances.retry is not None and len(appliances.waiting) == 1
    node.start(T0)
    assert net.take() == [(None, h("1081 0001 0EF001 0EF001 73 01 D5 04 01 026B01"))]
    # a request to the battery: no such object, so no answer, as for any unknown DEOJ
    assert request(node, net, "1081 0002 05FF01 027D01 62 01 80 00") == []
    clock = _Clock()
    assert appliances.try_again(node, clock, None, logged.append)  # at once: not yet due
    assert _tries() == 1 and len(logged) == 1
    clock.ms = 5000  # 5 s on: tried again, and it fails again; the wait doubles
    assert appliances.try_again(node, clock, None, logged.append)
    assert logged[-1].endswith("inverter did not answer): tried again in 10 s")
    clock.ms = 14999
    assert appliances.try_again(node, clock, None, logged.append) and _tries() == 2
    clock.ms = 15000  # its third try: it answers
    assert not appliances.try_again(node, clock, None, logged.append)
    assert logged[-1] == "appliance 027D01 started: served from now on"
    assert [d.eoj for d in node.devices] == [0x026B01, 0x027D01] and appliances.waiting == []
    # the new instance list, announced as the spec asks (0xD5), and the battery served
    assert net.take() == [(None, h("1081 0002 0EF001 0EF001 73 01 D5 07 02 026B01 027D01"))]
    out = request(node, net, "1081 0003 05FF01 0EF001 62 03 D3 00 D6 00 D7 00")
    assert out == [(SRC, h("1081 0003 0EF001 05FF01 72 03 D3 03 000002 D6 07 02 026B01 027D01 D7 05 02 026B 027D"))]
    assert request(node, net, "1081 0004 05FF01 027D01 62 01 E4 00") == [(SRC, h("1081 0004 027D01 05FF01 72 01 E4 01 19"))]


def _tries():
    from .sample_drivers import SlowInverter

    return SlowInverter.tries


def test_the_wait_between_tries_doubles_up_to_a_minute():
    node, _net, logged = _slow(answers_from=100, objects=("battery",))
    assert node.devices == []
    clock = _Clock()
    appliances.try_again(node, clock, None, logged.append)
    waits = []
    for _ in range(6):
        clock.ms = appliances.waiting[0][2]
        appliances.try_again(node, clock, None, logged.append)
        waits.append(int(logged[-1].split("tried again in ")[1].split()[0]))
    assert waits == [10, 20, 40, 60, 60, 60]


def test_settings_saved_for_an_object_that_starts_late_are_kept_and_replayed():
    from echonet import persist

    node, net, logged = _slow(answers_from=2)
    retry = []
    skipped = persist.restore(node, {"027D01": ["A7=32", "DA=42"], "026B01": ["B0=42"]}, T0, retry)
    assert skipped == ["027D01: no such object now; kept"]
    written = []
    saver = persist.Saver(node, "settings.json", 0, lambda path, rec: written.append(rec), 0, retry)
    assert saver.record() == {"027D01": ["A7=32", "DA=42"], "026B01": ["B0=42"]}  # nothing lost meanwhile
    saver.poll(1000)
    assert written == []  # the file holds it all already
    clock = _Clock()
    appliances.try_again(node, clock, saver, logged.append)
    clock.ms = 5000
    events = []
    node.event = events.append
    assert not appliances.try_again(node, clock, saver, logged.append)
    b = node.devices[-1]
    assert b.eoj == 0x027D01 and b.get(0xA7) == b"\x32" and b.get(0xDA) == b"\x42"
    assert b.appliance.commands[-1] == 0x42  # passed on
    assert retry == [] and saver.record() == {"027D01": ["A7=32", "DA=42"], "026B01": ["B0=42"]}
    assert written == [] and events == []


def test_an_update_on_trial_whose_driver_does_not_start_stops_the_start():
    import os

    from update import state

    d = "/tmp/drready-trial-" + os.urandom(6).hex()
    os.mkdir(d)
    rec = state.fresh()
    rec["pending"] = {"kind": "app", "counter": 2, "version": "2.0.0"}
    state.save(d, rec)
    try:
        _slow(answers_from=2, state_dir=d)
    except ConfigError as e:
        assert "SlowInverter(1) did not start" in str(e)
        assert appliances.waiting == []
        return
    finally:
        os.remove(d + "/update.json")
        os.rmdir(d)
    raise AssertionError("an update on trial started without its battery")


def test_a_late_object_that_cannot_be_saved_yet_does_not_stop_the_retry():
    """What follows the join (the announcement, the replay of its settings, their save)
    failing for want of heap: logged; the object is in, and nothing raises out of the task."""
    node, net, logged = _slow(answers_from=2)

    class Saver:
        def poll(self, ms):
            raise MemoryError("no heap for the record")

    clock = _Clock()
    appliances.try_again(node, clock, Saver(), logged.append)
    clock.ms = 5000
    assert not appliances.try_again(node, clock, Saver(), logged.append)
    assert [d.eoj for d in node.devices] == [0x026B01, 0x027D01]
    assert logged[-1].startswith("ERROR appliance 027D01 started, its settings not yet replayed: MemoryError")


def test_a_late_instance_is_listed_before_the_later_instances_of_its_class():
    node, net, logged = _slow(answers_from=2, objects=("battery", "battery"))
    assert [d.eoj for d in node.devices] == [0x027D02]  # the first try (battery 1) failed, the second worked
    clock = _Clock()
    appliances.try_again(node, clock, None, logged.append)
    clock.ms = 5000
    assert not appliances.try_again(node, clock, None, logged.append)
    assert [d.eoj for d in node.devices] == [0x027D01, 0x027D02]  # as a start lists them
    assert node.profile.get(0xD6) == h("02 027D01 027D02")
