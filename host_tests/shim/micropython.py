"""CPython stand-in for MicroPython's `micropython` module."""


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def alloc_emergency_exception_buf(_size):
    pass


def mem_info(*_args):
    print("mem: (CPython shim)")


def opt_level(*_args):
    return 0
