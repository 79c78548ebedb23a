"""CPython stand-in for MicroPython's `network` (Wi-Fi station)."""
STA_IF = 0
AP_IF = 1


class WLAN:
    PM_NONE = 0
    PM_PERFORMANCE = 1
    # what the simulated access point accepts: set by a test, never a real credential
    networks = {}

    def __init__(self, interface=STA_IF):
        self.interface = interface
        self._active = False
        self._connected = False
        self._config = {}

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)

    def config(self, **kw):
        self._config.update(kw)

    def connect(self, ssid, key=None):
        if not self._active:
            raise OSError("Wi-Fi Internal Error")
        self._connected = WLAN.networks.get(ssid) == key

    def isconnected(self):
        return self._connected

    def ifconfig(self):
        return ("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1") if self._connected else ("0.0.0.0",) * 4
