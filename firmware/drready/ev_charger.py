"""EV charger/discharger (V2H) 0x027E (Appendix Release R): ECHONET object, appliance
interface and simulated plant.

To drive a real V2H unit, implement `EVAppliance` (read the vehicle and the converter in
`step`, pass settings on in `command`); `EVChargerDischarger` drives it in place of `SimEV`
(README, Driving a real appliance: the config's `appliances` names it).

The primary job DR never breaks is the departure charge: the vehicle must hold the target
level (80 %) when it leaves (07:30). Discharging (V2H) stops at the departure line, the
level from which the target can still be reached by charging at maximum power (with a
10-minute margin). Once the level meets the line, the plant charges at maximum power up to
the target whatever the operation mode says (0xE1 shows charging, 0xDA keeps the
controller's setting), and until the car leaves it discharges no lower than the target.

Choices:
- Power settings: 0xEB/0xEC apply when the method 0xDC/0xDD is 0x03 designated power (the
  default, with 0xEB/0xEC at the maximum), 0x01 means maximum power, 0x06 V2G takes the
  power from 0xE0. Other methods are refused (SNA). 0xEB/0xEC/0xE0 outside 0xC8/0xC9
  min-max are refused.
- 0xE0 follows the Appendix note: accepted only when the method for its sign is V2G (0 when
  either is), and it sets 0xDA to charge / discharge / standby (announced).
- 0xE7/0xEA amounts (AC Wh, 0 = not set): charging / discharging stops after that much
  under the current operation mode, counted from the amount's Set (the same amount set
  again is a new order); forced departure charging does not count.
- With no vehicle, C0 C2 C4 CE CF D0 E2 E4 answer Get with SNA: they have no value while
  the vehicle is away, from the first tick on (construction's), as 0xC7 says.
- Commands with no vehicle: charge and discharge (0xDA, non-zero 0xE0) are refused; standby,
  idle and auto are accepted. When the vehicle leaves, a charge or discharge mode returns
  to standby (announced); auto and idle persist.
- Discharge is refused (SNA) when nothing can be discharged above the departure line.
- Auto (0x49): 18:00-23:00 V2H supplies the house (its load, drready/household.py, when the
  unit can follow it: at least 0xC9's minimum), otherwise charge to the departure target;
  idle (0x47) and standby (0x44) move nothing of their own.
- The simulated car is plugged in every day (dr-model.md says weekdays; a weekend would
  only leave it plugged longer).
- Vehicle energies (C0 C2 CE CF D0 E2) are battery-side Wh; D3 D6 D8 are AC.
- 0x80 off stops the unit entirely (no departure charging either): the user's switch.
"""

import struct

from micropython import const

from drready.clock import date_edt, time_edt
from drready.ev_charger_props import CLASS_CODE, TABLE
from drready.household import LOAD, hourly
from echonet.objects import EchonetObject, device_values, rating

# 0xDA / 0xE1 operation modes
_CHARGE = const(0x42)
_DISCHARGE = const(0x43)
_STANDBY = const(0x44)
_IDLE = const(0x47)
_AUTO = const(0x49)
_OFF = const(0x31)
# the modes this appliance carries out; other valid codes are refused (SNA)
_SUPPORTED_MODES = const((_CHARGE, _DISCHARGE, _STANDBY, _IDLE, _AUTO))
# 0xDC / 0xDD methods carried out
_MAXIMUM = const(0x01)
_DESIGNATED = const(0x03)
_V2G = const(0x06)
_SUPPORTED_METHODS = const((_MAXIMUM, _DESIGNATED, _V2G))
# vehicle-dependent properties: Get_SNA with no vehicle (MRA remarks)
_VEHICLE_EPCS = const(b"\xc0\xc2\xc4\xce\xcf\xd0\xe2\xe4")


class Settings:
    """The controller-visible settings the appliance acts on."""

    def __init__(self, charge_w, discharge_w):
        self.on = True
        self.mode = _STANDBY  # out of the box: only the departure charge (auto 0x49 would discharge the car)
        self.charge_method = _DESIGNATED  # 0xDC
        self.discharge_method = _DESIGNATED  # 0xDD
        self.charge_w = charge_w  # 0xEB
        self.discharge_w = discharge_w  # 0xEC
        self.power = 0  # 0xE0, + charge / - discharge (V2G)
        self.charge_wh = 0  # 0xE7, 0 = not set
        self.discharge_wh = 0  # 0xEA
        # accepted Sets of 0xE7 / 0xEA: each is a new amount, counted from when it is set
        # (even the amount the last command had, which may have run out)
        self.amounts_set = 0


class EVAppliance:
    """What the ECHONET object needs from a V2H unit and its vehicle. Power in AC watts.
    (step, clock_moved and errors: echonet/objects.py, appliance drivers.)

    `command(settings)` is called with every accepted change (and once when the object is
    made); settings is the object's Settings (above), the same object each time, holding
    every setting in force. Its return value is not read; raising refuses the change. Once
    it returns, the object sets `mode` to settings.mode; a step that reads the unit's own
    mode back (it may fall to standby when the vehicle leaves) overwrites it.
    """

    charge_w = (0, 0)  # (min, max) charging power; the max is also 0xC5
    discharge_w = (0, 0)  # likewise 0xC9 / 0xC6
    voltage = 200  # AC volts, for 0xCA/0xCB currents
    kind = 0x22  # 0xCC: DC type AA (CHAdeMO), charge and discharge
    # measured
    connected = False
    capacity_wh = 0  # vehicle battery, usable (D0, CE)
    reserve_wh = 0  # the vehicle's own discharge floor
    stored_wh = 0.0
    floor_wh = 0.0  # lowest level discharge may reach now (departure charge, reserve)
    power_w = 0  # + charging, - discharging
    state = _STANDBY  # what it actually does (0xE1)
    mode = _STANDBY  # 0xDA as the appliance holds it (it may change it, e.g. on departure)
    charged_wh = 0  # cumulative AC Wh (int)
    discharged_wh = 0
    fault_description = 0  # 0x89 while a step raises: the Appendix's code (1..0x3FF), else 0x3FF
    vehicle_id = b""

    def step(self, now):
        """Refresh the measured attributes (echonet/objects.py: appliance drivers)."""
        raise NotImplementedError("step")

    def clock_moved(self, delta, now):
        """The node's clock jumped by delta seconds to now (a controller set 0x97/0x98):
        a driver that keeps times of that clock moves them; one that only reads the
        product has nothing to do."""
        pass

    def command(self, settings):
        raise NotImplementedError("command")


def _clamp(w, lim):
    return min(max(w, lim[0]), lim[1])


class SimEV(EVAppliance):
    """A V2H unit with a commuter's car; defaults from the project's DR model: 1-6 kW,
    40 kWh, plugged in 18:00-07:30 every day, 80 % at departure.

    The car arrives (first time) with `soc`; each trip uses `trip_wh`. Times are seconds
    of the day of the injected clock.
    """

    def clock_moved(self, delta, now):
        if self.last is not None:  # the jump is not taken for time that passed
            self.last += delta

    def __init__(
        self,
        capacity_wh=40000,
        charge_w=(1000, 6000),
        discharge_w=(1000, 6000),
        eff=0.95,
        soc=0.4,
        arrive=64800,
        depart=27000,
        target=0.8,
        trip_wh=16000,
        reserve=0.2,
        margin=600,
        vehicle_id=b"SIM-EV-0001",
    ):
        self.capacity_wh = capacity_wh
        self.charge_w = charge_w
        self.discharge_w = discharge_w
        self.eff = eff
        self.stored_wh = capacity_wh * soc
        self.arrive = arrive
        self.depart = depart
        self.target_wh = capacity_wh * target
        self.trip_wh = trip_wh
        self.reserve_wh = capacity_wh * reserve
        self.margin = margin
        self.vehicle_id = vehicle_id
        self.on = True
        self.setting = Settings(charge_w[1], discharge_w[1])
        self.last = None
        self.moved = 0.0  # AC Wh moved under the current command (0xE7/0xEA)
        self.amounts_set = 0
        self.frac = [0.0, 0.0]  # cumulative counters below 1 Wh (single-precision floats)
        self.limit = 0.0
        self.guard = False  # the departure charge has taken over (until the car leaves)
        self.forced = False  # charging for the departure in this step
        # (the counters in the instance from the start: set first by a step, each would grow
        # the instance's table, in a heap that may have no room by then)
        self.charged_wh, self.discharged_wh = self.charged_wh, self.discharged_wh

    def command(self, s):
        if s.mode != self.mode or s.amounts_set != self.amounts_set:
            self.moved = 0.0
        self.amounts_set = s.amounts_set
        self.mode = s.mode
        self.on = s.on
        self.setting = s

    def plugged(self, t):
        sec = t % 86400
        a = self.arrive
        d = self.depart
        return (sec >= a or sec < d) if a > d else a <= sec < d

    def line(self, t):
        """The departure line: the lowest level from which the target is reached in time."""
        left = (self.depart - t % 86400) % 86400 - self.margin
        return self.target_wh - self.charge_w[1] * self.eff * max(left, 0) / 3600

    def _plug(self, on):
        self.connected = on
        if not on:  # leaves: the trip's energy is gone by the time it is back
            self.stored_wh = max(self.stored_wh - self.trip_wh, 0.0)
            if self.mode == _CHARGE or self.mode == _DISCHARGE:
                self.mode = _STANDBY
            self.moved = 0.0
            self.guard = False

    def _decide(self, t, end):
        """AC power (+ charge) from time t to end; sets state, limit, guard and forced."""
        mode = self.mode
        self.state = _IDLE if mode == _IDLE or not self.on else _STANDBY
        self.forced = False
        if not (self.on and self.connected):
            return 0
        s = self.setting
        st = self.stored_wh
        target = self.target_wh
        line = self.line(end)  # where the line will be at the end of the step
        # the departure charge: once the level meets the line, charge at maximum power up to
        # the target and discharge no lower than the target until the car leaves
        self.guard = self.guard or st <= line + 1
        if self.guard and st < target - 1:
            self.forced = True
            self.limit = target
            self.state = _CHARGE
            return self.charge_w[1]
        if mode == _AUTO:  # evening peak: supply the house (V2H); night: charge to the target
            h = t // 3600 % 24
            if 18 <= h < 23:
                self.limit = self._floor(line)
                w = min(hourly(LOAD, t), self.discharge_w[1])
                if st <= self.limit + 1 or w < self.discharge_w[0]:  # a load it cannot follow
                    return 0
                self.state = _DISCHARGE
                return -w
            mode = _CHARGE
        if mode == _CHARGE:
            self.limit = self.capacity_wh if self.mode == _CHARGE else target
            if st >= self.limit - 1 or (s.charge_wh and self.moved >= s.charge_wh):
                return 0
            m = s.charge_method
            self.state = _CHARGE
            if m == _MAXIMUM:
                return self.charge_w[1]
            return _clamp(s.power if m == _V2G and s.power > 0 else s.charge_w, self.charge_w)
        if mode == _DISCHARGE:
            self.limit = self._floor(line)
            if st <= self.limit + 1 or (s.discharge_wh and self.moved >= s.discharge_wh):
                return 0
            m = s.discharge_method
            self.state = _DISCHARGE
            if m == _MAXIMUM:
                return -self.discharge_w[1]
            return -_clamp(-s.power if m == _V2G and s.power < 0 else s.discharge_w, self.discharge_w)
        return 0

    def _floor(self, line):
        return self.target_wh if self.guard else max(line, self.reserve_wh)

    def _count(self, i, ac):
        f = self.frac[i] + ac
        n = int(f)
        self.frac[i] = f - n
        return n

    def _move(self, w, t, end):
        h = (end - t) / 3600
        s = self.setting
        eff = self.eff
        if w > 0:
            ac = min(w * h, (self.limit - self.stored_wh) / eff)
            amount = s.charge_wh
        else:
            ac = min(-w * h, (self.stored_wh - self.limit) * eff)
            amount = s.discharge_wh
        if amount and not self.forced:
            ac = min(ac, amount - self.moved)
        ac = max(ac, 0.0)
        if not self.forced:
            self.moved += ac
        if w > 0:
            self.stored_wh += ac * eff
            self.charged_wh += self._count(0, ac)
        else:
            self.stored_wh -= ac / eff
            self.discharged_wh += self._count(1, ac)

    def step(self, now):
        if self.last is not None and now < self.last:
            return  # already run past it (a Set's step): never count time twice
        if self.last is None:
            self.last = now
            self.connected = self.plugged(now)
        t = self.last
        # piecewise: whole minutes, so plug times and limits are met within the step
        while t < now:
            if self.plugged(t) != self.connected:
                self._plug(not self.connected)
            end = min(now, t - t % 60 + 60)
            w = self._decide(t, end)
            if w:
                self._move(w, t, end)
            t = end
        self.last = now
        if self.plugged(now) != self.connected:
            self._plug(not self.connected)
        end = now - now % 60 + 60
        self.power_w = self._decide(now, end)
        self.floor_wh = self._floor(self.line(end))


def _u32(edt):
    return int.from_bytes(edt, "big")


class EVChargerDischarger(EchonetObject):
    """The EV charger/discharger object. It starts in standby (0xDA 0x44): it charges the
    car for its departure by itself, but discharges it only when told (0x49 or 0x43).

    Autonomous operation (`autonomous`: the DR command expired or the controller fell
    silent): 0xE0 0 first (when a method is V2G; it sets 0xDA standby), then 0xDA
    automatic 0x49, methods 0xDC/0xDD designated (0x03), powers 0xEB/0xEC the maximum, no
    amounts (0xE7/0xEA 0); each change announced. 0x80 stays as set.
    Commands that end by themselves: 0xE7/0xEA after that much energy, and a charge or
    discharge mode returns to standby when the vehicle leaves.
    """

    def __init__(self, instance, identity, appliance=None, now=0):
        EchonetObject.__init__(self, (CLASS_CODE << 8) | instance, TABLE)
        a = self.appliance = appliance or SimEV()
        rating(a, "charge_w")
        rating(a, "discharge_w")
        s = self.settings = Settings(a.charge_w[1], a.discharge_w[1])
        device_values(self, identity)
        v = self.values
        c = a.charge_w
        d = a.discharge_w
        vo = rating(a, "voltage")
        v[0xC8] = struct.pack(">II", c[0], c[1])
        v[0xC9] = struct.pack(">II", d[0], d[1])
        # currents in 0.1 A, clipped at the field's top (3276.6 A: a high power at a low voltage)
        v[0xCA] = struct.pack(">HH", min(c[0] * 10 // vo, 32766), min(c[1] * 10 // vo, 32766))
        v[0xCB] = struct.pack(">HH", min(d[0] * 10 // vo, 32766), min(d[1] * 10 // vo, 32766))
        v[0xE5] = b"\x42"  # no maintenance needed
        put = self.put
        put(0xCC, a.kind)
        put(0xC5, c[1])
        put(0xC6, d[1])
        put(0xDA, s.mode)
        put(0xDC, s.charge_method)
        put(0xDD, s.discharge_method)
        put(0xE0, 0)
        put(0xE7, 0)
        put(0xEA, 0)
        put(0xEB, s.charge_w)
        put(0xEC, s.discharge_w)
        a.command(s)
        a.mode = s.mode  # (see accept)
        self.conn = None
        self.tick(now)

    def missing(self):
        """As any object's, but with no vehicle its vehicle properties have no value by
        design (Get answers SNA), not by a declaration error."""
        gone = () if self.conn else _VEHICLE_EPCS
        return [e for e in EchonetObject.missing(self) if e not in gone]

    def _can_discharge(self, w):
        a = self.appliance
        return a.connected and a.stored_wh > a.floor_wh + 1 and a.discharge_w[0] <= w <= a.discharge_w[1]

    def accept(self, epc, edt, now):
        s = self.settings
        mode = s.mode
        power = s.power
        counted = s.amounts_set
        if not self._take(epc, edt):
            return False
        # 0xCD connection confirmation: the appliance reads the connection in every step
        try:
            self.appliance.command(s)
        except Exception:  # the driver could not pass it on: the settings it had stand
            old = self.values.get(epc)
            if old is not None and epc != 0xE0:
                self._take(epc, old)
            s.mode = mode
            s.power = power
            s.amounts_set = counted
            raise
        # the unit holds the mode now: a driver that does not read it back keeps it so,
        # and tick takes it from the unit only when the unit changes it (the vehicle left)
        self.appliance.mode = s.mode
        if epc == 0xE0:
            self.put(0xDA, s.mode)  # the setpoint's sign sets the mode
        elif s.power != power:
            # a method no longer V2G: the setpoint drives nothing, 0xE0 says so, and it is
            # no longer a setting to keep across a restart
            self.put(0xE0, 0)
            if 0xE0 in self.accepted:
                self.accepted.remove(0xE0)
        return True

    def _take(self, epc, edt):
        """The setting edt of epc into the settings, or False: a value refused. (Nothing
        allocated: a Set must not need heap a fragmented one may not have.)"""
        s = self.settings
        a = self.appliance
        x = edt[0]
        if epc == 0xDA:
            if x not in _SUPPORTED_MODES:
                return False
            if (x == _CHARGE and not a.connected) or (x == _DISCHARGE and not self._can_discharge(a.discharge_w[0])):
                return False
            s.mode = x
        elif epc == 0x80:
            s.on = x == 0x30
        elif epc == 0xDC or epc == 0xDD:
            if x not in _SUPPORTED_METHODS:
                return False
            if epc == 0xDC:
                s.charge_method = x
            else:
                s.discharge_method = x
            if s.power and (s.charge_method if s.power > 0 else s.discharge_method) != _V2G:
                s.power = 0  # the V2G setpoint no longer drives anything (0xE0 below)
        elif epc == 0xEB or epc == 0xEC:
            w = _u32(edt)
            lo, hi = a.charge_w if epc == 0xEB else a.discharge_w
            if not lo <= w <= hi:  # outside 0xC8/0xC9: refused, never clamped silently
                return False
            if epc == 0xEB:
                s.charge_w = w
            else:
                s.discharge_w = w
        elif epc == 0xE7 or epc == 0xEA:
            if epc == 0xE7:
                s.charge_wh = _u32(edt)
            else:
                s.discharge_wh = _u32(edt)
            s.amounts_set += 1
        elif epc == 0xE0:
            w = struct.unpack(">i", edt)[0]
            if w > 0:
                if s.charge_method != _V2G or not a.connected or not a.charge_w[0] <= w <= a.charge_w[1]:
                    return False
                mode = _CHARGE
            elif w < 0:
                if s.discharge_method != _V2G or not self._can_discharge(-w):
                    return False
                mode = _DISCHARGE
            else:
                if s.charge_method != _V2G and s.discharge_method != _V2G:
                    return False
                mode = _STANDBY
            s.power = w
            s.mode = mode
        return True

    def autonomous(self, now):
        a = self.appliance
        apply = self.apply
        # the V2G setpoint first (with a V2G method it puts 0xDA to standby, which stops
        # its flow), then the mode, then the rest: a driver that fails half-way leaves the
        # command in force, or standby (Node.step tries again), never a forced mode with
        # its power limits already lifted; and the setpoint's standby never comes after
        # the automatic mode, undoing it
        apply(0xE0, b"\0\0\0\0", now)
        apply(0xDA, bytes((_AUTO,)), now)
        apply(0xDC, bytes((_DESIGNATED,)), now)
        apply(0xDD, bytes((_DESIGNATED,)), now)
        apply(0xEB, struct.pack(">I", a.charge_w[1]), now)
        apply(0xEC, struct.pack(">I", a.discharge_w[1]), now)
        apply(0xE7, b"\0\0\0\0", now)
        apply(0xEA, b"\0\0\0\0", now)

    def tick(self, now):
        a = self.appliance
        a.step(now)
        s = self.settings
        put = self.put
        if a.mode != s.mode:  # the appliance changed it (the vehicle left)
            s.mode = a.mode
        put(0xDA, s.mode)  # every time: a failed step may have taken it back (Node.step)
        put(0x97, time_edt(now))
        put(0x98, date_edt(now))
        put(0xD3, int(a.power_w))
        put(0xD6, a.discharged_wh % 1000000000)
        put(0xD8, a.charged_wh % 1000000000)
        put(0xE1, a.state)
        c = a.connected
        if c != self.conn:
            put(0xC7, 0x43 if c else 0x30)
            put(0xE6, bytes((len(a.vehicle_id),)) + a.vehicle_id if c else b"\x00")
        if c:
            cap = a.capacity_wh
            st = a.stored_wh
            usable = cap - a.reserve_wh
            avail = max(st - a.floor_wh, 0)
            put(0xC0, int(usable))
            put(0xC2, int(avail))
            put(0xC4, int(avail * 100 / usable) if usable > 0 else 0)  # down, as 0xE4: 100 % only when full
            put(0xCE, int(cap))
            put(0xCF, int(max(cap - st, 0)))
            put(0xD0, int(cap))
            put(0xE2, int(st))
            put(0xE4, int(st * 100 / cap) if cap else 0)
        else:
            for e in _VEHICLE_EPCS:
                self.values[e] = None  # no vehicle: Get answers SNA, as the MRA allows
        # noted last: a step that fails before here has its values taken back (Node.step),
        # and the next one puts them again
        self.conn = c
