"""Processes, addresses and network namespaces for the end-to-end tests.

- `Proc`: a child process whose output lines are collected by a thread, so a test can
  wait for a line (READY, STOPPED, "set ...") instead of sleeping.
- `start_node`: the node under the MicroPython unix port through tools/sim.py.
- `AddressPool`: loopback address pairs unique to this pytest worker.
- `NetnsPair`: two namespaces joined by a veth pair, removed again however the test ends.
"""
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIM = os.path.join(ROOT, "tools", "sim.py")
FIRMWARE_MAIN = os.path.join(ROOT, "build", "firmware", "main.py")
_VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
PYTHON = _VENV_PY if os.path.exists(_VENV_PY) else sys.executable

HEAP = "256K"  # make sim's default: the secure node with all five objects, room for an update (README, Memory)
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class Proc:
    """A child process with stdout+stderr merged and collected line by line."""

    def __init__(self, argv, cwd=ROOT, env=None, stdin=subprocess.DEVNULL):
        self.argv = list(argv)
        self.lines = []
        self._cond = threading.Condition()
        self.p = subprocess.Popen(self.argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.p.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def pid(self):
        return self.p.pid

    def output(self):
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, match, timeout, start=0):
        """The first line (from index start) for which match(line) is true (or that starts
        with match, given a string). AssertionError with the output so far on timeout or exit."""
        pred = match if callable(match) else (lambda line: line.startswith(match))
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                if self._eof:
                    raise AssertionError("%s exited (rc %s) before printing %r:\n%s" % (
                        os.path.basename(self.argv[-1]), self.p.poll(), match, "\n".join(self.lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %r within %.0f s from %s:\n%s" % (match, timeout, self.argv, "\n".join(self.lines)))
                self._cond.wait(left)

    def wait_exit(self, timeout):
        rc = self.p.wait(timeout)
        self._reader.join(timeout)
        return rc

    def send_signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def kill_group(self):
        """Last resort: SIGKILL the process group this Proc started (start_new_session), which
        also reaches children its leader left behind."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal, wait for the exit; returns the exit code (the group is killed on timeout)."""
        self.send_signal(sig)
        try:
            return self.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError("%s did not exit within %.0f s of signal %d:\n%s" % (self.argv, timeout, sig, self.output()))


def state_dir():
    """A fresh state directory. Its path always has the same length (tmp_path's does not:
    it grows with pytest's run counter and the xdist worker name), so the node's config,
    and the heap the node uses at boot, do not change from run to run."""
    return tempfile.mkdtemp(prefix="e2e-state-")


def sim_argv(addr, state, legacy_write=(), heap=HEAP, objects=None, extra=()):
    argv = [PYTHON, SIM, "--addr", addr, "--heap", heap, "--state", str(state), "--legacy-write", ",".join(legacy_write)]
    if objects:
        argv += ["--objects", ",".join(objects)]
    return argv + list(extra)


def start_node(addr, state, legacy_write=(), netns=None, heap=HEAP, objects=None, extra=()):
    """Start the node (in netns if given) and wait for READY; returns the Proc. extra:
    more tools/sim.py arguments (e.g. --speed)."""
    argv = sim_argv(addr, state, legacy_write, heap, objects, extra)
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    proc = Proc(argv)
    try:
        line = proc.wait_for("READY", READY_TIMEOUT)
    except BaseException:
        proc.kill_group()
        raise
    assert line.startswith("READY %s:3610 " % addr), line
    return proc


def stop_node(proc):
    """SIGTERM, then the node must have printed STOPPED and sim.py must exit 0."""
    rc = proc.stop(signal.SIGTERM)
    out = proc.output()
    assert "STOPPED" in proc.lines, "node did not print STOPPED on SIGTERM:\n" + out
    assert rc == 0, "node exited %s on SIGTERM:\n%s" % (rc, out)


def ready_objects(proc):
    """The EOJs the READY line lists, e.g. [0x0EF001, 0x027D01]."""
    line = next(line for line in proc.lines if line.startswith("READY"))
    m = re.search(r" objects ((?:[0-9A-F]{6} ?)+)", line)
    assert m, line
    return [int(x, 16) for x in m.group(1).split()]


# -- addresses ----------------------------------------------------------------------

def worker_index():
    """0 without xdist, 1 + N for xdist worker gwN."""
    w = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(w[2:]) + 1 if w.startswith("gw") else 0


def _bound_3610():
    """Addresses that have a UDP socket bound to port 3610 in this namespace."""
    out = set()
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            local = line.split()[1]  # e.g. 0100007F:0E1A, the address in host byte order
            ip_hex, port_hex = local.split(":")
            if int(port_hex, 16) == 3610:
                out.add(socket.inet_ntoa(int(ip_hex, 16).to_bytes(4, "little")))
    return out


class AddressPool:
    """(node, controller) pairs 127.<10+worker>.<n>.1 / .2, unique per xdist worker; the
    start of n depends on the pid so that two pytest runs at once rarely meet, and a pair
    where something already has port 3610 bound is skipped.

    n stays within 100..254: every address has the same length, so every node's config
    (and with it the heap the node uses at boot) is the same size in every run."""

    def __init__(self):
        self.second = 10 + worker_index()
        assert self.second <= 99, "too many xdist workers for the address plan"
        self._n = itertools.count((os.getpid() % 31) * 5)

    def pair(self):
        busy = _bound_3610()
        for _ in range(155):
            n = 100 + next(self._n) % 155
            node, ctrl = "127.%d.%d.1" % (self.second, n), "127.%d.%d.2" % (self.second, n)
            if node not in busy and ctrl not in busy:
                return node, ctrl
        raise AssertionError("no free loopback address pair in 127.%d.100-254.0" % self.second)


# -- network namespaces -------------------------------------------------------------

NETNS_PREFIX = "e2e"
_netns_count = itertools.count(1)


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise AssertionError("ip %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def remove_stale_netns():
    """Namespaces left by an earlier run of this suite that was killed (its pid is gone)."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"%s-(\d+)-\d+-(ctl|dev)" % NETNS_PREFIX, name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            _ip("netns", "del", name, check=False)
        except PermissionError:
            pass


class NetnsPair:
    """Namespaces <prefix>-<pid>-<n>-ctl and -dev joined by a veth pair:
    controller 10.<a>.<b>.1/24, node 10.<a>.<b>.2/24, lo up, 224.0.0.0/4 via the veth."""

    def __init__(self):
        n = next(_netns_count)
        pid = os.getpid()
        base = "%s-%d-%d" % (NETNS_PREFIX, pid, n)
        self.ctl = base + "-ctl"
        self.dev = base + "-dev"
        # the addresses only exist inside the two namespaces; vary them anyway
        a, b = 200 + (pid >> 8) % 50, 100 + (pid + n) % 156  # fixed-length addresses, as in AddressPool
        self.ctl_addr = "10.%d.%d.1" % (a, b)
        self.dev_addr = "10.%d.%d.2" % (a, b)
        self.ctl_if = "vc%d" % (pid * 16 + n % 16)
        self.dev_if = "vd%d" % (pid * 16 + n % 16)
        self.created = []

    def create(self):
        for ns in (self.ctl, self.dev):
            _ip("netns", "add", ns)
            self.created.append(ns)
        _ip("link", "add", self.ctl_if, "netns", self.ctl, "type", "veth", "peer", "name", self.dev_if, "netns", self.dev)
        for ns, ifname, addr in ((self.ctl, self.ctl_if, self.ctl_addr), (self.dev, self.dev_if, self.dev_addr)):
            _ip("-n", ns, "addr", "add", addr + "/24", "dev", ifname)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", ifname, "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", ifname)
        return self

    def remove(self):
        errors = []
        for ns in reversed(self.created):
            r = _ip("netns", "del", ns, check=False)
            if r.returncode:
                errors.append("ip netns del %s: %s" % (ns, r.stderr.strip()))
        self.created = []
        left = set(_ip("netns", "list", check=False).stdout.split()) & {self.ctl, self.dev}
        assert not errors and not left, "namespaces not removed: %s %s" % (errors, sorted(left))

    def exec_argv(self, ns, argv):
        return ["ip", "netns", "exec", ns] + list(argv)
