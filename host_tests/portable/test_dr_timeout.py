"""Controller silence (dr-model.md, "DR command"): when `dr_timeout` passes with nothing at
all from the controller whose Set put an object's command in force (no Set, no Get), the
object returns to autonomous operation, once, and announces the change by INF. Every
class, under CPython and the MicroPython unix port."""
from drready import registry
from echonet import persist
from echonet.node import Node
from echonet.objects import NodeProfile

from .support import ID, SRC, Net, h, request

DAY = 86400
HOUR = 3600
MIDNIGHT = 1767225600  # 2026-01-01 00:00 UTC
LIMIT = 3600


def make(name, now, limit=LIMIT):
    dev = registry.make(name, 1, ID, now)
    net = Net()
    node = Node(NodeProfile(ID, [dev]), [dev], net.send, lambda src: True)
    node.dr_timeout = limit
    events = []
    node.event = events.append
    node.start(now)
    net.take()
    return node, net, dev, events


def setc(node, net, dev, body, now):
    opc = len(body.split()) // 3
    out = request(node, net, "1081 0201 05FF01 %s 61 %02X %s" % (dev.eoj_bytes.hex(), opc, body), now=now)
    assert out[0][0] == SRC and out[0][1][10] == 0x71, (body, out)


def run(node, net, t0, t1, step=300):
    """Tick from t0 (exclusive) to t1; the (epc, edt) pairs announced on the way."""
    out = []
    t = t0
    while t < t1:
        t = min(t + step, t1)
        node.tick(t)
        for d, f in net.take():
            if d is None:
                out += props(f)
    return out


def props(frame):
    assert frame[10] == 0x73, frame
    out = []
    i = 12
    for _ in range(frame[11]):
        m = frame[i + 1]
        out.append((frame[i], bytes(frame[i + 2 : i + 2 + m])))
        i += 2 + m
    return out


def autonomous_events(events):
    return [e for e in events if e.startswith("autonomous")]


# name, start time, the DR command, {EPC: value} in autonomous operation, the announced
# changes among them
CASES = [
    ("battery", MIDNIGHT + HOUR, "EB 04 000007D0 AA 04 000003E8 DA 01 42",
     {0xDA: "46", 0xAA: "00000000", 0xAB: "00000000", 0xEB: "00000000", 0xEC: "00000000"},
     [(0xDA, "46"), (0xAA, "00000000")]),
    ("water_heater", MIDNIGHT + 20 * HOUR, "C7 01 01 CA 01 0A CD 01 0D B0 01 42",
     {0xC7: "00", 0xCA: "00", 0xCD: "00", 0xB0: "41"},
     [(0xC7, "00"), (0xB0, "41")]),
    ("hybrid_heater", MIDNIGHT + 8 * HOUR, "B9 04 0B001000 B8 01 42 B0 01 43",
     {0xB8: "41", 0xB0: "41", 0xB9: "0B001000"},
     [(0xB8, "41"), (0xB0, "41")]),
    ("ev_charger", MIDNIGHT + 20 * HOUR, "DC 01 01 DD 01 01 EB 04 00000FA0 E7 04 00001388 DA 01 42",
     {0xDA: "49", 0xDC: "03", 0xDD: "03", 0xEB: "00001770", 0xE7: "00000000"},
     [(0xDA, "49"), (0xDC, "03"), (0xDD, "03")]),
    ("fuel_cell", MIDNIGHT + 8 * HOUR, "D1 04 09000F00 D2 01 41 CA 01 42",
     {0xD1: "FFFFFFFF", 0xD2: "42", 0xCA: "41"},
     [(0xD1, "FFFFFFFF"), (0xCA, "41")]),
]


def test_each_class_returns_to_autonomous_operation_after_the_timeout_and_announces_it():
    for name, t0, body, auto, announced in CASES:
        node, net, dev, events = make(name, t0)
        setc(node, net, dev, body, t0)
        net.take()
        commanded = dict((e, bytes(dev.get(e))) for e in auto)
        run(node, net, t0, t0 + LIMIT - 1)
        assert autonomous_events(events) == [], (name, events)
        assert dict((e, bytes(dev.get(e))) for e in auto) == commanded, name  # the command holds
        sent = run(node, net, t0 + LIMIT - 1, t0 + LIMIT + 600)
        assert autonomous_events(events) == ["autonomous %06X: its controller silent for 3600 s" % dev.eoj], (name, events)
        for e, v in auto.items():
            assert dev.get(e) == h(v), (name, hex(e), dev.get(e))
        for e, v in announced:
            assert (e, h(v)) in sent, (name, hex(e), sent)
        # once: silence goes on, nothing more happens
        run(node, net, t0 + LIMIT + 600, t0 + 4 * LIMIT, step=900)
        assert len(autonomous_events(events)) == 1, (name, events)


def test_every_set_restarts_the_wait_and_a_new_command_is_timed_again():
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "DA 01 42", t0)
    run(node, net, t0, t0 + 1800)
    setc(node, net, b, "EB 04 000007D0", t0 + 1800)  # any accepted Set: the controller is there
    run(node, net, t0 + 1800, t0 + LIMIT + 600)
    assert autonomous_events(events) == [] and b.get(0xDA) == h("42")
    run(node, net, t0 + LIMIT + 600, t0 + 1800 + LIMIT)
    assert len(autonomous_events(events)) == 1 and b.get(0xDA) == h("46")
    # the next command is timed again
    t1 = t0 + 3 * HOUR
    setc(node, net, b, "DA 01 43", t1)
    sent = run(node, net, t1, t1 + LIMIT)
    assert len(autonomous_events(events)) == 2 and (0xDA, h("46")) in sent


def test_a_controller_that_keeps_polling_is_not_silent():
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "DA 01 42", t0)
    t = t0
    for _ in range(6):  # a Get every 30 minutes for three hours: the command holds
        run(node, net, t, t + 1800)
        t += 1800
        request(node, net, "1081 0203 05FF01 027D01 62 01 E4 00", now=t)
    assert autonomous_events(events) == [] and b.get(0xDA) == h("42")
    # a refused Set is a sign of life too
    request(node, net, "1081 0204 05FF01 027D01 61 01 DA 01 45", now=t + 1800)
    run(node, net, t, t + 1800 + LIMIT - 300)
    assert autonomous_events(events) == [] and b.get(0xDA) == h("42")
    # then nothing: the timeout runs from its last request
    run(node, net, t + 1800 + LIMIT - 300, t + 1800 + LIMIT + 300)
    assert len(autonomous_events(events)) == 1 and b.get(0xDA) == h("46")


def test_a_request_after_the_silence_has_lasted_does_not_revive_the_command():
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "DA 01 42", t0)
    run(node, net, t0, t0 + LIMIT - 60, step=600)
    # past the deadline, before the tick that would see it: too late to count
    request(node, net, "1081 0206 05FF01 027D01 62 01 E4 00", now=t0 + LIMIT + 30)
    run(node, net, t0 + LIMIT - 60, t0 + LIMIT + 60, step=120)
    assert b.get(0xDA) == h("46") and len(autonomous_events(events)) == 1


def test_a_request_is_dated_when_it_arrives_not_at_the_last_tick():
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "DA 01 42", t0)
    run(node, net, t0, t0 + 1200, step=600)  # last tick at t0 + 1200
    node.clock = lambda: t0 + 1700  # the node's clock when the Get below arrives
    node.receive(h("1081 0207 05FF01 027D01 62 01 E4 00"), SRC)  # no `now`: the clock's
    run(node, net, t0 + 1200, t0 + 1700 + LIMIT - 60, step=60)
    assert b.get(0xDA) == h("42") and autonomous_events(events) == []  # 3600 s from 1700, not 1200
    run(node, net, t0 + 1700 + LIMIT - 60, t0 + 1700 + LIMIT, step=60)
    assert b.get(0xDA) == h("46")


def test_requests_from_another_controller_do_not_keep_a_command_in_force():
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "DA 01 42", t0)
    other = ("127.0.0.9", 3610)
    for k in range(1, 6):
        request(node, net, "1081 0205 05FF01 027D01 62 01 E4 00", src=other, now=t0 + k * 600)
    run(node, net, t0, t0 + LIMIT)
    assert b.get(0xDA) == h("46") and len(autonomous_events(events)) == 1
    assert node._heard == {}  # nothing left to watch once no command is in force


def test_a_setting_from_another_controller_does_not_take_over_the_command():
    """A second controller (an app) sets where the battery stands, or switches it, and
    falls silent: the command of the HEMS that keeps polling stays in force, and nothing
    lapses for the app's silence."""
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "DA 01 42", t0)
    app = ("127.0.0.9", 3610)
    for body in ("81 01 08", "80 01 30"):
        out = request(node, net, "1081 0209 05FF01 027D01 61 01 %s" % body, src=app, now=t0 + 60)
        assert out[0][1][10] == 0x71, out
    assert b.set_by == SRC[0] or b.set_by == SRC, b.set_by
    t = t0
    for _ in range(4):  # the HEMS polls every 30 minutes for two hours
        run(node, net, t, t + 1800)
        t += 1800
        request(node, net, "1081 0203 05FF01 027D01 62 01 E4 00", now=t)
    assert autonomous_events(events) == [] and b.get(0xDA) == h("42") and b.get(0x81) == h("08")
    # a setting alone puts no command in force: nothing to time
    node2, net2, b2, events2 = make("battery", t0)
    request(node2, net2, "1081 0209 05FF01 027D01 61 01 81 01 08", src=app, now=t0)
    assert b2.set_at is None and node2._heard == {}


def test_a_setting_replayed_at_boot_starts_no_wait():
    """Only the installation location saved: nothing to time, so no return to autonomous
    operation (and its INF) an hour after every boot."""
    node, net, b, events = make("battery", MIDNIGHT)
    assert persist.restore(node, {"027D01": ["81=08", "80=30"]}, MIDNIGHT) == []
    assert b.set_at is None and b.accepted == [0x81, 0x80]  # kept, and saved again
    run(node, net, MIDNIGHT, MIDNIGHT + 2 * LIMIT, step=600)
    assert autonomous_events(events) == []


def test_the_controller_is_who_the_node_takes_a_source_for():
    """node.who maps a request's source to its controller (app.py: the address without the
    port): polling from other sockets of the same host keeps the command in force."""
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0)
    node.who = lambda src: src[0]
    setc(node, net, b, "DA 01 42", t0)  # from SRC, port 3610
    for k in range(1, 6):
        request(node, net, "1081 0208 05FF01 027D01 62 01 E4 00", src=(SRC[0], 50000 + k), now=t0 + k * 600)
    run(node, net, t0, t0 + 3000 + LIMIT - 300)
    assert b.get(0xDA) == h("42") and autonomous_events(events) == []
    assert list(node._heard) == [SRC[0]]
    run(node, net, t0 + 3000 + LIMIT - 300, t0 + 3000 + LIMIT + 300)
    assert b.get(0xDA) == h("46") and len(autonomous_events(events)) == 1


def test_expiry_takes_effect_at_its_second_even_between_coarse_ticks():
    # charge at 2 kW; ticks every 700 s: the hour ends between the ticks at 3500 and 4200 s
    t0 = MIDNIGHT + HOUR  # 01:00: automatic mode then covers the night load, 250 W, no solar
    node, net, b, events = make("battery", t0)
    setc(node, net, b, "EB 04 000007D0 DA 01 42", t0)
    run(node, net, t0, t0 + 4200, step=700)
    assert b.get(0xDA) == h("46") and b.get(0xCF) == h("43") and b.get(0xD3) == h("FFFFFF06")
    assert abs(int.from_bytes(b.get(0xA8), "big") - 2000) <= 1  # exactly one hour at 2 kW
    assert abs(int.from_bytes(b.get(0xA9), "big") - 250 * 600 // 3600) <= 1  # then 250 W for 600 s


def test_zero_means_never():
    t0 = MIDNIGHT + HOUR
    node, net, b, events = make("battery", t0, limit=0)
    setc(node, net, b, "DA 01 42", t0)
    run(node, net, t0, t0 + 2 * DAY, step=3600)
    assert b.get(0xDA) == h("42") and events == ["set 027D01 DA=42"]


def test_restored_settings_are_timed_from_the_boot():
    t0 = MIDNIGHT + HOUR
    dev = registry.make("battery", 1, ID, t0)
    net = Net()
    node = Node(NodeProfile(ID, [dev]), [dev], net.send, lambda src: True)
    node.dr_timeout = LIMIT
    assert persist.restore(node, {"027D01": ["DA=42"]}, t0) == []
    node.start(t0)
    net.take()
    sent = run(node, net, t0, t0 + LIMIT)
    assert dev.get(0xDA) == h("46") and (0xDA, h("46")) in sent


def _night_wh(participate, limit):
    """Electricity the water heater takes from 23:00 to 07:00 after a shift request at 20:00."""
    t0 = MIDNIGHT + 20 * HOUR
    node, net, wh, events = make("water_heater", t0, limit)
    if participate:
        setc(node, net, wh, "C7 01 01 CA 01 0A", t0)
    run(node, net, t0, t0 + 3 * HOUR, step=60)
    e0 = int.from_bytes(wh.get(0x85), "big")
    run(node, net, t0 + 3 * HOUR, t0 + 11 * HOUR, step=60)
    return int.from_bytes(wh.get(0x85), "big") - e0


def test_water_heater_after_the_timeout_heats_at_night_on_its_own_plan():
    own = _night_wh(False, LIMIT)
    shifted = _night_wh(True, 0)  # the controller's shift holds: the night is mostly skipped
    dropped = _night_wh(True, LIMIT)  # the controller fell silent at 21:00
    assert shifted < own / 2, (shifted, own)
    assert dropped == own, (dropped, own)
