"""config's appliances: the driver each object drives in place of its simulated plant
(README, Driving a real appliance). startup.py loads this only for a config that has the
key, and app._boot drops it with the start-up code.
"""
from app import ConfigError


def check(appliances, objects):
    """Raise ConfigError unless appliances maps configured objects to module.name."""
    if not isinstance(appliances, dict):
        raise ConfigError("appliances must be an object such as {\"battery\": \"my_battery.ModbusBattery\"}")
    for name, where in appliances.items():
        if name not in objects:
            raise ConfigError("appliances: %r is not one of the objects configured (%s)" % (name, ", ".join(objects)))
        if not isinstance(where, str) or not 0 < where.rfind(".") < len(where) - 1:
            raise ConfigError("appliances: %s: %r is not module.name, such as \"my_battery.ModbusBattery\"" % (name, where))


def load(appliances, name, instance):
    """The driver appliances names for the object (a class or function, called with the
    instance number: 1 for the first object of its class), or None: its simulated plant."""
    where = appliances.get(name)
    if where is None:
        return None
    module, _, attr = where.rpartition(".")
    try:
        make = getattr(__import__(module, None, None, (attr,)), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError("appliances: %s: cannot load %s (%s)" % (name, where, e))
    if not callable(make):
        raise ConfigError("appliances: %s: %s is not a class or function" % (name, where))
    try:
        return make(instance)
    except (OSError, ValueError) as e:  # its bus or port did not open, say: not the network's
        raise ConfigError("appliances: %s: %s(%d) did not start (%s)" % (name, where, instance, e))
