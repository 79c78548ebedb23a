"""Heat-pump water heater (EcoCute) 0x026B: frames, announcements, the simulated plant over
simulated days, the energy shift as DR, its forecast 0xCB-0xCF and the hot-water reserve
(see dr-model.md)."""
from drready.water_heater import ElectricWaterHeater, SimWaterHeater, WaterHeaterAppliance
from echonet import propmap
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net, assert_every_get_readable, h, request

T0 = 1767225600  # 2026-01-01 00:00:00 UTC
DAY = 86400
HOUR = 3600
RESERVE = 100
# the default plant: 3 kW of heat, 58 Wh of heat per litre -> 51.72 L/h heated
RATE = 3000 / 58


def make(now=T0, appliance=None):
    dev = ElectricWaterHeater(1, ID, appliance, now)
    net = Net()
    node = Node(NodeProfile(ID, [dev]), [dev], net.send, lambda src: True)
    return node, net, dev


class Watch:
    """Drives the node and records, per hour of day, the seconds spent heating, and the
    lowest hot water seen."""

    def __init__(self, node, dev):
        self.node = node
        self.dev = dev
        self.heat = [0] * 24
        self.low = 1e9

    def run(self, t0, t1, step=60):
        t = t0
        a = self.dev.appliance
        while t < t1:
            n = min(t + step, t1)
            self.node.tick(n)
            if a.heating:
                self.heat[(t % DAY) // HOUR] += n - t
            self.low = min(self.low, a.hot_l)
            t = n
        return t


def run(node, t0, t1, step=60):
    t = t0
    while t < t1:
        t = min(t + step, t1)
        node.tick(t)
    return t


def infs(net):
    """The INF frames sent to the group, from the SEOJ on (the TID is the node's own)."""
    return [f[4:] for d, f in net.take() if d is None]


def setc(node, net, body, now, ok=True):
    """SetC one property; check the byte-exact reply (accepted, or SNA echoing the data)."""
    net.take()
    out = request(node, net, "1081 0042 05FF01 026B01 61 01 " + body, now=now)
    if ok:
        assert out[0] == (SRC, h("1081 0042 026B01 05FF01 71 01 %s 00" % body[:2])), body
    else:
        assert out == [(SRC, h("1081 0042 026B01 05FF01 51 01 " + body))], body
    return out


def u32s(edt):
    return [int.from_bytes(edt[i : i + 4], "big") for i in range(0, len(edt), 4)]


def participate(node, net, t, ca, cd=0):
    setc(node, net, "C7 01 01", t)
    setc(node, net, "CA 01 %02X" % ca, t)
    if cd:
        setc(node, net, "CD 01 %02X" % cd, t)


def test_property_maps():
    _, _, dev = make()
    assert propmap.decode(dev.get(0x9D)) == [0x80, 0x81, 0x88, 0xB0, 0xB2, 0xC2, 0xC3, 0xC7, 0xEA]
    assert propmap.decode(dev.get(0x9E)) == [0x81, 0x97, 0x98, 0xB0, 0xC0, 0xC7, 0xCA, 0xCD, 0xE3]
    gets = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0x8A, 0x97, 0x98, 0x9D, 0x9E, 0x9F]
    gets += [0xB0, 0xB2, 0xC0, 0xC2, 0xC3, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF]
    gets += [0xE1, 0xE2, 0xE3, 0xEA]
    assert propmap.decode(dev.get(0x9F)) == gets
    assert len(dev.get(0x9F)) == 17  # 31 properties: the bitmap form


def test_every_get_property_is_readable_with_its_declared_size():
    node, net, dev = make()
    assert_every_get_readable(node, net, dev)


def test_initial_values_byte_exact():
    # 00:00 with a full tank: nothing to heat, nothing drawn, no bath running
    node, net, _ = make()
    out = request(node, net, "1081 0002 05FF01 026B01 62 0B 80 00 84 00 85 00 B0 00 B2 00 C0 00 C2 00 C3 00 E1 00 E2 00 88 00")
    reply = "1081 0002 026B01 05FF01 72 0B 8001 30 8402 0000 8504 00000000 B001 41 B201 42 C001 41 "
    assert out == [(SRC, h(reply + "C204 00000000 C301 42 E102 01CC E202 01CC 8801 42"))]
    # standard start 23:00 (0x17), two shifts, nothing set; 2026-01-01 00:00
    out = request(node, net, "1081 0003 05FF01 026B01 62 09 C7 00 C8 00 C9 00 CA 00 CD 00 E3 00 EA 00 97 00 98 00")
    reply = "1081 0003 026B01 05FF01 72 09 C701 00 C801 17 C901 02 CA01 00 CD01 00 E301 42 EA01 42 "
    assert out == [(SRC, h(reply + "9702 0000 9804 07EA0101"))]


def test_energy_per_hour_follows_the_cop_of_the_hour():
    # COP 3.0 at 02:00 rising linearly to 4.0 at 14:00; 3 kW of heat over the hour from
    # hh:00, at its middle: 10:30 COP 3.7083 -> 808 Wh, 13:30 3.9583 -> 757 Wh,
    # 15:30 3.875 -> 774 Wh, 17:30 3.7083 -> 808 Wh
    _, _, dev = make()
    assert dev.get(0xCC) == h("0328 02F5 0306 0328")
    assert dev.get(0xCF) == h("02F5 0306 0328")


def test_setc_accepted_frames():
    node, net, dev = make()
    t = T0 + 12 * HOUR
    run(node, T0, t, 600)
    # CA, CD, C0 are not announced (Appendix: optional): the reply only
    for body in ("CA 01 0D", "CD 01 11", "C0 01 42", "CA 01 00", "CD 01 0A", "CA 01 09"):
        out = setc(node, net, body, t)
        assert len(out) == 1, body
        assert dev.get(int(body[:2], 16)) == h(body[6:])
    # participation is (optional in the Appendix, served here)
    out = setc(node, net, "C7 01 01", t)
    assert out[1] == (None, out[1][1]) and out[1][1][4:] == h("026B01 0EF001 73 01 C7 01 01")
    a = dev.appliance
    assert (a.participate, a.shift1, a.shift2, a.reheat) == (1, 9, 10, 0x42)
    # B0 is announced
    out = setc(node, net, "B0 01 42", t)
    assert out[1] == (None, out[1][1]) and out[1][1][4:] == h("026B01 0EF001 73 01 B0 01 42")


def test_set_refusals_echo_the_request_data():
    node, net, dev = make()
    t = T0 + 12 * HOUR
    run(node, T0, t, 600)
    setc(node, net, "CA 01 0D", t)
    cases = [
        "CA 01 08",  # 08:00: outside 09:00-17:00
        "CA 01 12",  # 18:00
        "CA 01 FF",
        "CD 01 09",  # shift 2 starts at 10:00 at the earliest
        "CD 01 12",
        "CD 01 0C",  # shift 2 before shift 1 (13:00)
        "CD 01 0D",  # ... or at the same time
        "CA 02 0D 00",  # wrong size
        "C7 01 02",  # not a participation code
        "C0 01 43",
        "B0 01 44",
        "E3 01 43",
        "B2 01 41",  # Get only
        "E1 02 0010",
        "CB 10 00000000000000000000000000000000",
        "80 01 31",  # operation status: hot water is not switched off over the network
        "C8 01 14",  # the standard start time is fixed (contract), Get only
        "D1 01 28",  # not served
    ]
    for body in cases:
        setc(node, net, body, t, ok=False)
    # CA 0x11 (17:00) leaves no room for a second shift: refused while CD is set (the
    # Appendix nullifies it for two-shift units), accepted once CD is cleared
    setc(node, net, "CD 01 0F", t)
    setc(node, net, "CA 01 11", t, ok=False)
    setc(node, net, "CA 01 0F", t, ok=False)
    setc(node, net, "CD 01 00", t)
    setc(node, net, "CA 01 11", t)
    assert dev.get(0xCA) == h("11") and dev.get(0x80) == h("30")
    assert dev.appliance.shift1 == 0x11


def test_setc_when_not_allowed_is_refused():
    dev = ElectricWaterHeater(1, ID, None, T0)
    net = Net()
    node = Node(NodeProfile(ID, [dev]), [dev], net.send, lambda src: False)
    out = request(node, net, "1081 0005 05FF01 026B01 61 01 C7 01 01")
    assert out == [(SRC, h("1081 0005 026B01 05FF01 51 01 C7 01 01"))]
    assert dev.appliance.participate == 0


def test_autonomous_day_heats_at_night_until_full_and_announces_it():
    node, net, dev = make()
    a = dev.appliance
    w = Watch(node, dev)
    t = w.run(T0, T0 + 23 * HOUR)
    # full at 00:00, 50 L drawn at 07:00, 300 L in 19:00-22:00: 110 L at 23:00
    assert dev.get(0xE1) == h("006E")
    net.take()
    e0 = a.energy_wh
    t = w.run(t, t + 60)
    assert infs(net) == [h("026B01 0EF001 73 01 B2 01 41")]  # heating starts at 23:00
    p = int.from_bytes(dev.get(0x84), "big")
    assert 900 <= p <= 950  # about 1 kW: 3 kW of heat at COP 3.25 (23:00) = 923 W
    # 350 L at 51.72 L/h: 6 h 46 min, full at 05:46
    t = w.run(t, t + 6 * HOUR + 45 * 60)
    assert infs(net) == [] and dev.get(0xB2) == h("41")
    t = w.run(t, t + 120)
    assert infs(net) == [h("026B01 0EF001 73 01 B2 01 42")]
    assert dev.get(0xE1) == h("01CC") and dev.get(0x84) == h("0000")
    day = a.energy_wh - e0
    # 350 L x 58 Wh = 20.3 kWh of heat at a night COP of about 3.15: 6.0-7.0 kWh
    assert 6000 < day < 7000
    assert int.from_bytes(dev.get(0x85), "big") == int(a.energy_wh)
    t = w.run(t, t + 17 * HOUR)  # to the next 23:00
    assert sum(w.heat[6:23]) == 0  # nothing heated in the daytime
    assert w.low >= 110 - 0.01


def test_hot_water_supply_and_bath_are_announced():
    node, net, dev = make()
    run(node, T0, T0 + 7 * HOUR)
    net.take()
    run(node, T0 + 7 * HOUR, T0 + 7 * HOUR + 60)
    assert infs(net) == [h("026B01 0EF001 73 01 C3 01 41")]  # the morning draw
    run(node, T0 + 7 * HOUR + 60, T0 + 8 * HOUR)
    assert infs(net) == [h("026B01 0EF001 73 01 C3 01 42")]
    assert dev.get(0xE1) == h("019A")  # 460 - 50 L
    run(node, T0 + 8 * HOUR, T0 + 19 * HOUR)
    net.take()
    node.tick(T0 + 19 * HOUR + 60)  # the automatic bath: filling, water drawn
    assert infs(net) == [h("026B01 0EF001 73 02 C3 01 41 EA 01 41")]
    assert dev.get(0xE3) == h("41")
    run(node, T0 + 19 * HOUR + 60, T0 + 19 * HOUR + 21 * 60)
    assert infs(net) == [h("026B01 0EF001 73 01 EA 01 43")]  # keeping warm
    # a controller switches the automatic bath off
    out = setc(node, net, "E3 01 42", T0 + 20 * HOUR)
    node.tick(T0 + 20 * HOUR + 1)
    assert infs(net) == [h("026B01 0EF001 73 01 EA 01 42")]
    assert dev.get(0xE3) == h("42") and len(out) == 1


def test_installation_location_set_and_announced():
    node, net, dev = make()
    out = setc(node, net, "81 01 6A", T0)
    assert out[1][0] is None and out[1][1][4:] == h("026B01 0EF001 73 01 81 01 6A")


def shifted_day(ca, cd=0):
    """Day 1 autonomous; at 20:00 the controller asks for a shift; the watch covers the
    cycle from 23:00 to the next 23:00."""
    node, net, dev = make()
    t = run(node, T0, T0 + 20 * HOUR, 600)
    participate(node, net, t, ca, cd)
    cb = u32s(dev.get(0xCB))
    ce = u32s(dev.get(0xCE))
    t = run(node, t, T0 + 23 * HOUR, 600)
    w = Watch(node, dev)
    e0 = dev.appliance.energy_wh
    w.run(t, t + DAY)
    return node, net, dev, w, cb, ce, dev.appliance.energy_wh - e0


def test_shift_moves_most_heating_into_the_day_and_keeps_the_reserve():
    base = shifted_day(0)  # C7 01 without a shift time: the ordinary night
    assert sum(base[3].heat[6:23]) == 0
    for ca in (0x09, 0x0A, 0x0D, 0x0F, 0x11):
        node, net, dev, w, cb, ce, energy = shifted_day(ca)
        total = sum(w.heat)
        day = sum(w.heat[ca:23])
        # DRready: at least half of the day's heating time shiftable; docs/properties.md
        # (0xC7) publishes 88 % for 09:00-15:00, 76 % at 16:00 and 62 % at 17:00
        assert day >= total / 2, (ca, w.heat)
        assert round(100 * day / total) >= {0x09: 88, 0x0A: 88, 0x0D: 88, 0x0F: 88, 0x11: 62}[ca], (ca, w.heat)
        assert sum(w.heat[7:ca]) == 0
        # the reserve holds all day, the evening draw included
        assert w.low >= RESERVE, (ca, w.low)
        # warmer air: less electricity than the night-only day
        assert energy < base[6], ca
        # participation is cleared at the shift time
        assert dev.get(0xC7) == h("00")
        # and the next cycle is an ordinary night again
        w.run(T0 + 47 * HOUR, T0 + 71 * HOUR)
        assert sum(w.heat[7:23]) == day


def test_a_clock_correction_keeps_the_heating_plan():
    """A HEMS that sets 0x97 after the 23:00 plan (to the time it already is, or a few
    minutes off) changes nothing of it: the shift still heats at 12:00, not at once."""
    for delta in (0, 120, -300):
        node, net, dev = make()
        t = run(node, T0, T0 + 20 * HOUR, 600)
        participate(node, net, t, 0x0C, 0)
        t = run(node, t, T0 + 23 * HOUR + 39 * 60, 600)
        dev.clock_moved(delta, t + delta)  # as Node does on a Set of 0x97
        w = Watch(node, dev)
        w.run(t + delta, T0 + 47 * HOUR)
        assert sum(w.heat[0:12]) == 0, (delta, w.heat)  # no heating at night
        assert sum(w.heat[12:15]) > 0, (delta, w.heat)  # the shift, at 12:00
        assert w.low >= RESERVE, (delta, w.low)


def test_a_clock_correction_across_the_cycle_start_keeps_the_new_plan():
    """A HEMS that syncs the clock on the hour: a few seconds across 23:00, either way,
    and the shift set for the day still runs at 12:00, with no night heating."""
    for at, delta in ((23 * HOUR - 10, 20), (23 * HOUR - 2, 5), (23 * HOUR + 10, -20)):
        node, net, dev = make()
        t = run(node, T0, T0 + 20 * HOUR, 600)
        participate(node, net, t, 0x0C, 0)
        t = run(node, t, T0 + at, 1)
        dev.clock_moved(delta, t + delta)
        w = Watch(node, dev)
        w.run(t + delta, T0 + 47 * HOUR, step=60)
        # (the watch's minutes start at :50, so 11:59:50 counts to hour 11)
        assert sum(w.heat[0:11]) == 0 and sum(w.heat[12:17]) == 5 * HOUR, (at, delta, w.heat)


def test_a_clock_jump_out_of_the_cycle_plans_again_from_the_new_time():
    node, net, dev = make()
    t = run(node, T0, T0 + 20 * HOUR, 600)
    dev.clock_moved(3 * DAY, t + 3 * DAY)  # days ahead: the old cycle's plan is meaningless there
    w = Watch(node, dev)
    w.run(t + 3 * DAY, t + 4 * DAY)
    assert sum(w.heat[23:24]) + sum(w.heat[0:7]) > 0 and w.low >= RESERVE, (w.heat, w.low)


def test_a_shift_that_would_break_the_reserve_keeps_night_heating():
    # 110 L at 23:00 and 50 L drawn at 07:00: with all heating moved to the day the tank
    # would hold 60 L before the shift. The plan keeps 40 L at night for a 13:00 shift;
    # a 17:00 shift also has to cover the evening draw, so more stays at night.
    w13 = shifted_day(0x0D)[3]
    w17 = shifted_day(0x11)[3]
    night13 = sum(w13.heat[0:7]) + w13.heat[23]
    night17 = sum(w17.heat[0:7]) + w17.heat[23]
    assert abs(night13 * RATE / HOUR - 40) < 2
    assert night17 > night13 + HOUR
    assert w13.low >= RESERVE and w17.low >= RESERVE
    assert sum(w17.heat[17:23]) > 3 * HOUR


def test_forecast_is_what_the_shift_then_uses():
    node, net, dev, w, cb, ce, energy = shifted_day(0x0D)
    for x, y in zip(cb, u32s(dev.get(0xCB))):  # much the same day expected next
        assert abs(x - y) < x * 0.01
    # the forecast for 13:00 is the electricity the 13:00 shift took
    a = dev.appliance
    node2, net2, dev2 = make()
    t = run(node2, T0, T0 + 20 * HOUR, 600)
    participate(node2, net2, t, 0x0D)
    t = run(node2, t, T0 + 36 * HOUR + HOUR, 600)  # to 13:00 next day
    net2.take()
    e0 = dev2.appliance.energy_wh
    node2.tick(t + 60)
    # the shift starts; participation ends with it, and the unit says so
    assert infs(net2) == [h("026B01 0EF001 73 02 B2 01 41 C7 01 00")]
    run(node2, t + 60, t + 10 * HOUR, 60)
    assert abs((dev2.appliance.energy_wh - e0) - cb[1]) < cb[1] * 0.02
    # the amounts differ by hour (COP, and how much can move): no constants
    assert len(set(cb)) == 4 and cb[3] < cb[1]
    assert a.participate == 0


def test_two_shifts_split_the_day_heating():
    node, net, dev, w, cb, ce, energy = shifted_day(0x0D, 0x11)
    # shift 1 from 13:00 and shift 2 from 17:00 each take half of what moved
    assert w.heat[13] == HOUR and w.heat[17] == HOUR
    assert 0 < w.heat[16] < HOUR  # shift 1 done before 17:00
    assert w.low >= RESERVE
    # the forecast for shift 2 at 17:00 (with shift 1 at 13:00) is its electricity
    assert ce[0] == 0 and ce[2] > 0  # 13:00 is not after shift 1
    assert dev.get(0xCD) == h("11")


def test_manual_heating_fills_the_tank_then_returns_to_automatic():
    node, net, dev = make()
    t = run(node, T0, T0 + 12 * HOUR, 600)  # 410 L
    out = setc(node, net, "B0 01 42", t)
    assert out[1][1][4:] == h("026B01 0EF001 73 01 B0 01 42")
    node.tick(t + 60)
    assert infs(net) == [h("026B01 0EF001 73 01 B2 01 41")]
    t = run(node, t + 60, t + HOUR)  # 50 L at 51.7 L/h: 58 min
    assert infs(net) == [h("026B01 0EF001 73 02 B0 01 41 B2 01 42")]
    assert dev.get(0xE1) == h("01CC")


def test_manual_stop_only_when_the_tank_keeps_the_reserve():
    node, net, dev = make()
    t = run(node, T0, T0 + 23 * HOUR + 30 * 60, 600)  # 23:30, heating from 110 L
    setc(node, net, "B0 01 43", t, ok=False)  # 137 L: the morning draw would leave 87 L
    t = run(node, t, T0 + 42 * HOUR, 600)  # 18:00 next day, 410 L
    out = setc(node, net, "B0 01 43", t)  # 110 L would be left after the evening
    assert out[1][1][4:] == h("026B01 0EF001 73 01 B0 01 43")
    w = Watch(node, dev)
    t = w.run(t, T0 + 47 * HOUR)
    assert sum(w.heat) == 0
    net.take()
    t = w.run(t, t + 60)  # 23:00: back to automatic, the night heating starts
    assert infs(net) == [h("026B01 0EF001 73 02 B0 01 41 B2 01 41")]


def test_an_unexpected_draw_is_covered_by_reheating():
    node, net, dev = make()
    a = dev.appliance
    t = run(node, T0, T0 + 10 * HOUR + 30 * 60)
    a.hot_l = 90.0  # the household drew 320 L more than expected
    net.take()
    t = run(node, t, T0 + 11 * HOUR)
    assert infs(net) == []
    node.tick(t + 60)  # the next hourly check re-plans: heat now
    assert infs(net) == [h("026B01 0EF001 73 01 B2 01 41")]
    t = run(node, t + 60, T0 + 12 * HOUR)
    assert dev.appliance.hot_l >= RESERVE  # back above the reserve within the hour
    w = Watch(node, dev)
    w.run(t, T0 + 23 * HOUR)
    assert w.low >= RESERVE  # and kept there through the evening
    # with daytime reheating forbidden the unit keeps to its plan (nothing planned)
    node, net, dev = make()
    a = dev.appliance
    t = run(node, T0, T0 + 10 * HOUR, 600)
    setc(node, net, "C0 01 42", t)
    a.hot_l = 90.0
    w = Watch(node, dev)
    w.run(t, T0 + 23 * HOUR)
    assert sum(w.heat) == 0


def test_no_hot_water_alarm_is_announced():
    sim = SimWaterHeater(draws=((25200, 27000, 600),))  # more than the tank holds
    node, net, dev = make(appliance=sim)
    run(node, T0, T0 + 7 * HOUR)
    net.take()
    t = run(node, T0 + 7 * HOUR, T0 + 7 * HOUR + 30 * 60)
    msgs = infs(net)
    assert h("026B01 0EF001 73 01 C2 04 01000000") in msgs
    assert dev.get(0xE1) == h("0000")
    run(node, t, t + 2 * HOUR)  # reheating refills: the alarm clears
    assert h("026B01 0EF001 73 01 C2 04 00000000") in infs(net)


def test_large_steps_and_clock():
    # a day in 48 ticks of 30 min gives the same day as 1-minute ticks
    node, net, dev = make()
    node2, net2, dev2 = make()
    run(node, T0, T0 + 2 * DAY, 1800)
    run(node2, T0, T0 + 2 * DAY, 60)
    assert abs(dev.appliance.energy_wh - dev2.appliance.energy_wh) < 5
    assert abs(dev.appliance.hot_l - dev2.appliance.hot_l) < 1
    assert dev.get(0x97) == h("0000") and dev.get(0x98) == h("07EA0103")
    node.tick(T0 + 2 * DAY + 13 * HOUR + 5 * 60 + 59)
    assert dev.get(0x97) == h("0D05")
    # a clock jump does not integrate the gap
    node.tick(T0 + 30 * DAY)
    assert 0 <= dev.appliance.hot_l <= 460


class FakeHeater(WaterHeaterAppliance):
    """A real unit's driver stand-in: the object only relays."""

    def __init__(self):
        self.commands = []
        self.hot_l = 123.4
        self.cb = (1, 2, 3, 4)
        self.rev = 1

    def step(self, now):
        self.heating = now >= T0 + 10
        self.power_w = 800 if self.heating else 0

    def command(self, epc, code, now):
        self.commands.append((epc, code))
        if epc == 0xC7:
            self.participate = code
        return epc != 0xC0


def test_appliance_interface_is_all_the_object_needs():
    fake = FakeHeater()
    node, net, dev = make(appliance=fake)
    assert dev.get(0xE1) == h("007B") and dev.get(0xCB) == h("00000001 00000002 00000003 00000004")
    setc(node, net, "C7 01 01", T0)
    setc(node, net, "C0 01 42", T0, ok=False)  # the unit refused
    assert fake.commands == [(0xC7, 1), (0xC0, 0x42)]
    node.tick(T0 + 10)
    assert infs(net) == [h("026B01 0EF001 73 01 B2 01 41")]
    assert dev.get(0x84) == h("0320")


def test_a_unit_with_one_shift_a_day_refuses_a_second_shift_time():
    a = SimWaterHeater()
    a.shifts = 1
    node, net, dev = make(appliance=a)
    assert dev.get(0xC9) == b"\x01"
    setc(node, net, "CA 01 0C", T0 + 1)
    setc(node, net, "CD 01 0F", T0 + 2, ok=False)
    setc(node, net, "CD 01 00", T0 + 3)  # clearing it is no second shift
