"""Write the node's configuration, /config.json, to a board: `make provision PORT=... SSID=...`.

    WIFI_PASSWORD=... board_config.py --port /dev/ttyUSB0 --ssid homenet --objects battery
    board_config.py --port /dev/ttyUSB0 --ssid homenet        (asks for the password)

The Wi-Fi password is read from the environment variable named by --password-env
(default WIFI_PASSWORD) or, when that is unset and this runs in a terminal, asked for
without echo. It is never printed, logged or put on a command line (where other users
could read it from the process list): it goes from this process over the serial port into
/config.json, written under a temporary name and renamed into place.

The settings are checked first, by the same code the node runs at start-up
(firmware/startup.py), so a config this tool accepts is one the node accepts. Then the
board is reset (unless --no-reset): the node joins the Wi-Fi network and takes the address
it is given. --addr sets a fixed address instead (a wired setup, or the MicroPython unix
port in tests).

--appliances names the driver each object drives in place of its simulated plant (README,
Driving a real appliance). --identity copies a device directory made by `tools/provision.py
device` to the board first (as `provision.py to-board` does), in the same session: the
password is asked for, and every setting and the directory checked, before anything is
written.

Exit codes: 0 written; 2 a bad argument, a missing port, no MicroPython answering;
1 the board failed while writing.
"""

import argparse
import getpass
import ipaddress
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
for _p in (os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host_tests", "shim")):
    if _p not in sys.path:
        sys.path.append(_p)  # after the standard library: the shim only stands in for machine, esp32, ...

from drready.registry import CLASSES  # noqa: E402  (plain data; imports on CPython too)
from tools import provision  # noqa: E402
from tools.deploy import Device, ToolError, port_problem  # noqa: E402

CONFIG = "config.json"
STATE_DIR = "state"
IDENTITY_DIR = "identity"  # tools/provision.py BOARD_DIR: relative, as the board runs from /


class ArgError(Exception):
    pass


def _list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def appliances_arg(text):
    """APPLIANCES= "battery=drivers.my_battery.ModbusBattery,...": {object: module.name},
    for config's appliances (firmware/startup.py checks the names)."""
    out = {}
    for item in _list(text):
        name, eq, where = item.partition("=")
        if not eq or not name.strip() or not where.strip():
            raise ArgError("APPLIANCES entry %r is not object=module.name, e.g. battery=drivers.my_battery.ModbusBattery"
                           % item)
        if name.strip() in out:
            raise ArgError("APPLIANCES names %s twice" % name.strip())
        out[name.strip()] = where.strip()
    return out


def wifi_password(env_name, open_network):
    """The password from the environment or a no-echo prompt; never shown anywhere."""
    if open_network:
        return ""
    password = os.environ.get(env_name)
    if password is None:
        if not sys.stdin.isatty():
            raise ArgError("set the Wi-Fi password in the environment variable %s (or run this in a terminal "
                           "to be asked), or give --open-network for a network without one" % env_name)
        password = getpass.getpass("Wi-Fi password (not shown): ")
    if not (8 <= len(password) <= 63 or (len(password) == 64 and all(c in "0123456789abcdefABCDEF" for c in password))):
        raise ArgError("the Wi-Fi password in %s must be 8 to 63 characters (WPA2/WPA3) or 64 hex digits" % env_name)
    return password


def build_config(args, password):
    """The config dict from the arguments; ArgError says which argument is wrong."""
    cfg = {}
    if args.addr:
        try:
            ipaddress.IPv4Address(args.addr)
        except ValueError:
            raise ArgError("--addr %s is not an IPv4 address" % args.addr)
        cfg["addr"] = args.addr
    if args.ssid:
        if len(args.ssid.encode()) > 32:
            raise ArgError("SSID %r is longer than 32 bytes" % args.ssid)
        cfg["wifi"] = {"ssid": args.ssid, "password": password}
    elif not args.addr:
        raise ArgError("give the Wi-Fi network: SSID=name (make provision) or --ssid name")
    cfg["state_dir"] = args.state_dir
    cfg["identity_dir"] = IDENTITY_DIR  # where provision.py to-board puts the identity
    objects = _list(args.objects) or ["battery"]
    if objects == ["all"]:
        objects = list(CLASSES)
    for name in objects:
        if name not in CLASSES:
            raise ArgError("unknown object %r in OBJECTS; choose from all,%s" % (name, ",".join(CLASSES)))
    cfg["objects"] = objects
    allow = _list(args.legacy_write)
    for a in allow:
        try:
            ipaddress.IPv4Address(a)
        except ValueError:
            raise ArgError("LEGACY_WRITE entry %r is not an IPv4 address" % a)
    cfg["legacy_write"] = allow
    maker = args.manufacturer_code.upper()
    if len(maker) != 6 or any(c not in "0123456789ABCDEF" for c in maker):
        raise ArgError("--manufacturer-code %r must be 6 hex digits (FFFFFF: experimental)" % args.manufacturer_code)
    cfg["manufacturer_code"] = maker
    appliances = appliances_arg(args.appliances)
    if appliances:
        cfg["appliances"] = appliances
    # the node's own check, so that what is accepted here boots there
    import startup

    try:
        startup.check_config(json.loads(json.dumps(cfg)))
    except startup.ConfigError as e:
        raise ArgError(str(e))
    return cfg


def describe(cfg):
    """The config in one line, without the password."""
    parts = []
    if "wifi" in cfg:
        parts.append("Wi-Fi %r (password not shown)" % cfg["wifi"]["ssid"])
    if "addr" in cfg:
        parts.append("addr %s" % cfg["addr"])
    parts.append("objects %s" % ",".join(cfg["objects"]))
    parts.append("legacy_write %s" % (",".join(cfg["legacy_write"]) or "none"))
    if "appliances" in cfg:
        parts.append("appliances %s" % ",".join("%s=%s" % kv for kv in sorted(cfg["appliances"].items())))
    parts.append("state_dir %s" % cfg["state_dir"])
    return ", ".join(parts)


def parse(argv):
    ap = argparse.ArgumentParser(prog="board_config.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", default="", help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--ssid", default="", help="Wi-Fi network to join")
    ap.add_argument("--password-env", default="WIFI_PASSWORD", help="environment variable holding the Wi-Fi password")
    ap.add_argument("--open-network", action="store_true", help="the network has no password")
    ap.add_argument("--objects", default="", help="comma-separated device objects (%s) or all; default battery"
                    % ",".join(CLASSES))
    ap.add_argument("--legacy-write", default="", help="comma-separated controller addresses allowed to Set over plain UDP")
    ap.add_argument("--appliances", default="",
                    help="object=module.name pairs, comma-separated: the driver each object drives instead of its "
                         "simulated plant (e.g. battery=drivers.my_battery.ModbusBattery)")
    ap.add_argument("--manufacturer-code", default="FFFFFF", help="6 hex digits (default FFFFFF, experimental)")
    ap.add_argument("--addr", default="", help="fixed IPv4 address instead of the one Wi-Fi gives (wired, or the unix port)")
    ap.add_argument("--state-dir", default=STATE_DIR, help="directory on the board for the identity and state (default state)")
    ap.add_argument("--identity", default="",
                    help="a device directory (tools/provision.py device) to copy to the board before the config")
    ap.add_argument("--force", action="store_true", help="with --identity: replace another device's certificate")
    ap.add_argument("--check", action="store_true",
                    help="check the settings only, with no board: make provision does this before it writes anything")
    ap.add_argument("--no-reset", action="store_true",
                    help="no soft reset before and no reset after (needed for the MicroPython unix port behind a pty)")
    return ap.parse_args(argv)


def fail(message, code=2):
    print("provision: " + message, file=sys.stderr)
    return code


def _not_built(cfg):
    """The appliance modules neither in firmware/ nor in the compiled firmware (make deploy
    builds firmware/ and copies build/firmware)."""
    out = []
    for where in cfg.get("appliances", {}).values():
        path = os.path.join(*where.split(".")[:-1])
        if not any(os.path.exists(os.path.join(ROOT, d, path) + ext)
                   for d, ext in (("firmware", ".py"), (os.path.join("build", "firmware"), ".mpy"))):
            out.append(where.rsplit(".", 1)[0])
    return out


def _note_not_built(cfg):
    for module in _not_built(cfg):
        print("provision: note: %s is not in firmware/, so make deploy does not put it on the board, and the "
              "node there stops at start until it has it (put it in firmware/%s.py)" % (module, module.replace(".", "/")),
              file=sys.stderr)


def main(argv=None):
    args = parse(argv)
    if args.check:
        try:
            cfg = build_config(args, "")
        except ArgError as e:
            return fail(str(e))
        _note_not_built(cfg)
        return 0
    problem = port_problem(args.port)
    if problem:
        return fail(problem)
    try:
        build_config(args, "")  # a bad setting is told before the password is asked for
        if args.identity:
            provision.load_dir(args.identity)
        password = wifi_password(args.password_env, args.open_network) if args.ssid else ""
        cfg = build_config(args, password)
    except (ArgError, provision.ArgError) as e:
        return fail(str(e))
    except ToolError as e:
        return fail(str(e), e.code)
    except (KeyboardInterrupt, EOFError):
        return fail("no password given; nothing written")
    _note_not_built(cfg)
    data = json.dumps(cfg).encode()
    try:
        with Device(args.port, reset=not args.no_reset, tool="provision") as device:
            if args.identity:
                provision.to_board(device, args.identity, args.state_dir, args.force)
            device.put(CONFIG, data)
            print("provision: wrote /%s on %s: %s" % (CONFIG, args.port, describe(cfg)))
            if not args.no_reset:
                device.reset()
                print("provision: reset the board; the node starts with this config (watch it: make repl PORT=%s)"
                      % args.port)
    except ToolError as e:
        return fail(str(e), e.code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
