"""config's appliances: the driver each object drives in place of its simulated plant
(README, Driving a real appliance). startup.py loads this only for a config that has the
key; app._boot drops it with the start-up code, unless a driver did not start.

A driver that raises as it starts (its bus does not answer yet, say) must not keep the
node off the network: then nobody could read the others, nor send the update that fixes
the driver. The node starts without that object (`start`), and the retry task
(`try_again`, every second) makes it as soon as the driver starts, adds it to the node
(the instance list announced) and replays its saved settings. Only an update on trial
stops instead: a start without every object is no healthy start, and the next one runs
the previous version.
"""
import asyncio
import gc

from micropython import const

from app import ConfigError
from drready import registry

_RETRY_MS = const(5000)  # the first try again, real time; each next one waits twice as long
_RETRY_MAX_MS = const(60000)  # up to this

# [name, instance, real ms of the next try, the wait after it, appliances, identity] of
# each object whose driver has not started yet
waiting = []
retry = None  # once an object waits: the task app.serve runs (_retry)


class NotStarted(ConfigError):
    """The driver raised as it was made, or as the object first read it: a state of the
    appliance, perhaps, not a mistake in the config."""


def check(appliances, objects):
    """Raise ConfigError unless appliances maps configured objects to module.name."""
    if not isinstance(appliances, dict):
        raise ConfigError("appliances must be an object such as {\"battery\": \"drivers.my_battery.ModbusBattery\"}")
    for name, where in appliances.items():
        if name not in objects:
            raise ConfigError("appliances: %r is not one of the objects configured (%s)" % (name, ", ".join(objects)))
        if not isinstance(where, str) or not 0 < where.rfind(".") < len(where) - 1:
            raise ConfigError("appliances: %s: %r is not module.name, such as \"drivers.my_battery.ModbusBattery\""
                              % (name, where))


def make(appliances, name, instance, identity, now):
    """The object, driving the driver appliances names for it (a class or function, called
    with the instance number: 1 for the first object of its class), or its simulated plant."""
    driver = load(appliances, name, instance)
    try:
        return registry.make(name, instance, identity, now, driver)
    except MemoryError:
        raise
    except Exception as e:
        if driver is None:
            raise
        # the object reads its ratings and takes a first step as it is made: a driver that
        # cannot do that (a bus with no answer, or a missing attribute) has not started
        raise NotStarted("appliances: %s: %s(%d) does not work as the %s's appliance (%s: %s)"
                          % (name, appliances[name], instance, name, type(e).__name__, e))


def load(appliances, name, instance):
    """The driver appliances names for the object, made; or None: its simulated plant."""
    where = appliances.get(name)
    if where is None:
        return None
    module, _, attr = where.rpartition(".")
    try:
        factory = getattr(__import__(module, None, None, (attr,)), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError("appliances: %s: cannot load %s (%s): a module of firmware/ built into the firmware "
                          "(make build; on a board, make deploy or an image from boards/)" % (name, where, e))
    if not callable(factory):
        raise ConfigError("appliances: %s: %s is not a class or function" % (name, where))
    try:
        driver = factory(instance)
    except MemoryError:
        raise
    except Exception as e:  # its bus or port did not open, say: not the network's
        raise NotStarted("appliances: %s: %s(%d) did not start (%s: %s)" % (name, where, instance, type(e).__name__, e))
    if not (hasattr(driver, "step") and hasattr(driver, "command") and hasattr(driver, "clock_moved")):
        raise ConfigError("appliances: %s: %s(%d) is not an appliance: subclass the %s's interface (README, "
                          "Driving a real appliance)" % (name, where, instance, name))
    return driver


def start(cfg, name, instance, identity, now, log):
    """make(); or None when the driver did not start (NotStarted) and this start is no
    update's trial: the object then waits in `waiting` for the retry task."""
    try:
        return make(cfg["appliances"], name, instance, identity, now)
    except NotStarted as e:
        global retry
        from update import state

        try:
            trial = state.load(cfg.get("state_dir", "."))["pending"]
        except ValueError:  # a damaged update record (app.serve reports it): no trial runs
            trial = None
        if trial:  # an update on trial
            raise
        waiting.append([name, instance, None, _RETRY_MS, cfg["appliances"], identity])
        retry = _retry
        log("ERROR %s: the node starts without it and tries again" % e)
        return None


def try_again(node, clock, saver, log):
    """One round of the retry task: each waiting object whose time has come is made anew;
    one made is added to the node, the new instance list announced, and the settings
    saved for it before are replayed at once (saver.poll: persist.restore kept them).
    True while any still waits."""
    ms = clock.real_ms()
    for w in list(waiting):
        if w[2] is None:  # the first try again: a wait after the failed start
            w[2] = ms + w[3]
        if ms < w[2]:
            continue
        gc.collect()  # its class's code loads into the holes, not the free space above them (as startup.build)
        try:
            d = make(w[4], w[0], w[1], w[5], clock.now())
            node.add(d)
        except Exception as e:  # not yet (or no heap this time): never the node's end
            w[3] = min(w[3] * 2, _RETRY_MAX_MS)
            w[2] = ms + w[3]
            log("ERROR %s: tried again in %d s" % (e, w[3] // 1000))
            continue
        waiting.remove(w)
        try:
            node.flush()
            log("appliance %06X started: served from now on" % d.eoj)
            if saver:
                saver.poll(ms)  # (what it could not replay or save, the tick's poll tries again)
        except Exception as e:
            log("ERROR appliance %06X started, its settings not yet replayed: %r" % (d.eoj, e))
    return bool(waiting)


async def _retry(node, clock, saver, log):
    """The task app.serve runs while an object waits: try_again every second, between
    two requests. Once none waits, the code that makes objects is not needed again."""
    while try_again(node, clock, saver, log):
        await asyncio.sleep_ms(1000)  # pyright: ignore[reportAttributeAccessIssue] (MicroPython)
    from unload import drop

    drop("drready.registry", "drready.appliances")
