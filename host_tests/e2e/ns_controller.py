"""A controller run inside the test's controller namespace by test_multicast_netns.py:

    ns_controller.py pychonet --local IP --node IP [--boot-inf]
    ns_controller.py uecho --local IP --node IP

It prints progress lines (LISTENING when its group socket is joined) and finally one line
`RESULT <json>`; any failure is a traceback and a non-zero exit. Multicast from here
only reaches the veth into the node's namespace.
"""
import argparse
import asyncio
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import enl  # noqa: E402

TIMEOUT = 20.0


def out(text):
    print(text, flush=True)


def wait_boot_inf(local, node):
    """Join the group before the node starts; return its first INF from the node profile."""
    with enl.mcast_listener(local) as s:
        out("LISTENING")
        frame, src = enl.recv_matching(s, lambda f, a: a[0] == node and f.esv == enl.INF and f.seoj == enl.NODE_PROFILE, TIMEOUT)
    return frame, src


async def pychonet_discovery(local, node):
    from pychonet import ECHONETAPIClient
    from pychonet.lib.udpserver import UDPServer
    from pychonet_util import Recorder, quiet

    udp = UDPServer(local_ip=local)  # joins the group on local, IP_MULTICAST_IF=local
    udp.run("0.0.0.0", enl.PORT, loop=asyncio.get_running_loop())
    api = ECHONETAPIClient(server=udp)
    rec = Recorder(udp)
    seen = []
    found = asyncio.Event()

    async def on_new_host(host):
        seen.append(host)
        if host == node:
            found.set()

    api.configure(message_timeout=100, logger=quiet, discover_callback=on_new_host)
    try:
        # multicast Get 0xD6: pychonet reports every new sender through discover_callback,
        # itself included (it hears its own multicast), and waits out its timeout
        search = asyncio.ensure_future(api.discover())
        await asyncio.wait_for(found.wait(), TIMEOUT)
        reply = await rec.wait(lambda f, a: a[0] == node and f.esv == enl.GET_RES and f.seoj == enl.NODE_PROFILE)
        search.cancel()
        # then, like Home Assistant, the unicast discovery of that host
        assert await api.discover(node) is True
        instances = sorted("%02X%02X%02X" % (gc, cc, ci) for gc, ccs in api.state[node]["instances"].items()
                           for cc, cis in ccs.items() for ci in cis)
        return {"discovered": sorted(set(h for h in seen if h != local)), "reply": reply.raw.hex(), "instances": instances}
    finally:
        udp.close()


def uecho_search(local, node):
    from uecho import Controller, ReadRequest
    from uecho.frame.interface import Interface

    Interface.get_all_ipaddrs = staticmethod(lambda: [local])
    ctrl = Controller()
    added = threading.Event()

    class Listener:
        def node_add(self, n):
            if n.ip == node:
                added.set()

        def node_updated(self, n):
            pass

        def object_updated(self, n, obj):
            pass

        def property_updated(self, n, obj, prop):
            pass

    ctrl.add_listener(Listener())
    assert ctrl.start(), "uecho Controller.start() failed"  # binds local:3610 + the group, then search()
    try:
        assert added.wait(TIMEOUT), "uecho's search did not find %s; nodes %s" % (node, [n.ip for n in ctrl.nodes])
        remote = ctrl.get_node(node)
        req = ReadRequest(0x027D01)
        req.add_property(0x80)
        res = ctrl.post_message(req, remote)
        return {
            "nodes": sorted(n.ip for n in ctrl.nodes if n.ip != local),
            "objects": sorted("%06X" % o.code for o in remote.objects),
            "read": res.to_bytes().hex() if res is not None else None,
        }
    finally:
        ctrl.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("client", choices=("pychonet", "uecho"))
    ap.add_argument("--local", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--boot-inf", action="store_true", help="first wait for the node's boot INF")
    args = ap.parse_args()
    result = {}
    t0 = time.monotonic()
    if args.boot_inf:
        frame, src = wait_boot_inf(args.local, args.node)
        result["boot_inf"] = frame.raw.hex()
        result["boot_inf_src"] = list(src)
    if args.client == "pychonet":
        result.update(asyncio.run(pychonet_discovery(args.local, args.node)))
    else:
        result.update(uecho_search(args.local, args.node))
    result["seconds"] = round(time.monotonic() - t0, 2)
    out("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
