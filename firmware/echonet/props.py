"""Property declarations as data, and the Set validation derived from them.

A class is a tuple of properties; each property is built by `prop()` from:
  epc   the property code
  rule  Get/Set/Anno access in the Appendix notation, one letter each:
        "M" mandatory and served, "o" optional and served, "-" not served.
        "MoM" = Get mandatory, Set optional (served), status announcement mandatory.
  kind  one of the value types below, built by the helpers (u8, u32, enum, ...).

The property maps 0x9D/0x9E/0x9F, Set validation, the node profile's lists and the
generated property reference all come from these tuples: one place for each fact.
"""
import struct

from micropython import const

# access flags
GET = const(1)
SET = const(2)
ANNO = const(4)
# the Appendix makes that access mandatory
M_GET = const(8)
M_SET = const(16)
M_ANNO = const(32)

# value kinds
NUM = const(0)  # (NUM, size, signed, lo, hi, extra): integer lo..hi, or one of extra
ENUM = const(1)  # (ENUM, size, values): one of the listed codes
RAW = const(2)  # (RAW, minsize, maxsize): any bytes of that length
TIME = const(3)  # (TIME, count): count times HH MM; extra FF.. = undefined allowed
DATE = const(4)  # (DATE,): YYYY(2) MM DD
LOCATION = const(5)  # (LOCATION,): installation location, 1 byte or 0x01 + 16 bytes

_FMT = {(1, 0): ">B", (2, 0): ">H", (4, 0): ">I", (1, 1): ">b", (2, 1): ">h", (4, 1): ">i"}


def u8(lo=0, hi=0xFD, *extra):
    return (NUM, 1, 0, lo, hi, extra)


def u16(lo=0, hi=0xFFFD, *extra):
    return (NUM, 2, 0, lo, hi, extra)


def u32(lo=0, hi=0xFFFFFFFD, *extra):
    return (NUM, 4, 0, lo, hi, extra)


def s8(lo=-127, hi=125, *extra):
    return (NUM, 1, 1, lo, hi, extra)


def s16(lo=-32767, hi=32766, *extra):
    return (NUM, 2, 1, lo, hi, extra)


def s32(lo=-999999999, hi=999999999, *extra):
    return (NUM, 4, 1, lo, hi, extra)


def enum(*values, size=1):
    return (ENUM, size, bytes(values) if size == 1 else values)


def raw(minsize, maxsize=None):
    return (RAW, minsize, minsize if maxsize is None else maxsize)


def times(count=1, undefined=False):
    return (TIME, count, undefined)


def date():
    return (DATE,)


def location():
    return (LOCATION,)


def _flags(rule):
    f = 0
    for i in range(3):
        c = rule[i]
        if c != "-":
            f |= 1 << i
            if c == "M":
                f |= 8 << i
    return f


def prop(epc, rule, kind):
    """One declared property: (epc, access flags, kind tuple)."""
    return (epc, _flags(rule), kind)


def flags_rule(flags):
    """Inverse of the rule notation, for documents and error messages."""
    out = ""
    for i in range(3):
        out += ("M" if flags & (8 << i) else "o") if flags & (1 << i) else "-"
    return out


def kind_size(kind):
    """(min, max) EDT length for a kind."""
    k = kind[0]
    if k == NUM or k == ENUM:
        return kind[1], kind[1]
    if k == RAW:
        return kind[1], kind[2]
    if k == TIME:
        return 2 * kind[1], 2 * kind[1]
    if k == DATE:
        return 4, 4
    return 1, 17  # LOCATION


def decode_int(kind, edt):
    if kind[2]:
        return struct.unpack(_FMT[(kind[1], 1)], edt)[0]
    return int.from_bytes(edt, "big")


def encode_int(kind, value):
    return struct.pack(_FMT[(kind[1], kind[2])], value)


def valid(kind, edt):
    """True when edt is a well-formed value of this kind (size, range, enum)."""
    k = kind[0]
    n = len(edt)
    if k == NUM:
        if n != kind[1]:
            return False
        v = decode_int(kind, edt)
        return kind[3] <= v <= kind[4] or v in kind[5]
    if k == ENUM:
        if n != kind[1]:
            return False
        if n == 1:
            return edt[0] in kind[2]
        return int.from_bytes(edt, "big") in kind[2]
    if k == RAW:
        return kind[1] <= n <= kind[2]
    if k == TIME:
        if n != 2 * kind[1]:
            return False
        if kind[2] and edt == b"\xff" * n:
            return True
        for i in range(0, n, 2):
            if edt[i] > 23 or edt[i + 1] > 59:
                return False
        return True
    if k == DATE:
        return n == 4 and 1 <= edt[2] <= 12 and 1 <= edt[3] <= 31
    if k == LOCATION:
        # 0x01 announces 16 bytes of position information; otherwise a 1-byte code
        return (n == 1 and edt[0] != 0x01) or (n == 17 and edt[0] == 0x01)
    return False
