"""The secure channel's management (security/control.py and the update code it loads) is
loaded for a request and dropped once the request is answered (security/channel.py,
SecureServer._release), unless an update it serves is under way: a session a HEMS keeps
open for ECHONET Lite must not hold management's heap (about 2.5 KB on the unix port)
after one status request. End to end, make soak runs a node with such a session."""
import sys
import types

import pytest

from security import channel


class _Session:
    """What the server's handle reads of a session: an enrolled controller, and reply."""

    def __init__(self):
        self.ctl = {"fp": "ab" * 32, "name": "hems"}
        self.replies = []

    def reply(self, obj):
        self.replies.append(obj)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # what the server drops comes back after
    srv = channel.SecureServer.__new__(channel.SecureServer)  # no TLS: only what handle reads
    srv._control = None
    srv.controllers = types.SimpleNamespace(items=[])
    srv.control_args = ("00" * 13, None, None, None, "/nonexistent", lambda: 0, lambda: 0, lambda: None)
    srv.log = print
    return srv


def test_management_is_dropped_once_a_request_is_answered(server):
    s = _Session()
    server.handle(s, b'{"op": "no-such-request"}')
    assert s.replies == [{"error": "unknown request 'no-such-request'"}]
    assert server._control is None and "security.control" not in sys.modules
    server.handle(s, b'{"op": "no-such-request"}')  # loaded again for the next one
    assert len(s.replies) == 2 and server._control is None


def test_management_stays_while_an_update_it_serves_is_under_way(server):
    s = _Session()
    server.handle(s, b'{"op": "no-such-request"}')
    control = server.control()
    control._updates = object()  # an update-start was taken: its state lives in control
    server.handle(s, b'{"op": "no-such-request"}')
    assert server._control is control and "security.control" in sys.modules
    control._updates = None
    server.handle(s, b'{"op": "no-such-request"}')
    assert server._control is None
