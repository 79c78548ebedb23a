"""Storage battery 0x027D (Appendix Release R): declaration, ECHONET object, appliance
interface and simulated plant.

To drive a real battery, implement `BatteryAppliance` (read its measurements in `step`,
pass commands on in `command`); `StorageBattery` drives it in place of `SimBattery`
(README, Driving a real appliance: the config's `appliances` names it).
"""
import struct

from micropython import const

from drready.battery_props import CLASS_CODE, TABLE
from drready.clock import date_edt, time_edt
from drready.household import LOAD, SOLAR, hourly, next_hour
from echonet.objects import EchonetObject, device_values, rating

# 0xDA / 0xCF operation modes
_RAPID_CHARGE = const(0x41)
_CHARGE = const(0x42)
_DISCHARGE = const(0x43)
_STANDBY = const(0x44)
_AUTO = const(0x46)
# the modes this appliance carries out; the others are valid codes it refuses (SNA)
_SUPPORTED_MODES = const((_RAPID_CHARGE, _CHARGE, _DISCHARGE, _STANDBY, _AUTO))
# 0xC1 / 0xC2 charging and discharging methods it carries out: at its maximum power, or at
# the power 0xEB / 0xEC designates. Surplus charging, load-following discharge and a
# designated current need measurements this model has not: refused (SNA), never ignored
_MAXIMUM = const(0x01)
_DESIGNATED = const(0x03)
_SUPPORTED_METHODS = const((_MAXIMUM, _DESIGNATED))


class Settings:
    """The controller-visible settings the appliance acts on."""

    def __init__(self):
        self.on = True
        self.mode = _AUTO  # out of the box: self-consumption, until a controller commands it
        self.charge_method = _DESIGNATED  # 0xC1
        self.discharge_method = _DESIGNATED  # 0xC2
        self.charge_w = 0  # 0xEB, 0 = appliance maximum
        self.discharge_w = 0  # 0xEC
        self.charge_wh = 0  # 0xAA, 0 = no limit
        self.discharge_wh = 0  # 0xAB
        # accepted Sets of 0xAA / 0xAB: each is a new amount, counted from when it is set
        # (even the amount the last command had, which may have run out)
        self.amounts_set = 0
        self.upper_pct = 100  # 0xA6
        self.lower_pct = 30  # 0xA7, the backup reserve


class BatteryAppliance:
    """What the ECHONET object needs from a battery. Power is AC watts, energy AC Wh.
    (step, clock_moved and errors: echonet/objects.py, appliance drivers.)

    `command(mode, settings)` is called with every accepted change of the operation mode
    or a setting (and once when the object is made); its return value is not read.
    """

    capacity_wh = 0  # usable energy between 0 % and 100 %
    charge_w = (0, 0)  # (min, max) charging power
    discharge_w = (0, 0)
    voltage = 0  # nominal DC volts, for 0xE3
    kind = 0x04  # 0xE6 battery type: 0x04 lithium-ion (0x01 lead, 0x02 NiMH, 0x03 NiCd, 0x05 zinc, 0x06 alkaline)
    interconnect = 0x00  # 0xDB: 0x00 grid-tied with reverse power flow, 0x01 independent, 0x02 grid-tied without
    eff_charge = 1.0
    eff_discharge = 1.0
    # measured
    stored_wh = 0.0
    power_w = 0  # + charging, - discharging
    state = _STANDBY  # what it is actually doing (0xCF)
    charged_wh = 0.0  # cumulative AC energy in / out
    discharged_wh = 0.0
    fault_description = 0  # 0x89 while a step raises: the Appendix's code (1..0x3FF), else 0x3FF

    def step(self, now):
        """Refresh the measured attributes (echonet/objects.py: appliance drivers)."""
        raise NotImplementedError("step")

    def clock_moved(self, delta, now):
        """The node's clock jumped by delta seconds to now (a controller set 0x97/0x98):
        a driver that keeps times of that clock moves them; one that only reads the
        product has nothing to do."""
        pass

    def command(self, mode, settings):
        """mode: 0xDA code (or 0x31 for off); settings: the object's Settings (above), the
        same object each time, holding every setting in force (its charge_w is the 0xEB
        setting in W, not this interface's (min, max) rating of the same name)."""
        raise NotImplementedError("command")


class SimBattery(BatteryAppliance):
    """A lithium-ion home battery; defaults from the project's DR model (9.8 kWh, 3 kW)."""

    def clock_moved(self, delta, now):
        if self.last is not None:  # the jump is not taken for time that passed
            self.last += delta

    def __init__(self, capacity_wh=9800, charge_w=(100, 3000), discharge_w=(100, 3000), eff=0.95, soc=0.5, voltage=200):
        self.capacity_wh = capacity_wh
        self.charge_w = charge_w
        self.discharge_w = discharge_w
        self.eff_charge = eff
        self.eff_discharge = eff
        self.voltage = voltage
        self.stored_wh = capacity_wh * soc
        self.mode = _STANDBY
        self.setting = Settings()
        self.last = None
        self.moved_wh = 0.0  # AC energy moved under the current command (for 0xAA/0xAB)
        self.amounts_set = 0
        # (the counters in the instance from the start: set first by a step, each would grow
        # the instance's table, in a heap that may have no room by then)
        self.charged_wh, self.discharged_wh = self.charged_wh, self.discharged_wh

    def command(self, mode, settings):
        if mode != self.mode or settings.amounts_set != self.amounts_set:
            self.moved_wh = 0.0
        self.mode = mode
        self.amounts_set = settings.amounts_set
        self.setting = settings

    def _target(self, now):
        """(+charge / -discharge AC power it wants now, state code)."""
        s = self.setting
        mode = self.mode
        auto = 0
        if mode == _AUTO:  # self-consumption: store the solar surplus, cover the rest of the load
            auto = hourly(SOLAR, now) - hourly(LOAD, now)
            mode = _CHARGE if auto > 0 else _DISCHARGE if auto < 0 else _STANDBY
        if mode == _STANDBY or mode == 0x31:
            return 0, _STANDBY
        upper = self.capacity_wh * s.upper_pct / 100
        lower = self.capacity_wh * s.lower_pct / 100
        if mode in (_CHARGE, _RAPID_CHARGE):
            lo, hi = self.charge_w
            if auto:
                w = min(auto, hi)
                if w < lo:
                    return 0, _STANDBY
            else:
                full = mode == _RAPID_CHARGE or s.charge_method == _MAXIMUM or not s.charge_w
                w = hi if full else min(max(s.charge_w, lo), hi)
            if self.stored_wh >= upper - 1e-6 or (s.charge_wh and self.moved_wh >= s.charge_wh):
                return 0, _STANDBY
            return w, self.mode if self.mode != _AUTO else _CHARGE
        lo, hi = self.discharge_w
        if auto:
            w = min(-auto, hi)
            if w < lo:
                return 0, _STANDBY
        else:
            w = hi if s.discharge_method == _MAXIMUM or not s.discharge_w else min(max(s.discharge_w, lo), hi)
        if self.stored_wh <= lower + 1e-6 or (s.discharge_wh and self.moved_wh >= s.discharge_wh):
            return 0, _STANDBY
        return -w, _DISCHARGE

    def step(self, now):
        if self.last is not None and now < self.last:
            return  # already run past it (a Set's step): never count time twice
        t = now if self.last is None else self.last
        self.last = now
        while t < now:  # hour by hour: the household's load and solar change on the hour
            n = min(now, next_hour(t))
            w = self._target(t)[0]
            if w:
                self._move(w, n - t)
            t = n
        # what it does from now on (a limit reached on the way shows here)
        self.power_w, self.state = self._target(now)

    def _move(self, w, dt):
        """dt seconds at AC power w (+ charge), within the limits and the amount."""
        s = self.setting
        hours = dt / 3600
        if w > 0:
            room = self.capacity_wh * s.upper_pct / 100 - self.stored_wh
            ac = min(w * hours, room / self.eff_charge)
            if s.charge_wh:
                ac = min(ac, s.charge_wh - self.moved_wh)
            ac = max(ac, 0.0)
            self.stored_wh += ac * self.eff_charge
            self.charged_wh += ac
        else:
            avail = self.stored_wh - self.capacity_wh * s.lower_pct / 100
            ac = min(-w * hours, avail * self.eff_discharge)
            if s.discharge_wh:
                ac = min(ac, s.discharge_wh - self.moved_wh)
            ac = max(ac, 0.0)
            self.stored_wh -= ac / self.eff_discharge
            self.discharged_wh += ac
        self.moved_wh += ac


def _u32(edt):
    return int.from_bytes(edt, "big")


class StorageBattery(EchonetObject):
    """The storage battery object. It starts in automatic operation (0xDA 0x46), as a
    unit out of the box runs self-consumption until a controller commands it.

    Autonomous operation (`autonomous`: the DR command expired or the controller fell
    silent): 0xDA automatic 0x46 (self-consumption: the household's solar surplus is
    stored, the rest of its load covered, drready/household.py), no energy amounts (0xAA/0xAB 0) and
    no power settings (0xEB/0xEC 0 = the appliance's maximum, methods 0xC1/0xC2 designated
    power); each change announced.
    The limits 0xA6/0xA7 (the household's backup reserve) and 0x80 stay as set.
    Commands that end by themselves: 0xAA/0xAB, after that much AC energy the battery
    stands by (0xCF 0x44; 0xDA keeps the controller's mode). The count starts afresh at
    each Set of 0xAA/0xAB (so a HEMS can order the same amount again once it has run out)
    and when the operation mode changes (0xDA, or 0x80 off and on); a 0xDA Set to the mode
    it has already (a keep-alive) does not restart it.
    """

    def __init__(self, instance, identity, appliance=None, now=0):
        EchonetObject.__init__(self, (CLASS_CODE << 8) | instance, TABLE)
        self.appliance = appliance or SimBattery()
        self.settings = Settings()
        a = self.appliance
        s = self.settings
        for name in ("capacity_wh", "charge_w", "discharge_w"):
            rating(a, name)
        rating(a, "voltage", 0)  # 0: no 0xE3
        device_values(self, identity)
        v = self.values
        v[0xC1] = bytes((s.charge_method,))
        v[0xC2] = bytes((s.discharge_method,))
        v[0xC8] = struct.pack(">II", a.charge_w[0], a.charge_w[1])
        v[0xC9] = struct.pack(">II", a.discharge_w[0], a.discharge_w[1])
        v[0xDA] = bytes((s.mode,))
        self.put(0xDB, a.interconnect)
        self.put(0xE6, a.kind)
        self.put(0xA6, s.upper_pct)
        self.put(0xA7, s.lower_pct)
        self.put(0xAA, 0)
        self.put(0xAB, 0)
        self.put(0xEB, 0)
        self.put(0xEC, 0)
        self.put(0xD0, a.capacity_wh)
        a.command(s.mode, s)
        self.tick(now)

    def accept(self, epc, edt, now):
        s = self.settings
        counted = s.amounts_set
        if not self._take(epc, edt):
            return False
        try:
            self.appliance.command(s.mode if s.on else 0x31, s)
        except Exception:  # the driver could not pass it on: the setting it had stands
            old = self.values.get(epc)
            if old is not None:
                self._take(epc, old)
            s.amounts_set = counted
            raise
        return True

    def _take(self, epc, edt):
        """The setting edt of epc into the settings, or False: a value refused. (Nothing
        allocated: a Set must not need heap a fragmented one may not have.)"""
        s = self.settings
        x = edt[0]
        if epc == 0xDA:
            if x not in _SUPPORTED_MODES:
                return False
            s.mode = x
        elif epc == 0x80:
            s.on = x == 0x30
        elif epc == 0xEB or epc == 0xEC:
            w = _u32(edt)
            lo, hi = self.appliance.charge_w if epc == 0xEB else self.appliance.discharge_w
            if w and not lo <= w <= hi:  # outside 0xC8/0xC9: refuse rather than clamp silently
                return False
            if epc == 0xEB:
                s.charge_w = w
            else:
                s.discharge_w = w
        elif epc == 0xC1 or epc == 0xC2:
            if x not in _SUPPORTED_METHODS:
                return False
            if epc == 0xC1:
                s.charge_method = x
            else:
                s.discharge_method = x
        elif epc == 0xAA or epc == 0xAB:
            if epc == 0xAA:
                s.charge_wh = _u32(edt)
            else:
                s.discharge_wh = _u32(edt)
            s.amounts_set += 1
        elif epc == 0xA6:
            if x <= s.lower_pct:
                return False
            s.upper_pct = x
        elif epc == 0xA7:
            if x >= s.upper_pct:
                return False
            s.lower_pct = x
        return True

    def autonomous(self, now):
        # the mode first: a driver that fails half-way leaves the command in force as it
        # was (Node.step tries again), never its mode with the power limits already lifted
        self.apply(0xDA, bytes((_AUTO,)), now)
        for epc in (0xAA, 0xAB, 0xEB, 0xEC):
            self.apply(epc, b"\0\0\0\0", now)
        self.apply(0xC1, bytes((_DESIGNATED,)), now)
        self.apply(0xC2, bytes((_DESIGNATED,)), now)

    def tick(self, now):
        a = self.appliance
        a.step(now)
        s = self.settings
        cap = a.capacity_wh
        stored = a.stored_wh
        upper = cap * s.upper_pct / 100
        lower = cap * s.lower_pct / 100
        put = self.put
        put(0x97, time_edt(now))
        put(0x98, date_edt(now))
        put(0xA0, int(cap / a.eff_charge))
        put(0xA1, int(cap * a.eff_discharge))
        put(0xA2, int((upper - lower) / a.eff_charge))
        put(0xA3, int((upper - lower) * a.eff_discharge))
        put(0xA4, int(max(upper - stored, 0) / a.eff_charge))
        put(0xA5, int(max(stored - lower, 0) * a.eff_discharge))
        put(0xA8, int(a.charged_wh) % 1000000000)
        put(0xA9, int(a.discharged_wh) % 1000000000)
        put(0xCF, a.state)
        put(0xD3, int(a.power_w))
        put(0xE2, int(stored))
        put(0xE3, min(int(stored * 10 / a.voltage), 32766) if a.voltage else 0)
        put(0xE4, int(stored * 100 / cap) if cap else 0)  # down: 100 % only when full
