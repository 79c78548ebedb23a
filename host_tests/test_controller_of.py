"""app.controller_of: who a request comes from, for the DR timeout (echonet/node.py)."""
from app import controller_of as who


class Session:  # the attributes of a secure-channel session (security/channel.py) it reads
    def __init__(self, ctl):
        self.ctl = ctl

    @property
    def may_write(self):
        return self.ctl is not None


def test_plain_udp_is_the_host_whatever_the_port():
    assert who(("192.168.1.20", 3610)) == who(("192.168.1.20", 50123)) == "192.168.1.20"
    assert who(("192.168.1.21", 3610)) != who(("192.168.1.20", 3610))


def test_the_raw_socket_address_of_the_unix_port_too():
    raw = bytes([2, 0, 0xC3, 0x50, 192, 168, 1, 20]) + bytes(8)  # AF_INET, port 50000
    assert who(raw) == who(bytes([2, 0, 0x0E, 0x1A, 192, 168, 1, 20]) + bytes(8))  # port 3610
    assert who(raw) != who(bytes([2, 0, 0xC3, 0x50, 192, 168, 1, 21]) + bytes(8))
    assert who(raw) != who(bytes([2, 0, 0xC3, 0x50, 20, 1, 168, 192]) + bytes(8))


def test_over_the_secure_channel_the_enrolled_controller_whichever_session():
    ctl = {"fp": "ab" * 32, "name": "hems"}
    first, second = Session(ctl), Session(dict(ctl))
    assert who(first) == who(second) == "ctl:" + "ab" * 32
    guest = Session(None)  # not enrolled: only itself (it cannot Set anyway)
    assert who(guest) is guest
