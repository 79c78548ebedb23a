"""Give the heap back what modules no longer needed take (start-up code, management, the
update verifier): their function and class objects and module dictionary wherever the
code runs from, and their bytecode too when it was loaded from a filesystem (a board's
files, an installed update) rather than run in place from flash or ROMFS.

    drop("startup", "security.control")

A module still referenced elsewhere (a function or class kept by a running object) stays
alive: drop only what nothing running holds.
"""
import sys


def drop(*names):
    for name in names:
        if sys.modules.pop(name, None):
            package, _, module = name.rpartition(".")
            pkg = sys.modules.get(package)
            if pkg is not None and hasattr(pkg, module):  # the package keeps its submodule too
                delattr(pkg, module)
