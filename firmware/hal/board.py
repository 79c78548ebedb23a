"""The board's status LED and commissioning / factory-reset button, named by board.json.

`tools/deploy.py --board NAME` copies boards/NAME/board.json to the device. Its "pins"
entry says where the LED and the button are:

    "pins": {"status_led": {"gpio": 2, "type": "gpio", "active_low": false},
             "button": {"gpio": 0, "active_low": true, "pull": "up"}}

- status_led: "type" "gpio" is an LED on a pin (lit at 1, or at 0 with "active_low"),
  "ws2812" one addressable RGB LED (the ESP32-S3/-C3 DevKits); null: the board has none.
- button: read through an input pin with the given pull ("up", "down" or null);
  "active_low": pressed reads 0 (a button to ground, like every DevKit's BOOT button).

Without board.json: no LED, and the BOOT button (GPIO0; GPIO9 on the ESP32-C3).
A damaged board.json raises ValueError with one line saying what is wrong. On a port
without machine.Pin (the unix port the simulator runs on) open_pins() gives (None, None).

    led, button = open_pins()          # at boot; either may be None
    if button and button.pressed(): ...
    if led: led.on()
"""
import json
import os

import machine

PATH = "board.json"
_MAX_GPIO = 48
_WS2812_NS = (400, 850, 800, 450)  # machine.bitstream timing: high/low ns of a 0 bit, then of a 1 bit
_WS2812_ON = b"\x00\x10\x00"  # green, dim (G, R, B)
_WS2812_OFF = b"\x00\x00\x00"


def watchdog(seconds, trial):
    """On an update's trial boot (trial true) and at every boot of a production image, arm
    the hardware watchdog and return the task that feeds it every second (app.serve runs
    it); else None. A node that hangs, its event loop stuck, is not fed: the board resets
    after `seconds` (and an unconfirmed trial reverts). An ESP32's watchdog cannot be stopped: it is fed until the
    next reset, so on that boot the REPL after a Ctrl-C is reset within `seconds` too."""
    if not (trial or production()):
        return None
    import asyncio

    wdt = machine.WDT(timeout=seconds * 1000)

    async def feed():
        while True:
            wdt.feed()
            await asyncio.sleep(1)

    return feed()


def production():
    """A production image (BOARD_VARIANT=PROD, whose board name says "production":
    boards/*/mpconfigvariant_PROD.cmake): it has no REPL for a watchdog to reset under
    someone's hands, so app.serve arms one at every boot."""
    try:
        return "production" in os.uname().machine
    except AttributeError:
        return False


def _chip():
    try:
        return os.uname().machine.upper().replace("-", "")
    except AttributeError:
        return ""


def defaults():
    """No LED; the BOOT button, which every ESP32 DevKit has."""
    gpio = 9 if "ESP32C3" in _chip() else 0
    return {"status_led": None, "button": {"gpio": gpio, "active_low": True, "pull": "up"}}


def _check(path, key, spec):
    if spec is None:
        return None
    where = "%s: pins.%s" % (path, key)
    if not isinstance(spec, dict):
        raise ValueError("%s must be an object like {\"gpio\": 2} or null" % where)
    gpio = spec.get("gpio")
    if not isinstance(gpio, int) or isinstance(gpio, bool) or not 0 <= gpio <= _MAX_GPIO:
        raise ValueError("%s.gpio must be a GPIO number from 0 to %d" % (where, _MAX_GPIO))
    if not isinstance(spec.get("active_low", False), bool):
        raise ValueError("%s.active_low must be true or false" % where)
    if key == "status_led" and spec.get("type", "gpio") not in ("gpio", "ws2812"):
        raise ValueError("%s.type must be \"gpio\" or \"ws2812\"" % where)
    if key == "button" and spec.get("pull", "up") not in ("up", "down", None):
        raise ValueError("%s.pull must be \"up\", \"down\" or null" % where)
    return spec


def load(path=PATH):
    """{"status_led": spec or None, "button": spec or None} from board.json at path, or the
    defaults when there is no such file."""
    try:
        f = open(path)
    except OSError:
        return defaults()
    try:
        doc = json.load(f)
    except ValueError:
        raise ValueError("%s is not valid JSON: deploy it again (tools/deploy.py --board NAME)" % path)
    finally:
        f.close()
    pins = doc.get("pins") if isinstance(doc, dict) else None
    if not isinstance(pins, dict):
        raise ValueError("%s has no \"pins\" object (status_led, button)" % path)
    out = defaults()
    for key in ("status_led", "button"):
        if key in pins:
            out[key] = _check(path, key, pins[key])
    return out


class Led:
    """The status LED: on(), off(), toggle(); `lit` tells its state."""

    def __init__(self, spec):
        self._ws2812 = spec.get("type", "gpio") == "ws2812"
        self._active_low = spec.get("active_low", False)
        self._pin = machine.Pin(spec["gpio"], machine.Pin.OUT)
        self.lit = False
        self.off()

    def set(self, lit):
        self.lit = bool(lit)
        if self._ws2812:
            machine.bitstream(self._pin, 0, _WS2812_NS, _WS2812_ON if self.lit else _WS2812_OFF)
        else:
            self._pin.value(1 if self.lit != self._active_low else 0)

    def on(self):
        self.set(True)

    def off(self):
        self.set(False)

    def toggle(self):
        self.set(not self.lit)


class Button:
    """The commissioning / factory-reset button: pressed() reads it now."""

    def __init__(self, spec):
        pull = spec.get("pull", "up")
        self._active_low = spec.get("active_low", True)
        pin = machine.Pin
        if pull is None:
            self._pin = pin(spec["gpio"], pin.IN)
        else:
            self._pin = pin(spec["gpio"], pin.IN, pin.PULL_UP if pull == "up" else pin.PULL_DOWN)

    def pressed(self):
        return self._pin.value() == (0 if self._active_low else 1)


def open_pins(path=PATH):
    """(Led or None, Button or None) for this board."""
    if not hasattr(machine, "Pin"):
        return None, None
    pins = load(path)
    led = pins["status_led"]
    button = pins["button"]
    return (Led(led) if led else None), (Button(button) if button else None)
