"""A demand-response day against the simulated node: `make demo`.

Starts the node (tools/sim.py, all five objects, on a loopback address of its own, faster
than real time) and acts as a HEMS controller over real UDP on a second loopback address:

- the evening before (21:00): battery reserve 0xA7, battery standby; the heat-pump water
  heater joins the energy shift (0xC7 = 01, 0xCA = the up-DR start hour), which it fixes
  at its 23:00 cycle (0xC8), so next day's heating runs at midday instead of at night;
- up-DR (12:00-16:00): battery charging power 0xEB, then 0xDA = 42 (charge); standby after;
- 17:00: the fuel cell is asked to generate at its rating in the down-DR window (0xD1, 0xD2);
- down-DR (18:00-22:00): battery discharging power 0xEC, then 0xDA = 43 (discharge); the
  battery must stop at its reserve by itself; standby after. The EV is left to the node.

A command holds only while the controller keeps talking: the node returns an object to
autonomous operation after its DR timeout (1 h) of silence from the controller that set
it. The demo polls every 5 simulated minutes, which is enough; it also re-sends each
object's last command every 15 simulated minutes (the water heater's until its shift
time), as HEMS that refresh their commands do.

It polls (Get) every simulated 5 minutes, records the INF announcements the node
multicasts (it joins 224.0.23.0 on its own loopback address; it never sends multicast),
writes a PNG plot (default docs/demo.png), the samples as CSV next to it (.csv) and the
announcements (-inf.csv), and prints a summary. CSV columns: time (the node's tick the
values come from, 0x97/0x98), hours (from midnight of the DR day), t_node / t_ctrl (that
tick and the poll, Unix seconds of the node's clock), phase (the DR window at the poll),
then one column per property read (0xE4 bat_soc_pct, 0xD3 bat_w, ...; see POLLS).

Time: the node's clock starts at the host's wall-clock time (UTC) and runs SPEED times
faster; a controller may set it (0x97/0x98), but the demo leaves it alone, reads it
(battery 0x97/0x98) and schedules everything on it. The run starts at the next evening
setup time (at once if the node's clock is between 21:00 and 22:50) and ends at 24:00 of
the DR day; the speed is chosen so the whole run takes --seconds of real time. Values
change at the node's ticks (once a real second, i.e. every SPEED simulated seconds); each
sample is plotted at the tick it comes from (0x97/0x98 read with it).

`--short` is a few simulated hours, battery only, windows relative to the start (the test).
"""

import argparse
import csv
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(ROOT, "tools", "sim.py")
FIRMWARE_MAIN = os.path.join(ROOT, "build", "firmware", "main.py")
_VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
PYTHON = _VENV_PY if os.path.exists(_VENV_PY) else sys.executable

PORT = 3610
GROUP = "224.0.23.0"
SETC, GET = 0x61, 0x62
SET_RES, GET_RES, INF, INFC = 0x71, 0x72, 0x73, 0x74
SETC_SNA, GET_SNA = 0x51, 0x52
CONTROLLER = 0x05FF01  # controller class, instance 1

NODE_PROFILE = 0x0EF001
BATTERY = 0x027D01
WATER_HEATER = 0x026B01
HYBRID = 0x02A601
EV = 0x027E01
FUEL_CELL = 0x027C01
NAMES = {NODE_PROFILE: "node", BATTERY: "battery", WATER_HEATER: "water heater", HYBRID: "hybrid heater",
         EV: "EV charger", FUEL_CELL: "fuel cell"}
OBJECTS = {"battery": BATTERY, "water_heater": WATER_HEATER, "hybrid_heater": HYBRID, "ev_charger": EV,
           "fuel_cell": FUEL_CELL}

DAY = 86400
HOUR = 3600
READY_TIMEOUT = 20.0
TICK_S = 1  # the node updates its values once a real second
# The node returns an object to autonomous operation when no Set reached it for its DR
# timeout (config dr_timeout_s, 3600 simulated seconds by default): a controller holding a
# command re-sends it, every 15 simulated minutes; with the node's tick (the time of a Set
# is the tick before it) that holds while 1.2 ticks + 15 minutes stay under the timeout.
KEEPALIVE = 900
DR_TIMEOUT = 3600
REPLY_TIMEOUT = 2.0


class DemoError(Exception):
    """One line for the user; the demo stops (and stops the node)."""


def hhmm(t):
    return "%02d:%02d" % ((t % DAY) // HOUR, (t % HOUR) // 60)


def parse_hhmm(text, what):
    try:
        h, m = text.split(":")
        s = int(h) * HOUR + int(m) * 60
        if not (0 <= int(m) < 60 and 0 <= s <= DAY):
            raise ValueError
        return s
    except ValueError:
        raise DemoError("%s %r is not a time like 12:00" % (what, text))


def parse_window(text, what):
    a, sep, b = text.partition("-")
    if not sep:
        raise DemoError("%s %r is not a window like 12:00-16:00" % (what, text))
    w = parse_hhmm(a, what), parse_hhmm(b, what)
    if w[1] <= w[0]:
        raise DemoError("%s %s ends before it starts (windows stay within one day)" % (what, text))
    return w


# -- ECHONET Lite frames (format 1) --------------------------------------------------

def build(tid, deoj, esv, props):
    out = bytearray(b"\x10\x81") + tid.to_bytes(2, "big") + CONTROLLER.to_bytes(3, "big") + deoj.to_bytes(3, "big")
    out += bytes((esv, len(props)))
    for epc, edt in props:
        out += bytes((epc, len(edt))) + bytes(edt)
    return bytes(out)


def parse(data):
    """(tid, seoj, esv, [(epc, edt)]) or None for anything that is not a format-1 frame."""
    if len(data) < 12 or data[0] != 0x10 or data[1] != 0x81:
        return None
    props = []
    i = 12
    for _ in range(data[11]):
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            return None
        props.append((data[i], bytes(data[i + 2 : i + 2 + data[i + 1]])))
        i += 2 + data[i + 1]
    return int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:7], "big"), data[10], props


def u(edt):
    return int.from_bytes(edt, "big") if edt else None


def s32(edt):
    return int.from_bytes(edt, "big", signed=True) if edt else None


def node_time(time_edt, date_edt):
    """Unix seconds of 0x97 (HH MM) and 0x98 (YYYY MM DD) (the node's clock is UTC-based)."""
    import calendar

    y = int.from_bytes(date_edt[:2], "big")
    return calendar.timegm((y, date_edt[2], date_edt[3], time_edt[0], time_edt[1], 0, 0, 0, 0))


# -- the node ------------------------------------------------------------------------

def bound_3610():
    """Addresses that have a UDP socket bound to port 3610 (any program)."""
    out = set()
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                ip_hex, port_hex = line.split()[1].split(":")
                if int(port_hex, 16) == PORT:
                    out.add(socket.inet_ntoa(int(ip_hex, 16).to_bytes(4, "little")))
    except OSError:
        pass
    return out


def free_pair():
    """(node, controller) = 127.210.n.1 / 127.210.n.2 with nothing on port 3610; n starts
    from this process's id so parallel runs pick different pairs."""
    busy = bound_3610()
    start = os.getpid() % 250
    for k in range(250):
        n = 1 + (start + k) % 250
        node, ctrl = "127.210.%d.1" % n, "127.210.%d.2" % n
        if node not in busy and ctrl not in busy:
            return node, ctrl
    raise DemoError("no free loopback address pair in 127.210.1-250.1/2 (port 3610 taken everywhere)")


class Node:
    """tools/sim.py as a child process in its own session (a terminal's Ctrl-C reaches
    only the demo, which stops the node itself)."""

    def __init__(self, addr, ctrl, speed, objects, heap):
        self.addr = addr
        self.state = tempfile.mkdtemp(prefix="demo-state-")
        argv = [PYTHON, SIM, "--addr", addr, "--heap", heap, "--state", self.state, "--speed", str(speed),
                "--legacy-write", ctrl, "--objects", ",".join(objects)]
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self.p = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout or ():
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def last_line(self):
        with self._cond:
            return self.lines[-1] if self.lines else "(no output)"

    def wait_ready(self):
        """The EOJs on the node's READY line."""
        deadline = time.monotonic() + READY_TIMEOUT
        with self._cond:
            while True:
                for line in self.lines:
                    if line.startswith("READY"):
                        words = line.split()
                        return [int(w, 16) for w in words[words.index("objects") + 1 : words.index("version")]]
                if self._eof:
                    self.p.wait(5)
                    raise DemoError("node failed to start (exit %s): %s" % (self.p.returncode, self.last_line_locked()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError("node failed to start: no READY within %.0f s (last output: %s)"
                                    % (READY_TIMEOUT, self.last_line_locked()))
                self._cond.wait(left)

    def last_line_locked(self):
        return self.lines[-1] if self.lines else "(no output)"

    def check(self):
        if self.p.poll() is not None:
            time.sleep(0.1)  # let the reader take the last lines
            raise DemoError("node stopped unexpectedly (exit %s): %s" % (self.p.returncode, self.last_line()))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)  # sim.py stops the node cleanly
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.p.wait(5)
        shutil.rmtree(self.state, ignore_errors=True)


# -- the controller ------------------------------------------------------------------

class Controller:
    """Requests from ctrl:3610 (where the node replies); announcements from the group,
    joined on the controller's own address (loopback), from this node only."""

    def __init__(self, addr, node_addr, node):
        self.addr = addr
        self.node_addr = node_addr
        self.node = node
        self.tid = 0
        self.infs = []  # (real time, seoj, epc, edt)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.group = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # anything multicast would leave through loopback only (the demo sends none)
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
            self.sock.bind((addr, PORT))  # no SO_REUSEADDR: a second program here is an error
        except OSError as e:
            self.close()
            raise DemoError("controller cannot bind %s:%d: %s (another controller there? pick --ctrl)" % (addr, PORT, e.strerror))
        try:
            self.group.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.group.bind((GROUP, PORT))
            self.group.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(GROUP) + socket.inet_aton(addr))
        except OSError as e:
            self.close()
            raise DemoError("cannot join %s on %s: %s" % (GROUP, addr, e.strerror))

    def close(self):
        self.sock.close()
        self.group.close()

    def _take_inf(self):
        data, src = self.group.recvfrom(2048)
        f = parse(data)
        if f and src[0] == self.node_addr and f[2] in (INF, INFC):
            now = time.monotonic()
            for epc, edt in f[3]:
                self.infs.append((now, f[1], epc, edt))

    def pump(self, until):
        """Record announcements until the monotonic time `until` (drop stray unicast)."""
        while True:
            left = until - time.monotonic()
            r, _, _ = select.select([self.group, self.sock], [], [], max(min(left, 0.5), 0))
            if self.group in r:
                self._take_inf()
            if self.sock in r:
                self.sock.recvfrom(2048)  # a late reply to a request already retried
            if left <= 0 and not r:
                return
            self.node.check()

    def request(self, deoj, esv, props, what):
        for _attempt in range(2):
            self.tid = (self.tid + 1) & 0xFFFF
            tid = self.tid
            self.sock.sendto(build(tid, deoj, esv, props), (self.node_addr, PORT))
            deadline = time.monotonic() + REPLY_TIMEOUT
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([self.sock, self.group], [], [], left)
                if self.group in r:
                    self._take_inf()
                if self.sock in r:
                    data, src = self.sock.recvfrom(2048)
                    f = parse(data)
                    if f and src[0] == self.node_addr and f[0] == tid:
                        return f
            self.node.check()
        raise DemoError("no reply from the node at %s to %s within %.0f s (tried twice)" % (self.node_addr, what, REPLY_TIMEOUT))

    def get(self, deoj, epcs):
        """{epc: edt}; a property the node could not give (Get_SNA part) is None."""
        what = "Get %06X %s" % (deoj, " ".join("%02X" % e for e in epcs))
        _tid, _seoj, esv, props = self.request(deoj, GET, [(e, b"") for e in epcs], what)
        if esv not in (GET_RES, GET_SNA):
            raise DemoError("unexpected reply ESV %02X to %s" % (esv, what))
        return {e: (v or None) for e, v in props}

    def set(self, deoj, props):
        what = "Set %06X %s" % (deoj, " ".join("%02X=%s" % (e, bytes(v).hex().upper()) for e, v in props))
        _tid, _seoj, esv, res = self.request(deoj, SETC, props, what)
        if esv != SET_RES:
            refused = " ".join("%02X" % e for e, v in res if v)
            raise DemoError("node refused %s (ESV %02X, refused EPC %s)" % (what, esv, refused or "?"))


class SimClock:
    """The node's clock seen from here: node seconds = offset + speed x monotonic seconds."""

    def __init__(self, speed, offset):
        self.speed = speed
        self.offset = offset

    def now(self):
        return self.offset + self.speed * time.monotonic()

    def real(self, t):
        return (t - self.offset) / self.speed


def calibrate(ctrl, speed):
    """Find the node's clock: 0x97/0x98 (to the minute) are refreshed at each tick (every
    real second, speed >= 60 simulated seconds: a new minute each tick). Watch for the
    change; the tick happened between the last Get that saw the old value and the first
    that sees the new one; its second within the minute is unknown (taken as 30)."""
    first = ctrl.get(BATTERY, [0x97, 0x98])
    prev_send = time.monotonic()
    deadline = prev_send + 3.0
    while time.monotonic() < deadline:
        time.sleep(0.003)
        sent = time.monotonic()
        v = ctrl.get(BATTERY, [0x97, 0x98])
        got = time.monotonic()
        if v != first:
            if not (v[0x97] and v[0x98]):
                raise DemoError("the battery has no 0x97/0x98 to read the node's clock from")
            t = node_time(v[0x97], v[0x98]) + 30
            return SimClock(speed, t - speed * (prev_send + got) / 2)
        prev_send = sent
    raise DemoError("the node's clock (battery 0x97) did not move within 3 s: is the node ticking?")


# -- the scenario --------------------------------------------------------------------

class Plan:
    """Times in node seconds (Unix, UTC-based). midnight: start of the DR day (x axis 0)."""

    def __init__(self, start, midnight, up, down, end, fc_at=None, wh_code=None):
        self.start = start
        self.midnight = midnight
        self.up = up
        self.down = down
        self.end = end
        self.fc_at = fc_at
        self.wh_code = wh_code


def make_plan(now, args, cycle_hour=23):
    """The scenario from the node's time `now` (the first moment the controller can act)."""
    t = now + 600  # ten simulated minutes to spare
    if args.short:  # windows relative to the start: a few hours, for the test
        start = int(math.ceil(t / 300.0)) * 300
        return Plan(start, start - start % DAY, (start + 900, start + 4500), (start + 5400, start + 12600), start + 13500)
    evening = parse_hhmm(args.evening, "--evening")
    midnight = (t // DAY + 1) * DAY  # the next midnight
    start = midnight - DAY + evening
    cycle = midnight - DAY + cycle_hour * HOUR  # the water heater fixes its plan here
    if evening >= cycle_hour * HOUR:
        raise DemoError("--evening %s must be before the water heater's %02d:00 cycle" % (args.evening, cycle_hour))
    if t > start:
        if t <= cycle - 600:
            start = int(math.ceil(t / 300.0)) * 300  # already evening: set up now
        else:
            midnight += DAY
            start += DAY
    up = parse_window(args.up, "--up")
    down = parse_window(args.down, "--down")
    if not up[1] <= down[0]:
        raise DemoError("--up %s must end before --down %s starts" % (args.up, args.down))
    end = parse_hhmm(args.end, "--end")
    if end <= down[1]:
        raise DemoError("--end %s must come after the down-DR window" % args.end)
    if up[0] % HOUR or not 9 * HOUR <= up[0] <= 17 * HOUR:
        raise DemoError("--up must start on a whole hour from 09:00 to 17:00 (the water heater's shift times 0xCA)")
    return Plan(start, midnight, (midnight + up[0], midnight + up[1]), (midnight + down[0], midnight + down[1]),
                midnight + end, fc_at=max(midnight + down[0] - HOUR, midnight + up[1]), wh_code=up[0] // HOUR)


def actions(plan, args, present):
    """[(node time, label, [(eoj, [(epc, edt)])], {eoj: keep-alive until})]: what the
    controller sets, and until when it re-sends an object's last command (see KEEPALIVE)."""
    out = []
    setup = [(BATTERY, [(0xA7, bytes((args.reserve,))), (0xDA, b"\x44")])]
    keep = {BATTERY: plan.end}
    label = "BAT A7=%d%%, DA=44 standby" % args.reserve
    if plan.wh_code and WATER_HEATER in present:
        setup.append((WATER_HEATER, [(0xC7, b"\x01"), (0xCA, bytes((plan.wh_code,)))]))
        keep[WATER_HEATER] = plan.midnight + plan.wh_code * HOUR  # the unit ends participation there itself
        label += "; WH C7=01 CA=%02d:00 (shift)" % plan.wh_code
    out.append((plan.start, label, setup, keep))
    out.append((plan.up[0], "up-DR: BAT EB=%d W, DA=42 charge" % args.charge_w,
                [(BATTERY, [(0xEB, args.charge_w.to_bytes(4, "big")), (0xDA, b"\x42")])], {BATTERY: plan.end}))
    out.append((plan.up[1], "BAT DA=44 standby", [(BATTERY, [(0xDA, b"\x44")])], {BATTERY: plan.end}))
    if plan.fc_at and FUEL_CELL in present:
        d0, d1 = plan.down
        win = bytes(((d0 % DAY) // HOUR, (d0 % HOUR) // 60, (d1 % DAY) // HOUR, (d1 % HOUR) // 60))
        out.append((plan.fc_at, "FC D1=%s-%s, D2=41 rated output" % (hhmm(d0), hhmm(d1)),
                    [(FUEL_CELL, [(0xD1, win), (0xD2, b"\x41")])], {FUEL_CELL: d1}))
    out.append((plan.down[0], "down-DR: BAT EC=%d W, DA=43 discharge" % args.discharge_w,
                [(BATTERY, [(0xEC, args.discharge_w.to_bytes(4, "big")), (0xDA, b"\x43")])], {BATTERY: plan.end}))
    out.append((plan.down[1], "BAT DA=44 standby", [(BATTERY, [(0xDA, b"\x44")])], {BATTERY: plan.end}))
    return out


# what each poll reads: (eoj, [epcs], {column: (epc, decoder)})
_onoff = lambda e: None if e is None else int(e[0] == 0x41)  # noqa: E731
POLLS = [
    (BATTERY, [0x97, 0x98, 0xE4, 0xD3, 0xCF, 0xDA, 0xA7, 0xA8, 0xA9], {
        "bat_soc_pct": (0xE4, u), "bat_w": (0xD3, s32), "bat_state": (0xCF, u), "bat_mode": (0xDA, u),
        "bat_reserve_pct": (0xA7, u), "bat_charged_wh": (0xA8, u), "bat_discharged_wh": (0xA9, u)}),
    (WATER_HEATER, [0xE1, 0xB2, 0x84, 0x85, 0xC7], {
        "wh_hot_l": (0xE1, u), "wh_heating": (0xB2, _onoff), "wh_w": (0x84, u), "wh_wh": (0x85, u),
        "wh_shift": (0xC7, u)}),
    (HYBRID, [0xE1, 0xB2, 0x84], {"hy_hot_l": (0xE1, u), "hy_heating": (0xB2, _onoff), "hy_w": (0x84, u)}),
    (EV, [0xD3, 0xE4, 0xE1, 0xC7, 0xD8, 0xD6], {
        "ev_w": (0xD3, s32), "ev_soc_pct": (0xE4, u), "ev_state": (0xE1, u), "ev_conn": (0xC7, u),
        "ev_charged_wh": (0xD8, u), "ev_discharged_wh": (0xD6, u)}),
    (FUEL_CELL, [0xC4, 0xCB, 0xC5, 0xE1], {"fc_w": (0xC4, u), "fc_state": (0xCB, u), "fc_wh": (0xC5, u),
                                           "fc_hot_l": (0xE1, u)}),
]


def poll(ctrl, clock, present, midnight):
    row: dict = {"t_ctrl": int(clock.now())}
    for eoj, epcs, cols in POLLS:
        if eoj not in present:
            continue
        v = ctrl.get(eoj, epcs)
        if eoj == BATTERY:
            if not (v.get(0x97) and v.get(0x98)):
                raise DemoError("battery Get 0x97/0x98 failed")
            row["t_node"] = node_time(v[0x97], v[0x98])  # the tick these values are from
        for col, (epc, dec) in cols.items():
            row[col] = dec(v.get(epc))
    row["hours"] = round((row["t_node"] - midnight) / HOUR, 4)
    return row


# -- run -----------------------------------------------------------------------------

def choose_speed(args):
    if args.speed:
        return args.speed
    speed = 1000
    for _ in range(3):  # the run starts ~2.5 real s after now (boot, calibration)
        now = int(time.time()) + int(2.5 * speed)
        speed = max(60, min(100000, int(math.ceil((make_plan(now, args).end - now) / args.seconds))))
    return speed


def run(args):
    objects = ["battery"] if args.short else [o.strip() for o in args.objects.split(",") if o.strip()]
    if objects == ["all"]:
        objects = list(OBJECTS)
    if "battery" not in objects:
        raise DemoError("--objects must include battery (the demo reads the node's clock from it)")
    heap = args.heap or ("192K" if objects == ["battery"] else "256K")
    if not os.path.exists(FIRMWARE_MAIN):
        raise DemoError("build/firmware is missing: run `make demo` (it builds first) or `make build`")
    if args.addr or args.ctrl:
        if not (args.addr and args.ctrl):
            raise DemoError("give both --addr and --ctrl, or neither")
        addr, ctrl_addr = args.addr, args.ctrl
    else:
        addr, ctrl_addr = free_pair()
    speed = choose_speed(args)
    if speed * TICK_S * 1.2 + KEEPALIVE >= DR_TIMEOUT:
        raise DemoError("x%d is too fast: with a node tick of %d simulated minutes the controller's commands could lapse"
                        " (DR timeout %d min); give more --seconds or a lower --speed"
                        % (speed, speed * TICK_S // 60, DR_TIMEOUT // 60))
    stats = {"keepalive": 0}
    node = Node(addr, ctrl_addr, speed, objects, heap)
    ctrl = None
    try:
        present = set(node.wait_ready())
        ctrl = Controller(ctrl_addr, addr, node)
        clock = calibrate(ctrl, speed)
        cycle = 23
        if WATER_HEATER in present:
            cycle = (ctrl.get(WATER_HEATER, [0xC8])[0xC8] or b"\x17")[0] % 24
        plan = make_plan(int(clock.now()), args, cycle)
        todo = actions(plan, args, present)
        print("demo: node %s (%s), controller %s, x%d: node clock %s, scenario %s-%s, about %.0f s"
              % (addr, ", ".join(NAMES[e] for e in sorted(present) if e != NODE_PROFILE), ctrl_addr, speed,
                 hhmm(int(clock.now())), hhmm(plan.start), hhmm(plan.end), clock.real(plan.end) - time.monotonic()),
              flush=True)
        events = [(t, 0, a) for t, *a in todo]
        events += [(t, 1, None) for t in range(plan.start, plan.end + 1, args.poll_min * 60)]
        events += [(t, 2, None) for t in range(plan.start + KEEPALIVE, plan.end, KEEPALIVE)]
        events.sort(key=lambda e: (e[0], e[1]))
        rows, commands = [], []
        keep = {}  # eoj: (props of its last command, re-send until)
        inf_from = None
        next_report = plan.start
        for t, kind, act in events:
            ctrl.pump(clock.real(t))
            if inf_from is None:
                inf_from = len(ctrl.infs)  # announcements from the start of the scenario on
            if kind == 0 and act:
                label, sets, until = act
                for eoj, props in sets:
                    ctrl.set(eoj, props)
                    keep[eoj] = (props, until[eoj])
                commands.append((int(clock.now()), label))
                print("  [%s] %s" % (hhmm(int(clock.now())), label), flush=True)
            elif kind == 2:
                for eoj, (props, until) in keep.items():
                    if t < until:
                        ctrl.set(eoj, props)
                        stats["keepalive"] += 1
            else:
                row = poll(ctrl, clock, present, plan.midnight)
                row["phase"] = "up-DR" if plan.up[0] <= t < plan.up[1] else "down-DR" if plan.down[0] <= t < plan.down[1] else ""
                rows.append(row)
                if t >= next_report:
                    next_report += 3 * HOUR
                    print("  [%s] battery %s %% %+d W%s" % (hhmm(t), row["bat_soc_pct"], row["bat_w"],
                          ", water heater %s L %s W" % (row["wh_hot_l"], row["wh_w"]) if "wh_hot_l" in row else ""),
                          flush=True)
        infs = [(int(clock.offset + clock.speed * r), seoj, epc, edt) for r, seoj, epc, edt in ctrl.infs[inf_from:]]
    finally:
        if ctrl:
            ctrl.close()
        node.stop()
    return plan, rows, commands, infs, speed, stats


def write_csv(path, rows, infs, plan):
    cols = ["time", "hours", "t_node", "t_ctrl", "phase"] + [c for _e, _p, cs in POLLS for c in cs if any(c in r for r in rows)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["t_node"]))] + [r.get(c, "") for c in cols[1:]])
    inf_path = path[: -len(".csv")] + "-inf.csv"
    with open(inf_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "hours", "object", "eoj", "epc", "edt"])
        for t, seoj, epc, edt in infs:
            w.writerow([time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)), round((t - plan.midnight) / HOUR, 4),
                        NAMES.get(seoj, "?"), "%06X" % seoj, "%02X" % epc, edt.hex().upper()])
    return inf_path


def _last(rows, key, t):
    """The value of key in the last sample at or before t (the first sample's if none is)."""
    before = [r[key] for r in rows if r["t_node"] <= t and r.get(key) is not None]
    if before:
        return before[-1]
    return next((r[key] for r in rows if r.get(key) is not None), 0)


def summary(plan, rows, infs, args, stats):
    first, last = rows[0], rows[-1]
    x = {}
    x["charged"] = (last["bat_charged_wh"] - first["bat_charged_wh"]) / 1000
    x["discharged"] = (last["bat_discharged_wh"] - first["bat_discharged_wh"]) / 1000
    in_up = [r for r in rows if plan.up[0] <= r["t_node"] <= plan.up[1]]
    after = [r for r in rows if r["t_node"] >= plan.down[0]]
    reserve = last["bat_reserve_pct"]
    low = min(r["bat_soc_pct"] for r in after) if after else None
    hit = next((r for r in after if r["bat_soc_pct"] <= reserve and r["bat_w"] == 0), None)
    soc_up = max((r["bat_soc_pct"] for r in in_up), default=first["bat_soc_pct"])
    before_up = ([r["bat_soc_pct"] for r in rows if r["t_ctrl"] < plan.up[0]] or [first["bat_soc_pct"]])[-1]
    text = ("Up-DR %s-%s: the battery took %.1f kWh (SOC %d %% -> %d %%)"
            % (hhmm(plan.up[0]), hhmm(plan.up[1]), x["charged"], before_up, soc_up))
    if "wh_wh" in first:
        m = plan.midnight
        night = (_last(rows, "wh_wh", m + 7 * HOUR) - _last(rows, "wh_wh", m - HOUR)) / 1000
        day = (_last(rows, "wh_wh", m + 19 * HOUR) - _last(rows, "wh_wh", m + 9 * HOUR)) / 1000
        heat = [r["t_node"] for r in rows if r["wh_heating"] and m + 9 * HOUR <= r["t_node"] < m + 19 * HOUR]
        span = " (heating %s-%s)" % (hhmm(heat[0]), hhmm(heat[-1])) if heat else ""
        text += (" and the heat-pump water heater heated in the daytime: %.1f kWh between 09:00 and 19:00%s, %.1f kWh"
                 " at night (23:00-07:00); %.1f kWh of consumption moved into the midday window"
                 % (day, span, night, x["charged"] + day))
    text += (". Down-DR %s-%s: the battery gave back %.1f kWh" % (hhmm(plan.down[0]), hhmm(plan.down[1]), x["discharged"]))
    if hit:
        text += " and stopped by itself at %d %% at %s" % (hit["bat_soc_pct"], hhmm(hit["t_node"]))
    text += " (reserve 0xA7 %d %%, lowest SOC %s %%: %s)" % (
        reserve, low, "never below the reserve" if low is not None and low >= reserve else "BELOW THE RESERVE")
    if "fc_wh" in first:
        d = [r for r in rows if plan.down[0] <= r["t_node"] <= plan.down[1] + 1800]
        if d:
            text += ", the fuel cell generated %.1f kWh in the window" % ((d[-1]["fc_wh"] - d[0]["fc_wh"]) / 1000)
    if "wh_hot_l" in first:
        lo = min(rows, key=lambda r: r["wh_hot_l"])
        text += "; hot water %s the %d L reserve (lowest %d L at %s)" % (
            "stayed at or above" if lo["wh_hot_l"] >= args.hot_reserve else "fell BELOW", args.hot_reserve,
            lo["wh_hot_l"], hhmm(lo["t_node"]))
    if "ev_charged_wh" in first:
        ev_in = (last["ev_charged_wh"] - first["ev_charged_wh"]) / 1000
        ev_out = (last["ev_discharged_wh"] - first["ev_discharged_wh"]) / 1000
        text += "; the EV, left to the node, charged %.1f kWh and discharged %.1f kWh on its own plan" % (ev_in, ev_out)
    text += ". %d INF announcements recorded, %d samples, %d keep-alive Sets" % (len(infs), len(rows), stats["keepalive"])
    lapsed = [(t, s) for t, s, e, v in infs if (s, e, v) in ((BATTERY, 0xDA, b"\x46"), (WATER_HEATER, 0xC7, b"\x00"))]
    lapsed = [(t, s) for t, s in lapsed if not (s == WATER_HEATER and plan.wh_code and t >= plan.up[0])]
    if lapsed:
        text += "; WARNING: %s returned to autonomous operation at %s despite them" % (NAMES[lapsed[0][1]], hhmm(lapsed[0][0]))
    text += "."
    return text


def plot(path, plan, rows, commands, infs, args, speed):
    try:
        import matplotlib
    except ImportError:
        raise DemoError("matplotlib is missing from the venv: run `make venv`")
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    h = lambda t: (t - plan.midnight) / HOUR  # noqa: E731
    xs = [r["hours"] for r in rows]
    has = lambda key: any(r.get(key) is not None for r in rows)  # noqa: E731

    def series(key, sign=1):
        return [sign * r[key] if r.get(key) is not None else float("nan") for r in rows]

    tanks = [k for k in ("wh_hot_l", "hy_hot_l", "fc_hot_l") if has(k)]
    ratios = [3, 4] + ([3] if tanks else []) + [1.1]
    fig, axes = plt.subplots(len(ratios), 1, figsize=(12, 2.3 * sum(ratios) / 3 + 2.2), sharex=True,
                             gridspec_kw={"height_ratios": ratios})
    soc, pw, ann = axes[0], axes[1], axes[-1]
    for ax in axes:
        ax.axvspan(h(plan.up[0]), h(plan.up[1]), color="#2ca02c", alpha=0.12, lw=0)
        ax.axvspan(h(plan.down[0]), h(plan.down[1]), color="#d62728", alpha=0.12, lw=0)
        for t, _label in commands:
            ax.axvline(h(t), color="0.3", lw=0.8, ls=":")
        ax.grid(True, alpha=0.3)
    legend = dict(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    soc.step(xs, series("bat_soc_pct"), where="post", color="#1f77b4", lw=2, label="battery SOC\n(0xE4)")
    soc.step(xs, series("bat_reserve_pct"), where="post", color="#1f77b4", lw=1, ls="--", label="battery reserve\n(0xA7)")
    if has("ev_soc_pct"):
        soc.step(xs, series("ev_soc_pct"), where="post", color="#9467bd", lw=1.4, label="EV SOC (0xE4,\nwhile plugged in)")
    soc.set_ylabel("state of charge %")
    soc.set_ylim(0, 112)
    soc.legend(**legend)
    soc.text(h(plan.up[0]), 109, " up-DR", va="top", fontsize=9, color="#2ca02c", weight="bold")
    soc.text(h(plan.down[0]), 109, " down-DR", va="top", fontsize=9, color="#d62728", weight="bold")
    for i, (t, _label) in enumerate(commands):
        soc.annotate(str(i + 1), (h(t), 112), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                     fontsize=8, bbox=dict(boxstyle="circle,pad=0.2", fc="white", ec="0.3", lw=0.8), annotation_clip=False)
    pw.axhline(0, color="0.2", lw=0.8)
    pw.step(xs, series("bat_w"), where="post", color="#1f77b4", lw=2, label="battery 0xD3\n(+ charging)")
    for key, color, label, sign in (("wh_w", "#ff7f0e", "heat-pump water\nheater 0x84", 1),
                                    ("hy_w", "#8c564b", "hybrid heater 0x84", 1),
                                    ("ev_w", "#9467bd", "EV 0xD3 (+ charging)", 1),
                                    ("fc_w", "#e377c2", "fuel cell 0xC4\n(output, drawn -)", -1)):
        if has(key):
            pw.step(xs, series(key, sign), where="post", color=color, lw=1.3, label=label)
    pw.set_ylabel("power W\n(+ consumed, - supplied)")
    pw.legend(**legend)
    if tanks:
        tank = axes[2]
        for key, color, label in (("wh_hot_l", "#ff7f0e", "heat-pump water\nheater 0xE1"),
                                  ("hy_hot_l", "#8c564b", "hybrid heater 0xE1"), ("fc_hot_l", "#e377c2", "fuel cell tank 0xE1")):
            if key in tanks:
                tank.step(xs, series(key), where="post", color=color, lw=1.6, label=label)
        if "wh_hot_l" in tanks:
            tank.axhline(args.hot_reserve, color="#ff7f0e", lw=1, ls="--", label="hot-water reserve")
        tank.set_ylabel("hot water L")
        tank.set_ylim(bottom=0)
        tank.legend(**legend)
    eojs = sorted({s for _t, s, _e, _v in infs})
    for i, eoj in enumerate(eojs):
        ts = [h(t) for t, s, _e, _v in infs if s == eoj]
        ann.plot(ts, [i] * len(ts), "|", ms=8, color="0.2")
    ann.set_yticks(range(len(eojs)), [NAMES.get(e, "%06X" % e) for e in eojs], fontsize=7)
    ann.set_ylim(-0.7, max(len(eojs), 1) - 0.3)
    ann.set_ylabel("INF", fontsize=8)
    lo, hi = h(plan.start), h(plan.end)
    ann.set_xlim(lo, hi)
    step = 3 if hi - lo > 12 else 1
    ticks = [k for k in range(math.ceil(lo), math.floor(hi) + 1) if k % step == 0]
    ann.set_xticks(ticks, ["%02d:00" % (k % 24) for k in ticks])
    day = time.strftime("%Y-%m-%d", time.gmtime(plan.midnight))
    ann.set_xlabel("node clock (simulated x%d, UTC-based); DR day %s" % (speed, day))
    fig.suptitle("DRready node driven over ECHONET Lite: a DR day (%d polls, one every %d simulated min; %d INF received)"
                 % (len(rows), args.poll_min, len(infs)), fontsize=11)
    lines = ["%d  %s  %s" % (i + 1, hhmm(t), label) for i, (t, label) in enumerate(commands)]
    lines.append("commands are re-sent every %d min while they hold (the node's DR timeout)" % (KEEPALIVE // 60))
    half = (len(lines) + 1) // 2
    fig.text(0.01, 0.005, "\n".join(lines[:half]), fontsize=8, family="monospace", va="bottom")
    fig.text(0.47, 0.005, "\n".join(lines[half:]), fontsize=8, family="monospace", va="bottom")
    fig.tight_layout(rect=(0, 0.012 * (half + 1.5), 1, 1))
    fig.savefig(path, dpi=85)
    plt.close(fig)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="make demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "demo.png"), help="PNG to write (CSV next to it)")
    ap.add_argument("--seconds", type=float, default=120, help="real seconds the run should take (sets the speed)")
    ap.add_argument("--speed", type=int, default=0, help="simulated seconds per real second (overrides --seconds)")
    ap.add_argument("--addr", default="", help="node address (default: a free 127.210.n.1)")
    ap.add_argument("--ctrl", default="", help="controller address (default: 127.210.n.2)")
    ap.add_argument("--objects", default="all", help="device objects for the node (must include battery)")
    ap.add_argument("--heap", default="", help="MicroPython heap (default 256K, 192K for the battery alone)")
    ap.add_argument("--evening", default="21:00", help="setup the evening before (water heater shift, reserve)")
    ap.add_argument("--up", default="12:00-16:00", help="up-DR window (also the water heater's shift time)")
    ap.add_argument("--down", default="18:00-22:00", help="down-DR window")
    ap.add_argument("--end", default="24:00", help="end of the DR day")
    ap.add_argument("--charge-w", type=int, default=1200, help="battery charging power 0xEB, W")
    ap.add_argument("--discharge-w", type=int, default=2000, help="battery discharging power 0xEC, W")
    ap.add_argument("--reserve", type=int, default=30, help="battery reserve 0xA7, %%")
    ap.add_argument("--hot-reserve", type=int, default=100, help="hot water the summary checks against, L")
    ap.add_argument("--poll-min", type=int, default=5, help="simulated minutes between polls")
    ap.add_argument("--short", action="store_true", help="a few simulated hours, battery only, windows from the start")
    args = ap.parse_args(argv)
    if not args.out.endswith(".png"):
        raise DemoError("--out %s must end in .png" % args.out)
    if not 100 <= args.charge_w <= 3000 or not 100 <= args.discharge_w <= 3000:
        raise DemoError("--charge-w/--discharge-w must be within the battery's 100-3000 W (0xC8/0xC9)")
    if not 0 <= args.reserve < 100:
        raise DemoError("--reserve must be 0..99 %")
    if args.speed and not 60 <= args.speed <= 100000:
        raise DemoError("--speed must be 60..100000 (the demo reads the clock to the minute, once a tick)")
    if not args.speed and not args.seconds > 0:
        raise DemoError("--seconds must be positive")
    if not 1 <= args.poll_min <= 60:
        raise DemoError("--poll-min must be 1..60")
    return args


def main(argv=None):
    def term(_sig, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, term)
    t0 = time.monotonic()
    try:
        args = parse_args(argv)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        plan, rows, commands, infs, speed, stats = run(args)
        if not rows:
            raise DemoError("no samples recorded")
        csv_path = args.out[: -len(".png")] + ".csv"
        inf_path = write_csv(csv_path, rows, infs, plan)
        plot(args.out, plan, rows, commands, infs, args, speed)
    except DemoError as e:
        print("demo: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; node stopped", file=sys.stderr)
        return 130
    print("demo: wrote %s, %s, %s (%.0f s)" % (os.path.relpath(args.out), os.path.relpath(csv_path), os.path.relpath(inf_path),
                                                time.monotonic() - t0))
    print(summary(plan, rows, infs, args, stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
