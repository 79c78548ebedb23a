"""A stand-in for a real battery driver, as an appliance engineer would write one: it
reports what its (here fixed) meter reads and records the commands it is given. Named in
a config's appliances by test_appliances.py."""
from drready.battery import BatteryAppliance


class MeteredBattery(BatteryAppliance):
    capacity_wh = 5000
    charge_w = (200, 2000)
    discharge_w = (200, 2500)
    voltage = 48

    def __init__(self, instance):
        if instance > 2:
            raise OSError(19, "no inverter at Modbus address %d" % instance)  # ENODEV: its bus found none
        self.instance = instance
        self.stored_wh = 1250.0  # 25 %
        self.power_w = -640
        self.state = 0x43  # discharging
        self.commands = []
        self.steps = 0

    def step(self, now):
        self.steps += 1

    def command(self, mode, setting):
        self.commands.append(mode)


NOT_CALLABLE = 7
