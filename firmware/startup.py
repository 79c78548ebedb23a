"""Start-up: read and check the config, load (or create) this device's identity, bind the
network and build the node. app._boot drops this module once the node runs.
"""
import gc
import os

from micropython import const

import app
from app import ConfigError
from drready import registry
from drready.clock import civil, days, setter
from echonet.identity import Identity
from echonet.node import Node
from echonet.objects import NodeProfile
from hal import store
from hal.clock import Clock
from hal.udp import Endpoint, ip_bytes
from security import MAX_SESSIONS, SECURE_PORT

_DR_TIMEOUT_S = const(3600)  # config dr_timeout_s: simulated seconds with no Set to an object; 0 = never


def start(path, out=None):
    """(cfg, node, endpoint, clock, identity) from the config file at path; out: the node's frame buffer."""
    try:
        cfg = store.load(path)
    except ValueError as e:
        raise ConfigError("config %s is not valid JSON (%s)" % (path, e))
    if cfg is None:
        raise ConfigError("cannot read config %s: create it (see README, 'Configuration')" % path)
    try:
        check_config(cfg)
    except ConfigError as e:
        raise ConfigError("config %s: %s" % (path, e))
    state = cfg.get("state_dir", ".")
    store.makedirs(state)
    identity = load_identity(state, cfg)
    if "addr" not in cfg:
        from hal import wifi

        w = cfg.get("wifi") or {}
        cfg["addr"] = wifi.connect(w.get("ssid", ""), w.get("password", ""))
    ep = Endpoint(cfg["addr"])
    clock = Clock(cfg.get("speed", 1))
    node = build(cfg, identity, ep.send, clock.now(), out)
    node.set_time = setter(clock)  # a controller's 0x97 / 0x98 moves this clock
    return cfg, node, ep, clock, identity


def check_config(cfg):
    """Raise ConfigError with one line saying what is wrong and what to do."""
    if not isinstance(cfg, dict):
        raise ConfigError("config must be a JSON object")
    addr = cfg.get("addr")
    if addr is not None:
        try:
            ip_bytes(addr)
        except ValueError:
            raise ConfigError("addr %r is not an IPv4 address like 192.168.1.20" % (addr,))
    objects = cfg.get("objects", ["battery"])
    if not isinstance(objects, list) or not objects:
        raise ConfigError("objects must be a non-empty list such as [\"battery\"]")
    for name in objects:
        if name not in registry.CLASSES:
            raise ConfigError("unknown object %r; known: %s" % (name, ", ".join(sorted(registry.CLASSES))))
    if "appliances" in cfg:  # drivers in place of simulated plants: their code only for a config that has them
        from drready import appliances

        appliances.check(cfg["appliances"], objects)
    speed = cfg.get("speed", 1)
    if not isinstance(speed, int) or not 1 <= speed <= 100000:
        raise ConfigError("speed must be a whole number from 1 to 100000")
    for a in cfg.get("legacy_write", []):
        try:
            ip_bytes(a)
        except (ValueError, AttributeError):
            raise ConfigError("legacy_write entry %r is not an IPv4 address" % (a,))
    for key in ("dr_timeout_s", "persist_interval_s", "enroll_backoff_s", "update_interval_s", "update_pull_timeout_s"):
        v = cfg.get(key, 0)
        if not isinstance(v, int) or not 0 <= v <= 10000000:
            raise ConfigError("%s must be a whole number of seconds from 0 to 10000000" % key)
    if cfg.get("update_pull_timeout_s", 0) > 86400:  # (a board's asyncio waits at most about 6 days at once)
        raise ConfigError("update_pull_timeout_s must be at most 86400 (a day)")
    if cfg.get("update_url"):  # its keys are checked by the code that uses them, loaded only for them
        from update import pull

        try:
            pull.check_config(cfg)
        except ValueError as e:
            raise ConfigError(str(e))
    port = cfg.get("secure_port", SECURE_PORT)
    if not isinstance(port, int) or not 1 <= port <= 65535 or port == 3610:
        raise ConfigError("secure_port must be a TCP port from 1 to 65535 other than 3610")
    sessions = cfg.get("max_sessions", MAX_SESSIONS)
    if not isinstance(sessions, int) or not 1 <= sessions <= 8:
        raise ConfigError("max_sessions must be a whole number from 1 to 8")
    maker = cfg.get("manufacturer_code", "FFFFFF")
    try:
        if len(bytes.fromhex(maker)) != 3:
            raise ValueError
    except (ValueError, TypeError):
        raise ConfigError("manufacturer_code must be 6 hex digits, e.g. \"FFFFFF\" (experimental)")
    return cfg


def load_identity(state_dir, cfg):
    """This device's identity; created once, from the random source, on first boot."""
    path = state_dir + "/identity.json"
    try:
        rec = store.load(path)
        if rec is None:
            rec = {"unique": os.urandom(10).hex()}
            store.save(path, rec)
        unique = bytes.fromhex(rec["unique"])
        maker = bytes.fromhex(cfg.get("manufacturer_code", "FFFFFF"))
        made = rec.get("date")  # production date "YYYY-MM-DD" (tools/provision.py); none in an identity made here
        date = None
        if made is not None:
            y, m, d = int(made[:4]), int(made[5:7]), int(made[8:10])
            # exactly YYYY-MM-DD, and a day that exists (civil(days(...)) gives it back)
            if len(made) != 10 or made[4] != "-" or made[7] != "-" or not made.replace("-", "").isdigit() \
                    or y < 1 or civil(days(y, m, d) * 86400)[:3] != (y, m, d):
                raise ValueError
            date = bytes((y >> 8, y & 0xFF, m, d))
        return Identity(maker, unique, cfg.get("product", "DRready-node"), date=date)
    except (ValueError, KeyError, TypeError):
        raise ConfigError("%s is damaged: restore it from a backup, or delete it to give this device a new identity" % path)


def build(cfg, identity, send, now, out=None, log=None):
    """The node: a profile and the configured device objects, `send` for its frames; log:
    where a driver that did not start is reported (app.log by default)."""
    devices = []
    count = {}
    drivers = None
    if cfg.get("appliances"):
        from drready import appliances as drivers
    for name in cfg.get("objects", ["battery"]):
        n = count[name] = count.get(name, 0) + 1
        d = drivers.start(cfg, name, n, identity, now, log or app.log) if drivers else registry.make(name, n, identity, now)
        if d is not None:  # None: its driver did not start; the node starts without it (drready/appliances.py)
            devices.append(d)
        # what making it left behind is collected before the next class's code loads, so
        # that code fills the holes rather than the free space above them (measured: all
        # five classes boot in a heap 18K smaller)
        gc.collect()
    # the policy and the log are app's: closures made here would keep this module alive
    policy = app.write_policy(cfg.get("legacy_write", []))
    node = Node(NodeProfile(identity, devices), devices, send, policy, app.log, out)
    node.dr_timeout = cfg.get("dr_timeout_s", _DR_TIMEOUT_S)
    node.who = app.controller_of
    return node

