"""Storage battery 0x027D: the simulated plant carries out DR commands over simulated time."""
import struct

from drready.battery import StorageBattery
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net, h, make_node, request

T0 = 1764201600  # 2025-11-27 00:00 UTC


def _num(obj, epc):
    v = obj.get(epc)
    return struct.unpack(">i", v)[0] if epc == 0xD3 else int.from_bytes(v, "big")


def _run(node, start, seconds, step=60):
    t = start
    while t < start + seconds:
        t += step
        node.tick(t)
    return t


def test_charge_at_set_power_raises_stored_energy():
    node, net = make_node(now=T0)
    b = node.devices[0]
    e0 = _num(b, 0xE2)
    # HEMS order: power first, then the mode
    assert request(node, net, "1081 0001 05FF01 027D01 61 02 EB 04 000007D0 DA 01 42")[0][1][10] == 0x71
    _run(node, T0, 3600)
    assert _num(b, 0xD3) == 2000  # charging is positive
    assert b.get(0xCF) == b"\x42"
    # one hour at 2 kW AC, 95 % into the cells
    assert abs(_num(b, 0xE2) - (e0 + 1900)) <= 2
    assert _num(b, 0xE4) > 50
    assert abs(_num(b, 0xA8) - 2000) <= 2  # cumulative AC charged, Wh


def test_discharge_stops_at_the_backup_reserve_and_announces():
    node, net = make_node(now=T0)
    b = node.devices[0]
    request(node, net, "1081 0002 05FF01 027D01 61 01 DA 01 43")
    t = _run(node, T0, 600)
    assert _num(b, 0xD3) == -3000  # maximum discharge when 0xEC is not set
    net.take()
    _run(node, t, 6 * 3600)
    assert _num(b, 0xE4) == 30  # 0xA7, the reserve
    assert _num(b, 0xD3) == 0 and b.get(0xCF) == b"\x44"  # standby, though 0xDA still says discharge
    assert b.get(0xDA) == b"\x43"
    assert _num(b, 0xA5) == 0  # nothing left to give above the reserve
    infs = [f for d, f in net.take() if d is None]
    assert any(f[4:7] == h("027D01") and h("CF 01 44") in f for f in infs)


def test_amount_setting_stops_charging_after_that_much_energy():
    node, net = make_node(now=T0)
    b = node.devices[0]
    request(node, net, "1081 0003 05FF01 027D01 61 02 AA 04 000003E8 DA 01 42")  # 1000 Wh
    _run(node, T0, 3 * 3600)
    assert abs(_num(b, 0xA8) - 1000) <= 1
    assert b.get(0xCF) == b"\x44"


def test_each_amount_set_is_counted_from_when_it_is_set():
    node, net = make_node(now=T0)
    b = node.devices[0]
    request(node, net, "1081 0003 05FF01 027D01 61 02 AA 04 000001F4 DA 01 42")  # 500 Wh
    t = _run(node, T0, 3600)
    assert abs(_num(b, 0xA8) - 500) <= 1 and b.get(0xCF) == b"\x44"
    # the same order again, once it has run out: another 500 Wh
    request(node, net, "1081 0004 05FF01 027D01 61 02 AA 04 000001F4 DA 01 42")
    t = _run(node, t, 3600)
    assert abs(_num(b, 0xA8) - 1000) <= 1 and b.get(0xCF) == b"\x44"
    # a larger amount counts from its own Set, not from the start of the first order
    request(node, net, "1081 0005 05FF01 027D01 61 01 AA 04 00000320")  # 800 Wh
    _run(node, t, 3600)
    assert abs(_num(b, 0xA8) - 1800) <= 1
    # resending the mode alone (a keep-alive) does not restart the count
    request(node, net, "1081 0006 05FF01 027D01 61 01 DA 01 42")
    _run(node, t + 3600, 3600)
    assert abs(_num(b, 0xA8) - 1800) <= 1


def test_charging_and_discharging_methods():
    node, net = make_node(now=T0)
    b = node.devices[0]
    assert b.get(0xC1) == b"\x03" and b.get(0xC2) == b"\x03"  # designated power (0xEB/0xEC)
    request(node, net, "1081 0007 05FF01 027D01 61 02 EC 04 000003E8 DA 01 43")
    t = _run(node, T0, 120)
    assert _num(b, 0xD3) == -1000
    net.take()
    assert request(node, net, "1081 0008 05FF01 027D01 61 01 C2 01 01")[0] == (SRC, h("1081 0008 027D01 05FF01 71 01 C2 00"))
    t = _run(node, t, 120)
    assert _num(b, 0xD3) == -3000 and b.get(0xC2) == b"\x01"
    # load following, designated current, other: this model cannot, so it says so
    for method in ("02", "04", "00"):
        net.take()
        out = request(node, net, "1081 0009 05FF01 027D01 61 02 C1 01 %s C2 01 %s" % (method, method))
        assert out == [(SRC, h("1081 0009 027D01 05FF01 51 02 C1 01 %s C2 01 %s" % (method, method)))]
    assert b.get(0xC1) == b"\x03" and b.get(0xC2) == b"\x01"


def test_automatic_mode_stores_the_solar_surplus_and_covers_the_load():
    from drready.household import LOAD, SOLAR

    node, net = make_node(now=T0)
    b = node.devices[0]
    request(node, net, "1081 000A 05FF01 027D01 61 01 DA 01 46", now=T0)
    t = T0
    seen = set()
    for _ in range(24):  # at the start of each hour of the day: what it does in that hour
        t = _run(node, t, 3600, step=600)
        hour = (t // 3600) % 24
        want = SOLAR[hour] * 10 - LOAD[hour] * 10  # + surplus to store, - load to cover
        want = max(min(want, 3000), -3000) if abs(want) >= 100 else 0
        d3, pct = _num(b, 0xD3), _num(b, 0xE4)
        assert 30 <= pct <= 100, (hour, pct)  # never outside 0xA7..0xA6
        if d3 != want:  # only where a limit stops it
            assert d3 == 0 and ((want < 0 and pct == 30) or (want > 0 and pct == 100)), (hour, d3, want, pct)
        seen.add("charge" if d3 > 0 else "discharge" if d3 < 0 else "hold")
        assert b.get(0xCF) == (b"\x42" if d3 > 0 else b"\x43" if d3 < 0 else b"\x44"), hour
    assert seen == {"charge", "discharge", "hold"}, seen  # the day has all three
    assert b.get(0xDA) == b"\x46"


def test_reserve_cannot_cross_the_upper_limit():
    node, net = make_node(now=T0)
    out = request(node, net, "1081 0004 05FF01 027D01 61 01 A7 01 64")  # 100 % reserve > 100 % upper? equal
    assert out[0][1][10] == 0x51
    out = request(node, net, "1081 0005 05FF01 027D01 61 01 A6 01 14")  # upper 20 % below reserve 30 %
    assert out[0][1][10] == 0x51
    out = request(node, net, "1081 0006 05FF01 027D01 61 02 A7 01 14 A6 01 5A")
    assert out[0][1] == h("1081 0006 027D01 05FF01 71 02 A7 00 A6 00")


def test_charge_stops_at_upper_limit():
    node, net = make_node(now=T0)
    b = node.devices[0]
    request(node, net, "1081 0007 05FF01 027D01 61 02 A6 01 50 DA 01 41")  # 80 %, rapid charge
    _run(node, T0, 4 * 3600)
    assert _num(b, 0xE4) == 80 and _num(b, 0xD3) == 0 and _num(b, 0xA4) == 0


def test_the_percentage_says_full_only_when_nothing_more_can_be_charged():
    """0xE4 is rounded down: a HEMS that takes 100 % for full agrees with 0xA4, the energy
    still chargeable (a battery 31 Wh short of 9800 Wh was 100 % when rounded)."""
    node, net = make_node(now=T0)
    b = node.devices[0]
    assert request(node, net, "1081 0001 05FF01 027D01 61 01 DA 01 44")[0][1][10] == 0x71  # standby: it holds
    cap = b.appliance.capacity_wh
    b.appliance.stored_wh = cap - 31
    node.tick(T0 + 1)
    assert _num(b, 0xE4) == 99 and _num(b, 0xA4) > 0
    b.appliance.stored_wh = cap
    node.tick(T0 + 2)
    assert _num(b, 0xE4) == 100 and _num(b, 0xA4) == 0


def test_switching_off_stops_power():
    node, net = make_node(now=T0)
    b = node.devices[0]
    request(node, net, "1081 0008 05FF01 027D01 61 01 DA 01 42")
    _run(node, T0, 120)
    assert _num(b, 0xD3) > 0
    request(node, net, "1081 0009 05FF01 027D01 61 01 80 01 31")
    _run(node, T0 + 120, 120)
    assert _num(b, 0xD3) == 0 and b.get(0x80) == b"\x31"


def test_time_and_date_follow_the_clock():
    node, net = make_node(now=T0)
    b = node.devices[0]
    node.tick(T0 + 13 * 3600 + 5 * 60)
    assert b.get(0x97) == h("0D05")
    assert b.get(0x98) == h("07E9 0B 1B")  # 2025-11-27


def test_calendar_arithmetic_matches_known_dates():
    from drready.clock import civil

    assert civil(0) == (1970, 1, 1, 0, 0)
    assert civil(951782400) == (2000, 2, 29, 0, 0)  # leap day of a 400-year leap year
    assert civil(1709251199) == (2024, 2, 29, 23, 59)
    assert civil(4102444800) == (2100, 1, 1, 0, 0)


def test_set_acts_from_when_it_arrives_not_from_the_last_tick():
    b = StorageBattery(1, ID, now=T0)
    net = Net()
    # the Set arrives half an hour after the last tick: the node reads its clock for it
    node = Node(NodeProfile(ID, [b]), [b], net.send, lambda src: True, clock=lambda: T0 + 1800)
    node.tick(T0)
    node.receive(h("1081 000A 05FF01 027D01 61 01 DA 01 42"), SRC)
    node.tick(T0 + 3600)
    assert abs(_num(b, 0xA8) - 1500) <= 2  # half an hour at 3 kW, not a whole hour
