"""The node's clock: integer Unix seconds, optionally faster than real time (simulator).

Integers, because ESP32 floats are single precision (a Unix time in float32 is only good
to about two minutes).
"""
import time


def wall():
    # ports differ in epoch (1970 or 2000); gmtime(0) tells which
    return int(time.time()) + (946684800 if time.gmtime(0)[0] == 2000 else 0)


_TICKS = hasattr(time, "ticks_ms")  # MicroPython; CPython (tests) counts wall-clock ns


def _ms():
    if _TICKS:
        return time.ticks_ms()
    return time.time_ns() // 1000000


def _diff(a, b):
    return time.ticks_diff(a, b) if _TICKS else a - b


class Clock:
    def __init__(self, speed=1, start=None):
        self.speed = speed
        self.start = wall() if start is None else int(start)
        self.elapsed_ms = 0  # simulated milliseconds since start
        self._last = _ms()

    def now(self):
        """Seconds; call at least every few days so the tick counter cannot wrap unseen."""
        t = _ms()
        self.elapsed_ms += _diff(t, self._last) * self.speed
        self._last = t
        return self.start + self.elapsed_ms // 1000

    def real_ms(self):
        """Real (not simulated) milliseconds since start."""
        self.now()
        return self.elapsed_ms // self.speed

    def set(self, unix_seconds):
        """Controller or NTP set the time of day: move the simulated clock there."""
        self.start = int(unix_seconds) - self.elapsed_ms // 1000
