"""A step that fails half-way has what it put taken back (Node.step, EchonetObject.undo),
and the next step that works puts it all again: the objects note what they have put
(the minute of the clock, the vehicle present, a window over, a mode the unit changed)
only once the whole step has worked, so nothing stays stale after the fault clears."""
from drready.battery import StorageBattery
from drready.ev_charger import EVChargerDischarger
from drready.fuel_cell import FuelCell, SimFuelCell
from drready.water_heater import ElectricWaterHeater, SimWaterHeater
from echonet.node import Node
from echonet.objects import NodeProfile

from .sample_drivers import MeteredBattery
from .support import ID, Net, h, request
from .test_driver_contracts import ModbusEV

T0 = 1767225600  # 2026-01-01 00:00:00 UTC


def make(obj):
    net = Net()
    node = Node(NodeProfile(ID, [obj]), [obj], net.send, lambda src: True)
    node.start(T0)
    net.take()
    return node, net


def get(node, net, eoj, epcs, now):
    """The EPC, PDC and EDT part of the Get reply (EDT empty: Get_SNA for that EPC)."""
    ask = " ".join("%02X 00" % e for e in epcs)
    net.take()  # (the INFs of the tick)
    return request(node, net, "1081 0100 05FF01 %06X 62 %02X %s" % (eoj, len(epcs), ask), now=now)[0][1][12:]


def infs(net):
    return [f[4:] for d, f in net.take() if d is None]


class TwiceBattery(StorageBattery):
    """Puts 0xD3 twice in one step, then its bus fails."""

    fail = False

    def tick(self, now):
        StorageBattery.tick(self, now)
        if self.fail:
            self.put(0xD3, 100)
            self.put(0xD3, 200)
            raise OSError(5, "bus")


class ShortList(list):
    """A list with no heap left for its notes after the first few."""

    def append(self, x):
        if len(self) >= 4:
            raise MemoryError("no room")
        super().append(x)


def test_a_value_put_twice_in_a_failed_step_is_back_to_what_it_was():
    b = TwiceBattery(1, ID, MeteredBattery(1), T0)
    node, net = make(b)
    v = b.get(0xD3)
    assert v is not None
    before = bytes(v)  # (a copy: the object changes its value in place)
    assert before == h("FFFFFD80")  # -640 W
    b.fail = True
    node.tick(T0 + 1)
    assert b.get(0xD3) == before and b.get(0x88) == h("41")
    assert infs(net) == [h("027D01 0EF001 73 01 88 01 41")]
    # no heap to note the step's changes: the step goes on, its fault is one as ever,
    # and what it put stands (it cannot be taken back), rather than the step failing
    # for want of the notes, or the restore raising out of Node.step
    assert node.step(b, T0 + 2, T0 + 1, ShortList()) is False
    assert b.get(0xD3) == h("000000C8") and b.get(0x88) == h("41") and b.undo is None


class FailingEV(ModbusEV):
    bad = False

    def step(self, now):
        if self.bad:
            self.stored_wh = 50000.0  # over its capacity: 0xE4, put last, refuses it


def test_a_vehicle_that_comes_in_a_failed_step_comes_at_the_next_one():
    a = FailingEV()
    a.connected = False
    ev = EVChargerDischarger(1, ID, a, T0)
    node, net = make(ev)
    assert get(node, net, 0x027E01, [0xC7, 0xE2], T0) == h("C7 01 30 E2 00")
    a.connected = True
    a.bad = True
    node.tick(T0 + 1)  # the vehicle's values put, then 0xE4 refused: none of them served
    assert get(node, net, 0x027E01, [0xC7, 0xE2], T0 + 1) == h("C7 01 30 E2 00")
    a.bad = False
    a.stored_wh = 20000.0
    node.tick(T0 + 2)
    assert get(node, net, 0x027E01, [0xC7, 0xE2], T0 + 2) == h("C7 01 43 E2 04 00004E20")


def test_a_mode_the_unit_changed_in_a_failed_step_is_served_at_the_next_one():
    a = FailingEV()
    ev = EVChargerDischarger(1, ID, a, T0)
    node, net = make(ev)
    assert request(node, net, "1081 0001 05FF01 027E01 61 01 DA 01 42", now=T0)[0][1][10] == 0x71
    a.mode = 0x44  # the unit went to standby by itself
    a.bad = True
    node.tick(T0 + 1)
    assert get(node, net, 0x027E01, [0xDA], T0 + 1) == h("DA 01 42")  # the last good step's
    a.bad = False
    a.stored_wh = 20000.0
    node.tick(T0 + 2)
    assert get(node, net, 0x027E01, [0xDA], T0 + 2) == h("DA 01 44")


class FailingFuelCell(SimFuelCell):
    fail_from = 0  # its bus fails from this time on (0: never)

    def step(self, now):
        if self.fail_from and now >= self.fail_from:
            raise OSError(5, "bus")
        SimFuelCell.step(self, now)


def test_a_window_that_ends_in_a_failed_step_ends_at_the_next_one():
    a = FailingFuelCell()
    fc = FuelCell(1, ID, a, T0)
    node, net = make(fc)
    assert request(node, net, "1081 0002 05FF01 027C01 61 01 D1 04 00000100", now=T0)[0][1][10] == 0x71
    node.tick(T0 + 60)
    a.fail_from = T0 + 3601
    node.tick(T0 + 3610)  # the step to the window's end works, the window is over, then the bus fails
    assert fc.get(0xD1) == h("00000100") and fc.get(0x88) == h("41")
    a.fail_from = 0
    net.take()
    node.tick(T0 + 3611)
    assert infs(net) == [h("027C01 0EF001 73 02 D1 04 FFFFFFFF 88 01 42")]  # and announced


class FailingHeater(SimWaterHeater):
    bad = False

    def step(self, now):
        SimWaterHeater.step(self, now)
        if self.bad:
            self.hot_l = -5.0  # a bad reading: 0xE1, put after the clock, refuses it


def test_the_clock_minute_put_in_a_failed_step_is_put_at_the_next_one():
    a = FailingHeater()
    wh = ElectricWaterHeater(1, ID, a, T0)
    node, net = make(wh)
    assert wh.get(0x97) == h("0000")
    a.bad = True
    node.tick(T0 + 60)  # 00:01 put, then 0xE1 refused (-5 L)
    assert wh.get(0x97) == h("0000")
    a.bad = False
    node.tick(T0 + 61)  # the same minute
    assert wh.get(0x97) == h("0001")


class ForecastHeater(FailingHeater):
    """Its forecast for the next cycle changes, and half of it cannot be read."""

    half = False
    cc: "tuple | None" = (0, 0, 0, 0)

    def step(self, now):
        SimWaterHeater.step(self, now)
        if self.half:
            self.rev += 1
            self.cb = (1000, 2000, 3000, 4000)  # 0xCB is put, then 0xCC refuses its None
            self.cc = None


def test_a_forecast_put_in_a_failed_step_is_put_at_the_next_one():
    a = ForecastHeater()
    wh = ElectricWaterHeater(1, ID, a, T0)
    node, net = make(wh)
    before = bytes(wh.get(0xCB) or b"")
    a.half = True
    node.tick(T0 + 1)
    assert wh.get(0xCB) == before and wh.get(0x88) == h("41")
    a.half = False
    a.cc = (100, 200, 300, 400)  # the same revision, read whole now
    node.tick(T0 + 2)
    assert wh.get(0xCB) == h("000003E8 000007D0 00000BB8 00000FA0")
