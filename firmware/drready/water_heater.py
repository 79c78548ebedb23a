"""Electric (heat-pump, EcoCute) water heater 0x026B (Appendix Release R): ECHONET object,
appliance interface and simulated plant with its heating planner.

To drive a real unit, implement `WaterHeaterAppliance` (read its measurements and its
heating plan's forecast in `step`, pass settings on in `command`); `ElectricWaterHeater`
drives it in place of `SimWaterHeater` (README, Driving a real appliance: the config's
`appliances` names it).

Energy shift (the DR lever): a controller sets 0xC7 = 01 and the shift times 0xCA (and
0xCD) before the standard start time 0xC8; at that time the unit fixes the next cycle's
plan and moves heating from the night to those hours, where warmer air makes the heat
pump need less electricity. 0xCB/0xCE tell, for each candidate hour, how much electricity
would move there (the DR-available amount), 0xCC/0xCF the electricity per hour. The plan
never lets the predicted hot water fall below the reserve: a shift that would is carried
out in part, the rest stays at night.
"""
import struct

from micropython import const

from drready.clock import date_edt, time_edt
from drready.water_heater_props import CLASS_CODE, TABLE
from echonet.objects import EchonetObject, device_values, rating

# 0xB0 automatic water heating setting
_AUTO = const(0x41)
_MANUAL_HEAT = const(0x42)
_MANUAL_STOP = const(0x43)
_DAY = const(86400)
_HOUR = const(3600)
# candidate shift hours of 0xCB/0xCC and 0xCE/0xCF
_CORRECTION = const(300)  # s: a clock set across the cycle's start this close keeps the new plan
_HOURS1 = const((10, 13, 15, 17))
_HOURS2 = const((13, 15, 17))
# the appliance's attribute for each settable code (WaterHeaterAppliance)
_SETTINGS = const(((0xB0, "mode"), (0xC0, "reheat"), (0xC7, "participate"), (0xCA, "shift1"), (0xCD, "shift2"),
                   (0xE3, "auto_bath")))


class WaterHeaterAppliance:
    """What the ECHONET object needs from a heat-pump water heater.
    (step, clock_moved and errors: echonet/objects.py, appliance drivers.)

    `step(now)` also refreshes the forecast. `command(epc, code, now)` is called with
    every well-formed Set of 0xB0, 0xC0, 0xC7, 0xCA, 0xCD or 0xE3 (code: the EDT byte)
    and returns True to accept it or False to refuse it (SNA); raising refuses it too, as
    a fault (an ERROR line), and so does returning anything else. Once it accepts, the
    object puts the code into its settings attribute below (mode, reheat, participate,
    shift1, shift2, auto_bath), and reads the settings back from them at every step: a
    step that reads the unit overwrites them, as the unit changes some itself (0xB0 back
    to automatic, 0xC7 cleared at the shift time).
    """

    capacity_l = 460  # 0xE2
    start_hour = 23  # standard time to start heating: 0 (midnight, shown as 24), 1 or 20..23 (0xC8)
    shifts = 2  # energy shifts a day, 1 or 2 (0xC9; with 1, 0xCD is refused)
    # settings, as ECHONET codes
    mode = _AUTO  # 0xB0
    reheat = 0x41  # 0xC0 daytime reheating permitted
    participate = 0  # 0xC7
    shift1 = 0  # 0xCA hour code, 0 = cleared
    shift2 = 0  # 0xCD
    auto_bath = 0x42  # 0xE3
    # measured
    hot_l = 0.0  # hot water left, L (0xE1)
    heating = False  # 0xB2
    supplying = False  # 0xC3
    no_water = False  # 0xC2 bit 0
    bath = 0x42  # 0xEA
    power_w = 0  # electric input now, estimated (0x84)
    energy_wh = 0.0  # cumulative electric input (0x85)
    # forecast for the next cycle: Wh at HOURS1 (cb, cc) and HOURS2 (ce, cf); bump `rev`
    # whenever they change. cb, ce: up to 4294967295; cc, cf (Wh per hour): up to 65535
    cb = (0, 0, 0, 0)
    cc = (0, 0, 0, 0)
    ce = (0, 0, 0)
    cf = (0, 0, 0)
    rev = 0

    def step(self, now):
        """Refresh the measured attributes (echonet/objects.py: appliance drivers)."""
        raise NotImplementedError("step")

    def clock_moved(self, delta, now):
        """The node's clock jumped by delta seconds to now (a controller set 0x97/0x98):
        a driver that keeps times of that clock moves them; one that only reads the
        product has nothing to do."""
        pass

    def command(self, epc, code, now):
        raise NotImplementedError("command")


class SimWaterHeater(WaterHeaterAppliance):
    """A 460 L EcoCute (defaults from the project's DR model).

    Hot water is counted in litres at storage temperature; heating one litre takes
    `wh_per_l` of heat. The heat pump gives `heat_w` of heat; the electricity it needs is
    heat / COP, the COP following the outdoor air from `cop[0]` at 02:00 to `cop[1]` at
    14:00 (about 1 kW at night, 0.75 kW at 14:00). Draws are (start, end, litres) in
    seconds of day: 50 L from 07:00, 300 L from 19:00 to 22:00 (the automatic bath starts
    at 19:00: `bath` = start, filling time, total time, s).

    The heating plan is a set of heat budgets (L) with start times: the night one from
    0xC8, the shift ones from 0xCA/0xCD. At 0xC8 the whole day's refill goes to the night,
    or with participation to the shift hours; `_fit` then moves back to now (and, with
    daytime reheating permitted, adds) the least heat that keeps the predicted hot water at
    or above `reserve_l` until the next cycle. It runs again every hour and on every
    change, so a household that draws more than expected is covered too.
    """

    def clock_moved(self, delta, now):
        """The plan's times are times of day, and stay: a correction (a HEMS syncing the
        clock) keeps it, and only the jump itself is not run through. A correction of a few
        minutes that crosses the cycle's start goes to that start (forward, the minutes past
        it then run; backward, the plan waits for it); a jump further past either end plans
        again from the new time, as at power-up (step)."""
        t = None if self.last is None else self.last + delta
        start = self.end - _DAY
        if t is None or t >= self.end + _CORRECTION or t < start - _CORRECTION:
            self.last = None
        else:
            self.last = min(t, self.end)

    def __init__(
        self,
        capacity_l=460,
        heat_w=3000,
        cop=(3.0, 4.0),
        wh_per_l=58,
        reserve_l=100,
        draws=((25200, 27000, 50), (68400, 79200, 300)),
        start_hour=23,
        bath=(68400, 1200, 10800),
        hot_l=None,
    ):
        self.capacity_l = capacity_l
        self.heat_w = heat_w
        self.cop = cop
        self.wh_per_l = wh_per_l
        self.reserve_l = reserve_l
        self.draws = draws
        self.start_hour = start_hour
        self.bath_at = bath
        self.hot_l = float(capacity_l if hot_l is None else hot_l)
        self.rate = heat_w / wh_per_l / _HOUR  # L/s heated
        self.b = [0.0, 0.0, 0.0]  # heat budgets, L: night, shift 1, shift 2
        self.at = [0, 0, 0]  # when each may start
        self.end = 0  # start of the next cycle
        self.clear_at = 0  # when participation is cleared (the shift time)
        self.bath_t = None  # start of the running automatic bath
        self.last = None
        self.hour = None
        # (the interface's defaults of what steps change, in the instance from the start: set
        # first later, each would grow the instance's table, in a heap that may have no room)
        self.energy_wh, self.heating, self.supplying = self.energy_wh, self.heating, self.supplying

    # -- model --------------------------------------------------------------------
    def _cop(self, t):
        lo, hi = self.cop
        d = ((t % _DAY) / _HOUR - 2) % 24  # hours since 02:00
        return lo + (hi - lo) * (1 - abs(d - 12) / 12)

    def _drawn(self, s0, s1):
        """Litres drawn between seconds of day s0 < s1 <= DAY."""
        v = 0.0
        for a, b, litres in self.draws:
            lo = max(a, s0)
            hi = min(b, s1)
            if hi > lo:
                v += litres * (hi - lo) / (b - a)
        return v

    def _sim(self, t, hot, b, at, end, e=None):
        """Predict hour by hour (draw first, then heat) from t to end, using up budgets b;
        (lowest level, last level); e gets the Wh each budget takes. The lowest level is
        looked at from the end of the present hour on: nothing can change it before."""
        low = hot + self.capacity_l
        cap = self.capacity_l
        t0 = t
        while t < end:
            n = min(end, (t // _HOUR + 1) * _HOUR)
            s = t % _DAY
            hot -= self._drawn(s, s + n - t)
            if hot < low and t > t0:
                low = hot
            h = self.rate * (n - t)
            for i in range(3):
                if at[i] <= t and b[i] > 0:
                    x = min(h, b[i], cap - hot)
                    if x > 0:
                        b[i] -= x
                        h -= x
                        hot += x
                        if e:
                            e[i] += x * self.wh_per_l / self._cop(t + (n - t) // 2)
            t = n
        return min(low, hot), hot

    def _moved(self, b, m):
        """Budgets with m litres moved to now (taken from shift 2, then shift 1)."""
        b2 = max(b[2] - m, 0.0)
        return [b[0] + m, max(b[1] - (m - b[2] + b2), 0.0), b2]

    def _need(self, t, hot, b, at, end, most):
        """The least heat (L, up to `most`) to move to now so the reserve holds."""
        ok = self.reserve_l
        if self._sim(t, hot, list(b), at, end)[0] >= ok:
            return 0
        lo = 0
        hi = int(most) + 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._sim(t, hot, self._moved(b, mid), at, end)[0] >= ok:
                hi = mid
            else:
                lo = mid
        return min(hi, most)

    def _fit(self, t):
        if self.mode != _AUTO:
            return 0
        b = self.b
        most = b[1] + b[2] + (self.capacity_l if self.reheat == 0x41 else 0)
        m = self._need(t, self.hot_l, b, self.at, self.end, most)
        if m > 0:
            self.b = self._moved(b, m)
        return m

    def _shift_at(self, start, code):
        return start + ((code - self.start_hour) % 24) * _HOUR

    def _plan(self, start, hot, s1, s2, b, at):
        """Budgets b and times at for a cycle from `start` with shift hours s1, s2 (0: none)."""
        fill = self.capacity_l - hot
        at[0] = start
        at[1] = self._shift_at(start, s1)
        at[2] = self._shift_at(start, s2)
        if not s1:
            b[0] = fill
        elif s2:
            b[1] = b[2] = fill / 2
        else:
            b[1] = fill

    def _begin(self, t):
        """A new cycle: at the standard start time, or from t at power-up / a clock jump."""
        start = t - (t - self.start_hour * _HOUR) % _DAY
        self.end = start + _DAY
        b = [0.0, 0.0, 0.0]
        if t == start:
            if self.mode == _MANUAL_STOP:
                self.mode = _AUTO
            s1 = self.shift1 if self.participate else 0
            s2 = self.shift2 if s1 and self.shift2 > s1 else 0
            self._plan(start, self.hot_l, s1, s2, b, self.at)
            self.clear_at = self.at[1] if s1 else 0
        else:
            self.at = [t, 0, 0]
        self.b = b
        self._fit(t)
        self._forecast(t)

    def _forecast(self, t):
        """0xCB-0xCF for the next cycle, from the level the present plan leads to."""
        start = self.end
        end = start + _DAY
        plan = [0, 0, 0] if self.mode == _MANUAL_STOP else list(self.b)
        hot = self._sim(t, self.hot_l, plan, self.at, start)[1]
        out = []
        for k in range(7):
            two = k > 3
            h = _HOURS2[k - 4] if two else _HOURS1[k]
            s1 = (self.shift1 or 10) if two else h
            s2 = h if two else (self.shift2 if self.shift2 > h else 0)
            wh = 0
            if s1 < h or not two:
                b = [0, 0, 0]
                at = [0, 0, 0]
                self._plan(start, hot, s1, s2, b, at)
                e = [0, 0, 0]
                self._sim(start, hot, self._moved(b, self._need(start, hot, b, at, end, b[1] + b[2])), at, end, e)
                wh = int(e[2 if two else 1])
            out.append(wh)
            out.append(int(self.heat_w / self._cop(h * _HOUR + _HOUR // 2)))
        self.cb = out[0:8:2]
        self.cc = out[1:8:2]
        self.ce = out[8::2]
        self.cf = out[9::2]
        self.rev += 1

    # -- time ---------------------------------------------------------------------
    def step(self, now):
        t = self.last
        if t is None or now < t or now - t > _DAY:
            t = now
            self._begin(t)
        cap = self.capacity_l
        while t < now:
            if t >= self.end:
                self._begin(t)
            elif t // _HOUR != self.hour and self._fit(t):
                self._forecast(t)
            self.hour = t // _HOUR
            if self.clear_at and t >= self.clear_at:
                self.participate = 0
                self.clear_at = 0
            s = t % _DAY
            bath = self.bath_at
            if s == bath[0]:
                self.bath_t = t
            if self.bath_t is not None and t >= self.bath_t + bath[2]:
                self.bath_t = None
            n = min(now, (t // 60 + 1) * 60)
            d = self._drawn(s, s + n - t)
            hot = self.hot_l - d
            x = 0.0
            room = cap - hot
            mode = self.mode
            if mode == _MANUAL_HEAT:
                if room > 0:
                    x = min(self.rate * (n - t), room)
                else:
                    self.mode = _AUTO
                    self._fit(t)
            elif mode == _AUTO:
                b = self.b
                for i in range(3):
                    if self.at[i] <= t and b[i] > 0:
                        x = max(min(self.rate * (n - t), b[i], room), 0.0)
                        b[i] = 0.0 if x >= room else b[i] - x  # full: this part is done
                        break
            self.hot_l = max(hot + x, 0.0)
            self.energy_wh += x * self.wh_per_l / self._cop(t)
            self.heating = x > 0
            self.supplying = d > 0
            t = n
        self.last = now
        self.no_water = self.hot_l < 1
        self.power_w = int(self.heat_w / self._cop(now)) if self.heating else 0
        bt = self.bath_t
        self.auto_bath = 0x42 if bt is None else 0x41
        self.bath = 0x42 if bt is None else 0x41 if now < bt + self.bath_at[1] else 0x43

    def command(self, epc, code, now):
        if epc == 0xB0:
            if code == _MANUAL_STOP and self._sim(now, self.hot_l, [0, 0, 0], self.at, self.end)[0] < self.reserve_l:
                return False  # stopping now would run the tank below the reserve
            self.mode = code
        elif epc == 0xC0:
            self.reheat = code
        elif epc == 0xC7:
            self.participate = code
        elif epc == 0xCA:
            self.shift1 = code
        elif epc == 0xCD:
            self.shift2 = code
        elif epc == 0xE3:
            self.bath_t = now if code == 0x41 else None
        self._fit(now)
        self._forecast(now)
        return True


class ElectricWaterHeater(EchonetObject):
    """The heat-pump water heater object.

    Autonomous operation (`autonomous`: the DR command expired or the controller fell
    silent): no participation in energy shift (0xC7 0x00), shift times cleared (0xCA/0xCD
    0x00) and automatic heating (0xB0 0x41); each change announced. The next cycle from
    0xC8 is then the unit's own night plan; a cycle already planned with a shift keeps
    it (the heat was not made at night), topped up whenever the reserve needs it.
    0xC0 (daytime reheating) and 0xE3 (automatic bath) are the household's and stay.
    Commands that end by themselves: participation is cleared at the shift time, and
    manual heating (0xB0 0x42) returns to automatic once the tank is full.
    """

    def __init__(self, instance, identity, appliance=None, now=0):
        EchonetObject.__init__(self, (CLASS_CODE << 8) | instance, TABLE)
        a = self.appliance = appliance or SimWaterHeater()
        for _e, name in _SETTINGS:  # accept sets them: in the driver's instance from the start
            setattr(a, name, getattr(a, name))
        device_values(self, identity)
        self.put(0xC8, a.start_hour or 24)
        self.put(0xC9, a.shifts)
        self.put(0xE2, rating(a, "capacity_l"))
        self.minute = None
        self.rev = None
        self.tick(now)

    def accept(self, epc, edt, now):
        x = edt[0]
        a = self.appliance
        # shift 2 comes after shift 1 (so CA 0x11, 17:00, allows no CD: the MRA's rule)
        if (epc == 0xCA and x and a.shift2 and x >= a.shift2) or (epc == 0xCD and x and (x <= a.shift1 or a.shifts < 2)):
            return False
        if epc == 0x81:
            return True
        ok = a.command(epc, x, now)
        if ok is not True:
            if ok is False:
                return False
            raise TypeError("command(0x%02X, 0x%02X) returned %r: True takes it, False refuses it" % (epc, x, ok))
        for e, name in _SETTINGS:  # what the unit holds now, until a step reads it back
            if e == epc:
                setattr(a, name, x)
        self._forecast()
        return True

    def autonomous(self, now):
        for epc in (0xC7, 0xCD, 0xCA):
            self.apply(epc, b"\0", now)
        self.apply(0xB0, bytes((_AUTO,)), now)

    def _up(self, epc, v):
        old = self.values.get(epc)
        if old is None or int.from_bytes(old, "big") != v:
            self.put(epc, v)

    def tick(self, now):
        a = self.appliance
        a.step(now)
        put = self.put
        up = self._up
        m = now // 60
        if m != self.minute:
            put(0x97, time_edt(now))
            put(0x98, date_edt(now))
        up(0x84, min(int(a.power_w), 65533))
        up(0x85, int(a.energy_wh) % 1000000000)
        up(0xB0, a.mode)
        up(0xB2, 0x41 if a.heating else 0x42)
        up(0xC0, a.reheat)
        put(0xC2, b"\x01\x00\x00\x00" if a.no_water else b"\x00\x00\x00\x00")
        up(0xC3, 0x41 if a.supplying else 0x42)
        up(0xC7, a.participate)
        up(0xCA, a.shift1)
        up(0xCD, a.shift2)
        up(0xE1, min(int(a.hot_l + 0.5), 65533))
        up(0xE3, a.auto_bath)
        up(0xEA, a.bath)
        self._forecast()
        # what the step put is noted last: a step that fails before here has its values
        # taken back (Node.step), and the next one puts them again
        self.minute = m

    def _forecast(self):
        a = self.appliance
        if a.rev != self.rev:
            put = self.put
            put(0xCB, struct.pack(">4I", *a.cb))
            put(0xCC, struct.pack(">4H", *a.cc))
            put(0xCE, struct.pack(">3I", *a.ce))
            put(0xCF, struct.pack(">3H", *a.cf))
            self.rev = a.rev  # (after the puts: see tick)
