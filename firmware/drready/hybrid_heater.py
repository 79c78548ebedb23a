"""Hybrid water heater 0x02A6 (heat pump + gas boiler back-up, Appendix Release R):
ECHONET object, appliance interface, simulated plant and the DR-available amount.

To drive a real unit, implement `HybridHeaterAppliance` (read its measurements in `step`,
pass settings on in `command`, and give the household's expected draw, or override the
whole `dr_amount` planner); `HybridWaterHeater` drives it in place of `SimHybridHeater`
(README, Driving a real appliance: the config's `appliances` names it).

Solar linkage is the DR lever: with 0xB8 other than 0x41 (off) the heat pump heats only
inside the 0xB9 window (up-DR) and the gas boiler covers whatever the tank lacks outside
it (down-DR: the heat pump's night run is avoided). Hot water is never short while the
gas back-up works; without it the heat pump heats whenever the tank is not full.
"""
import struct

from micropython import const

from drready.clock import window
from drready.hybrid_heater_props import CLASS_CODE, TABLE
from echonet.objects import EchonetObject, device_values, rating

# 0xB0 automatic water heating setting
_AUTO = const(0x41)
_MANUAL_HEAT = const(0x42)
_MANUAL_STOP = const(0x43)
# 0xB8 solar linkage mode: 0x41 off, 0x42 self-consumption, 0x43 sell first, 0x44 economy
_LINK_OFF = const(0x41)
_DAY = const(86400)


def _inside(sod, a, b):
    """Second of day `sod` in [a, b), a window that may wrap past midnight."""
    return a <= sod < b if a < b else sod >= a or sod < b


class HybridHeaterAppliance:
    """What the ECHONET object needs from a hybrid water heater.
    (step, clock_moved and errors: echonet/objects.py, appliance drivers.)

    `command(auto, linkage, start, end)` is called with every accepted change of 0xB0,
    0xB8 or 0xB9 (and once when the object is made); its return value is not read.
    `expected_draw` feeds the DR-available amount (0xF0): a driver implements it too.
    """

    tank_l = 150  # tank capacity, L (0xE2)
    hp_w = 550  # heat-pump electric input while heating, W
    cop = 3.2  # heat out / electricity in
    wh_per_l = 58  # heat to bring one litre from mains to storage temperature, Wh
    # measured
    hot_l = 0.0  # hot water left in the tank, L (0xE1)
    heating = False  # the heat pump is heating the tank (0xB2)
    space_heating = False  # the space-heating circuit is being heated (0xB3)
    supplying = False  # hot water is being drawn (0xC3)
    gas_ok = True  # gas back-up available (False: fault, 0x88)
    power_w = 0  # electric input now, estimated (0x84)
    energy_wh = 0.0  # cumulative electric input (0x85)

    def step(self, now):
        """Refresh the measured attributes (echonet/objects.py: appliance drivers)."""
        raise NotImplementedError("step")

    def clock_moved(self, delta, now):
        """The node's clock jumped by delta seconds to now (a controller set 0x97/0x98):
        a driver that keeps times of that clock moves them; one that only reads the
        product has nothing to do."""
        pass

    def command(self, auto, linkage, start, end):
        """auto: 0xB0 code; linkage: 0xB8 code; start, end: 0xB9 window, seconds of day
        (end before start: the window runs past midnight)."""
        raise NotImplementedError("command")

    def expected_draw(self, t0, t1):
        """Hot water (L at storage temperature) the household is expected to draw in [t0, t1)."""
        raise NotImplementedError("expected_draw")

    def dr_amount(self, now, start, end):
        """(up-DR Wh, down-DR Wh) for the window [start, end) (seconds of day) running now,
        or the next one, if the heat pump is moved into it from now on (see 0xF0)."""
        s, e = window(start, end, now)
        t = s if s > now else now
        draw = self.expected_draw
        hot = self.hot_l
        if t > now:
            hot = max(hot - draw(now, t), 0)
        k = self.wh_per_l / self.cop  # electricity per litre heated
        room = self.tank_l - hot + draw(t, e)
        up = min(self.hp_w * (e - t) / 3600, room * k)
        down = min(self.tank_l - self.hot_l + draw(now, now + _DAY), self.tank_l) * k
        return int(up), int(down)


class SimHybridHeater(HybridHeaterAppliance):
    """A 150 L hybrid with a 0.55 kW heat pump and a gas boiler (defaults from the project's
    DR model). Draws are (start, end, litres) in seconds of day: 30 L from 07:00, 130 L in
    the evening bath and shower hours, 160 L/day in all. Without linkage the heat pump
    refills the tank in the night hours (about 2.7 kWh/day); with it, only inside the
    window (3 h x 0.55 kW = about 1.7 kWh/day by default). The gas boiler covers any draw
    the tank cannot (`gas_wh`, heat); `short_l` counts what nothing could cover."""

    def clock_moved(self, delta, now):
        if self.last is not None:  # the jump is not taken for time that passed
            self.last += delta

    def __init__(
        self,
        tank_l=150,
        hp_w=550,
        cop=3.2,
        wh_per_l=58,
        hot_l=75,
        draws=((25200, 28800, 30), (68400, 79200, 130)),
        night=(82800, 25200),
    ):
        self.tank_l = tank_l
        self.hp_w = hp_w
        self.cop = cop
        self.wh_per_l = wh_per_l
        self.hot_l = float(hot_l)
        self.draws = draws
        self.night = night
        self.rate = hp_w * cop / wh_per_l / 3600  # L/s the heat pump heats
        self.gas_wh = 0.0
        self.short_l = 0.0
        self.last = None
        # (the interface's counter in the instance from the start: set first by a step, it
        # would grow the instance's table, in a heap that may have no room by then)
        self.energy_wh = self.energy_wh
        self.command(_AUTO, _LINK_OFF, 36000, 46800)

    def command(self, auto, linkage, start, end):
        self.auto = auto
        self.linkage = linkage
        self.window = (start, end)
        marks = [start, end, self.night[0], self.night[1]]
        for a, b, _ in self.draws:
            marks.append(a)
            marks.append(b)
        self.marks = marks  # where draw or heat-pump permission may change

    def expected_draw(self, t0, t1):
        total = 0.0
        day = t0 - t0 % _DAY
        while day < t1:
            for a, b, litres in self.draws:
                lo = max(t0, day + a)
                hi = min(t1, day + b)
                if hi > lo:
                    total += litres * (hi - lo) / (b - a)
            day += _DAY
        return total

    def _draw_rate(self, sod):
        r = 0.0
        for a, b, litres in self.draws:
            if a <= sod < b:
                r += litres / (b - a)
        return r

    def _hp_allowed(self, sod):
        if not self.gas_ok or self.auto == _MANUAL_HEAT:
            return True  # without gas the heat pump is the only source
        if self.auto == _MANUAL_STOP:
            return False
        w = self.window if self.linkage != _LINK_OFF else self.night
        return _inside(sod, w[0], w[1])

    def _run(self, dt, d, on):
        """Advance dt seconds at draw rate d (L/s), the heat pump allowed or not."""
        tank = self.tank_l
        hot = self.hot_l
        r = self.rate if on else 0.0
        heated = r * dt  # litres the heat pump heats
        new = hot + (r - d) * dt
        if new > tank:  # full within the step: from then on it only follows the draw
            tf = (tank - hot) / (r - d) if hot < tank else 0
            heated = r * tf + d * (dt - tf)
            new = tank
        elif new < 0:  # empty: the gas boiler supplies the rest of the draw
            if self.gas_ok:
                self.gas_wh -= new * self.wh_per_l
            else:
                self.short_l -= new
            new = 0.0
        self.hot_l = new
        self.energy_wh += heated * self.wh_per_l / self.cop

    def step(self, now):
        t = self.last
        if t is None:
            t = now
        self.last = now
        while t < now:  # piecewise over the day's schedule, so a long dt integrates exactly
            sod = t % _DAY
            n = _DAY
            for m in self.marks:
                if sod < m < n:
                    n = m
            t1 = min(now, t - sod + n)
            self._run(t1 - t, self._draw_rate(sod), self._hp_allowed(sod))
            t = t1
        sod = now % _DAY
        d = self._draw_rate(sod)
        p = 0
        if self._hp_allowed(sod):
            p = self.hp_w if self.hot_l < self.tank_l else self.hp_w * min(d / self.rate, 1)
        self.power_w = int(p)
        self.heating = p > 0
        self.supplying = d > 0


class HybridWaterHeater(EchonetObject):
    """The hybrid water heater object.

    Autonomous operation (`autonomous`: the DR command expired or the controller fell
    silent): solar linkage off (0xB8 0x41, so the heat pump runs in the night hours
    again) and automatic heating (0xB0 0x41); each change announced. The 0xB9 window is
    kept: it only acts with linkage on. No command here ends by itself (0xB9 is a daily
    window).
    """

    def __init__(self, instance, identity, appliance=None, now=0):
        EchonetObject.__init__(self, (CLASS_CODE << 8) | instance, TABLE)
        self.appliance = a = appliance or SimHybridHeater()
        device_values(self, identity)
        self.auto = _AUTO
        self.linkage = _LINK_OFF
        self.failed = False  # the driver's last whole step failed (driver_fault)
        self.window = (36000, 46800)  # 10:00-13:00
        v = self.values
        v[0xB0] = bytes((_AUTO,))
        v[0xB8] = bytes((_LINK_OFF,))
        v[0xB9] = b"\x0a\x00\x0d\x00"
        self.put(0xE2, rating(a, "tank_l"))
        rating(a, "hp_w")
        a.command(_AUTO, _LINK_OFF, 36000, 46800)
        self.tick(now)

    def accept(self, epc, edt, now):
        x = edt[0]
        auto, linkage, window = self.auto, self.linkage, self.window  # put back if the driver cannot take it
        if epc == 0xB0:
            if x == _MANUAL_STOP and not self.appliance.gas_ok:
                return False  # the heat pump is the only source of hot water left
            self.auto = x
        elif epc == 0xB8:
            self.linkage = x
        elif epc == 0xB9:
            s = x * 3600 + edt[1] * 60
            e = edt[2] * 3600 + edt[3] * 60
            if e == s:
                return False  # empty (an end before the start runs past midnight)
            self.window = (s, e)
        else:
            return True
        try:
            self.appliance.command(self.auto, self.linkage, self.window[0], self.window[1])
        except Exception:
            self.auto, self.linkage, self.window = auto, linkage, window
            raise
        return True

    def autonomous(self, now):
        self.apply(0xB8, bytes((_LINK_OFF,)), now)
        self.apply(0xB0, bytes((_AUTO,)), now)

    def driver_fault(self, on):
        self.failed = on  # (kept for tick: a step before a Set that works does not end the fault)
        self.put(0x88, 0x41 if on or not self.appliance.gas_ok else 0x42)

    def tick(self, now):
        a = self.appliance
        a.step(now)
        put = self.put
        put(0x84, min(a.power_w, 65533))
        put(0x85, int(a.energy_wh) % 1000000000)
        put(0xB2, 0x41 if a.heating else 0x42)
        put(0xB3, 0x41 if a.space_heating else 0x42)
        put(0xC3, 0x41 if a.supplying else 0x42)
        put(0xE1, min(int(a.hot_l), 65533))
        up = down = 0
        if self.auto == _AUTO and a.gas_ok:
            up, down = a.dr_amount(now, self.window[0], self.window[1])
        # (a driver's own dr_amount may go past the fields: clipped, as a measurement)
        put(0xF0, struct.pack(">II", min(max(up, 0), 0xFFFFFFFD), min(max(down, 0), 0xFFFFFFFD)))
        put(0x88, 0x41 if self.failed or not a.gas_ok else 0x42)  # the gas back-up, or the driver (Node.step)
