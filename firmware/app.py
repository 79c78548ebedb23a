"""Read config, build the node, serve ECHONET Lite until stopped.

main.py calls `main()` on the board (with /config.json) and in the host simulator (with
<state>/config.json): both take the same path below.
"""
import asyncio
import errno
import gc
import os

from drready import registry
from echonet.identity import Identity
from echonet.node import Node
from echonet.objects import NodeProfile
from hal import store
from hal.clock import Clock
from hal.udp import Endpoint, ip_bytes, peer_ip

TICK_MS = 1000


class ConfigError(Exception):
    pass


def log(text):
    print(text)


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
    speed = cfg.get("speed", 1)
    if not isinstance(speed, int) or not 1 <= speed <= 100000:
        raise ConfigError("speed must be a whole number from 1 to 100000")
    for a in cfg.get("legacy_write", []):
        try:
            ip_bytes(a)
        except (ValueError, AttributeError):
            raise ConfigError("legacy_write entry %r is not an IPv4 address" % (a,))
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
        return Identity(maker, unique, cfg.get("product", "DRready-node"))
    except (ValueError, KeyError, TypeError):
        raise ConfigError("%s is damaged: restore it from a backup, or delete it to give this device a new identity" % path)


def build(cfg, identity, send, now):
    devices = []
    count = {}
    for name in cfg.get("objects", ["battery"]):
        count[name] = count.get(name, 0) + 1
        devices.append(registry.make(name, count[name], identity, now))
    allow = cfg.get("legacy_write", [])

    def write_allowed(src):
        return peer_ip(src) in allow

    def event(text):
        log(text)

    return Node(NodeProfile(identity, devices), devices, send, write_allowed, event)


async def _receive(ep, sock, node, clock):
    while True:
        try:
            data, src = await ep.recv(sock)
        except OSError as e:  # e.g. ICMP errors surfacing on a UDP socket: lose a datagram, not the node
            log("receive error %s" % (e,))
            await asyncio.sleep_ms(100)
            continue
        if not ep.is_own(src):
            node.receive(data, src, clock.now())


async def _tick(node, clock):
    while True:
        await asyncio.sleep_ms(TICK_MS)
        node.tick(clock.now())


async def serve(cfg):
    state = cfg.get("state_dir", ".")
    store.makedirs(state)
    identity = load_identity(state, cfg)
    ep = Endpoint(cfg["addr"])
    clock = Clock(cfg.get("speed", 1))
    node = build(cfg, identity, ep.send, clock.now())
    devices = node.devices
    node.start(clock.now())
    gc.collect()
    eojs = " ".join("%06X" % o.eoj for o in [node.profile] + devices)
    log("READY %s:3610 objects %s heap %d/%d" % (ep.addr, eojs, gc.mem_alloc(), gc.mem_alloc() + gc.mem_free()))
    try:
        await asyncio.gather(
            _receive(ep, ep.unicast, node, clock), _receive(ep, ep.multicast, node, clock), _tick(node, clock)
        )
    finally:
        ep.close()


def main(path="config.json"):
    try:
        cfg = store.load(path)
    except ValueError as e:
        print("ERROR config %s is not valid JSON (%s)" % (path, e))
        return 2
    if cfg is None:
        print("ERROR cannot read config %s: create it (see README, 'Configuration')" % path)
        return 2
    try:
        check_config(cfg)
    except ConfigError as e:
        print("ERROR config %s: %s" % (path, e))
        return 2
    try:
        if "addr" not in cfg:
            from hal import wifi

            w = cfg.get("wifi") or {}
            cfg["addr"] = wifi.connect(w.get("ssid", ""), w.get("password", ""))
        asyncio.run(serve(cfg))
    except KeyboardInterrupt:
        pass
    except ConfigError as e:
        print("ERROR %s" % e)
        return 2
    except OSError as e:
        code = e.args[0] if e.args else 0
        if code == errno.EADDRINUSE:
            print("ERROR UDP port 3610 on %s is taken by another program; stop it or use another address" % cfg.get("addr"))
        elif code == 99:  # EADDRNOTAVAIL (Linux); MicroPython's errno lacks the name
            print("ERROR %s is not an address of this host" % cfg.get("addr"))
        else:
            print("ERROR network: %s" % (e,))
        return 1
    log("STOPPED")
    return 0

