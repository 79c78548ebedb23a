"""A stand-in for a board on a serial port: the MicroPython unix port behind a pseudo-terminal.

    with PtyBoard(device_root) as board:
        subprocess.run(["mpremote", "connect", board.port, "resume", "fs", "ls"])

`micropython -X heapsize=100K` runs in `device_root` (its VfsPosix filesystem is that
directory, as the flash filesystem is on the board) with its REPL on a first pty. A
thread relays bytes between that pty and a second one, whose slave path (`board.port`)
tools such as mpremote open like /dev/ttyUSB0. This is what `socat pty,... exec:...`
would do, in Python, so the tests need no extra package.

As on a board, Ctrl-C on the port interrupts running code (the pty is micropython's
controlling terminal, so it becomes SIGINT, which the unix port turns into
KeyboardInterrupt). The unix port supports the raw REPL, but a soft reset (Ctrl-D at the
raw REPL prompt) ends the process: clients must not soft-reset (mpremote `resume`,
tools/deploy.py `--no-reset`).

Run it by hand to get a port to try the tools on:
    .venv/bin/python host_tests/pty_board.py /tmp/devroot
"""
import errno
import os
import select
import subprocess
import sys
import termios
import threading
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_VENV_MP = os.path.join(ROOT, ".venv", "bin", "micropython")
MICROPYTHON = _VENV_MP if os.path.exists(_VENV_MP) else os.path.join(os.path.dirname(sys.executable), "micropython")


# In the child: a session of its own with its stdin (the pty) as controlling terminal, then
# become micropython.
_EXEC_ON_TTY = ("import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                "os.execv(sys.argv[1], sys.argv[1:])")


class PtyBoard:
    """MicroPython unix port on a pty; `port` is the serial device to connect to."""

    def __init__(self, root, heap="100K", micropython=MICROPYTHON):
        self.root = os.path.abspath(root)
        self.heap = heap
        self.micropython = micropython
        self.port = None
        self.proc = None
        self._fds = []
        self._thread = None
        self._stop_r = self._stop_w = -1

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        # the "board": micropython with its REPL on pty A, which is its controlling terminal:
        # raw, but a Ctrl-C that arrives while code runs interrupts it (the unix port turns
        # SIGINT into KeyboardInterrupt), as on a board
        a_master, a_slave = os.openpty()
        tty.setraw(a_slave)
        attrs = termios.tcgetattr(a_slave)
        attrs[3] |= termios.ISIG
        termios.tcsetattr(a_slave, termios.TCSANOW, attrs)
        # the "USB serial port": pty B, whose slave the tools open
        b_master, b_slave = os.openpty()
        tty.setraw(b_slave)
        self._fds = [a_master, b_master, b_slave]  # b_slave stays open: the port survives clients closing it
        env = dict(os.environ)
        env.pop("MICROPYPATH", None)  # the default path: '' (the device root) and .frozen, as on the board
        argv = [self.micropython, "-X", "heapsize=" + self.heap]
        self.proc = subprocess.Popen(  # through a small exec shim: preexec_fn is not safe in threaded pytest
            [sys.executable, "-c", _EXEC_ON_TTY, *argv],
            cwd=self.root, stdin=a_slave, stdout=a_slave, stderr=a_slave, env=env, close_fds=True,
        )
        os.close(a_slave)
        self.port = os.ttyname(b_slave)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, args=(a_master, b_master), daemon=True)
        self._thread.start()
        return self

    def _relay(self, a, b):
        other = {a: b, b: a}
        while True:
            ready, _, _ = select.select([a, b, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError as e:
                    if e.errno == errno.EIO:  # micropython exited: its pty has no reader any more
                        return
                    raise
                if not data:
                    return
                _write_all(other[fd], data)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self._stop_w >= 0:
            os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(5)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for fd in self._fds + [self._stop_r, self._stop_w]:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds = []
        self._stop_r = self._stop_w = -1

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as e:
            if e.errno == errno.EIO:  # the other side is gone; drop the bytes
                return
            raise
        view = view[n:]


def main(argv):
    if len(argv) != 2:
        print("usage: pty_board.py DEVICE_ROOT", file=sys.stderr)
        return 2
    with PtyBoard(argv[1]) as board:
        print("MicroPython unix port in %s on %s (Ctrl-C to stop)" % (board.root, board.port), flush=True)
        print("try: mpremote connect %s resume fs ls" % board.port, flush=True)
        try:
            assert board.proc is not None
            board.proc.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
