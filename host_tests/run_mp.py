"""Run the portable suite under the MicroPython unix port (pytest starts this; see
test_portable_micropython.py). Plain MicroPython: no pytest, no os.path."""
import os
import sys

here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, here + "/../firmware")
sys.path.insert(0, here)

only = sys.argv[1:]  # optional module names
passed = 0
failed = 0
for fname in sorted(os.listdir(here + "/portable")):
    if not (fname.startswith("test_") and fname.endswith(".py")):
        continue
    modname = fname[:-3]
    if only and modname not in only:
        continue
    mod = __import__("portable." + modname, None, None, ("x",))
    for name in sorted(dir(mod)):
        if not name.startswith("test_"):
            continue
        try:
            getattr(mod, name)()
            passed += 1
        except Exception as e:
            failed += 1
            print("FAIL %s.%s" % (modname, name))
            sys.print_exception(e)
print("RESULT passed=%d failed=%d" % (passed, failed))
sys.exit(1 if failed else 0)
