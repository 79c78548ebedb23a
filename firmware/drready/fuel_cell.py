"""Household fuel cell 0x027C (ENE-FARM; Appendix Release R): appliance interface,
simulated plant and ECHONET object.

To drive a real unit, implement `FuelCellAppliance` (refresh the measurements in `step`,
carry out `command`); `FuelCell` drives it in place of `SimFuelCell` (README, Driving a
real appliance: the config's `appliances` names it).

Control (what the object commands): generation is on when 0x80 is ON and 0xCA is 0x41.
Outside the 0xD1 window the unit runs autonomously, load-following; inside it, 0xD2 says
rated maximum (0x41) or load-following (0x42). Either way the plant never exceeds the
household load unless 0xD0 allows reverse flow, and never stores more heat than the tank
holds: with a full tank it only generates what the hot-water draw takes away, and idles
(0xCB 0x45) below its minimum output until the tank has room again.
"""
import struct

from micropython import const

from drready.clock import date_edt, time_edt, window
from drready.fuel_cell_props import CLASS_CODE, TABLE
from drready.household import LOAD
from echonet.objects import EchonetObject, device_values, rating

# 0xCB generation status
_GENERATING = const(0x41)
_STOPPED = const(0x42)
_STARTING = const(0x43)
_STOPPING = const(0x44)
_IDLING = const(0x45)
# 0xD0 interconnection
_REVERSE_OK = const(0x00)
_INDEPENDENT = const(0x01)
_NO_REVERSE = const(0x02)

# Household profiles, one byte an hour from 00:00, in units of 10 W (average in the hour):
# the electric load is the household's (drready/household.py).
# Heat taken from the tank (hot-water use plus standing loss): about 9.6 kWh a day,
# a morning draw at 07:00 and the bath between 19:00 and 22:00.
# that is: 5 x6, 30, 150, 50, 5 x3, 30, 5 x5, 50, 200, 250, 150, 50, 5
_DRAW = const(b"\x05\x05\x05\x05\x05\x05\x1e\x96\x32\x05\x05\x05\x1e\x05\x05\x05\x05\x05\x32\xc8\xfa\x96\x32\x05")

_STEP = const(60)  # longest integration step, s
_HORIZON = const(3600)  # DR-available energy is for the next hour when no window is set


class FuelCellAppliance:
    """What the ECHONET object needs from a fuel cell. Power W, energy Wh, gas litres.
    (step, clock_moved and errors: echonet/objects.py, appliance drivers.)

    `command(run, maximum)` is called with every change of what the unit should do: a
    Set, the edges of the 0xD1 window, and once when the object is made. Its return value
    is not read.
    """

    rated_w = 0  # 0xC2
    min_w = 0  # lowest output while generating
    tank_l = 0  # 0xE2
    interconnect = _NO_REVERSE  # 0xD0
    heat_max_wh = 0.0  # tank heat capacity above cold water
    heat_ratio = 1.0  # Wh of heat recovered into the tank per Wh generated
    # measured
    state = _STOPPED  # 0xCB
    output_w = 0.0  # 0xC4
    generated_wh = 0  # 0xC5, int
    gas_lph = 0.0  # 0xC7, litres an hour (= 0.001 m3/h)
    gas_l = 0  # 0xC8, int
    load_w = 0  # 0xCC household consumption
    load_wh = 0  # 0xCD, int
    heat_wh = 0.0  # 0xC3, heat stored above cold water
    tank_c = 0  # 0xC1
    hot_l = 0  # 0xE1
    avail_w = 0  # the most it could generate now (tank, reverse flow), 0 if it cannot
    ready_s = 0  # seconds before it could be generating (start-up)

    def step(self, now):
        """Refresh the measured attributes (echonet/objects.py: appliance drivers)."""
        raise NotImplementedError("step")

    def clock_moved(self, delta, now):
        """The node's clock jumped by delta seconds to now (a controller set 0x97/0x98):
        a driver that keeps times of that clock moves them; one that only reads the
        product has nothing to do."""
        pass

    def command(self, run, maximum):
        """run: generation allowed; maximum: rated maximum rather than load-following."""
        raise NotImplementedError("command")


class SimFuelCell(FuelCellAppliance):
    """A 700 W ENE-FARM with a 130 L tank; defaults from the project's DR model.

    Output ramps at ramp_w_s toward its target (the load, or rated when `maximum`), never
    below min_w while generating. Start-up from cold takes startup_s; stopping ramps down,
    then cools for stop_s. Gas is output / eff_el; recovered heat is output x eff_heat /
    eff_el. The tank holds water between cold_c and hot_c; once full it stays heat-limited
    until its heat falls to `resume` of capacity. Profiles: bytes of 24 hourly averages
    in 10 W units (see LOAD, _DRAW).
    """

    def clock_moved(self, delta, now):
        if self.last is not None:  # the jump is not taken for time that passed
            self.last += delta

    def __init__(self, rated_w=700, min_w=200, ramp_w_s=10, startup_s=3600, stop_s=600, tank_l=130,
                 cold_c=15, hot_c=60, eff_el=0.4, eff_heat=0.5, gas_wh_m3=12500, interconnect=_NO_REVERSE,
                 load=LOAD, draw=_DRAW, heat=0.5, resume=0.9, running=True):
        self.rated_w = rated_w
        self.min_w = min_w
        self.ramp = ramp_w_s
        self.startup_s = startup_s
        self.stop_s = stop_s
        self.tank_l = tank_l
        self.cold_c = cold_c
        self.hot_c = hot_c
        self.eff_el = eff_el
        self.heat_ratio = eff_heat / eff_el
        self.gas_wh_m3 = gas_wh_m3  # city gas 13A: 45 MJ/m3
        self.interconnect = interconnect
        self.load = load
        self.draw = draw
        self.resume = resume
        self.heat_max_wh = tank_l * 4.186 * (hot_c - cold_c) / 3.6  # kJ -> Wh
        self.heat_wh = self.heat_max_wh * heat
        self.full = heat >= 1  # heat-limited until it falls to `resume`
        self.run = running
        self.maximum = False
        self.state = _GENERATING if running else _STOPPED
        self.timer = 0  # s left of start-up or cool-down
        self.last = None
        # cumulative generation Wh, gas L, load Wh: whole units in ints, the rest in
        # floats, so single-precision floats (ESP32) never lose small increments
        self.cum = [0, 0, 0]
        self.frac = [0.0, 0.0, 0.0]

    def command(self, run, maximum):
        self.run = run
        self.maximum = maximum
        st = self.state
        if run:
            if st == _STOPPED:
                self.state = _STARTING
                self.timer = self.startup_s
        elif st != _STOPPED and st != _STOPPING:
            self.state = _STOPPING
            self.timer = self.stop_s

    def _load(self, t):
        return self.load[(t // 3600) % 24] * 10

    def _cap(self, t):
        """The most it may generate at t: rated, the load without reverse flow, the draw
        when the tank is full."""
        c = self.rated_w
        if self.interconnect != _REVERSE_OK:
            c = min(c, self._load(t))
        if self.full:
            c = min(c, self.draw[(t // 3600) % 24] * 10 / self.heat_ratio)
        return c

    def _target(self, t, cap):
        return max(min(self.rated_w if self.maximum else self._load(t), cap), self.min_w)

    def _sub(self, t, h):
        """Advance one step of h seconds from t."""
        st = self.state
        out = self.output_w
        cap = self._cap(t)
        if st == _STOPPING:
            out = min(max(out - self.ramp * h, 0), cap)
            if out <= 0:
                self.timer -= h
                if self.timer <= 0:  # cooled down; start again if asked to meanwhile
                    st = _STOPPED
                    if self.run:
                        st = _STARTING
                        self.timer = self.startup_s
        elif st == _STOPPED:
            pass
        elif st == _STARTING:
            self.timer -= h
            if self.timer <= 0:
                st = _GENERATING
        elif cap < self.min_w:
            st = _IDLING
            out = 0
        else:
            st = _GENERATING
            tgt = self._target(t, cap)
            d = self.ramp * h
            out = min(tgt, out + d) if tgt > out else max(tgt, out - d)
            out = min(out, cap)
        self.state = st
        self.output_w = out
        k = h / 3600
        f = self.frac
        f[0] += out * k
        f[1] += out / self.eff_el * k * 1000 / self.gas_wh_m3
        f[2] += self._load(t) * k
        c = self.cum
        for i in range(3):
            n = int(f[i])
            c[i] += n
            f[i] -= n
        q = self.heat_wh + (out * self.heat_ratio - self.draw[(t // 3600) % 24] * 10) * k
        top = self.heat_max_wh
        if q >= top:
            q = top
            self.full = True
        elif q <= top * self.resume:
            self.full = False
        self.heat_wh = max(q, 0.0)

    def step(self, now):
        last = self.last
        if last is None:
            last = now
            if self.state == _GENERATING:  # already running at boot: at its target
                self.output_w = self._target(now, self._cap(now))
        while last < now:
            h = min(now - last, _STEP)
            self._sub(last, h)
            last += h
        self.last = last
        self._sub(now, 0)  # the state and output that hold from now
        st = self.state
        cap = self._cap(now)
        self.avail_w = cap if (st == _GENERATING or st == _IDLING) and cap >= self.min_w else 0
        self.ready_s = 0 if st == _GENERATING or st == _IDLING else (
            max(self.timer, 0) if st == _STARTING else self.startup_s + (self.timer if st == _STOPPING else 0))
        self.load_w = self._load(now)
        c = self.cum
        self.generated_wh = c[0]
        self.gas_l = c[1]
        self.load_wh = c[2]
        self.gas_lph = self.output_w / self.eff_el * 1000 / self.gas_wh_m3
        f = self.heat_wh / self.heat_max_wh
        self.tank_c = int(self.cold_c + (self.hot_c - self.cold_c) * f + 0.5)
        self.hot_l = int(self.tank_l * f)


_NONE = const(b"\xff\xff\xff\xff")


def _window(edt, now):
    """The 0xD1 window HH MM HH MM as (start, end) Unix seconds, the one running or the
    next (drready/clock.py); None for FFFFFFFF. An empty window (start = end) is refused
    before this is asked."""
    if edt == _NONE:
        return None
    return window(edt[0] * 3600 + edt[1] * 60, edt[2] * 3600 + edt[3] * 60, now)


class FuelCell(EchonetObject):
    """The household fuel cell object.

    Autonomous operation (`autonomous`: the DR command expired or the controller fell
    silent): no generation request window (0xD1 FFFFFFFF), load-following (0xD2 0x42)
    and generating (0xCA 0x41); each change announced. 0x80 stays as set.
    Commands that end by themselves: the 0xD1 window, at its end (0xD1 cleared and
    announced; see tick).
    """

    def __init__(self, instance, identity, appliance=None, now=0):
        EchonetObject.__init__(self, (CLASS_CODE << 8) | instance, TABLE)
        a = self.appliance = appliance or SimFuelCell()
        self.on = True  # 0x80
        self.gen = True  # 0xCA
        self.maximum = False  # 0xD2
        self.win = None  # (start, end) Unix seconds of the requested window
        self.last = now
        device_values(self, identity)
        v = self.values
        v[0xCA] = b"\x41"
        v[0xD0] = bytes((a.interconnect,))
        v[0xD1] = _NONE
        v[0xD2] = b"\x42"
        self.put(0xC2, rating(a, "rated_w"))
        self.put(0xE2, rating(a, "tank_l"))
        self._command(now)
        a.step(now)
        self.tick(now)

    def _command(self, t):
        w = self.win
        self.appliance.command(self.on and self.gen, self.maximum and w is not None and w[0] <= t < w[1])

    def _step(self, t):
        if t > self.last:
            self.appliance.step(t)
            self.last = t

    def accept(self, epc, edt, now):
        x = edt[0]
        win = self.win
        if epc == 0xD1:
            if edt != _NONE and edt[0:2] == edt[2:4]:  # an empty window
                return False
            win = _window(edt, now)
        elif epc == 0xD2 and x == 0x41 and self.appliance.interconnect == _INDEPENDENT:
            return False  # off-grid it can only follow the load
        self._step(now)  # what happened so far, under the command in force
        on, gen = self.on, self.gen  # put back if the driver cannot take it (pairs: no tuple made)
        most, was = self.maximum, self.win
        if epc == 0x80:
            self.on = x == 0x30
        elif epc == 0xCA:
            self.gen = x == 0x41
        elif epc == 0xD2:
            self.maximum = x == 0x41
        self.win = win
        try:
            self._command(now)
        except Exception:
            self.on, self.gen = on, gen
            self.maximum, self.win = most, was
            raise
        self.put(0xCB, self.appliance.state)  # a start or stop shows at once
        return True

    def clock_moved(self, delta, now):
        EchonetObject.clock_moved(self, delta, now)
        self.last += delta
        if self.win is not None:  # the window is wall-clock time: the new clock's
            self.win = _window(self.values[0xD1], now)

    def autonomous(self, now):
        self.apply(0xD1, _NONE, now)
        self.apply(0xD2, b"\x42", now)
        self.apply(0xCA, b"\x41", now)

    def _dr(self, now):
        """(Wh, W) of 0xF0: see the declaration."""
        a = self.appliance
        if not (self.on and self.gen):
            return 0, 0
        out = a.output_w
        cap = a.rated_w
        if a.interconnect != _REVERSE_OK:
            cap = min(cap, a.load_w)
        w = self.win
        t1 = w[1] if w else now + _HORIZON
        t0 = max(w[0] if w else now, now + a.ready_s)
        wh = max(cap - out, 0) * max(t1 - t0, 0) / 3600
        wh = min(wh, (a.heat_max_wh - a.heat_wh) / a.heat_ratio)
        return int(max(wh, 0)), int(max(a.avail_w - out, 0))

    def tick(self, now):
        w = self.win
        if w:
            for edge in w:  # switch the command exactly at the window's edges
                if self.last < edge <= now:
                    self._step(edge)
                    self._command(edge)
            if now >= w[1]:  # the request is over: back to autonomous (0xD1 says so below)
                self.win = None
        self._step(now)
        self._command(now)
        a = self.appliance
        put = self.put
        put(0x97, time_edt(now))
        put(0x98, date_edt(now))
        put(0xC1, min(a.tank_c, 100))
        put(0xC3, min(int(a.heat_wh * 0.0036), 65533))
        put(0xC4, min(int(a.output_w), 65533))
        put(0xC5, a.generated_wh % 1000000000)
        put(0xC7, min(int(a.gas_lph), 65533))
        put(0xC8, a.gas_l % 1000000000)
        put(0xCB, a.state)
        put(0xCC, min(int(a.load_w), 65533))
        put(0xCD, a.load_wh % 1000000000)
        put(0xE1, min(a.hot_l, 65533))
        wh, w = self._dr(now)
        put(0xF0, struct.pack(">IH", min(wh, 0xFFFFFFFD), min(w, 65533)))
        if self.win is None:  # (every time: a failed step may have taken it back, Node.step)
            put(0xD1, _NONE)
