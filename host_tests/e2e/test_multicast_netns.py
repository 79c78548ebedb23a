"""Multicast discovery, the only place the tests send multicast requests: two network
namespaces created by the test (controller 10.x.y.1, node 10.x.y.2, one veth between
them) and removed however the test ends. The node runs in one through `ip netns exec`,
a controller script (ns_controller.py) in the other.
"""
import json
import os

from . import enl
from .harness import HERE, PYTHON, Proc, ready_objects, start_node, stop_node

SCRIPT = os.path.join(HERE, "ns_controller.py")
BATTERY = 0x027D01
RESULT_TIMEOUT = 60.0


def run_controller(ns, client, *extra):
    return Proc(ns.exec_argv(ns.ctl, [PYTHON, SCRIPT, client, "--local", ns.ctl_addr, "--node", ns.dev_addr] + list(extra)))


def result_of(proc):
    line = proc.wait_for("RESULT ", RESULT_TIMEOUT)
    assert proc.wait_exit(10) == 0, proc.output()
    return json.loads(line[len("RESULT "):])


def test_boot_announcement_and_pychonet_multicast_discovery(netns_pair, state_dirs):
    ns = netns_pair
    ctl = run_controller(ns, "pychonet", "--boot-inf")
    node = None
    try:
        ctl.wait_for("LISTENING", 20)  # joined the group before the node starts
        node = start_node(ns.dev_addr, state_dirs(), netns=ns.dev)
        result = result_of(ctl)
    finally:
        ctl.kill_group()
        if node is not None:
            stop_node(node)

    # the start-up announcement: INF of 0xD5 from the node profile to the group
    assert result["boot_inf_src"] == [ns.dev_addr, enl.PORT]
    inf = enl.parse(bytes.fromhex(result["boot_inf"]))
    assert inf.esv == enl.INF and inf.seoj == enl.NODE_PROFILE and inf.deoj == enl.NODE_PROFILE, result["boot_inf"]
    assert [e for e, _ in inf.props] == [0xD5], result["boot_inf"]
    announced = enl.decode_instances(inf.edt(0xD5))
    assert BATTERY in announced

    # pychonet's multicast Get 0xD6 found the node, and only the node (its own echo filtered)
    assert result["discovered"] == [ns.dev_addr]
    reply = enl.parse(bytes.fromhex(result["reply"]))
    assert reply.esv == enl.GET_RES and reply.seoj == enl.NODE_PROFILE and reply.deoj == enl.CONTROLLER, result["reply"]
    assert reply.props == [(0xD6, inf.edt(0xD5))], "0xD6 answered differs from the 0xD5 announced"
    # and its unicast discovery of that host lists the battery
    assert "%06X" % BATTERY in result["instances"]
    assert sorted(int(x, 16) for x in result["instances"]) == sorted(announced)
    assert sorted(announced) == sorted(e for e in ready_objects(node) if e != enl.NODE_PROFILE)


def test_uecho_multicast_search(netns_pair, state_dirs):
    ns = netns_pair
    node = start_node(ns.dev_addr, state_dirs(), netns=ns.dev)
    try:
        ctl = run_controller(ns, "uecho")
        try:
            result = result_of(ctl)
        finally:
            ctl.kill_group()
    finally:
        stop_node(node)
    assert result["nodes"] == [ns.dev_addr]
    # uecho registered the node with the objects of its 0xD6 reply (plus the node profile)
    assert result["objects"] == sorted("%06X" % e for e in ready_objects(node))
    assert "%06X" % BATTERY in result["objects"]
    read = enl.parse(bytes.fromhex(result["read"]))
    assert read.esv == enl.GET_RES and read.seoj == BATTERY and read.deoj == enl.NODE_PROFILE, result["read"]
    assert [e for e, _ in read.props] == [0x80] and read.edt(0x80) in (b"\x30", b"\x31")
