"""Requests at the node's size limits, over real UDP: a datagram longer than 1024 bytes is
dropped even when its first 1024 bytes make a complete request, and a Set that names 255
properties gets its whole answer, from an address that may write and from one that may not."""
import pytest

from . import enl

BATTERY = 0x027D01


def get_of_size(tid, size):
    """A Get of 0x80 (four times, with ignored EDTs) exactly `size` bytes long, size >= 1024:
    its first 1024 bytes are a complete frame, the rest trails."""
    props = [(0x80, b"\x00" * 255)] * 3 + [(0x80, b"\x00" * 239)]
    frame = enl.build(tid, enl.CONTROLLER, BATTERY, enl.GET, props)
    assert len(frame) == 1024
    return frame + b"\xee" * (size - 1024)


def reply_to(sock, node_addr, tid, timeout):
    """The node's reply with this TID, or None after timeout seconds."""
    try:
        frame, _ = enl.recv_matching(sock, lambda f, s: s[0] == node_addr and f.tid == tid, timeout)
        return frame
    except AssertionError:
        return None


@pytest.mark.parametrize("size", [1025, 1100, 1500])
def test_a_datagram_longer_than_1024_bytes_is_dropped_not_cut_short(node, size):
    with enl.RawController(node.ctrl) as c:
        c.sock.sendto(get_of_size(0x0A01, size), (node.addr, enl.PORT))
        assert reply_to(c.sock, node.addr, 0x0A01, 1.5) is None, "a %d-byte datagram was served" % size
        c.sock.sendto(get_of_size(0x0A02, 1024), (node.addr, enl.PORT))  # the limit itself is served
        frame = reply_to(c.sock, node.addr, 0x0A02, 5)
        assert frame is not None and frame.esv == enl.GET_RES
        assert frame.props == [(0x80, b"\x30")] * 4


def set_many(c, node_addr, props):
    frame = c.request(node_addr, BATTERY, enl.SETC, props)
    assert frame.seoj == BATTERY and frame.deoj == enl.CONTROLLER
    return frame


def test_a_set_of_255_properties_is_answered_in_full(node):
    with enl.RawController(node.ctrl) as c:
        refused = [(0xDA, b"\x99")] * 255  # not an operation mode: every one refused, data echoed
        frame = set_many(c, node.addr, refused)
        assert frame.esv == enl.SETC_SNA and frame.props == refused
        accepted = [(0xDA, b"\x42")] * 150 + [(0x81, b"\x08")] * 105
        frame = set_many(c, node.addr, accepted)
        assert frame.esv == enl.SET_RES and frame.props == [(0xDA, b"")] * 150 + [(0x81, b"")] * 105
        assert c.get(node.addr, BATTERY, [0xDA, 0x81]).props == [(0xDA, b"\x42"), (0x81, b"\x08")]
    assert not any("error handling frame" in line for line in node.lines), "\n".join(node.lines[-10:])


def test_a_set_of_255_properties_from_an_address_that_may_not_write_is_refused_in_full(node_factory):
    n = node_factory(legacy_write=())
    with enl.RawController(n.ctrl) as c:
        before = c.get(n.addr, BATTERY, [0xDA]).edt(0xDA)
        asked = [(0xDA, b"\x43" if before != b"\x43" else b"\x42")] * 255
        frame = set_many(c, n.addr, asked)
        assert frame.esv == enl.SETC_SNA and frame.props == asked
        assert c.get(n.addr, BATTERY, [0xDA]).edt(0xDA) == before
    assert not any("error handling frame" in line for line in n.lines), "\n".join(n.lines[-10:])
