"""Hybrid water heater 0x02A6: frames, announcements, the simulated plant over simulated
days, solar linkage as DR and the DR-available amount 0xF0 (see dr-model.md)."""
from drready.hybrid_heater import HybridHeaterAppliance, HybridWaterHeater, SimHybridHeater
from echonet import propmap
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net, assert_every_get_readable, h, request

T0 = 1767225600  # 2026-01-01 00:00:00 UTC, a Thursday
DAY = 86400
HOUR = 3600
# electricity to heat one litre with the default plant: 58 Wh heat / COP 3.2
WH_PER_L = 58 / 3.2


def make(now=T0, appliance=None):
    dev = HybridWaterHeater(1, ID, appliance, now)
    net = Net()
    node = Node(NodeProfile(ID, [dev]), [dev], net.send, lambda src: True)
    return node, net, dev


def run(node, t0, t1, step=60):
    t = t0
    while t < t1:
        t = min(t + step, t1)
        node.tick(t)
    return t


def infs(net):
    """The INF frames sent to the group, from the SEOJ on (the TID is the node's own)."""
    return [f[4:] for d, f in net.take() if d is None]


def f0(dev):
    v = dev.get(0xF0)
    return int.from_bytes(v[:4], "big"), int.from_bytes(v[4:], "big")


def set_link(node, net, code, now):
    net.take()
    out = request(node, net, "1081 0100 05FF01 02A601 61 01 B8 01 %02X" % code, now=now)
    assert out[0] == (SRC, h("1081 0100 02A601 05FF01 71 01 B8 00"))


def test_property_maps():
    _, _, dev = make()
    assert propmap.decode(dev.get(0x9D)) == [0x80, 0x81, 0x88, 0xB0, 0xB2, 0xB3, 0xB8, 0xB9, 0xC3]
    assert propmap.decode(dev.get(0x9E)) == [0x81, 0xB0, 0xB8, 0xB9]
    gets = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0x8A, 0x9D, 0x9E, 0x9F]
    gets += [0xB0, 0xB2, 0xB3, 0xB8, 0xB9, 0xC3, 0xE1, 0xE2, 0xF0]
    assert propmap.decode(dev.get(0x9F)) == gets
    assert len(dev.get(0x9F)) == 17  # 20 properties: the bitmap form


def test_every_get_property_is_readable_with_its_declared_size():
    node, net, dev = make()
    assert_every_get_readable(node, net, dev)


def test_initial_values_byte_exact():
    # at 00:00 with the tank half full (75 L): the night run of the heat pump is on
    node, net, _ = make()
    out = request(node, net, "1081 0002 05FF01 02A601 62 09 80 00 84 00 85 00 B0 00 B2 00 C3 00 E1 00 E2 00 88 00")
    reply = "1081 0002 02A601 05FF01 72 09 8001 30 8402 0226 8504 00000000 B001 41 B201 41 C301 42 "
    assert out == [(SRC, h(reply + "E102 004B E202 0096 8801 42"))]
    # 0xF0: up = 3 h x 550 W (the tank has room: 75 - 30 L morning draw before 10:00);
    # down = one tank refilled by the heat pump, 150 L x 58 / 3.2 = 2718 Wh, left to gas
    out = request(node, net, "1081 0003 05FF01 02A601 62 03 B8 00 B9 00 F0 00")
    assert out == [(SRC, h("1081 0003 02A601 05FF01 72 03 B801 41 B904 0A000D00 F008 00000672 00000A9E"))]


def test_set_linkage_accepted_and_announced():
    node, net, dev = make()
    out = request(node, net, "1081 0010 05FF01 02A601 61 01 B8 01 42")
    assert out[0] == (SRC, h("1081 0010 02A601 05FF01 71 01 B8 00"))
    assert len(out) == 2 and out[1][0] is None and out[1][1][4:] == h("02A601 0EF001 73 01 B8 01 42")
    assert dev.appliance.linkage == 0x42
    # outside the window with linkage on, the heat pump stops at once
    node.tick(T0 + 1)
    assert infs(net) == [h("02A601 0EF001 73 01 B2 01 42")]
    assert dev.get(0x84) == h("0000")


def test_set_installation_location_accepted_and_announced():
    node, net, dev = make()
    out = request(node, net, "1081 0014 05FF01 02A601 61 01 81 01 6A")
    assert out[0] == (SRC, h("1081 0014 02A601 05FF01 71 01 81 00"))
    assert out[1][0] is None and out[1][1][4:] == h("02A601 0EF001 73 01 81 01 6A")
    assert dev.get(0x81) == h("6A")


def test_set_window_accepted_announced_and_validated():
    node, net, dev = make()
    out = request(node, net, "1081 0011 05FF01 02A601 61 01 B9 04 09000F00")
    assert out[0] == (SRC, h("1081 0011 02A601 05FF01 71 01 B9 00"))
    assert out[1] == (None, out[1][1]) and out[1][1][4:] == h("02A601 0EF001 73 01 B9 04 09000F00")
    assert dev.appliance.window == (9 * HOUR, 15 * HOUR)
    refused = [
        "B9 04 0C000C00",  # end = start
        "B9 04 0C1E0C1E",  # 12:30-12:30
        "B9 04 093C0F00",  # minute 60
        "B9 04 09001800",  # hour 24
        "B9 03 090015",  # wrong size
        "B9 04 FFFFFFFF",  # no "undefined" in the Appendix for this property
    ]
    for body in refused:
        out = request(node, net, "1081 0012 05FF01 02A601 61 01 " + body)
        assert out == [(SRC, h("1081 0012 02A601 05FF01 51 01 " + body))], body
    assert dev.get(0xB9) == h("09000F00") and dev.appliance.window == (9 * HOUR, 15 * HOUR)


def test_a_window_past_midnight_moves_the_heat_pump_across_it_and_f0_foresaw_it():
    node, net, dev = make()
    a = dev.appliance
    t = run(node, T0, T0 + DAY, 600)  # one autonomous day, to 00:00
    net.take()
    out = request(node, net, "1081 0015 05FF01 02A601 61 01 B9 04 16000200", now=t)  # 22:00-02:00
    assert out[0] == (SRC, h("1081 0015 02A601 05FF01 71 01 B9 00"))
    assert a.window == (22 * HOUR, 2 * HOUR)
    set_link(node, net, 0x42, t)
    t = run(node, t, t + 21 * HOUR, 600)  # 21:00: the evening draw has emptied the tank
    up, down = f0(dev)
    assert up == 2200  # tonight's window: 4 h x 550 W, the tank has room for more
    e0 = a.energy_wh
    t = run(node, t, t + HOUR - 60, 60)
    assert a.energy_wh == e0 and not a.heating  # nothing before 22:00
    net.take()
    t += 60
    node.tick(t)
    assert infs(net) == [h("02A601 0EF001 73 02 B2 01 41 C3 01 42")]  # 22:00, as the evening draw ends
    t = run(node, t, t + 2 * HOUR + 30 * 60, 300)  # 00:30, past midnight, still inside
    assert abs(f0(dev)[0] - 825) <= 1  # 1.5 h left x 550 W
    t = run(node, t, t + HOUR + 30 * 60 - 60, 60)
    assert a.heating
    t += 60
    node.tick(t)  # 02:00
    assert infs(net) == [h("02A601 0EF001 73 01 B2 01 42")]
    assert abs(a.energy_wh - e0 - up) < 1  # the up-DR it announced at 21:00
    assert f0(dev)[0] == 2200  # the next window: tonight's


def test_set_refusals_echo_the_request_data():
    node, net, dev = make()
    cases = [
        "B8 01 45",  # not a linkage mode
        "B0 01 44",  # not a heating setting
        "B2 01 41",  # Get only
        "E1 02 0010",  # Get only
        "F0 08 0000000000000000",  # Get only (manufacturer-specific DR amount)
        "80 01 31",  # operation status: hot water is not switched off over the network
        "B6 01 41",  # not served
    ]
    for body in cases:
        out = request(node, net, "1081 0013 05FF01 02A601 61 01 " + body)
        assert out == [(SRC, h("1081 0013 02A601 05FF01 51 01 " + body))], body
    assert dev.get(0xB8) == h("41") and dev.get(0x80) == h("30")


def test_heating_and_supply_status_announced_as_the_plant_runs():
    node, net, dev = make()
    net.take()
    # 75 L to heat at 550 W x 3.2 / 58 Wh/L = 30.3 L/h: full at 02:28:18, seen at the 02:29 tick
    run(node, T0, T0 + 2 * HOUR + 28 * 60)
    assert infs(net) == []
    node.tick(T0 + 2 * HOUR + 29 * 60)
    assert infs(net) == [h("02A601 0EF001 73 01 B2 01 42")]
    assert dev.get(0xE1) == h("0096") and dev.get(0x84) == h("0000")
    run(node, T0 + 2 * HOUR + 29 * 60, T0 + 7 * HOUR)
    assert infs(net) == [h("02A601 0EF001 73 01 C3 01 41")]  # morning draw starts
    run(node, T0 + 7 * HOUR, T0 + 8 * HOUR)
    assert infs(net) == [h("02A601 0EF001 73 01 C3 01 42")]
    assert dev.get(0xE1) == h("0078")  # 150 - 30 L


def test_autonomous_day_heats_at_night_only():
    node, net, dev = make()
    a = dev.appliance
    t = run(node, T0, T0 + DAY, 600)
    e0 = a.energy_wh
    t = run(node, t, t + 7 * HOUR, 600)  # 00:00-07:00, night
    night = a.energy_wh - e0
    t = run(node, t, t + 16 * HOUR, 600)  # 07:00-23:00
    assert a.energy_wh - e0 == night
    t = run(node, t, t + HOUR, 600)
    day = a.energy_wh - e0
    # the tank refilled once a day: 150 L x 58 / 3.2 = 2719 Wh (about 2.7 kWh)
    assert abs(day - 150 * WH_PER_L) < 1
    assert a.short_l == 0 and a.gas_wh > 0  # the 10 L the tank lacks at night come from gas


def test_solar_linkage_moves_the_heat_pump_into_the_window_and_f0_foresaw_it():
    node, net, dev = make()
    a = dev.appliance
    t = run(node, T0, T0 + DAY, 600)  # one autonomous day
    set_link(node, net, 0x42, t)
    t = run(node, t, t + 9 * HOUR, 600)  # to 09:00: heat pump stopped outside the window
    up, down = f0(dev)
    assert up == 1650 and down == int(150 * WH_PER_L)
    e0 = a.energy_wh
    assert a.hot_l < 1  # 30 L heated 23:00-24:00 used by the morning draw
    g0 = a.gas_wh
    t = run(node, t, t + HOUR - 60, 60)
    assert a.energy_wh == e0  # nothing before 10:00
    net.take()
    t += 60
    node.tick(t)
    assert infs(net) == [h("02A601 0EF001 73 01 B2 01 41")]  # 10:00
    t = run(node, t, t + 3 * HOUR, 600)  # 10:00-13:00
    window = a.energy_wh - e0
    assert abs(window - up) < 1  # 3 h x 550 W: the up-DR it announced (about 1.7 kWh)
    assert infs(net) == [h("02A601 0EF001 73 01 B2 01 42")]
    t = run(node, t, t + 21 * HOUR, 600)  # 13:00 to 10:00 next day
    assert a.energy_wh - e0 == window  # the night run (down-DR, about 2.7 kWh) avoided
    assert a.short_l == 0 and a.gas_wh - g0 > 60 * 58  # gas covered the rest of the draw
    assert dev.get(0xB8) == h("42")  # linkage stays until a controller changes it


def test_f0_follows_the_tank_the_window_and_the_setting():
    node, net, dev = make()
    t = run(node, T0, T0 + DAY, 600)
    set_link(node, net, 0x42, t)
    t = run(node, t, t + 11 * HOUR + 30 * 60, 300)  # 11:30, inside the window
    up, down = f0(dev)
    assert abs(up - 825) <= 1  # 1.5 h left x 550 W
    hot = dev.appliance.hot_l
    assert 40 < hot < 50
    # down: refill this tank and the next 24 h of draw, at most one tank
    assert down == int(150 * WH_PER_L)
    t = run(node, t, t + 2 * HOUR + 30 * 60, 300)  # 14:00: the next window is tomorrow's
    assert f0(dev)[0] == 1650  # the evening and morning draws empty the tank before it
    net.take()
    out = request(node, net, "1081 0020 05FF01 02A601 61 01 B9 04 0A000B00", now=t)
    assert out[0][1][10] == 0x71
    node.tick(t + 1)
    assert f0(dev)[0] == 550  # a one-hour window
    net.take()
    out = request(node, net, "1081 0021 05FF01 02A601 61 01 B0 01 42", now=t)
    assert out[0] == (SRC, h("1081 0021 02A601 05FF01 71 01 B0 00"))
    node.tick(t + 2)
    assert dev.get(0xF0) == bytes(8)  # manual heating: nothing to shift
    assert dev.appliance.heating  # manual heating runs the heat pump outside the window


def test_without_gas_the_heat_pump_keeps_hot_water_and_manual_stop_is_refused():
    node, net, dev = make()
    a = dev.appliance
    t = run(node, T0, T0 + DAY, 600)
    set_link(node, net, 0x42, t)
    net.take()
    a.gas_ok = False
    node.tick(t + 1)
    assert infs(net) == [h("02A601 0EF001 73 01 88 01 41")]  # fault announced
    assert dev.get(0xF0) == bytes(8)  # no DR without the back-up
    assert a.heating  # heat pump on outside the window: the only source left
    out = request(node, net, "1081 0030 05FF01 02A601 61 01 B0 01 43", now=t + 1)
    assert out == [(SRC, h("1081 0030 02A601 05FF01 51 01 B0 01 43"))]
    e0 = a.energy_wh
    t = run(node, t + 1, t + DAY, 600)
    assert a.short_l == 0 and a.energy_wh - e0 > 2000
    a.gas_ok = True
    net.take()
    node.tick(t + 1)
    assert infs(net) == [h("02A601 0EF001 73 01 88 01 42")]
    out = request(node, net, "1081 0031 05FF01 02A601 61 01 B0 01 43", now=t + 1)
    assert out[0] == (SRC, h("1081 0031 02A601 05FF01 71 01 B0 00"))
    assert out[1][1][4:] == h("02A601 0EF001 73 01 B0 01 43")
    node.tick(t + 2)
    assert not a.heating and dev.get(0xB2) == h("42")


def test_one_long_step_integrates_like_many_short_ones():
    fine = SimHybridHeater()
    coarse = SimHybridHeater()
    fine.command(0x41, 0x42, 36000, 46800)
    coarse.command(0x41, 0x42, 36000, 46800)
    fine.step(T0)
    coarse.step(T0)
    t = T0
    while t < T0 + 3 * DAY:
        t += 30
        fine.step(t)
    coarse.step(T0 + 3 * DAY)
    assert abs(fine.energy_wh - coarse.energy_wh) < 0.01
    assert abs(fine.hot_l - coarse.hot_l) < 0.01 and abs(fine.gas_wh - coarse.gas_wh) < 0.1
    assert abs(coarse.energy_wh - 3 * 1650) < 0.01  # three windows


def test_cumulative_energy_wraps_and_power_is_capped():
    class Meter(HybridHeaterAppliance):
        def __init__(self):
            self.hot_l = 12.7
            self.energy_wh = 1000000000 + 5
            self.power_w = 70000

        def step(self, now):
            pass

        def command(self, auto, linkage, start, end):
            pass

        def expected_draw(self, t0, t1):
            return 0.0

    _, _, dev = make(appliance=Meter())
    assert dev.get(0x85) == h("00000005") and dev.get(0x84) == h("FFFD") and dev.get(0xE1) == h("000C")
    # the default planner on a real unit's readings: up = 3 h x 550 W, down = 137.3 L x 58 / 3.2
    assert f0(dev) == (1650, int((150 - 12.7) * WH_PER_L))
