"""config's appliances: the driver each object drives in place of its simulated plant
(README, Driving a real appliance). startup.py loads this only for a config that has the
key, and app._boot drops it with the start-up code.
"""
from app import ConfigError
from drready import registry


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
        # cannot do that (a missing attribute, a bus with no answer) stops this start; on a
        # board the next start, after its reset, tries again
        raise ConfigError("appliances: %s: %s(%d) does not work as the %s's appliance (%s: %s)"
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
        raise ConfigError("appliances: %s: %s(%d) did not start (%s: %s)" % (name, where, instance, type(e).__name__, e))
    if not (hasattr(driver, "step") and hasattr(driver, "command") and hasattr(driver, "clock_moved")):
        raise ConfigError("appliances: %s: %s(%d) is not an appliance: subclass the %s's interface (README, "
                          "Driving a real appliance)" % (name, where, instance, name))
    return driver
