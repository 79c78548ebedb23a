"""Give the heap back the bytecode of modules no longer needed (start-up code, management,
the update verifier): under the unix port, and for modules loaded from the filesystem on
a board, a module's code lives in the heap for as long as it is imported.

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
