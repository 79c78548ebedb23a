"""EV charger/discharger (V2H) 0x027E: frames byte for byte, the vehicle's comings and
goings, and the departure charge that DR never breaks. Simulated time: the plant's day
starts at 00:00 of the injected clock (T0 = 2024-01-01 00:00)."""

import struct

from drready.ev_charger import EVChargerDischarger, SimEV
from echonet import propmap
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net, h, request

T0 = 1704067200  # 2024-01-01 00:00:00
HOUR = 3600
CAP = 40000
TARGET = 32000  # 80 % at 07:30
RESERVE = 8000  # the vehicle's own 20 % floor
RATE = 6000 * 0.95  # Wh/h into the battery at maximum power
DEPART = T0 + 31 * HOUR + 1800  # 07:30 the next day


def make(now, appliance=None):
    ev = EVChargerDischarger(1, ID, appliance, now)
    net = Net()
    node = Node(NodeProfile(ID, [ev]), [ev], net.send, lambda src: True)
    return node, net, ev


def line(now):
    """The departure line computed here from the model: target minus what maximum power
    puts in before 07:20 (07:30 less the 10-minute margin)."""
    left = (DEPART - 600 - now) % 86400
    return TARGET - RATE * left / HOUR


def setc(node, net, body, now=0, tid="0001"):
    return request(node, net, "1081 %s 05FF01 027E01 61 01 %s" % (tid, body), now=now)


def ok(tid, epc):
    return (SRC, h("1081 %s 027E01 05FF01 71 01 %s 00" % (tid, epc)))


def sna(tid, body):
    return (SRC, h("1081 %s 027E01 05FF01 51 01 %s" % (tid, body)))


def inf(frames):
    """The status-change announcements among frames, without header and TID."""
    return [f[4:] for d, f in frames if d is None]


def get(node, net, epc):
    """EDT of a Get, or None when the node answers Get_SNA for it."""
    out = request(node, net, "1081 0100 05FF01 027E01 62 01 %02X 00" % epc)
    assert len(out) == 1 and out[0][0] == SRC
    f = out[0][1]
    assert f[11] == 1 and f[12] == epc
    if f[10] == 0x52:
        assert f[13] == 0
        return None
    assert f[10] == 0x72 and f[13] == len(f) - 14
    return f[14:]


def num(node, net, epc):
    v = get(node, net, epc)
    return None if v is None else struct.unpack(">i" if len(v) == 4 else ">B", v)[0]


def tick(node, net, now):
    node.tick(now)
    return inf(net.take())


def run(node, net, t0, t1, step=300, each=None):
    """Tick from t0 (exclusive) to t1; return the announcements sent on the way."""
    out = []
    t = t0
    while t < t1:
        t = min(t + step, t1)
        out += [(t, f) for f in tick(node, net, t)]
        if each:
            each(t)
    return out


def announced(frames, body):
    return [t for t, f in frames if f == h("027E01 0EF001 73 " + body)]


def test_maps_and_every_get_property_readable():
    node, net, ev = make(T0 + HOUR)
    node.start(T0 + HOUR)
    net.take()
    gets = propmap.decode(get(node, net, 0x9F))
    for e in h("80 81 82 88 8A 89 8C C0 C2 C4 C5 C6 C7 C8 C9 CA CB CC CE CF D0 DA DC DD E1 E2 E4 E5 E6"):
        assert e in gets, hex(e)
    for e in gets:
        assert get(node, net, e) is not None, hex(e)
    assert propmap.decode(get(node, net, 0x9D)) == [0x80, 0x81, 0x88, 0xC7, 0xDA, 0xDC, 0xDD, 0xE1, 0xE5]
    assert propmap.decode(get(node, net, 0x9E)) == [0x80, 0x81, 0x97, 0x98, 0xCD, 0xDA, 0xDC, 0xDD, 0xE0, 0xE7, 0xEA, 0xEB, 0xEC]
    assert 0xCD not in gets  # Set only
    # ratings and the vehicle at 01:00 (plugged in, 40 %), byte for byte
    expect = (
        "C5 00001770",  # rated 6 kW
        "C6 00001770",
        "C8 000003E8 00001770",  # 1-6 kW
        "C9 000003E8 00001770",
        "CA 0032 012C",  # 5.0-30.0 A at 200 V
        "CB 0032 012C",
        "CC 22",  # DC type AA (CHAdeMO), charge and discharge
        "C7 43",
        "DA 44",
        "DC 03",
        "DD 03",
        "E1 44",
        "E5 42",
        "EB 00001770",
        "EC 00001770",
        "E0 00000000",
        "E7 00000000",
        "EA 00000000",
        "E2 00003E80",  # 16 kWh, 40 %
        "E4 28",
        "D0 00009C40",
        "CE 00009C40",
        "CF 00005DC0",
        "C0 00007D00",  # 32 kWh above the 20 % floor
        "C2 00001F40",  # 8 kWh of it now (25 %)
        "C4 19",
        "89 0000",
        "97 0100",
        "98 07E80101",
        "D3 00000000",
        "E6 0B" + b"SIM-EV-0001".hex(),
    )
    for row in expect:
        e = h(row)[0]
        assert get(node, net, e) == h(row)[1:], row


def test_vehicle_properties_answer_sna_while_away():
    noon = T0 + 12 * HOUR
    node, net, ev = make(noon)  # away from the start: 0xC7 and the vehicle's properties agree at once
    node.start(noon)
    net.take()
    for e in (0xC0, 0xC2, 0xC4, 0xCE, 0xCF, 0xD0, 0xE2, 0xE4):
        assert get(node, net, e) is None, hex(e)
    out = request(node, net, "1081 0002 05FF01 027E01 62 04 C7 00 E2 00 E4 00 E6 00")
    assert out == [(SRC, h("1081 0002 027E01 05FF01 52 04 C7 01 30 E2 00 E4 00 E6 01 00"))]
    # 18:00: the car is back with 40 %, announced
    frames = run(node, net, noon + 1, T0 + 18 * HOUR)
    assert [f for t, f in frames] == [h("027E01 0EF001 73 01 C7 01 43")]
    assert [t for t, f in frames] == [T0 + 18 * HOUR]
    assert num(node, net, 0xE2) == 16000 and num(node, net, 0xE4) == 40
    assert num(node, net, 0xC2) == 16000 - RESERVE and num(node, net, 0xC4) == 25
    assert num(node, net, 0xCF) == 24000 and num(node, net, 0xC0) == 32000
    assert get(node, net, 0xE6) == b"\x0bSIM-EV-0001"
    out = request(node, net, "1081 0003 05FF01 027E01 62 02 C7 00 E2 00")
    assert out == [(SRC, h("1081 0003 027E01 05FF01 72 02 C7 01 43 E2 04 00003E80"))]


def test_commands_without_vehicle():
    noon = T0 + 12 * HOUR
    node, net, ev = make(noon)
    tick(node, net, noon + 1)
    net.take()
    assert setc(node, net, "DA 01 42", noon) == [sna("0001", "DA 01 42")]
    assert setc(node, net, "DA 01 43", noon) == [sna("0001", "DA 01 43")]
    assert setc(node, net, "DA 01 44", noon) == [ok("0001", "DA")]  # already standby: no INF
    out = setc(node, net, "DA 01 47", noon)
    assert out[0] == ok("0001", "DA") and inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 47")]
    frames = run(node, net, noon + 1, noon + 60)
    assert [f for t, f in frames] == [h("027E01 0EF001 73 01 E1 01 47")]
    setc(node, net, "DC 01 06")
    setc(node, net, "DD 01 06")
    assert setc(node, net, "E0 04 00000BB8") == [sna("0001", "E0 04 00000BB8")]
    assert setc(node, net, "E0 04 FFFFF448") == [sna("0001", "E0 04 FFFFF448")]
    out = setc(node, net, "E0 04 00000000")
    assert out[0] == ok("0001", "E0") and inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 44")]


def test_refusals_echo_the_request():
    node, net, ev = make(T0 + HOUR)
    for body in (
        "DA 01 40",  # valid codes this unit does not carry out: other, charge+discharge, preparation
        "DA 01 46",
        "DA 01 48",
        "DA 01 41",  # not a code of 0xDA
        "DC 01 02",  # surplus, designated current, purchasing power, other: not carried out
        "DC 01 04",
        "DC 01 05",
        "DD 01 00",
        "DD 01 02",
        "EB 04 000001F4",  # 500 W: below 0xC8's 1 kW
        "EB 04 00001B58",  # 7 kW: above 6 kW
        "EB 04 00000000",
        "EC 04 00001B58",
        "E0 04 00000BB8",  # signed setpoint while the methods are not V2G
        "E0 04 FFFFF448",
        "E0 04 00000000",
        "E1 01 42",  # Get only
        "C7 01 30",
        "CD 01 11",  # 0x10 is the only confirmation code
        "D3 04 00000000",
    ):
        assert setc(node, net, body, T0 + HOUR) == [sna("0001", body)], body


def test_sets_accepted_and_carried_out():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    assert setc(node, net, "CD 01 10", t) == [ok("0001", "CD")]
    assert setc(node, net, "EB 04 00000BB8", t) == [ok("0001", "EB")]  # 3 kW
    assert get(node, net, 0xEB) == h("00000BB8")
    out = setc(node, net, "DA 01 42", t, "0002")
    assert out == [ok("0002", "DA"), (None, out[1][1])]
    assert inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 42")]
    frames = run(node, net, t, t + 60)
    assert [f for _, f in frames] == [h("027E01 0EF001 73 01 E1 01 42")]
    assert get(node, net, 0xD3) == h("00000BB8")
    # one hour at 3 kW: 3 kWh AC in, 2.85 kWh into the battery
    d8 = num(node, net, 0xD8)
    run(node, net, t + 60, t + 60 + HOUR, step=60)
    assert num(node, net, 0xD8) - d8 == 3000
    assert num(node, net, 0xE2) == 16000 + 2850 + 47  # plus the first minute (47.5 Wh)
    # designated power to maximum method: 6 kW without touching 0xEB
    out = setc(node, net, "DC 01 01", t)
    assert inf(out[1:]) == [h("027E01 0EF001 73 01 DC 01 01")]
    tick(node, net, t + 2 * HOUR)
    assert get(node, net, 0xD3) == h("00001770")


def test_v2g_signed_setpoint_drives_the_operation_mode():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    out = setc(node, net, "DC 01 06", t)
    assert out[0] == ok("0001", "DC") and inf(out[1:]) == [h("027E01 0EF001 73 01 DC 01 06")]
    setc(node, net, "DD 01 06", t)
    out = setc(node, net, "E0 04 FFFFF448", t)  # -3000 W: discharge
    assert out[0] == ok("0001", "E0") and inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 43")]
    tick(node, net, t + 60)
    assert get(node, net, 0xD3) == h("FFFFF448") and get(node, net, 0xE1) == h("43")
    out = setc(node, net, "E0 04 000007D0", t)  # +2000 W: charge
    assert inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 42")]
    tick(node, net, t + 120)
    assert get(node, net, 0xD3) == h("000007D0")
    assert setc(node, net, "E0 04 FFFFFE0C", t) == [sna("0001", "E0 04 FFFFFE0C")]  # -500 W: below 1 kW
    assert get(node, net, 0xE0) == h("000007D0")  # a refused write changes nothing
    out = setc(node, net, "E0 04 00000000", t)
    assert inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 44")]
    tick(node, net, t + 180)
    assert get(node, net, 0xD3) == h("00000000") and get(node, net, 0xE1) == h("44")


def test_a_v2g_command_that_lapses_returns_to_automatic_not_standby():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    node.dr_timeout = 600
    setc(node, net, "DD 01 06", t)
    setc(node, net, "E0 04 FFFFF830", t)  # -2000 W, V2G
    tick(node, net, t + 60)
    assert get(node, net, 0xDA) == h("43") and get(node, net, 0xD3) == h("FFFFF830")
    node.tick(t + 700)  # the controller silent for the timeout
    # the setpoint (standby) before the mode, so the automatic mode is what stays, and
    # the last 0xDA announced
    das = [f[f.index(b"\xda\x01") + 2] for f in inf(net.take()) if b"\xda\x01" in f[7:]]
    assert das and das[-1] == 0x49, das
    assert get(node, net, 0xDA) == h("49") and get(node, net, 0xE0) == h("00000000")
    assert get(node, net, 0xDD) == h("03")


def test_leaving_v2g_clears_the_setpoint():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    setc(node, net, "DD 01 06", t)
    setc(node, net, "E0 04 FFFFF830", t)  # -2000 W
    assert get(node, net, 0xE0) == h("FFFFF830") and 0xE0 in ev.accepted
    setc(node, net, "EC 04 00000BB8", t)
    out = setc(node, net, "DD 01 03", t)  # designated 0xEC from now on
    assert out[0] == ok("0001", "DD") and h("027E01 0EF001 73 01 DD 01 03") in inf(out[1:])
    assert get(node, net, 0xE0) == h("00000000") and 0xE0 not in ev.accepted
    tick(node, net, t + 60)
    assert get(node, net, 0xD3) == h("FFFFF448")  # discharging at 0xEC, 3000 W


def test_charging_amount_then_standby():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    setc(node, net, "E7 04 000007D0", t)  # 2 kWh
    setc(node, net, "DA 01 42", t)
    frames = run(node, net, t, t + HOUR, step=60)
    assert num(node, net, 0xD8) == 2000
    assert [f for _, f in frames] == [h("027E01 0EF001 73 01 E1 01 42"), h("027E01 0EF001 73 01 E1 01 44")]
    assert get(node, net, 0xD3) == h("00000000") and get(node, net, 0xDA) == h("42")


def test_the_same_amount_again_is_a_new_order():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    setc(node, net, "E7 04 000003E8", t)  # 1 kWh
    setc(node, net, "DA 01 42", t)
    run(node, net, t, t + HOUR, step=60)
    t += HOUR
    assert num(node, net, 0xD8) == 1000 and get(node, net, 0xE1) == h("44")
    setc(node, net, "E7 04 000003E8", t, tid="0002")  # once it has run out: another 1 kWh
    run(node, net, t, t + HOUR, step=60)
    assert num(node, net, 0xD8) == 2000


def test_discharge_stops_at_departure_line_then_charges_to_target():
    t = T0 + 18 * HOUR
    node, net, ev = make(t)
    setc(node, net, "DA 01 42", t)
    run(node, net, t, T0 + 23 * HOUR)
    assert num(node, net, 0xE4) == 100 and get(node, net, 0xE1) == h("44")
    t = T0 + 28 * HOUR  # 04:00
    run(node, net, T0 + 23 * HOUR, t, step=1800)
    # what can go without breaking the departure charge: down to the line at 04:01
    assert num(node, net, 0xC2) == int(CAP - line(t + 60))
    out = setc(node, net, "DA 01 43", t)
    assert out[0] == ok("0001", "DA")
    low = [CAP]

    def check(now):
        e2 = num(node, net, 0xE2)
        if e2 is not None:
            assert e2 >= line(now) - 1, (now, e2)
            low[0] = min(low[0], e2)

    frames = run(node, net, t, DEPART - 60, step=60, each=check)
    e1 = [(tt, f[-1]) for tt, f in frames if f[-3] == 0xE1]
    assert [x for _, x in e1] == [0x43, 0x42, 0x44]
    # discharging met the line at about 06:15 (27 kWh at 6.3 + 5.7 kWh/h) and charged from there
    assert T0 + 30 * HOUR + 10 * 60 <= e1[1][0] <= T0 + 30 * HOUR + 20 * 60
    assert 25000 < low[0] < 27000
    assert T0 + 31 * HOUR + 15 * 60 <= e1[2][0] <= T0 + 31 * HOUR + 21 * 60
    assert num(node, net, 0xE2) >= TARGET - 1 and num(node, net, 0xE4) == 80
    assert get(node, net, 0xDA) == h("43")  # the controller's setting stays
    # on the line nothing is dischargeable: a discharge command is refused
    assert num(node, net, 0xC2) == 0
    assert setc(node, net, "DA 01 43", DEPART - 60) == [sna("0001", "DA 01 43")]
    # 07:30: the car leaves, the discharge command returns to standby
    frames = run(node, net, DEPART - 60, DEPART + 60, step=60)
    assert [f for _, f in frames] == [h("027E01 0EF001 73 02 DA 01 44 C7 01 30")]
    assert get(node, net, 0xE2) is None


def test_departure_charge_starts_by_itself_in_standby():
    t = T0 + 28 * HOUR  # 04:00, plugged in at 40 %
    node, net, ev = make(t)
    assert num(node, net, 0xC2) == int(16000 - line(t + 60))
    low = [CAP]

    def check(now):
        e2 = num(node, net, 0xE2)
        if e2 is not None:
            assert e2 >= line(now) - 1, (now, e2)
            low[0] = min(low[0], e2)

    frames = run(node, net, t, DEPART + 60, step=60, each=check)
    assert low[0] == 16000
    e1 = [(tt, f) for tt, f in frames if f[-3] == 0xE1]
    # the line reaches 16 kWh at 04:31:35: charging at maximum from the start of that minute,
    # so the level never falls below the line
    assert e1[0] == (T0 + 28 * HOUR + 31 * 60, h("027E01 0EF001 73 01 E1 01 42"))
    assert get(node, net, 0xE2) is None  # gone
    assert e1[1][1] == h("027E01 0EF001 73 01 E1 01 44") and e1[1][0] <= T0 + 31 * HOUR + 21 * 60
    assert announced(frames, "01 C7 01 30") == [DEPART]


def test_auto_day_in_one_step_matches_fine_steps():
    noon = T0 + 12 * HOUR
    results = []
    for step in (19 * HOUR, 60):
        node, net, ev = make(noon)
        tick(node, net, noon + 1)
        assert setc(node, net, "DA 01 49", noon)[0] == ok("0001", "DA")
        run(node, net, noon + 1, T0 + 31 * HOUR, step=step)  # to 07:00
        results.append((num(node, net, 0xE2), num(node, net, 0xD6), num(node, net, 0xD8), get(node, net, 0xE1)))
    coarse, fine = results
    # evening: the house's load from 18:00 to 21:00 (1.1, 1.2, 1.1 kW; after 21:00 it is below
    # the unit's 1 kW minimum), 3.4 kWh AC out; night: back to 32 kWh, 20.61 kWh AC in. The
    # cumulative counters may differ by the last Wh between step sizes (float sums)
    assert coarse[0] == fine[0] == TARGET and coarse[3] == fine[3] == h("44")
    assert abs(coarse[1] - 3400) <= 1 and abs(fine[1] - 3400) <= 1
    assert abs(coarse[2] - 20609) <= 1 and abs(fine[2] - 20609) <= 1
    tick(node, net, DEPART + 1)
    assert get(node, net, 0xC7) == h("30") and get(node, net, 0xDA) == h("49")  # auto persists


def test_auto_discharges_in_the_evening():
    t = T0 + 18 * HOUR
    node, net, ev = make(t)
    setc(node, net, "DA 01 49", t)
    tick(node, net, t + 60)
    # V2H supplies the house: its load at 18:00, 1.1 kW, not the unit's 6 kW
    assert get(node, net, 0xE1) == h("43") and get(node, net, 0xD3) == h("FFFFFBB4")
    tick(node, net, T0 + 21 * HOUR + 60)  # 21:00: 0.9 kW, below the unit's minimum
    assert get(node, net, 0xD3) == h("00000000")
    assert abs(num(node, net, 0xE2) - (16000 - 3400 / 0.95)) <= 2
    tick(node, net, T0 + 23 * HOUR + 60)
    assert get(node, net, 0xE1) == h("42")


def test_operation_off_stops_the_unit():
    t = T0 + 19 * HOUR
    node, net, ev = make(t)
    setc(node, net, "DA 01 42", t)
    tick(node, net, t + 60)
    out = setc(node, net, "80 01 31", t)
    assert out[0] == ok("0001", "80") and inf(out[1:]) == [h("027E01 0EF001 73 01 80 01 31")]
    e2 = num(node, net, 0xE2)
    frames = run(node, net, t + 60, t + HOUR)
    assert [f for _, f in frames] == [h("027E01 0EF001 73 01 E1 01 47")]
    assert num(node, net, 0xE2) == e2 and get(node, net, 0xD3) == h("00000000")


def test_simulated_plant_parameters():
    t = T0 + 20 * HOUR
    ev = SimEV(capacity_wh=60000, charge_w=(500, 3000), discharge_w=(500, 4000), soc=0.5, vehicle_id=b"X")
    node, net, obj = make(t, ev)
    assert get(node, net, 0xC8) == h("000001F4 00000BB8") and get(node, net, 0xC6) == h("00000FA0")
    assert num(node, net, 0xE2) == 30000 and get(node, net, 0xE6) == h("01 58")
    assert setc(node, net, "EB 04 00000FA0", t) == [sna("0001", "EB 04 00000FA0")]  # 4 kW > 3 kW
    assert setc(node, net, "EC 04 00000FA0", t) == [ok("0001", "EC")]


def test_arrival_below_the_line_charges_at_once_and_refuses_discharge():
    t = T0 + 28 * HOUR  # 04:00 with 20 %: 80 % by 07:30 is already out of reach
    node, net, ev = make(t, SimEV(soc=0.2))
    assert get(node, net, 0xE1) == h("42") and get(node, net, 0xD3) == h("00001770")
    assert num(node, net, 0xC2) == 0 and num(node, net, 0xC4) == 0
    assert setc(node, net, "DA 01 43", t) == [sna("0001", "DA 01 43")]
    setc(node, net, "DC 01 06", t)
    setc(node, net, "DD 01 06", t)
    assert setc(node, net, "E0 04 FFFFF448", t) == [sna("0001", "E0 04 FFFFF448")]
    out = setc(node, net, "DA 01 47", t)  # idle: accepted, the departure charge goes on
    assert inf(out[1:]) == [h("027E01 0EF001 73 01 DA 01 47")]
    frames = run(node, net, t, DEPART - 60, step=60)
    assert frames == []  # still charging: nothing changed that is announced
    assert abs(num(node, net, 0xE2) - (8000 + RATE * (DEPART - 60 - t) / HOUR)) <= 1
