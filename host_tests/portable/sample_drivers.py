"""Stand-ins for real appliance drivers, as an appliance engineer would write them, named
in a config's appliances by test_appliances.py (and, compiled into a firmware image, by
e2e/test_appliance_driver.py). MeteredBattery reports what its (here fixed) meter reads
and records the commands it is given; the others fail the ways real drivers do."""
from drready.battery import BatteryAppliance
from drready.ev_charger import SimEV
from drready.hybrid_heater import SimHybridHeater
from drready.water_heater import WaterHeaterAppliance


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
        self.last = "the driver's own"  # a name the simulated plants use too: not the object's to touch
        self.down = False  # True: the inverter stops answering
        self.refuse = False  # True: it does not acknowledge commands
        self.refuse_mode = None  # an operation mode it does not acknowledge
        self.short = False  # True: its step runs out of heap

    def step(self, now):
        if self.down:
            raise OSError(5, "inverter did not answer")  # EIO
        if self.short:
            raise MemoryError("register map")
        self.steps += 1

    def command(self, mode, settings):
        if self.refuse or mode == self.refuse_mode:
            raise OSError(5, "inverter did not acknowledge")
        self.commands.append(mode)


class SlowInverter(MeteredBattery):
    """An inverter that answers only from its `answers_from`-th try on (counted across
    instances): still booting when the node starts."""

    tries = 0
    answers_from = 2

    def __init__(self, instance):
        SlowInverter.tries += 1
        if SlowInverter.tries < SlowInverter.answers_from:
            raise OSError(5, "inverter did not answer")  # EIO
        MeteredBattery.__init__(self, instance)


class ClockTrouble(MeteredBattery):
    def clock_moved(self, delta, now):
        raise ValueError("the inverter refused the new time")


class FlakyEV(SimEV):
    """The simulated unit behind a link that may refuse commands."""

    def __init__(self, instance):
        SimEV.__init__(self)
        self.refuse = False

    def command(self, settings):
        if self.refuse:
            raise OSError(5, "V2H unit did not acknowledge")
        SimEV.command(self, settings)


class FlakyHybrid(SimHybridHeater):
    """The simulated unit whose usage forecast (0xF0's input) may fail to load."""

    def __init__(self, instance):
        SimHybridHeater.__init__(self)
        self.down = False

    def expected_draw(self, t0, t1):
        if self.down:
            raise OSError(5, "usage history unavailable")
        return SimHybridHeater.expected_draw(self, t0, t1)


class Unfinished(BatteryAppliance):
    """Ratings, but no step: the interface's NotImplementedError."""

    capacity_wh = 5000
    charge_w = discharge_w = (200, 2000)

    def __init__(self, instance):
        pass

    def command(self, mode, settings):
        pass


class Heater(WaterHeaterAppliance):
    """An appliance, but a water heater's: the battery object finds no capacity_wh."""

    def __init__(self, instance):
        pass


def not_an_appliance(instance):
    return object()


NOT_CALLABLE = 7
