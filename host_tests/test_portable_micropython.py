"""The portable suite must also pass under the real MicroPython unix port."""
import importlib
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def portable_test_count():
    n = 0
    for f in sorted(os.listdir(os.path.join(HERE, "portable"))):
        if f.startswith("test_") and f.endswith(".py"):
            mod = importlib.import_module("portable." + f[:-3])
            n += sum(1 for name in dir(mod) if name.startswith("test_"))
    return n


def test_portable_suite_passes_under_micropython():
    r = subprocess.run([MICROPYTHON, os.path.join(HERE, "run_mp.py")], capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr  # the unix port prints tracebacks on stdout
    m = re.search(r"RESULT passed=(\d+) failed=(\d+)", out)
    assert m, out
    assert r.returncode == 0, out
    # every portable test ran there, none silently missing
    assert int(m.group(1)) == portable_test_count(), out
