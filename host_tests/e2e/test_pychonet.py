"""The node against pychonet (the library Home Assistant's ECHONET Lite integration uses),
on loopback: unicast discovery, every property of every object, the battery's device
object, a Set and its status-change announcement, and a refused Set.

pychonet's UDPServer runs on ctrl_addr:3610 (the node replies to port 3610 of the
requester). Bound to that unicast address it never sees multicast, so a second
UDPServer bound to the group (joined on ctrl_addr, i.e. on lo) listens for the node's
announcements. Other tests' nodes announce on lo too: everything is filtered by sender.
"""
import asyncio
import time

import pytest
from pychonet import ECHONETAPIClient, Factory
from pychonet.EchonetInstance import call_epc_function
from pychonet.lib.epc import EPC_CODE, EPC_SUPER
from pychonet.lib.epc_functions import EPC_SUPER_FUNCTIONS
from pychonet.lib.udpserver import UDPServer
from pychonet.StorageBattery import StorageBattery

from . import enl
from .harness import ready_objects
from .pychonet_util import Recorder, quiet

BATTERY = 0x027D01
OPERATION_MODE = 0xDA  # battery 0xDA, in its 0x9D announcement map
CHARGING = 0x42
TICKS = 50  # pychonet waits in 0.1 s ticks: 5 s per request


def split(eoj):
    return eoj >> 16, (eoj >> 8) & 0xFF, eoj & 0xFF


class Client:
    """pychonet's API client on ctrl_addr:3610, plus a recorder of the raw replies."""

    def __init__(self, ctrl_addr):
        self.udp = UDPServer(local_ip=ctrl_addr)
        self.udp.run(ctrl_addr, enl.PORT, loop=asyncio.get_running_loop())
        self.api = ECHONETAPIClient(server=self.udp)
        self.api.configure(message_timeout=TICKS, logger=quiet)
        self.rec = Recorder(self.udp)

    async def last_reply(self, host):
        """The node's frame answering pychonet's most recent request (same TID)."""
        return await self.rec.reply(host, self.api._next_tx_tid)

    async def call(self, host, eoj, esv, opc):
        """api.echonetMessage (pychonet's raw request), then the frame the node answered."""
        ok = await self.api.echonetMessage(host, *split(eoj), esv, opc)
        return ok, await self.last_reply(host)

    async def discover(self, host):
        assert await self.api.discover(host) is True, "pychonet discover(%s) timed out" % host
        return await self.last_reply(host)

    def close(self):
        self.udp.close()


class Listener:
    """A second pychonet client bound to 224.0.23.0:3610 on ctrl_addr: how pychonet hears
    pushed INF frames. It knows the battery (register_instance) and notes a pushed update."""

    def __init__(self, ctrl_addr, host):
        self.udp = UDPServer(local_ip=ctrl_addr)
        self.udp.run(enl.GROUP, enl.PORT, loop=asyncio.get_running_loop())
        self.api = ECHONETAPIClient(server=self.udp)
        self.api.configure(message_timeout=TICKS, logger=quiet)
        self.rec = Recorder(self.udp)
        self.pushed = asyncio.Event()
        self.api.register_instance(host, *split(BATTERY), ntfmap=[OPERATION_MODE], setmap=[], getmap=[])

        async def updated(is_push):
            if is_push:
                self.pushed.set()

        self.api.register_async_update_callbacks(host, *split(BATTERY), updated)

    def close(self):
        self.udp.close()


def test_discover_and_read_every_property(node):
    discover_and_read_every_property(node)


def discover_and_read_every_property(node):
    """pychonet discovers the node, reads the property maps of every object and every EPC
    in each 0x9F: every answer a Get_Res with values of the declared sizes."""

    async def scenario():
        c = Client(node.ctrl)
        try:
            host = node.addr
            disc = await c.discover(host)
            # unicast discovery: Get 0x8A 0x8C 0x83 0xD6 of the node profile -> Get_Res
            assert disc.esv == enl.GET_RES and disc.seoj == enl.NODE_PROFILE and disc.deoj == enl.CONTROLLER, disc.raw.hex()
            assert [e for e, _ in disc.props] == [0x8A, 0x8C, 0x83, 0xD6], disc.raw.hex()
            instances = enl.decode_instances(disc.edt(0xD6))
            assert BATTERY in instances
            # 0xD6 lists the device objects: everything the node said it serves but its profile
            assert sorted(instances) == sorted(e for e in ready_objects(node.proc) if e != enl.NODE_PROFILE)
            state = c.api.state[host]
            assert state.get("discovered") is True
            known = {(gc << 16) | (cc << 8) | ci
                     for gc, ccs in state["instances"].items() for cc, cis in ccs.items() for ci in cis}
            assert known == set(instances)
            assert state["uid"] == disc.edt(0x83)[1:].hex()
            assert state["manufacturer"] == EPC_SUPER_FUNCTIONS[0x8A](disc.edt(0x8A))  # 0xFFFFFF: "Experimental"

            # the node profile's own counts agree with its instance list (node profile 0xD3, 0xD4, 0xD7)
            ok, prof = await c.call(host, enl.NODE_PROFILE, enl.GET, [{"EPC": e} for e in (0xD3, 0xD4, 0xD7)])
            assert ok and prof.esv == enl.GET_RES, prof.raw.hex()
            classes = sorted({e >> 8 for e in instances})
            assert int.from_bytes(prof.edt(0xD3), "big") == len(instances)
            assert int.from_bytes(prof.edt(0xD4), "big") == len(classes) + 1  # the node profile class counts
            d7 = prof.edt(0xD7)
            assert sorted(int.from_bytes(d7[1 + 2 * k : 3 + 2 * k], "big") for k in range(d7[0])) == classes

            # property maps of every object, the node profile first
            getmaps = {}
            for eoj in [enl.NODE_PROFILE] + instances:
                assert await c.api.getAllPropertyMaps(host, *split(eoj)) is True
                maps = await c.last_reply(host)
                assert maps.esv == enl.GET_RES and maps.seoj == eoj and maps.deoj == enl.CONTROLLER, maps.raw.hex()
                assert [e for e, _ in maps.props] == [0x9D, 0x9F, 0x9E], maps.raw.hex()
                decoded = {m: enl.decode_map(maps.edt(m)) for m in (0x9D, 0x9E, 0x9F)}
                assert {0x9D, 0x9E, 0x9F} <= set(decoded[0x9F])
                if eoj != enl.NODE_PROFILE:  # pychonet keeps device maps (it ignores the profile's)
                    mine = state["instances"][eoj >> 16][(eoj >> 8) & 0xFF][eoj & 0xFF]
                    for m in (0x9D, 0x9E, 0x9F):
                        assert sorted(mine[m]) == decoded[m], "pychonet decodes map %02X of %06X differently" % (m, eoj)
                getmaps[eoj] = decoded[0x9F]
            assert OPERATION_MODE in getmaps[BATTERY]

            # every EPC of every 0x9F, in batches, through pychonet's raw request: each with
            # a value, but for what the Appendix says cannot be answered now (enl.unanswerable)
            values = {}
            for eoj, getmap in getmaps.items():
                absent = ()
                if eoj >> 8 == enl.EV_CLASS:
                    ok, res = await c.call(host, eoj, enl.GET, [{"EPC": 0xC7}])
                    absent = enl.unanswerable(eoj, res.edt(0xC7))
                for batch in enl.chunks(getmap, 12):
                    ok, res = await c.call(host, eoj, enl.GET, [{"EPC": e} for e in batch])
                    where = "%06X Get %s -> %s" % (eoj, " ".join("%02X" % e for e in batch), res.raw.hex())
                    assert ok is True, where  # (pychonet takes a Get_SNA as an answer too)
                    assert res.esv == (enl.GET_SNA if set(batch) & set(absent) else enl.GET_RES), where
                    assert res.seoj == eoj and res.deoj == enl.CONTROLLER, where
                    assert [e for e, _ in res.props] == batch, where
                    for epc, edt in res.props:
                        if epc in absent:
                            assert edt == b"", "%s: EPC %02X has a value with no vehicle" % (where, epc)
                            continue
                        assert len(edt) > 0, "%s: EPC %02X answered with PDC 0" % (where, epc)
                        enl.check_edt_size(eoj, epc, edt)
                        values[eoj, epc] = edt
            # identification numbers: first byte 0xFE means the manufacturer code of 0x8A follows
            for eoj in getmaps:
                if (eoj, 0x83) in values and values[eoj, 0x83][0] == 0xFE:
                    assert values[eoj, 0x83][1:4] == values[eoj, 0x8A], values[eoj, 0x83].hex()
            assert values[enl.NODE_PROFILE, 0xD6] == disc.edt(0xD6)
        finally:
            c.close()

    asyncio.run(scenario())


# pychonet's class objects per DRready class, as a Home Assistant user meets them
PYCHONET_CLASSES = {0x027D: "StorageBattery", 0x026B: "ElectricWaterHeater", 0x02A6: "HybridWaterHeater",
                    0x027E: "ElectricVehicleChargerDischarger", 0x027C: "FuelCell"}
# pychonet decodes these when they arrive and keeps the decoded form (the maps as lists, the
# identification as text), then update() decodes that again and fails: its bug, not a value
# of ours. They are checked against what pychonet kept instead.
PREDECODED = (0x83, 0x8A, 0x8C, 0x9D, 0x9E, 0x9F)


def test_every_class_through_pychonets_device_objects(node):
    read_through_class_objects(node)


@pytest.mark.parametrize("hhmm, connection", [("0C00", 0x30), ("1500", 0x43)], ids=["noon-car-away", "21h-car-home"])
def test_every_property_at_a_time_of_day(node, hhmm, connection):
    """The readers above at a set time of the node's clock, whenever the suite runs: by day
    the simulated car is away and the EV's vehicle properties answer Get_SNA, by night
    they have values (enl.unanswerable)."""
    with enl.RawController(node.ctrl) as c:
        r = c.request(node.addr, 0x027E01, enl.SETC, [(0x97, bytes.fromhex(hhmm))])
        assert r.esv == enl.SET_RES, r.raw.hex()
        deadline = time.monotonic() + 5
        while c.get(node.addr, 0x027E01, [0xC7]).edt(0xC7) != bytes((connection,)):  # the next tick plugs or unplugs
            assert time.monotonic() < deadline, "0xC7 did not become %02X at %s" % (connection, hhmm)
            time.sleep(0.2)
    discover_and_read_every_property(node)
    read_through_class_objects(node)


def read_through_class_objects(node):
    """Each of the five objects through pychonet's own class object (Factory): every Get
    property pychonet knows is read with update() and decoded by pychonet's functions for
    that class, from exactly the bytes the node sent; what pychonet kept of the predecoded
    ones agrees with those bytes too."""

    async def scenario():
        c = Client(node.ctrl)
        try:
            host = node.addr
            disc = await c.discover(host)
            instances = enl.decode_instances(disc.edt(0xD6))
            assert sorted(e >> 8 for e in instances) == sorted(PYCHONET_CLASSES), instances
            decoded = 0
            for eoj in instances:
                gc, cc, ci = split(eoj)
                assert await c.api.getAllPropertyMaps(host, gc, cc, ci) is True
                dev = Factory(host, c.api, gc, cc, ci)
                assert type(dev).__name__ == PYCHONET_CLASSES[eoj >> 8]
                gets = dev.getGetProperties()
                if eoj >> 8 == enl.EV_CLASS:  # with no vehicle its vehicle properties answer Get_SNA
                    ok, res = await c.call(host, eoj, enl.GET, [{"EPC": 0xC7}])
                    absent = enl.unanswerable(eoj, res.edt(0xC7))
                    if absent:
                        ok, res = await c.call(host, eoj, enl.GET, [{"EPC": e} for e in absent])
                        assert res.esv == enl.GET_SNA and all(edt == b"" for _, edt in res.props), res.raw.hex()
                        gets = [e for e in gets if e not in absent]
                kept = c.api.state[host]["instances"][gc][cc][ci]
                # update() fails on a batch holding one of these (see PREDECODED): read them raw
                pre = [e for e in gets if e in PREDECODED]
                ok, res = await c.call(host, eoj, enl.GET, [{"EPC": e} for e in pre])
                assert ok and res.esv == enl.GET_RES, res.raw.hex()
                for epc in pre:
                    edt = res.edt(epc)
                    if epc >= 0x9D:
                        assert sorted(kept[epc]) == enl.decode_map(edt), "%06X %02X" % (eoj, epc)
                    else:
                        assert kept[epc] == EPC_SUPER_FUNCTIONS[epc](edt), "%06X %02X %r" % (eoj, epc, kept[epc])
                for batch in enl.chunks([e for e in gets if e not in PREDECODED], 12):
                    got = await dev.update(batch)
                    if len(batch) == 1:  # update() returns a lone value itself
                        got = {batch[0]: got}
                    res = await c.last_reply(host)
                    where = "%s %06X Get %s -> %s" % (type(dev).__name__, eoj, " ".join("%02X" % e for e in batch), res.raw.hex())
                    assert res.esv == enl.GET_RES and [e for e, _ in res.props] == batch, where
                    for epc in batch:
                        edt = res.edt(epc)
                        if epc in EPC_SUPER_FUNCTIONS:
                            want = call_epc_function(EPC_SUPER_FUNCTIONS[epc], edt)
                        elif epc in EPC_SUPER or (epc not in dev.EPC_FUNCTIONS and epc in EPC_CODE[gc][cc]):
                            want = edt.hex()
                        elif epc in dev.EPC_FUNCTIONS:
                            want = call_epc_function(dev.EPC_FUNCTIONS[epc], edt)
                        else:
                            want = None  # not in pychonet's tables (e.g. 0xF0): it cannot decode it
                        assert got[epc] == want, "%s: %02X decoded %r, want %r" % (where, epc, got[epc], want)
                        decoded += want is not None
            assert decoded >= 120, decoded  # when written 131 (123 with the car away): all pychonet has a decoder or code for
        finally:
            c.close()

    asyncio.run(scenario())


def test_battery_device_object_set_and_announcement(node):
    async def scenario():
        c = Client(node.ctrl)
        listener = Listener(node.ctrl, node.addr)
        try:
            host = node.addr
            await c.discover(host)
            assert await c.api.getAllPropertyMaps(host, *split(BATTERY)) is True
            dev = Factory(host, c.api, *split(BATTERY))
            assert isinstance(dev, StorageBattery)

            # update() decodes what the node sent: check against the bytes of that reply
            epcs = [0x80, OPERATION_MODE, 0xCF, 0xE4]
            got = await dev.update(epcs)
            res = await c.last_reply(host)
            assert res.esv == enl.GET_RES and [e for e, _ in res.props] == epcs, res.raw.hex()
            modes = StorageBattery.DICT_OPERATION_MODE
            assert got[0x80] == {0x30: "on", 0x31: "off"}[res.edt(0x80)[0]]
            assert got[OPERATION_MODE] == modes[res.edt(OPERATION_MODE)[0]]
            assert got[0xCF] == modes[res.edt(0xCF)[0]]
            assert len(res.edt(0xE4)) == 1 and got[0xE4] == res.edt(0xE4)[0] and 0 <= got[0xE4] <= 100
            assert got[OPERATION_MODE] != "charging", "test needs a battery that is not charging yet: %s" % got

            # SetC 0xDA=0x42 from a controller in --legacy-write: Set_Res with PDC 0
            assert await dev.setMessage(OPERATION_MODE, CHARGING) is True
            tid = c.api._next_tx_tid
            res = await c.last_reply(host)
            assert res.raw == enl.build(tid, BATTERY, enl.CONTROLLER, enl.SET_RES, [(OPERATION_MODE, b"")]), res.raw.hex()

            # the status-change announcement: INF from the battery to the node profile, by multicast
            announced = (OPERATION_MODE, bytes([CHARGING]))
            inf = await listener.rec.wait(
                lambda f, a: a[0] == host and f.esv == enl.INF and f.seoj == BATTERY and announced in f.props)
            assert inf.deoj == enl.NODE_PROFILE, inf.raw.hex()
            # ... which pychonet takes as a push and stores
            await asyncio.wait_for(listener.pushed.wait(), 10)
            assert listener.api.state[host]["instances"][0x02][0x7D][0x01][OPERATION_MODE] == bytes([CHARGING])

            node.proc.wait_for("set 027D01 DA=42", 5)
            assert await dev.update(OPERATION_MODE) == "charging"
        finally:
            listener.close()
            c.close()

    asyncio.run(scenario())


def test_set_refused_unless_legacy_write_allows(node_factory):
    # --legacy-write names some other address, not this controller
    n = node_factory(legacy_write=("127.0.0.254",))

    async def scenario():
        c = Client(n.ctrl)
        try:
            host = n.addr
            await c.discover(host)
            assert await c.api.getAllPropertyMaps(host, *split(BATTERY)) is True
            ok, before = await c.call(host, BATTERY, enl.GET, [{"EPC": OPERATION_MODE}])
            assert ok and before.esv == enl.GET_RES
            mode = before.edt(OPERATION_MODE)
            assert mode != bytes([CHARGING])
            dev = Factory(host, c.api, *split(BATTERY))

            # SetC -> SetC_SNA echoing the refused property with its data (PDC and EDT as requested)
            assert await dev.setMessage(OPERATION_MODE, CHARGING) is False
            tid = c.api._next_tx_tid
            res = await c.last_reply(host)
            echo = [(OPERATION_MODE, bytes([CHARGING]))]
            assert res.raw == enl.build(tid, BATTERY, enl.CONTROLLER, enl.SETC_SNA, echo), res.raw.hex()

            # SetI -> SetI_SNA, same echo
            await c.api.echonetMessage(host, *split(BATTERY), enl.SETI, [{"EPC": OPERATION_MODE, "PDC": 1, "EDT": CHARGING}])
            tid = c.api._next_tx_tid
            res = await c.last_reply(host)
            assert res.raw == enl.build(tid, BATTERY, enl.CONTROLLER, enl.SETI_SNA, echo), res.raw.hex()

            # Get still works, and the value did not change
            ok, after = await c.call(host, BATTERY, enl.GET, [{"EPC": 0x80}, {"EPC": OPERATION_MODE}])
            assert ok is True and after.esv == enl.GET_RES, after.raw.hex()
            assert after.edt(OPERATION_MODE) == mode
            assert await dev.update(OPERATION_MODE) == StorageBattery.DICT_OPERATION_MODE[mode[0]]
            assert not any(line.startswith("set 027D01 DA=") for line in n.lines), n.lines
        finally:
            c.close()

    asyncio.run(scenario())
