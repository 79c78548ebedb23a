"""A pull from an update server that never finishes its answer (a tarpit, firmware/update/
pull.py) while the real node runs: the node answers ECHONET Lite all along, and the pull
ends by its deadline (update_pull_timeout_s, a few seconds here) with one log line. A
server that never accepts the connection ends the same way, and its socket does not stay
open: MicroPython's open_connection gives no handle to close it, the collection the pull
task runs after a failure does (firmware/update/pull.py, task). Nor does a name server that
never answers hold the node (hal/dns.py): the lookup waits on the loop."""
import json
import os
import signal
import time

from dns_server import NameServer
from https_server import Blackhole, Tarpit, make_ca, pem

from . import enl
from .harness import FIRMWARE_MAIN, PYTHON, READY_TIMEOUT, Proc

BATTERY = 0x027D01
DEADLINE_S = 6


def start_pulling(state, addr, url, deadline, **more):
    """The node under the unix port, configured to pull from url with that deadline."""
    ca = os.path.join(state, "update_ca.pem")
    with open(ca, "wb") as f:
        f.write(pem(make_ca()[1]))
    cfg = os.path.join(state, "config.json")
    with open(cfg, "w") as f:
        json.dump({"addr": addr, "state_dir": state, "objects": ["battery"], "update_url": url,
                   "update_ca": ca, "update_pull_timeout_s": deadline, **more}, f)
    env = dict(os.environ, MICROPYPATH=os.path.dirname(FIRMWARE_MAIN) + ":.frozen")
    return Proc([os.path.join(os.path.dirname(PYTHON), "micropython"), "-X", "heapsize=192K", FIRMWARE_MAIN, cfg], env=env)


def answers(addr, ctrl, times):
    """The node answers a Get within 1 s, times times, 0.4 s apart."""
    with enl.RawController(ctrl) as c:
        for _ in range(times):
            assert c.get(addr, BATTERY, [0x80], timeout=1).esv == enl.GET_RES
            time.sleep(0.4)


def test_the_node_serves_on_while_a_tarpit_holds_its_pull(address_pool, state_dirs):
    addr, ctrl = address_pool.pair()
    tarpit = Tarpit(every=1.0)  # a byte a second: under any per-read timeout
    proc = start_pulling(state_dirs(), addr, tarpit.url, DEADLINE_S)
    try:
        proc.wait_for("READY", READY_TIMEOUT)
        assert tarpit.connected.wait(5), "the node did not start its pull:\n" + proc.output()
        held = time.monotonic()
        answers(addr, ctrl, 8)  # over 3 s of the pull's 6
        line = proc.wait_for("update pull failed: ", DEADLINE_S + 5)
        assert "took over %d s" % DEADLINE_S in line, proc.output()
        assert DEADLINE_S - 1 <= time.monotonic() - held <= DEADLINE_S + 3
        answers(addr, ctrl, 1)  # and after it
    finally:
        tarpit.close()
        rc = proc.stop(signal.SIGINT)
    assert rc == 0 and "STOPPED" in proc.lines, proc.output()


def test_a_connect_cut_short_by_the_deadline_closes_its_socket(address_pool, state_dirs):
    addr, ctrl = address_pool.pair()
    hole = Blackhole()
    proc = start_pulling(state_dirs(), addr, hole.url, 3)
    try:
        proc.wait_for("READY", READY_TIMEOUT)
        until = time.monotonic() + 2.5
        while hole.connecting() != 1 and time.monotonic() < until:
            time.sleep(0.1)
        assert hole.connecting() == 1, proc.output()  # the pull's connect, in progress
        line = proc.wait_for("update pull failed: ", 3 + 5)
        assert "took over 3 s" in line, proc.output()
        time.sleep(0.5)
        assert hole.connecting() == 0  # given up, and closed (by the collection after the failure)
        answers(addr, ctrl, 1)
    finally:
        hole.close()
        rc = proc.stop(signal.SIGINT)
    assert rc == 0 and "STOPPED" in proc.lines, proc.output()


def test_the_node_serves_on_while_its_name_server_is_silent(address_pool, state_dirs):
    addr, ctrl = address_pool.pair()
    ns = NameServer({}, silent=True)
    proc = start_pulling(state_dirs(), addr, "https://updates.drready.test/pkg", 60, dns_server=ns.addr)
    try:
        proc.wait_for("READY", READY_TIMEOUT)
        until = time.monotonic() + 5
        while not ns.queries and time.monotonic() < until:
            time.sleep(0.05)
        assert ns.queries, "the node did not look the server up:\n" + proc.output()
        asked = time.monotonic()
        answers(addr, ctrl, 10)  # over 4 s of the lookup's 6 (3 tries of 2 s)
        line = proc.wait_for("update pull failed: ", 10)
        assert "no answer from the name server %s for updates.drready.test" % ns.addr in line, proc.output()
        assert 5 <= time.monotonic() - asked <= 8 and len(ns.queries) == 3
        answers(addr, ctrl, 1)  # and after it
    finally:
        ns.close()
        rc = proc.stop(signal.SIGINT)
    assert rc == 0 and "STOPPED" in proc.lines, proc.output()
