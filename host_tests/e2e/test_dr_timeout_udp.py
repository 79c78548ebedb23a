"""The DR timeout over real UDP, on the simulator run faster than real time (SPEED=60, a
3-minute DR_TIMEOUT): a controller that keeps polling keeps its command in force, even
when it polls from another socket than the one it sent the Set from; once it falls silent
the battery returns to automatic operation and announces it by INF."""
import socket
import time

from . import enl

BATTERY = 0x027D01


def get_from_another_socket(c, node_addr, tid):
    """A Get sent from an ephemeral port of the controller's address, as a controller with
    a socket per task does; the reply comes to its port 3610, as ECHONET Lite answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((c.addr, 0))
        s.sendto(enl.build(tid, c.seoj, BATTERY, enl.GET, [(0xDA, b"")]), (node_addr, enl.PORT))
    finally:
        s.close()
    frame, _ = enl.recv_matching(c.sock, lambda f, a: a[0] == node_addr and f.tid == tid, 5)
    return frame


def test_a_polling_controller_keeps_its_command_and_silence_ends_it(node_factory):
    n = node_factory(extra=["--speed", "60", "--dr-timeout", "180", "--objects", "battery"])
    listener = enl.mcast_listener(n.ctrl)
    try:
        with enl.RawController(n.ctrl) as c:
            assert c.request(n.addr, BATTERY, enl.SETC, [(0xDA, b"\x42")]).esv == enl.SET_RES
            for k in range(8):  # 8 real seconds: 480 simulated, over twice the timeout
                time.sleep(1)
                assert get_from_another_socket(c, n.addr, 0x7100 + k).edt(0xDA) == b"\x42"
            silent = time.monotonic()
            # then nothing from it: within the timeout (3 real s) and a tick, automatic
            frame, _ = enl.recv_matching(
                listener, lambda f, s: s[0] == n.addr and f.seoj == BATTERY and f.esv == enl.INF and (0xDA, b"\x46") in f.props,
                10)
            assert time.monotonic() - silent >= 2.0  # not before the timeout (180 s / 60)
        with enl.RawController(n.ctrl) as other:
            assert other.get(n.addr, BATTERY, [0xDA]).edt(0xDA) == b"\x46"
    finally:
        listener.close()
    n.proc.wait_for("autonomous 027D01: its controller silent for 180 s", 5)  # printed as the INF goes out
