"""The device classes a node can carry, by the name used in config. Imported lazily so a
node only spends memory on the classes it was configured with."""

# name: (module, class, ECHONET class code)
CLASSES = {
    "battery": ("drready.battery", "StorageBattery", 0x027D),
    "water_heater": ("drready.water_heater", "ElectricWaterHeater", 0x026B),
    "hybrid_heater": ("drready.hybrid_heater", "HybridWaterHeater", 0x02A6),
    "ev_charger": ("drready.ev_charger", "EVChargerDischarger", 0x027E),
    "fuel_cell": ("drready.fuel_cell", "FuelCell", 0x027C),
}


def make(name, instance, identity, now, appliance=None):
    """The object; appliance: what it drives (its class's *Appliance interface), or None
    for its simulated plant."""
    entry = CLASSES.get(name)
    if entry is None:
        raise ValueError("unknown device class %r (known: %s)" % (name, ", ".join(sorted(CLASSES))))
    module = __import__(entry[0], None, None, (entry[1],))
    return getattr(module, entry[1])(instance, identity, appliance, now)
