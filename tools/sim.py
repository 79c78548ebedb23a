"""Run the node on this host under the MicroPython unix port: `make sim`.

Checks the settings (one clear line when one is wrong), writes the node's config into the
state directory, starts the MicroPython unix port on the compiled firmware with the heap
limit, its code run in place from build/firmware.romfs as a board runs it from flash
(tools/romfs.py), and turns Ctrl-C or SIGTERM into a clean stop of the node.
"""

import argparse
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "build", "firmware")
sys.path.insert(0, os.path.join(ROOT, "firmware"))
from drready.registry import CLASSES  # noqa: E402  (plain data, imports on CPython too)

sys.path.insert(0, ROOT)
from tools import romfs  # noqa: E402
from tools.board_config import ArgError, appliances_arg  # noqa: E402

DEFAULT_OBJECTS = list(CLASSES)  # every DRready class: what a HEMS developer tests against
# below this heap the default is the battery alone: all five need 94K even without the
# secure channel (README, Memory), the battery 62K, so HEAP=64K runs the node core's target
SMALL_HEAP = 96 * 1024
RESTART = 4  # firmware/app.py RESTART: the node wants to be started again (a board resets)
MIN_HEAP = 40 * 1024  # below this MicroPython runs out before the node can say so itself
OUT_OF_HEAP = 3  # firmware/app.py _OUT_OF_HEAP: the node found no heap to run in


def fail(msg):
    print("sim: " + msg, file=sys.stderr)
    sys.exit(2)


def parse(argv):
    ap = argparse.ArgumentParser(prog="make sim", description=__doc__)
    ap.add_argument("--addr", default="127.0.0.1", help="IPv4 address to bind (default 127.0.0.1)")
    ap.add_argument("--heap", default="256K", help="MicroPython heap, e.g. 192K (default 256K)")
    ap.add_argument("--state", default=os.path.join(ROOT, "state"), help="directory for persistent state")
    ap.add_argument("--speed", default="1", help="simulated seconds per real second (default 1)")
    ap.add_argument("--legacy-write", default="", help="comma-separated addresses allowed to Set over plain UDP")
    ap.add_argument("--enroll-backoff", default="1",
                    help="seconds to wait after a first wrong setup code, doubling with each (default 1; 0 for tests)")
    ap.add_argument("--firmware", default=FIRMWARE,
                    help="the compiled firmware to run (default build/firmware; e.g. a build with update root keys)")
    ap.add_argument("--objects", default="",
                    help="comma-separated device objects, or 'all' (the default; the battery alone when --heap is under 96K)")
    ap.add_argument("--dr-timeout", default="3600",
                    help="simulated seconds of controller silence before a DR command lapses; 0 = never (default 3600)")
    ap.add_argument("--appliances", default="",
                    help="object=module.name pairs, comma-separated: the driver (a module in firmware/) each object "
                         "drives instead of its simulated plant")
    ap.add_argument("--secure", default="on",
                    help="on: the provisioned device with its secure channel (default); off: the device as it is "
                         "before provisioning, plain ECHONET Lite only (Get for all, Set from --legacy-write)")
    return ap.parse_args(argv)


def heap_bytes(heap):
    """HEAP= in bytes: 64K, 2M or a plain number (checked by config first)."""
    return int(heap.rstrip("KM")) * {"K": 1024, "M": 1024 * 1024}.get(heap[-1], 1)


def objects_of(args):
    """The device objects OBJECTS= names (every class by default; the battery alone in a
    heap under 96K)."""
    objects = [o.strip() for o in args.objects.split(",") if o.strip()]
    if not objects:
        objects = ["battery"] if heap_bytes(args.heap) < SMALL_HEAP else DEFAULT_OBJECTS
    if objects == ["all"]:
        objects = list(CLASSES)
    for o in objects:
        if o not in CLASSES:
            fail("OBJECTS entry %r is unknown; choose from all,%s" % (o, ",".join(CLASSES)))
    return objects


def config(args):
    try:
        addr = ipaddress.IPv4Address(args.addr)
    except ValueError:
        fail("ADDR=%s is not an IPv4 address; give one this host owns, e.g. ADDR=127.0.0.2" % args.addr)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((str(addr), 0))
        except OSError:
            fail("ADDR=%s is not an address of this host; pick one from `ip -br addr` or 127.0.0.0/8" % addr)
    if not re.fullmatch(r"[1-9][0-9]*[KM]?", args.heap):
        fail("HEAP=%s is not a size like 64K, 100K or 2M" % args.heap)
    if heap_bytes(args.heap) < MIN_HEAP:
        fail("HEAP=%s is under %dK, too small for MicroPython to start the node (the battery alone needs about 62K: "
             "README, Memory)" % (args.heap, MIN_HEAP // 1024))
    if not re.fullmatch(r"[1-9][0-9]{0,5}", args.speed):
        fail("SPEED=%s must be a whole number from 1 to 100000" % args.speed)
    allow = [a.strip() for a in args.legacy_write.split(",") if a.strip()]
    for a in allow:
        try:
            ipaddress.IPv4Address(a)
        except ValueError:
            fail("LEGACY_WRITE entry %r is not an IPv4 address" % a)
    objects = objects_of(args)
    if not any(o.strip() for o in args.objects.split(",")) and objects != DEFAULT_OBJECTS:
        print("sim: HEAP=%s is under 96K, too small for all five objects: the battery alone (OBJECTS= to choose)"
              % args.heap, flush=True)
    state = os.path.abspath(args.state)
    if len(os.path.join(state, "config.json").encode()) > romfs.MAX_ARG:  # it is an argument of the unix port
        fail("STATE=%s is too long: the node's config path in it must stay within %d bytes" % (args.state, romfs.MAX_ARG))
    if args.secure not in ("on", "off"):
        fail("SECURE=%s must be on or off" % args.secure)
    try:
        os.makedirs(state, exist_ok=True)
        # the device's secrets and whatever it writes later (a rotated setup-code verifier,
        # the controllers) are for this user alone, whatever the umask made of the files
        os.chmod(state, 0o700)
    except OSError as e:
        fail("STATE=%s cannot be created: %s" % (args.state, e.strerror))
    if not re.fullmatch(r"[0-9]{1,8}", args.dr_timeout) or int(args.dr_timeout) > 10000000:
        fail("DR_TIMEOUT=%s must be whole seconds from 0 to 10000000 (0 = never)" % args.dr_timeout)
    if not re.fullmatch(r"[0-9]{1,4}", args.enroll_backoff):
        fail("--enroll-backoff %s must be whole seconds from 0 to 3600" % args.enroll_backoff)
    cfg = {"addr": str(addr), "state_dir": state, "speed": int(args.speed), "objects": objects, "legacy_write": allow,
           "enroll_backoff_s": min(int(args.enroll_backoff), 3600), "dr_timeout_s": int(args.dr_timeout)}
    try:
        appliances = appliances_arg(args.appliances)
    except ArgError as e:
        fail(str(e))
    if appliances:
        cfg["appliances"] = appliances
        import startup  # the node's own check of them

        try:
            startup.check_config(cfg)
        except startup.ConfigError as e:
            fail(str(e))
    if args.secure == "on":
        provision_once(state)
    else:  # an identity directory that never holds one: the node runs as before provisioning
        cfg["identity_dir"] = os.path.join(state, "unprovisioned")
        print("sim: SECURE=off: the node runs as a device not yet provisioned (plain ECHONET Lite: "
              "Get for everyone, Set only from LEGACY_WRITE)", flush=True)
    path = os.path.join(state, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(cfg, f, indent=1)
    os.replace(path + ".tmp", path)
    return path


def provision_once(state, show=True):
    """On first run, give the simulated device its own identity, as a factory would: a
    development CA of its own (STATE/dev-ca), a device key and certificate and a setup
    code (STATE/identity), all fresh random. The code is printed now (show) and never again."""
    if os.path.exists(os.path.join(state, "identity", "device_cert.der")):
        return
    import shutil
    import tempfile

    from tools import provision

    ca_dir = os.path.join(state, "dev-ca")
    try:
        if not os.path.exists(os.path.join(ca_dir, provision.CA_CERT)):
            provision.make_ca(ca_dir, "DRready simulator development CA", 3650)
        ca_cert = provision.load_cert(os.path.join(ca_dir, provision.CA_CERT))
        ca_key = provision.load_key(os.path.join(ca_dir, provision.CA_KEY))
        tmp = tempfile.mkdtemp(dir=state)
        try:
            uid, code = provision.make_device(ca_cert, ca_key, os.path.join(tmp, "device"), "FFFFFF", 3650)
            provision.to_state(os.path.join(tmp, "device"), state, False, log=lambda _m: None)
        finally:
            shutil.rmtree(tmp)
    except (provision.ArgError, OSError) as e:
        fail("cannot provision the simulated device in %s: %s" % (state, e))
    if show:
        ca = os.path.join(ca_dir, provision.CA_CERT)
        print("sim: provisioned a new simulated device %s (its development CA: %s)" % (uid, ca))
        provision.show_code(code, uid, qr=sys.stdout.isatty())
        sys.stdout.flush()


def main(argv=None):
    args = parse(argv)
    path = config(args)
    image = romfs.image_of(os.path.abspath(args.firmware))
    if not os.path.exists(image):
        fail("%s is missing: no compiled firmware; run `make sim` (it builds first) or `make build`" % image)
    env = dict(os.environ, MICROPYPATH=".frozen")  # the firmware comes from the image alone
    argv = romfs.command(image, args.heap, "main", [path])
    simulated_ev = "ev_charger" in objects_of(args) and "ev_charger" not in appliances_arg(args.appliances)
    if simulated_ev:  # what a controller reading it by day will see (README, Device classes)
        print("sim: the node's clock starts at %s UTC; the simulated car is away 07:30-18:00 of it (its vehicle "
              "properties then answer Get_SNA)" % time.strftime("%H:%M", time.gmtime()), flush=True)
    stopping = []
    child = None

    def stop(_sig, _frame):
        stopping.append(1)
        if child is not None and child.poll() is None:
            # once: the node catches it and stops cleanly, writing what it has pending, and
            # a second one (timeout and make both pass theirs on) would cut that short; a
            # third is someone who means it
            if len(stopping) == 1:
                child.send_signal(signal.SIGINT)
            elif len(stopping) >= 3:
                child.kill()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    while True:
        # its own session: a signal for our whole process group (Ctrl-C, timeout, a service
        # manager) reaches only us, and we turn it into the one the node stops cleanly on
        child = subprocess.Popen(argv, env=env, start_new_session=True)
        rc = child.wait()
        if rc == OUT_OF_HEAP and not stopping:  # its ERROR line says with or without the secure channel
            objects = objects_of(args)
            what = "the battery" if objects == ["battery"] else "%d objects" % len(objects)
            print("sim: HEAP=%s is too small for %s: README, Memory, gives the heap each configuration needs"
                  % (args.heap, what), file=sys.stderr)
        if rc != RESTART or stopping:
            return rc
        print("sim: the node asked to start again (a factory reset, an update, or no heap for the secure channel); "
              "starting it", flush=True)


if __name__ == "__main__":
    sys.exit(main())
