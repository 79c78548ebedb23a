"""Small JSON records on the filesystem, each written atomically (temp file, then rename).

A power cut leaves either the old or the new record, never a torn one: the new record
goes to path.tmp, which is made durable before it is renamed over path (rename replaces
a file atomically on POSIX and on littlefs, the board's filesystem). load reads path
only, so a .tmp left by a cut is ignored, and the next save overwrites it.
host_tests/test_powercut.py cuts the power at every step of a save to prove it.
"""
import json
import os


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return default


def save(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        durable(f)
    os.rename(tmp, path)


def durable(f):
    """Put what was written to the open file f on the disk, on every interpreter (also
    used by update/ for the files it stages)."""
    f.flush()  # MicroPython: fsync (unix port) / the file's commit (littlefs)
    fsync = getattr(os, "fsync", None)
    if fsync:  # CPython: flush only hands the data to the OS
        fsync(f.fileno())
    else:
        sync = getattr(os, "sync", None)
        if sync:  # MicroPython on the board: sync the filesystem
            sync()


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        cur = cur + "/" + part if cur or path.startswith("/") else part
        if part and not exists(cur):
            os.mkdir(cur)
