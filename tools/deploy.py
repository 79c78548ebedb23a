"""Copy the compiled node to a board running MicroPython: `make deploy PORT=/dev/ttyUSB0`.

    deploy.py --port /dev/ttyUSB0 [--board DRREADY_ESP32]
    deploy.py --port /dev/pts/5 --no-reset      (the MicroPython unix port behind a pty)

1. Compiles firmware/ with tools/build.py into build/firmware (unless --no-build).
2. Opens the board's raw REPL over the serial port (mpremote's serial transport): Ctrl-C
   (repeated until a REPL prompt answers) stops a running node, and by default a soft
   reset frees its heap.
3. Hashes the files on the board, on the board (SHA-256), and copies only those whose hash
   differs from build/firmware; each is written under a temporary name, renamed into
   place, and hashed again. --board NAME also copies boards/NAME/board.json (the status
   LED and button pins) to board.json.
4. Removes what would shadow or outlive the new code: a .py twin of a deployed .mpy
   module (MicroPython imports X.py before X.mpy) and .py/.mpy files in the node's
   package directories that the build no longer produces. config.json, the state
   directory and other files of yours are left alone.
5. Resets the board (machine.reset()) so the node starts from main.py.

--no-reset skips both resets: needed for the unix port (a soft reset ends it); a board
then stays at its REPL until it is reset.

Exit codes: 0 done; 2 a bad argument, a missing port, no MicroPython answering on the
port; 1 the board failed while files were copied (run it again: unchanged files are
skipped, and no file is ever left half-written under its real name).
"""

import argparse
import hashlib
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

BUILD = os.path.join(ROOT, "build", "firmware")
BOARDS = os.path.join(ROOT, "boards")
BAUD = 115200


class ToolError(Exception):
    """One line for the user, and the exit code (2: fix the command or the setup; 1: the board failed)."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


def port_problem(port):
    """None if `port` can be tried, else what to do (one line)."""
    if not port:
        return "give the board's serial port, e.g. --port /dev/ttyUSB0 (make ... PORT=/dev/ttyUSB0)"
    if port.startswith(("/", ".")) and not os.path.exists(port):
        return "serial port %s does not exist: is the board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)" % port
    return None


def board_names():
    if not os.path.isdir(BOARDS):
        return []
    return sorted(d for d in os.listdir(BOARDS) if os.path.isfile(os.path.join(BOARDS, d, "board.json")))


# -- the device side ------------------------------------------------------------------

# Runs on the board (any MicroPython with hashlib.sha256): reports the hash of each wanted
# file, which of the given paths exist, and every file and directory under the package dirs.
_SCAN = """\
import os, hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return '-'
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _walk(d):
    for e in list(os.ilistdir(d)):
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            print('D', p)
            _walk(p)
        else:
            print('F', p)
for p in %r:
    print('H', _h(p), p)
for p in %r:
    try:
        os.stat(p)
        print('E', p)
    except OSError:
        pass
for d in %r:
    try:
        os.stat(d)
    except OSError:
        continue
    print('D', d)
    _walk(d)
"""

_RENAME = """\
import os
try:
    os.rename(%(tmp)r, %(dst)r)
except OSError:
    os.remove(%(dst)r)
    os.rename(%(tmp)r, %(dst)r)
"""


class Scan:
    def __init__(self, text):
        self.hashes = {}
        self.exists = set()
        self.files = set()
        self.dirs = set()
        for line in text.splitlines():
            kind, _, rest = line.strip().partition(" ")
            if kind == "H":
                digest, _, path = rest.partition(" ")
                self.hashes[path] = None if digest == "-" else digest
            elif kind == "E":
                self.exists.add(rest)
            elif kind == "F":
                self.files.add(rest)
            elif kind == "D":
                self.dirs.add(rest)


class Device:
    """A MicroPython board's raw REPL on a serial port (mpremote's transport)."""

    def __init__(self, port, reset=True, tool="deploy"):
        problem = port_problem(port)
        if problem:
            raise ToolError(problem)
        self.port = port[5:] if port.startswith("port:") else port
        self.soft_reset = reset
        self.tool = tool
        self.t = None

    def __enter__(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        try:
            self.t = SerialTransport(self.port, baudrate=BAUD)
        except (TransportError, OSError) as e:
            raise ToolError("cannot open serial port %s (%s): check the port and that no other program "
                            "(a REPL, a serial monitor) holds it" % (self.port, _first_line(e)))
        try:
            self._interrupt()
            self.t.enter_raw_repl(soft_reset=self.soft_reset)
        except (TransportError, OSError):
            self.close()
            hint = "" if self.soft_reset else "; or the unix port was soft-reset"
            raise ToolError("no MicroPython REPL answers on %s: flash MicroPython first (make flash), check the "
                            "port, or press the board's RESET button%s" % (self.port, hint))
        return self

    def __exit__(self, *exc):
        self.close()

    def _interrupt(self, timeout=12.0, quiet=2.0):
        """Stop what runs on the board (the node) and wait for a REPL prompt. mpremote sends
        one Ctrl-C; that is not always enough: a main.py that ends with sys.exit() makes the
        ESP32 port soft-reboot and run main.py again, so Ctrl-C is repeated until a prompt
        shows (or the board stays silent for `quiet` seconds)."""
        from mpremote.transport_serial import SerialIntercept

        assert self.t is not None
        ser = self.t.serial
        seen = b""
        start = last = time.monotonic()
        while True:
            ser.write(b"\r\x03")
            time.sleep(0.05)
            n = ser.inWaiting() if isinstance(ser, SerialIntercept) else ser.in_waiting  # intercepted: mounted only
            if n:
                seen = (seen + ser.read(n))[-512:]
                last = time.monotonic()
            if seen.endswith((b">>> ", b"\x04>", b"CTRL-B to exit\r\n>")):
                return
            now = time.monotonic()
            if now - start > timeout or now - last > quiet:
                return  # mpremote tries once more, and says so if there is no REPL

    def close(self):
        if self.t is None:
            return
        try:
            if self.t.in_raw_repl:
                self.t.exit_raw_repl()
            self.t.close()
        except OSError:
            pass
        self.t = None

    def run(self, code):
        """Execute code on the board; its printed output as text."""
        from mpremote.transport import TransportError

        assert self.t is not None
        try:
            return self.t.exec(code).decode("utf-8", "replace")
        except TransportError as e:  # incl. TransportExecError: a traceback from the board
            raise ToolError("the board failed: %s" % _first_line(e), code=1)
        except OSError as e:
            raise ToolError("lost the board on %s: %s" % (self.port, e), code=1)

    def scan(self, hash_paths=(), exist_paths=(), walk_dirs=()):
        return Scan(self.run(_SCAN % (list(hash_paths), list(exist_paths), list(walk_dirs))))

    def mkdir(self, path):
        self.run("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass\n" % path)

    def remove(self, path):
        self.run("import os\nos.remove(%r)\n" % path)

    def put(self, path, data, progress=None):
        """Write data to path: first under a temporary name, then renamed over the old file,
        so a cut connection never leaves a half-written module under its real name."""
        assert self.t is not None
        tmp = path + ".part"
        try:
            self.t.fs_writefile(tmp, data, chunk_size=1024, progress_callback=progress)
        except OSError as e:  # mpremote turns the board's errors into OSError
            raise ToolError("writing %s on the board failed (%s): is its filesystem full?" % (path, e.strerror or e), code=1)
        except Exception as e:
            raise ToolError("writing %s on the board failed: %s" % (path, type(e).__name__), code=1)
        self.run(_RENAME % {"tmp": tmp, "dst": path})

    def reset(self):
        """machine.reset(): the board reboots and runs main.py."""
        assert self.t is not None
        try:
            self.t.exec_raw_no_follow("import machine\nmachine.reset()\n")
        except Exception:
            pass  # the port often vanishes as the board resets: that is the reset working
        try:
            self.t.close()
        except OSError:
            pass
        self.t = None


def _first_line(e):
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[-1] if text.splitlines() else text


# -- the host side --------------------------------------------------------------------

def local_files(src, board=None):
    """{remote path: local path} for everything to deploy."""
    out = {}
    for d, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".mpy", ".py")):
                local = os.path.join(d, f)
                out[os.path.relpath(local, src).replace(os.sep, "/")] = local
    if board:
        out["board.json"] = os.path.join(BOARDS, board, "board.json")
    return out


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _progress(name):
    if not sys.stdout.isatty():
        return None

    def show(done, total):
        if total >= 4096:
            print("\r  copy   %s %3d%%" % (name, done * 100 // total), end="" if done < total else "\r", flush=True)

    return show


def deploy(device, src, board=None, log=print):
    """Bring the board's files in line with src; returns (copied, up_to_date, removed)."""
    files = local_files(src, board)
    want = {remote: sha256_file(local) for remote, local in files.items()}
    packages = sorted({r.split("/", 1)[0] for r in files if "/" in r})
    # a source twin of a top-level module would be imported instead of the .mpy
    twins = [r[:-4] + ".py" for r in files if "/" not in r and r.endswith(".mpy")]
    leftovers = [r + ".part" for r in files if "/" not in r]  # from a deploy cut short
    scan = device.scan(sorted(want), twins + leftovers, packages)

    total = sum(os.path.getsize(p) for p in files.values())
    log("deploy: %d files (%d bytes) from %s to %s" % (len(files), total, os.path.relpath(src, ROOT), device.port))
    changed = [r for r in sorted(want) if scan.hashes.get(r) != want[r]]
    stale = {p: "not part of this build" for p in scan.files if p not in want and p.endswith((".py", ".mpy", ".part"))}
    stale.update({p: "left by an interrupted deploy" for p in leftovers if p in scan.exists})
    stale.update({p: "would be imported instead of %s.mpy" % p[:-3] for p in twins if p in scan.exists})
    for p in scan.files:
        if p.endswith(".py") and p[:-3] + ".mpy" in want:
            stale[p] = "would be imported instead of %s.mpy" % p[:-3]
    for d in sorted({r.rsplit("/", 1)[0] for r in changed if "/" in r}, key=lambda p: p.count("/")):
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in scan.dirs:
                device.mkdir(sub)
                scan.dirs.add(sub)
    for i, remote in enumerate(changed, 1):
        with open(files[remote], "rb") as f:
            data = f.read()
        log("  copy   [%d/%d] %s (%d bytes)" % (i, len(changed), remote, len(data)))
        device.put(remote, data, _progress(remote))
    for remote in sorted(stale):
        log("  remove %s (%s)" % (remote, stale[remote]))
        device.remove(remote)
    if changed:  # read back: what landed is what was built
        after = device.scan(changed)
        bad = [r for r in changed if after.hashes.get(r) != want[r]]
        if bad:
            raise ToolError("%s differs on the board after copying: deploy again; if it persists, its "
                            "filesystem may be failing" % bad[0], code=1)
    log("deploy: %d copied, %d up to date, %d removed; SHA-256 on the board matches the build"
        % (len(changed), len(want) - len(changed), len(stale)))
    return len(changed), len(want) - len(changed), len(stale)


def parse(argv):
    ap = argparse.ArgumentParser(prog="deploy.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", default="", help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", default="", help="also copy boards/BOARD/board.json (pins of the LED and button); one of: %s"
                    % ", ".join(board_names()))
    ap.add_argument("--no-build", action="store_true", help="deploy build/firmware as it is (do not run tools/build.py)")
    ap.add_argument("--no-reset", action="store_true",
                    help="no soft reset before and no reset after (needed for the MicroPython unix port behind a pty)")
    return ap.parse_args(argv)


def fail(message, code=2):
    print("deploy: " + message, file=sys.stderr)
    return code


def main(argv=None):
    args = parse(argv)
    problem = port_problem(args.port)
    if problem:
        return fail(problem)
    if args.board and args.board not in board_names():
        return fail("unknown board %r; choose one of: %s" % (args.board, ", ".join(board_names())))
    if not args.no_build:
        from tools import build

        build.build()
    if not os.path.isfile(os.path.join(BUILD, "main.py")):
        return fail("build/firmware is missing or incomplete: run `make build` (or deploy without --no-build)")
    try:
        with Device(args.port, reset=not args.no_reset) as device:
            deploy(device, BUILD, args.board or None)
            if not args.no_reset:
                device.reset()
                print("deploy: reset the board; the node starts from main.py (watch it: make repl PORT=%s)" % args.port)
    except ToolError as e:
        return fail(str(e), e.code)
    except KeyboardInterrupt:
        return fail("interrupted; run it again: unchanged files are skipped", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
