"""hal/ on CPython: socket option numbers per stack, Wi-Fi bring-up against the shim."""
import asyncio  # noqa: F401  (loaded before a test swaps in a fake socket module)
import importlib
import sys
import types

import network
import pytest


def _reload_udp(monkeypatch, platform, socket_attrs):
    fake = types.ModuleType("socket")
    for k, v in socket_attrs.items():
        setattr(fake, k, v)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setitem(sys.modules, "socket", fake)
    import hal.udp

    return importlib.reload(hal.udp)


def test_lwip_numbers_on_esp32(monkeypatch):
    # the ESP32 socket module has IP_ADD_MEMBERSHIP (lwIP 3) but no IP_MULTICAST_IF
    udp = _reload_udp(monkeypatch, "esp32", {"IP_ADD_MEMBERSHIP": 3, "IPPROTO_IP": 0})
    try:
        assert udp.sockopt("IP_ADD_MEMBERSHIP") == 3
        assert udp.sockopt("IP_MULTICAST_IF") == 6  # lwIP, not Linux's 32
        assert udp.sockopt("IP_MULTICAST_TTL") == 5
    finally:
        monkeypatch.undo()
        importlib.reload(sys.modules["hal.udp"])


def test_linux_numbers_when_the_module_lacks_them(monkeypatch):
    # the unix port has no IP_MULTICAST_IF, IPPROTO_IP or IP_MULTICAST_TTL
    udp = _reload_udp(monkeypatch, "linux", {"IP_ADD_MEMBERSHIP": 35})
    try:
        assert udp.sockopt("IPPROTO_IP") == 0
        assert udp.sockopt("IP_MULTICAST_IF") == 32
        assert udp.sockopt("IP_MULTICAST_TTL") == 33
        assert udp.sockopt("IP_ADD_MEMBERSHIP") == 35
    finally:
        monkeypatch.undo()
        importlib.reload(sys.modules["hal.udp"])


def test_ip_bytes_rejects_junk():
    from hal.udp import ip_bytes

    assert ip_bytes("192.168.1.20") == bytes([192, 168, 1, 20])
    for bad in ("192.168.1", "1.2.3.256", "a.b.c.d", "1.2.3.4.5"):
        with pytest.raises(ValueError):
            ip_bytes(bad)


class _FakeTime:
    """MicroPython's tick functions over a clock the test advances by sleeping."""

    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_add(self, a, b):
        return a + b

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.ms += ms


def test_wifi_joins_and_returns_the_address(monkeypatch):
    import hal.wifi

    monkeypatch.setattr(hal.wifi, "time", _FakeTime())
    monkeypatch.setattr(network.WLAN, "networks", {"home": "s3cret-for-this-test"})
    assert hal.wifi.connect("home", "s3cret-for-this-test") == "192.168.4.2"


def test_wifi_wrong_password_fails_after_timeout_without_echoing_it(monkeypatch):
    import hal.wifi

    clock = _FakeTime()
    monkeypatch.setattr(hal.wifi, "time", clock)
    monkeypatch.setattr(network.WLAN, "networks", {"home": "right"})
    with pytest.raises(OSError) as e:
        hal.wifi.connect("home", "wrong-and-secret", timeout_s=5)
    assert clock.ms >= 5000
    assert "wrong-and-secret" not in str(e.value) and "home" in str(e.value)
