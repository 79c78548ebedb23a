"""Small JSON records on the filesystem, each written atomically (temp file, then rename).

A power cut leaves either the old or the new record, never a torn one.
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
        if hasattr(f, "flush"):
            f.flush()
    os.rename(tmp, path)


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
