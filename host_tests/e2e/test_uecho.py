"""The node against uecho's Controller (threads, blocking calls), on loopback.

uecho's sockets never set IP_MULTICAST_IF (uecho/frame/unicast_server.py sends its
search to 224.0.23.0 from a plain socket), and Controller.start() multicasts a search at
once. So in the root namespace the controller is started as a bare LocalNode (no search),
its multicast receiver is dropped (every node on lo announces to the group; uecho takes
any INF whose TID happens to match as the reply it waits for), and the node is
registered by unicast: the same Get 0xD6 that search() multicasts, sent to the node's
address. uecho registers a node from any Get_Res of 0xD6 to its node profile. uecho's
multicast search itself is tested inside namespaces (test_multicast_netns.py).
"""
import socket
import time

import pytest
from uecho import Controller, ReadRequest, WriteResponseRequiredRequest
from uecho.frame.interface import Interface
from uecho.frame.multicast_server import MulticastServer
from uecho.local_node import LocalNode
from uecho.messages import SearchMessage

from . import enl
from .harness import ready_objects

BATTERY = 0x027D01
OPERATION_MODE = 0xDA
CHARGING = 0x42


@pytest.fixture
def controller(node, monkeypatch):
    # uecho binds every address get_all_ipaddrs() lists (netifaces, minus 127.0.0.1): only ours
    monkeypatch.setattr(Interface, "get_all_ipaddrs", staticmethod(lambda: [node.ctrl]))
    ctrl = Controller()
    assert LocalNode.start(ctrl), "uecho could not bind %s:3610" % node.ctrl  # Controller.start() would search
    try:
        manager = ctrl._LocalNode__manager
        for server in list(manager.servers):
            if isinstance(server, MulticastServer):
                server.stop()
                manager.servers.remove(server)
            else:  # belt and braces: should uecho ever multicast, it stays on lo
                server.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(node.ctrl))
        assert [s.ifaddr for s in manager.servers] == [node.ctrl]
        yield ctrl
    finally:
        ctrl.stop()


def post(ctrl, msg, node_addr):
    res = ctrl.post_message(msg, (node_addr, enl.PORT))
    assert res is not None, "no reply from %s to %s" % (node_addr, msg.to_bytes().hex())
    assert res.from_addr[0] == node_addr and res.TID == msg.TID, res.to_bytes().hex()
    return res


def props(res):
    return [(p.code, bytes(p.data)) for p in res.properties]


@pytest.mark.parametrize("hhmm, connection", [(b"\x0c\x00", 0x30), (b"\x15\x00", 0x43)], ids=["noon-car-away", "21h-car-home"])
def test_uecho_reads_every_property_and_writes(node, controller, hhmm, connection):
    ctrl = controller
    # register the node the way uecho's search would, by unicast
    res = post(ctrl, SearchMessage(), node.addr)
    assert res.ESV == enl.GET_RES and res.SEOJ == enl.NODE_PROFILE and res.DEOJ == enl.NODE_PROFILE, res.to_bytes().hex()
    remote = ctrl.get_node(node.addr)
    assert remote is not None, "uecho did not register the node from its 0xD6 reply"
    codes = sorted(o.code for o in remote.objects)
    assert codes == sorted(ready_objects(node.proc))
    assert remote.has_object(BATTERY)
    assert remote.get_object(BATTERY).name == "Storage battery"  # from uecho's own class database

    # the node's clock to a set hour now, whenever the suite runs: by day the simulated
    # car is away and the EV's vehicle properties answer Get_SNA (enl.unanswerable)
    w = WriteResponseRequiredRequest(0x027E01)
    w.add_property((0x97, hhmm))
    assert post(ctrl, w, node.addr).ESV == enl.SET_RES
    deadline = time.monotonic() + 5
    while True:  # the next tick plugs or unplugs the car
        r = ReadRequest(0x027E01)
        r.add_property(0xC7)
        if props(post(ctrl, r, node.addr))[0][1] == bytes((connection,)):
            break
        assert time.monotonic() < deadline, "0xC7 did not become %02X" % connection
        time.sleep(0.2)

    for obj in remote.objects:
        req = ReadRequest(obj.code)
        req.add_property(0x9F)
        res = post(ctrl, req, node.addr)
        assert res.ESV == enl.GET_RES and res.SEOJ == obj.code, res.to_bytes().hex()
        getmap = enl.decode_map(props(res)[0][1])
        absent = ()
        if obj.code >> 8 == enl.EV_CLASS:  # with no vehicle its vehicle properties answer Get_SNA
            req = ReadRequest(obj.code)
            req.add_property(0xC7)
            absent = enl.unanswerable(obj.code, props(post(ctrl, req, node.addr))[0][1])
        for batch in enl.chunks(getmap, 16):
            req = ReadRequest(obj.code)
            for epc in batch:
                req.add_property(epc)
            res = post(ctrl, req, node.addr)
            where = "%06X: %s -> %s" % (obj.code, req.to_bytes().hex(), res.to_bytes().hex())
            assert res.ESV == (enl.GET_SNA if set(batch) & set(absent) else enl.GET_RES), where
            assert res.SEOJ == obj.code and res.DEOJ == enl.NODE_PROFILE, where
            got = props(res)
            assert [e for e, _ in got] == batch, where
            for epc, edt in got:
                if epc in absent:
                    assert not edt, "%s: EPC %02X has a value with no vehicle" % (where, epc)
                    continue
                assert edt, "%s: EPC %02X answered with PDC 0" % (where, epc)
                enl.check_edt_size(obj.code, epc, edt)

    # WriteResponseRequiredRequest (SetC) 0xDA=0x42 -> Set_Res, the property with PDC 0
    w = WriteResponseRequiredRequest(BATTERY)
    w.add_property((OPERATION_MODE, bytes([CHARGING])))
    res = post(ctrl, w, node.addr)
    assert res.to_bytes() == enl.build(w.TID, BATTERY, enl.NODE_PROFILE, enl.SET_RES, [(OPERATION_MODE, b"")])
    node.proc.wait_for("set 027D01 DA=42", 5)

    r = ReadRequest(BATTERY)
    r.add_property(OPERATION_MODE)
    res = post(ctrl, r, node.addr)
    assert res.ESV == enl.GET_RES and props(res) == [(OPERATION_MODE, bytes([CHARGING]))]
