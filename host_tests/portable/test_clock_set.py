"""A controller sets the node's clock (0x97 time, 0x98 date; dr-model.md, "Time"): every
object and plan follows the new time, nothing runs on for the jump, nothing lapses
because of it, and the clock is not a setting kept across a restart."""
from drready import registry
from drready.clock import setter
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, Net, h, request

T0 = 1767225600 + 8 * 3600  # 2026-01-01 08:00 UTC
HOUR = 3600


class Clock:
    """hal/clock.Clock as far as the node's setter uses it."""

    def __init__(self, now):
        self.t = now

    def set(self, t):
        self.t = t


def make(names=("battery",), now=T0):
    devices = [registry.make(n, 1, ID, now) for n in names]
    net = Net()
    node = Node(NodeProfile(ID, devices), devices, net.send, lambda src: True)
    clock = Clock(now)
    node.set_time = setter(clock)
    node.dr_timeout = HOUR
    node.start(now)
    net.take()
    return node, net, clock, devices


def setc(node, net, eoj, body, now):
    opc = len(body.split()) // 3
    net.take()  # what the ticks announced: only the reply is wanted
    out = request(node, net, "1081 0301 05FF01 %s 61 %02X %s" % (eoj, opc, body), now=now)
    return out[0][1]


def test_time_of_day_moves_every_object_and_nothing_runs_on_for_the_jump():
    node, net, clock, (b, fc) = make(("battery", "fuel_cell"))
    assert setc(node, net, "027D01", "EB 04 000007D0 DA 01 42", T0)[10] == 0x71  # charge at 2 kW
    node.tick(T0 + 60)
    charged = int.from_bytes(b.get(0xA8), "big")
    reply = setc(node, net, "027C01", "97 02 1100", T0 + 60)  # 17:00: nine hours on
    assert reply == h("1081 0301 027C01 05FF01 71 01 97 00")
    now = clock.t
    assert now == T0 - 8 * HOUR + 17 * HOUR
    node.tick(now + 60)
    for d in (b, fc):
        assert d.get(0x97) == h("1101") and d.get(0x98) == h("07EA0101"), d.get(0x97)
    # one more minute at 2 kW, not nine hours
    assert int.from_bytes(b.get(0xA8), "big") - charged <= 2000 // 60 + 1
    # the command was set an hour ago by the clock's count: it holds for the rest of the hour
    node.tick(now + HOUR - 120)
    assert b.get(0xDA) == h("42")
    node.tick(now + HOUR)
    assert b.get(0xDA) == h("46")


def test_date_moves_and_keeps_the_time_of_day():
    node, net, clock, (b,) = make()
    assert setc(node, net, "027D01", "98 04 07EA0B1B", T0)[10] == 0x71  # 2026-11-27
    node.tick(clock.t + 1)
    assert b.get(0x98) == h("07EA0B1B") and b.get(0x97) == h("0800")


def test_a_date_that_does_not_exist_is_refused():
    node, net, clock, (b,) = make()
    for bad in ("07EA021E", "07E9021D"):  # 2026-02-30, 2025-02-29
        reply = setc(node, net, "027D01", "98 04 " + bad, T0)
        assert reply == h("1081 0301 027D01 05FF01 51 01 98 04 " + bad)
    assert clock.t == T0
    assert setc(node, net, "027D01", "98 04 07E8021D", T0)[10] == 0x71  # 2024-02-29 exists


def test_a_year_outside_the_appendix_range_is_refused():
    node, net, clock, (b,) = make()
    for bad in ("00000101", "27100101", "FFFF0101"):  # years 0, 10000, 65535: the Appendix allows 1-9999
        reply = setc(node, net, "027D01", "98 04 " + bad, T0)
        assert reply == h("1081 0301 027D01 05FF01 51 01 98 04 " + bad)
    assert clock.t == T0
    assert setc(node, net, "027D01", "98 04 270F0C1F", T0)[10] == 0x71  # 9999-12-31, the last day it allows


def test_without_a_clock_to_set_the_time_is_refused():
    node, net, clock, (b,) = make()
    node.set_time = lambda epc, edt, now: None
    assert setc(node, net, "027D01", "97 02 0C00", T0) == h("1081 0301 027D01 05FF01 51 01 97 02 0C00")


def test_a_generation_window_is_read_against_the_new_clock():
    node, net, clock, (fc,) = make(("fuel_cell",))
    assert setc(node, net, "027C01", "D1 04 0C000F00", T0)[10] == 0x71  # 12:00-15:00 today
    day = T0 - T0 % 86400
    assert fc.win == (day + 12 * HOUR, day + 15 * HOUR)
    setc(node, net, "027C01", "97 02 1100", T0)  # it is 17:00 now: today's window is over
    assert fc.win == (day + 86400 + 12 * HOUR, day + 86400 + 15 * HOUR)
    assert fc.get(0xD1) == h("0C000F00")


def test_a_water_heater_plans_again_from_the_new_time():
    node, net, clock, (wh,) = make(("water_heater",))
    day = T0 - T0 % 86400
    assert wh.appliance.end == day + 23 * HOUR  # tonight's cycle
    setc(node, net, "026B01", "98 04 07EA0102", T0)  # tomorrow, same time of day
    node.tick(clock.t + 60)
    assert clock.t == T0 + 86400
    assert wh.appliance.end == day + 86400 + 23 * HOUR  # the cycle of the new day
    assert wh.get(0x98) == h("07EA0102")
