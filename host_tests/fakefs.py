"""A filesystem in memory that loses power on request: for the power-cut tests
(test_powercut.py: settings; test_update_powercut.py: updates).

It keeps what the kernel/flash would: file data written by the program sits in the file
object's buffer until flush, then in the page cache until fsync (or os.sync); only the
disk survives a cut. Creating, truncating, renaming and removing a file and making or
removing a directory are atomic and reach the disk at once (as on a journaling
filesystem or littlefs). Three interpreters' ways of making data durable are modelled:
CPython (os.fsync), the MicroPython board (no fsync; os.sync) and the MicroPython unix
port (flush is an fsync).

FakeFS.op() counts the write operations and raises PowerCut once `cut` of them have
happened; reboot() gives the filesystem as it is after the power came back.
"""
import io
import types


class PowerCut(Exception):
    pass


class Inode:
    def __init__(self):
        self.cache = b""  # what a reader sees now (page cache)
        self.disk = b""  # what survives a power cut


class FakeFile:
    def __init__(self, fs, inode, writing, binary):
        self.fs = fs
        self.inode = inode
        self.writing = writing
        self.binary = binary
        self.buf = b""  # written, not yet flushed (text is kept encoded)
        self.fd = fs.new_fd(inode)
        self.rd: "io.BytesIO | None" = None if writing else io.BytesIO(inode.cache)

    # -- writing
    def write(self, s):
        self.fs.op("write")
        self.buf += bytes(s) if self.binary else s.encode()
        return len(s)

    def flush(self):
        if self.writing:
            self.fs.op("flush")
            self.inode.cache += self.buf
            self.buf = b""
            if self.fs.flush_syncs:  # MicroPython unix port: flush is fsync
                self.inode.disk = self.inode.cache

    def fileno(self):
        return self.fd

    # -- reading
    def read(self, n=-1):
        assert self.rd is not None
        data = self.rd.read(n)
        return data if self.binary else data.decode()

    def readinto(self, buf):
        assert self.rd is not None and self.binary
        return self.rd.readinto(buf)

    def close(self):
        if self.writing and self.buf:
            self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeFS:
    """Names to inodes, plus directories; op() counts write operations and cuts the power at `cut`."""

    def __init__(self, model, cut=None, capacity=1 << 22):
        self.model = model
        self.flush_syncs = model == "unix-port"
        self.names = {}
        self.dirs = set()
        self.fds = {}
        self.ops = []
        self.cut = cut  # write operations allowed before the power goes
        self.dead = False
        self.capacity = capacity  # bytes, for statvfs

    def op(self, what):
        if self.dead or (self.cut is not None and len(self.ops) >= self.cut):
            self.dead = True
            raise PowerCut(what)
        self.ops.append(what)

    def new_fd(self, inode):
        fd = len(self.fds) + 3
        self.fds[fd] = inode
        return fd

    def open(self, path, mode="r", *args, **kw):
        binary = "b" in mode
        if "w" in mode:
            self.op("open")
            inode = Inode()  # create or truncate: atomic, on disk at once
            self.names[path] = inode
            return FakeFile(self, inode, True, binary)
        if path not in self.names:
            raise OSError(2, "no such file", path)
        return FakeFile(self, self.names[path], False, binary)

    # os functions the firmware uses
    def rename(self, a, b):
        self.op("rename")
        if a not in self.names:
            raise OSError(2, "no such file", a)
        self.names[b] = self.names.pop(a)

    def remove(self, p):
        self.op("remove")
        if p not in self.names:
            raise OSError(2, "no such file", p)
        del self.names[p]

    def _is_dir(self, p):
        return p in self.dirs or any(n.startswith(p + "/") for n in list(self.names) + list(self.dirs))

    def stat(self, p):
        if p in self.names:
            return (0x8000,) + (0,) * 9
        if self._is_dir(p):
            return (0x4000,) + (0,) * 9
        raise OSError(2, "no such file", p)

    def mkdir(self, p):
        self.op("mkdir")
        if p in self.names or p in self.dirs:
            raise OSError(17, "exists", p)
        self.dirs.add(p)

    def listdir(self, p):
        if not self._is_dir(p):
            raise OSError(2, "no such directory", p)
        out = set()
        for n in list(self.names) + list(self.dirs):
            if n.startswith(p + "/"):
                out.add(n[len(p) + 1 :].split("/")[0])
        return sorted(out)

    def rmdir(self, p):
        self.op("rmdir")
        if self.listdir(p):
            raise OSError(39, "directory not empty", p)
        self.dirs.discard(p)

    def statvfs(self, p):
        used = sum((len(i.cache) + 4095) // 4096 + 1 for i in self.names.values())
        free = max(0, self.capacity // 4096 - used)
        return (4096, 4096, self.capacity // 4096, free, free, 0, 0, 0, 0, 255)

    def fsync(self, fd):
        self.op("fsync")
        inode = self.fds[fd]
        inode.disk = inode.cache

    def sync(self):
        self.op("sync")
        for inode in self.names.values():
            inode.disk = inode.cache

    def os(self):
        """The os module as this interpreter has it."""
        fns = {n: getattr(self, n) for n in ("rename", "remove", "stat", "mkdir", "listdir", "rmdir", "statvfs")}
        if self.model == "cpython":
            fns["fsync"] = self.fsync
            fns["sync"] = self.sync  # CPython has both; store must use fsync
        elif self.model == "board":
            fns["sync"] = self.sync
        return types.SimpleNamespace(**fns)

    def reboot(self):
        """What is left after the power came back: the disk, nothing cached."""
        fs = FakeFS(self.model, capacity=self.capacity)
        for path, inode in self.names.items():
            new = Inode()
            new.cache = new.disk = inode.disk
            fs.names[path] = new
        fs.dirs = set(self.dirs)
        return fs


MODELS = ("cpython", "board", "unix-port")


def installer(monkeypatch, modules):
    """install(fs): point the given modules' open() and os at fs; returns fs."""

    def install(fs):
        for m in modules:
            monkeypatch.setattr(m, "open", fs.open, raising=False)
            monkeypatch.setattr(m, "os", fs.os(), raising=False)
        return fs

    return install
