"""pytest on CPython: firmware modules import as on the board, with shim/ standing in for
the MicroPython-only modules (machine, esp32, network, micropython)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (os.path.join(HERE, "shim"), os.path.join(ROOT, "firmware"), ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)
