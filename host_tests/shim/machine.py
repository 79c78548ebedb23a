"""CPython stand-in for the parts of `machine` the firmware uses on ESP32."""
import os

_UNIQUE = os.urandom(6)


def unique_id():
    return _UNIQUE


def reset():
    raise SystemExit("machine.reset()")


def freq(*_args):
    return 240000000


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, pin, mode=-1, pull=-1, value=None):
        self.pin = pin
        self.mode = mode
        self.pull = pull
        self._value = 1 if pull == self.PULL_UP else 0
        if value is not None:
            self._value = int(bool(value))

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = int(bool(v))

    def on(self):
        self._value = 1

    def off(self):
        self._value = 0

    def irq(self, handler=None, trigger=0):
        self.handler = handler


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.fed = 0

    def feed(self):
        self.fed += 1
