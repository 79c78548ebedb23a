"""Household fuel cell 0x027C: declaration, frames, simulated plant and DR behaviour."""
from drready.fuel_cell import FuelCell, FuelCellAppliance, SimFuelCell
from echonet import propmap
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net, h, request

T0 = 1767225600  # 2026-01-01 00:00:00 UTC
HOUR = 3600
FLAT = bytes([40] * 24)  # household load 400 W all day
EVEN = bytes([50] * 24)  # 500 W of heat drawn: what 400 W of generation recovers
OK_REVERSE = 0x00
INDEPENDENT = 0x01


def make(now=T0, **kw):
    obj = FuelCell(1, ID, SimFuelCell(**kw), now=now)
    net = Net()
    node = Node(NodeProfile(ID, [obj]), [obj], net.send, lambda src: True)
    return node, net, obj


def run(node, t0, t1, step=60):
    for t in range(t0 + step, t1 + 1, step):
        node.tick(t)


def get(node, net, epc, now):
    net.take()
    out = request(node, net, "1081 0001 05FF01 027C01 62 01 %02X 00" % epc, now=now)
    f = out[0][1]
    assert len(out) == 1 and f[10] == 0x72 and f[12] == epc, out
    return f[14:]


def setc(node, net, body, now, tid="0002"):
    net.take()
    return request(node, net, "1081 %s 05FF01 027C01 61 %s" % (tid, body), now=now)


def infs(sent):
    return [f[4:] for d, f in sent if d is None]


def inf(body):
    return h("027C01 0EF001 73 " + body)


def num(node, net, epc, now):
    return int.from_bytes(get(node, net, epc, now), "big")


def test_property_maps_follow_the_declaration():
    node, net, fc = make()
    gets = propmap.decode(fc.get(0x9F))
    mandatory = (0x80, 0x81, 0x82, 0x88, 0x8A, 0x9D, 0x9E, 0x9F, 0xC2, 0xC4, 0xC5, 0xCB, 0xD0, 0xD1, 0xD2)
    served = (0x83, 0x97, 0x98, 0xC1, 0xC3, 0xC7, 0xC8, 0xCA, 0xCC, 0xCD, 0xE1, 0xE2, 0xF0)
    assert gets == sorted(mandatory + served)
    assert propmap.decode(fc.get(0x9E)) == [0x80, 0x81, 0x97, 0x98, 0xCA, 0xD1, 0xD2]
    assert propmap.decode(fc.get(0x9D)) == [0x80, 0x81, 0x88, 0xCA, 0xCB, 0xD1]
    # reset settings C6/C9/CE are not served; neither are undeclared super-class EPCs
    for epc in (0xC6, 0xC9, 0xCE, 0x84, 0x89, 0x8C, 0x8D):
        out = request(node, net, "1081 0003 05FF01 027C01 62 01 %02X 00" % epc)
        assert out == [(SRC, h("1081 0003 027C01 05FF01 52 01 %02X 00" % epc))], hex(epc)


def test_every_get_property_is_readable_over_the_wire():
    node, net, fc = make()
    for epc in propmap.decode(fc.get(0x9F)):
        assert get(node, net, epc, T0) == fc.get(epc)


def test_boot_values_byte_for_byte():
    t = T0 + 9 * HOUR + 30 * 60
    node, net, fc = make(now=t, load=FLAT, draw=EVEN)
    out = request(node, net, "1081 0010 05FF01 027C01 62 0A C2 00 D0 00 D1 00 D2 00 CA 00 CB 00 E2 00 97 00 98 00 C4 00", now=t)
    assert out == [(SRC, h(
        "1081 0010 027C01 05FF01 72 0A C2 02 02BC D0 01 02 D1 04 FFFFFFFF D2 01 42 CA 01 41 CB 01 41"
        " E2 02 0082 97 02 091E 98 04 07EA0101 C4 02 0190"
    ))]


def test_set_refusals_echo_the_request():
    node, net, fc = make()
    cases = [
        "CA 01 43",  # not a code of 0xCA
        "D1 04 11001100",  # empty window
        "D1 04 1800FFFF",  # half undefined
        "D1 04 18002400",  # 24:00 is not a time
        "D1 04 183C1900",  # minute 60
        "D1 02 1800",  # wrong size
        "D2 01 43",
        "C4 02 0000",  # Get-only
        "CB 01 41",
        "D0 01 00",
        "F0 06 000000000000",
    ]
    for body in cases:
        out = setc(node, net, "01 " + body, T0)
        assert out == [(SRC, h("1081 0002 027C01 05FF01 51 01 " + body))], body
    # an off-grid unit can only follow the load: rated maximum is refused
    node, net, fc = make(interconnect=INDEPENDENT)
    assert setc(node, net, "01 D2 01 41", T0) == [(SRC, h("1081 0002 027C01 05FF01 51 01 D2 01 41"))]
    assert setc(node, net, "01 D2 01 42", T0) == [(SRC, h("1081 0002 027C01 05FF01 71 01 D2 00"))]


def test_cold_start_takes_an_hour_and_announces_each_status():
    node, net, fc = make(running=False, load=FLAT, draw=EVEN)
    assert fc.get(0xCB) == b"\x43"  # generation is on (0xCA 41): starting from cold
    run(node, T0, T0 + HOUR - 60)
    assert infs(net.take()) == [] and fc.get(0xC4) == b"\x00\x00"
    node.tick(T0 + HOUR)
    assert infs(net.take()) == [inf("01 CB 01 41")]
    # output ramps at 10 W/s up to the load
    last = 0
    for t in range(T0 + HOUR + 1, T0 + HOUR + 61):
        node.tick(t)
        w = num(node, net, 0xC4, t)
        assert 0 <= w - last <= 10
        last = w
    assert last == 400 and num(node, net, 0xCC, t) == 400


def test_stop_and_restart_via_generation_setting():
    node, net, fc = make(load=FLAT, draw=EVEN)
    t = T0 + 10
    out = setc(node, net, "01 CA 01 42", t)
    assert out[0] == (SRC, h("1081 0002 027C01 05FF01 71 01 CA 00"))
    assert infs(out[1:]) == [inf("02 CB 01 44 CA 01 42")]
    stopped = None
    for k in range(1, 1000):
        node.tick(t + k)
        sent = infs(net.take())
        if k <= 40:
            assert num(node, net, 0xC4, t + k) == 400 - 10 * k
        if sent:
            assert sent == [inf("01 CB 01 42")] and stopped is None
            stopped = k
    assert 600 <= stopped <= 660  # ramp down 40 s, then 10 minutes of cooling
    t += 1000
    out = setc(node, net, "01 CA 01 41", t)
    assert infs(out[1:]) == [inf("02 CB 01 43 CA 01 41")]
    run(node, t, t + HOUR)
    assert infs(net.take()) == [inf("01 CB 01 41")]


def test_operation_status_off_stops_generation():
    node, net, fc = make(load=FLAT, draw=EVEN)
    out = setc(node, net, "01 80 01 31", T0 + 5)
    assert infs(out[1:]) == [inf("02 CB 01 44 80 01 31")]
    run(node, T0 + 5, T0 + 1205)
    assert fc.get(0xCB) == b"\x42" and fc.get(0xCA) == b"\x41" and fc.get(0xF0) == bytes(6)


def test_window_at_rated_maximum_with_reverse_flow_then_back_to_autonomous():
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN)
    out = setc(node, net, "02 D1 04 01000200 D2 01 41", T0)
    assert out[0] == (SRC, h("1081 0002 027C01 05FF01 71 02 D1 00 D2 00"))
    assert infs(out[1:]) == [inf("01 D1 04 01000200")]
    run(node, T0, T0 + HOUR)
    assert num(node, net, 0xC4, T0 + HOUR) == 400  # before the window: load-following
    run(node, T0 + HOUR, T0 + 2 * HOUR - 60)
    assert num(node, net, 0xC4, T0 + HOUR + 60) == 700  # above the 400 W load: exported
    assert get(node, net, 0xC7, T0) == h("008C")  # 700 W / 0.4 = 1750 W of gas = 0.140 m3/h
    net.take()
    node.tick(T0 + 2 * HOUR)  # the window is over: cleared and announced
    assert infs(net.take()) == [inf("01 D1 04 FFFFFFFF")]
    node.tick(T0 + 2 * HOUR + 60)
    assert num(node, net, 0xC4, T0) == 400 and get(node, net, 0xD2, T0) == b"\x41"


def test_no_reverse_flow_never_exceeds_the_load():
    node, net, fc = make(draw=bytes([250] * 24))  # default load profile, draw keeps the tank from filling
    setc(node, net, "02 D1 04 11001600 D2 01 41", T0)  # rated maximum 17:00-22:00
    seen_rated = False
    for t in range(T0 + 300, T0 + 86400, 300):
        node.tick(t)
        out_w = num(node, net, 0xC4, t)
        load = num(node, net, 0xCC, t)
        assert out_w <= load, (t, out_w, load)
        seen_rated = seen_rated or out_w == 700
    assert seen_rated  # it still reaches its rating when the load is high enough (evening)


def test_window_edges_inside_long_ticks_are_honoured():
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=T0 + 10 * HOUR)
    t = T0 + 10 * HOUR
    c0 = num(node, net, 0xC5, t)
    g0 = num(node, net, 0xC8, t)
    setc(node, net, "02 D1 04 0A0A0A28 D2 01 41", t)  # 10:10-10:40
    node.tick(t + 1800)
    node.tick(t + 3600)
    # 10 min at 400 W + 30 min at 700 W + 20 min at 400 W = 550 Wh (0.001 kWh units)
    assert abs(num(node, net, 0xC5, t) - c0 - 550) <= 1
    # gas 550 Wh / 0.4 / 12.5 kWh per m3 = 0.110 m3
    assert abs(num(node, net, 0xC8, t) - g0 - 110) <= 1


def test_a_day_in_one_tick_matches_a_day_in_many():
    a = make()
    b = make()
    a[0].tick(T0 + 86400)
    run(b[0], T0, T0 + 86400, 300)
    for epc in (0xC5, 0xC8, 0xCD, 0xC3, 0xE1, 0xCB):
        assert a[2].get(epc) == b[2].get(epc), hex(epc)


def test_window_crossing_midnight_and_next_occurrence():
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=T0 + HOUR)
    setc(node, net, "02 D1 04 16000200 D2 01 41", T0 + HOUR)  # 22:00-02:00: under way at 01:00
    node.tick(T0 + HOUR + 60)
    assert num(node, net, 0xC4, T0) == 700
    net.take()
    run(node, T0 + HOUR + 60, T0 + 2 * HOUR)
    assert infs(net.take()) == [inf("01 D1 04 FFFFFFFF")]
    # set at 20:00, 22:00-02:00 lies ahead: 4 h x (700 - 400) W = 1200 Wh, 300 W now
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=T0 + 20 * HOUR)
    setc(node, net, "01 D1 04 16000200", T0 + 20 * HOUR)
    node.tick(T0 + 20 * HOUR + 1)
    assert get(node, net, 0xF0, T0) == h("000004B0 012C")
    # set at 03:00, 01:00-03:00 is over for today: tomorrow's, 2 h -> 600 Wh
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=T0 + 3 * HOUR)
    setc(node, net, "01 D1 04 01000300", T0 + 3 * HOUR)
    node.tick(T0 + 3 * HOUR + 1)
    assert get(node, net, 0xF0, T0) == h("00000258 012C")
    run(node, T0 + 3 * HOUR + 1, T0 + 25 * HOUR + 1, 600)
    assert fc.get(0xD1) == h("01000300")  # not yet: starts at 01:00 tomorrow
    run(node, T0 + 25 * HOUR + 1, T0 + 27 * HOUR + 1, 600)
    assert fc.get(0xD1) == h("FFFFFFFF")


def test_dr_available_amount():
    t = T0 + 10 * HOUR
    # reverse flow allowed, 400 W load, generating 400 W: 300 W extra, next hour 300 Wh
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=t)
    assert get(node, net, 0xF0, t) == h("0000012C 012C")
    setc(node, net, "01 D1 04 0C000E00", t)  # 12:00-14:00: 2 h x 300 W
    node.tick(t + 1)
    assert get(node, net, 0xF0, t) == h("00000258 012C")
    # in the window at rated maximum there is nothing left to give
    setc(node, net, "01 D2 01 41", t)
    run(node, t + 1, t + 3 * HOUR + 1)
    assert num(node, net, 0xC4, t) == 700 and get(node, net, 0xF0, t) == h("00000000 0000")
    # the tank's heat headroom bounds it: 5 % of 6802 Wh of heat / 1.25 = 272 Wh
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=t, heat=0.95)
    setc(node, net, "01 D1 04 0C000E00", t)
    node.tick(t + 1)
    assert get(node, net, 0xF0, t) == h("00000110 012C")
    # no reverse flow and generating the whole load: nothing to give
    node, net, fc = make(load=FLAT, draw=EVEN, now=t)
    assert get(node, net, 0xF0, t) == h("00000000 0000")
    # starting from cold at 10:00: ready at 11:00, window 10:30-12:30 leaves 1.5 h x 700 W
    node, net, fc = make(interconnect=OK_REVERSE, load=FLAT, draw=EVEN, now=t, running=False)
    setc(node, net, "01 D1 04 0A1E0C1E", t)
    node.tick(t + 1)
    assert get(node, net, 0xF0, t) == h("0000041A 0000")
    # generation set to stop: none
    setc(node, net, "01 CA 01 42", t + 1)
    node.tick(t + 2)
    assert get(node, net, 0xF0, t) == h("00000000 0000")


def test_full_tank_makes_it_idle_until_the_draw_makes_room():
    draw = bytes([5] * 12 + [100] * 12)  # 50 W of losses until noon, then 1 kW of hot water use
    node, net, fc = make(load=FLAT, draw=draw, heat=0.99)
    events = []
    for t in range(T0 + 60, T0 + 13 * HOUR, 60):
        node.tick(t)
        for f in infs(net.take()):
            events.append((t - T0, f))
        assert num(node, net, 0xC3, t) <= 24 and num(node, net, 0xE1, t) <= 130 and num(node, net, 0xC1, t) <= 60
        if fc.get(0xCB) == b"\x45":
            assert fc.get(0xC4) == b"\x00\x00"
    assert [f for _, f in events] == [inf("01 CB 01 45"), inf("01 CB 01 41")]
    assert events[0][0] < 20 * 60  # 68 Wh of room fills in about 9 minutes
    assert events[1][0] == 12 * HOUR  # the afternoon draw takes heat away: it generates again


def test_default_household_day():
    node, net, fc = make()
    states = []
    cb_infs = 0
    gen0 = num(node, net, 0xC5, T0)
    for t in range(T0 + 300, T0 + 2 * 86400 + 1, 300):
        node.tick(t)
        cb_infs += sum(1 for f in infs(net.take()) if f[8] == 0xCB)
        s = fc.get(0xCB)[0]
        if not states or states[-1] != s:
            states.append(s)
        assert num(node, net, 0xC4, t) <= num(node, net, 0xCC, t)
        assert num(node, net, 0xC3, t) <= 24 and num(node, net, 0xE1, t) <= 130
        assert 15 <= fc.get(0xC1)[0] <= 60
    assert cb_infs == len(states) - 1
    assert 0x45 in states and states[-1] == 0x41  # idles on a full tank by day, generates at night
    gen = num(node, net, 0xC5, T0) - gen0
    assert 10000 < gen < 2 * 16800  # less than 700 W round the clock: the tank limits it
    assert abs(num(node, net, 0xC8, T0) - gen // 5) <= 2  # gas L = Wh / 0.4 / 12.5


class FixedCell(FuelCellAppliance):
    """A stand-in for a real unit: the object serves what the appliance reports."""

    rated_w = 750
    tank_l = 147
    interconnect = OK_REVERSE
    heat_max_wh = 7000.0
    heat_ratio = 1.5

    def __init__(self):
        self.commands = []

    def step(self, now):
        self.state = 0x41
        self.output_w = 321
        self.generated_wh = 12345
        self.load_w = 500
        self.heat_wh = 3600.0
        self.avail_w = 750

    def command(self, run, maximum):
        self.commands.append((run, maximum))


def test_a_real_appliance_plugs_in():
    a = FixedCell()
    fc = FuelCell(2, ID, a, now=T0)
    assert fc.get(0xC2) == h("02EE") and fc.get(0xE2) == h("0093") and fc.get(0xD0) == b"\x00"
    assert fc.get(0xC4) == h("0141") and fc.get(0xC5) == h("00003039") and fc.get(0xC3) == h("000C")
    # (750 - 321) W for an hour, 429 W now
    assert fc.get(0xF0) == h("000001AD 01AD")
    assert fc.accept(0xCA, b"\x42", T0 + 1) and a.commands[-1] == (False, False)
