"""What the objects take from a driver: a setting it took is what ECHONET reads until the
unit's own reading says otherwise (water heater, EV charger), a water-heater command that
answers neither True nor False is a fault, not a silent refusal, a battery's type and
grid connection are the driver's, ratings no field can hold are refused, values
derived past a field's top are clipped, and a fault's description is the driver's code
(drready/water_heater.py, ev_charger.py, battery.py, hybrid_heater.py;
echonet/objects.py driver_fault)."""
from drready.battery import StorageBattery
from drready.ev_charger import EVAppliance, EVChargerDischarger
from drready.hybrid_heater import HybridWaterHeater, SimHybridHeater
from drready.water_heater import ElectricWaterHeater, WaterHeaterAppliance
from echonet.node import Node
from echonet.objects import NodeProfile

from .sample_drivers import MeteredBattery
from .support import ID, SRC, Net, h, request

T0 = 1764201600


class UartHeater(WaterHeaterAppliance):
    """Writes each setting to the unit and reads back only its measurements."""

    answer = None  # what command returns: True, False, or (a slip) None

    def __init__(self):
        self.sent = []
        self.answer = True

    def step(self, now):
        self.hot_l = 300.0

    def command(self, epc, code, now):
        self.sent.append((epc, code))
        return self.answer


class ModbusEV(EVAppliance):
    """Passes the settings on; never reads the unit's mode back."""

    charge_w: tuple = (1000, 6000)
    discharge_w: tuple = (1000, 6000)
    connected = True
    capacity_wh = 40000
    stored_wh = 20000.0
    vehicle_id = b"EV1"

    def __init__(self):
        self.modes = []

    def step(self, now):
        pass

    def command(self, settings):
        self.modes.append(settings.mode)


def make(obj):
    net = Net()
    events = []
    node = Node(NodeProfile(ID, [obj]), [obj], net.send, lambda src: True, event=events.append)
    node.start(T0)
    net.take()
    return node, net, events


def test_a_water_heater_setting_taken_stays_though_the_driver_keeps_none():
    a = UartHeater()
    node, net, _ = make(ElectricWaterHeater(1, ID, a, T0))
    out = request(node, net, "1081 0001 05FF01 026B01 61 03 C7 01 01 CA 01 0C B0 01 42", now=T0)
    assert out[0] == (SRC, h("1081 0001 026B01 05FF01 71 03 C7 00 CA 00 B0 00"))
    assert a.sent == [(0xC7, 0x01), (0xCA, 0x0C), (0xB0, 0x42)]
    assert (a.participate, a.shift1, a.mode) == (0x01, 0x0C, 0x42)
    node.tick(T0 + 1)
    got = request(node, net, "1081 0002 05FF01 026B01 62 03 C7 00 CA 00 B0 00", now=T0 + 1)
    assert got[0][1][11:] == h("03 C7 01 01 CA 01 0C B0 01 42")


def test_a_water_heater_command_answering_neither_true_nor_false_is_a_fault():
    a = UartHeater()
    node, net, events = make(ElectricWaterHeater(1, ID, a, T0))
    a.answer = False  # the unit says no: a refusal, no error
    out = request(node, net, "1081 0003 05FF01 026B01 61 01 B0 01 43", now=T0)
    assert out == [(SRC, h("1081 0003 026B01 05FF01 51 01 B0 01 43"))]
    assert not [e for e in events if "ERROR" in e]
    a.answer = None  # a driver that forgot to return: it may have written the unit
    out = request(node, net, "1081 0004 05FF01 026B01 61 01 B0 01 43", now=T0)
    assert out == [(SRC, h("1081 0004 026B01 05FF01 51 01 B0 01 43"))]
    errors = [e for e in events if "ERROR" in e]
    assert len(errors) == 1 and "command(0xB0, 0x43) returned None: True takes it, False refuses it" in errors[0], events
    assert a.mode == 0x41  # not taken


def test_an_ev_mode_taken_stays_though_the_driver_never_reads_it_back():
    a = ModbusEV()
    node, net, _ = make(EVChargerDischarger(1, ID, a, T0))
    out = request(node, net, "1081 0005 05FF01 027E01 61 01 DA 01 42", now=T0)
    assert out[0] == (SRC, h("1081 0005 027E01 05FF01 71 01 DA 00"))
    assert a.modes[-1] == 0x42 and a.mode == 0x42
    for k in range(1, 4):
        node.tick(T0 + k)
    assert request(node, net, "1081 0006 05FF01 027E01 62 01 DA 00", now=T0 + 3)[0][1][11:] == h("01 DA 01 42")
    assert a.modes[-1] == 0x42  # and no command took it back
    a.mode = 0x44  # the unit's own reading: the vehicle left, standby
    node.tick(T0 + 4)
    assert request(node, net, "1081 0007 05FF01 027E01 62 01 DA 00", now=T0 + 4)[0][1][11:] == h("01 DA 01 44")


def test_a_battery_driver_gives_its_type_and_grid_connection():
    a = MeteredBattery(1)
    node, net, _ = make(StorageBattery(1, ID, a, T0))
    assert request(node, net, "1081 0008 05FF01 027D01 62 02 E6 00 DB 00")[0][1][11:] == h("02 E6 01 04 DB 01 00")
    a.kind = 0x01  # lead-acid
    a.interconnect = 0x02  # grid-tied, no reverse power flow
    node, net, _ = make(StorageBattery(1, ID, a, T0))
    assert request(node, net, "1081 0009 05FF01 027D01 62 02 E6 00 DB 00")[0][1][11:] == h("02 E6 01 01 DB 01 02")
    a.kind = 0x07  # no such type in the Appendix: the object is not made
    try:
        StorageBattery(1, ID, a, T0)
    except ValueError as e:
        assert str(e) == "E6=7 outside its range"
    else:
        raise AssertionError("a battery type the Appendix does not have was taken")


def test_a_rating_that_is_no_whole_number_or_nothing_names_itself():
    """Ratings are read as the object is made: a float, None or a zero capacity stops it
    with the attribute's name (drready/appliances.py then tries the driver again)."""
    cases = [
        (StorageBattery, MeteredBattery(1), "capacity_wh", 10240.0),
        (StorageBattery, MeteredBattery(1), "capacity_wh", 0),
        (StorageBattery, MeteredBattery(1), "charge_w", (2000, 200)),  # min over max
        (StorageBattery, MeteredBattery(1), "voltage", None),
        (EVChargerDischarger, ModbusEV(), "charge_w", (0, 0)),  # the interface's default: never set
        (ElectricWaterHeater, UartHeater(), "capacity_l", 370.0),
        (StorageBattery, MeteredBattery(1), "discharge_w", (100, 1000000000)),  # past 0xC9's 999,999,999 W
        (EVChargerDischarger, ModbusEV(), "charge_w", (0, 5000000000)),  # would wrap in 0xC8's 4 bytes
    ]
    for cls, a, name, bad in cases:
        setattr(a, name, bad)
        try:
            cls(1, ID, a, T0)
        except ValueError as e:
            assert str(e).startswith("%s = %r: a rating is a whole number" % (name, bad)), str(e)
        else:
            raise AssertionError("%s = %r was taken" % (name, bad))
    a = MeteredBattery(1)
    a.voltage = 0  # no DC voltage to give: 0xE3 reads 0
    assert StorageBattery(1, ID, a, T0).get(0xE3) == h("0000")


def test_ratings_whose_current_or_dr_amount_goes_past_the_field_are_clipped_at_its_top():
    ev = ModbusEV()
    ev.voltage = 2  # a very low voltage: 6000 W would be 3000.0 A, 1 MW 500,000.0 A
    ev.discharge_w = (1000, 1000000)
    obj = EVChargerDischarger(1, ID, ev, T0)
    assert obj.get(0xCA) == h("1388 7530")  # 500.0 A, 3000.0 A
    assert obj.get(0xCB) == h("1388 7FFE")  # 3276.6 A, the top of 0xCB's current fields

    class Overplanned(SimHybridHeater):
        def dr_amount(self, now, start, end):
            return -5, 10**12  # a driver's planner out of bounds

    heater = HybridWaterHeater(1, ID, Overplanned(), T0)
    heater.tick(T0 + 60)
    assert heater.get(0xF0) == h("00000000 FFFFFFFD")


def test_the_fault_description_is_the_drivers_code_while_the_fault_stands():
    a = MeteredBattery(1)
    node, net, _ = make(StorageBattery(1, ID, a, T0))
    battery = node.devices[0]
    assert battery.get(0x89) == h("0000")
    a.down = True
    a.fault_description = 0x1E  # a sensor: the driver's diagnosis, set before it raises
    node.tick(T0 + 1)
    assert battery.get(0x88) == h("41") and battery.get(0x89) == h("001E")
    a.down = False
    node.tick(T0 + 2)
    assert battery.get(0x88) == h("42") and battery.get(0x89) == h("0000")
    for code in (0x400, 0, "E12", None, True):  # not a code of the Appendix: fault, no detail
        a.down = True
        a.fault_description = code  # pyright: ignore[reportAttributeAccessIssue]  (a driver breaking the contract)
        node.tick(T0 + 3)
        assert battery.get(0x89) == h("03FF"), code
        a.down = False
        node.tick(T0 + 4)
    ev = ModbusEV()
    node, net, _ = make(EVChargerDischarger(1, ID, ev, T0))
    ev.step = lambda now: 1 / 0  # pyright: ignore[reportAttributeAccessIssue]  (a driver with no code to give)
    node.tick(T0 + 1)
    assert node.devices[0].get(0x89) == h("03FF")
