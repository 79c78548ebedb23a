"""Class tables at run time: look up a property, validate a Set against it.

A table (declared with echonet/declare.py) is one bytes object of records:
    epc, flags, n, kind, n bytes of parameters
The property maps 0x9D/0x9E/0x9F, Set validation, the node profile's lists and the
generated property reference all come from these tables: one place for each fact.
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

# value kinds and their parameters
NUM = const(0)  # size, signed, lo(4), hi(4), extra(4)...: integer lo..hi or one of extra
ENUM = const(1)  # size, values (size bytes each)
RAW = const(2)  # minsize, maxsize
TIME = const(3)  # count, undefined-allowed: count times HH MM, or all FF
DATE = const(4)  # YYYY(2) MM DD
LOCATION = const(5)  # installation location: 1 byte, or 0x01 + 16 bytes

_FMT = const((">B", ">H", None, ">I", ">b", ">h", None, ">i"))


def records(tbl):
    """(epc, record) for every row of a table."""
    i = 0
    n = len(tbl)
    while i < n:
        j = i + 4 + tbl[i + 2]
        yield tbl[i], tbl[i:j]
        i = j


def find(tbl, epc):
    """Offset of the record for epc, or -1."""
    i = 0
    n = len(tbl)
    while i < n:
        if tbl[i] == epc:
            return i
        i += 4 + tbl[i + 2]
    return -1


def _int(size, signed, b):
    return struct.unpack(_FMT[size - 1 + 4 * signed], b)[0]


def num_limits(rec):
    """(size, signed, lo, hi, extras) of a NUM record."""
    size = rec[4]
    signed = rec[5]
    vals = [_int(4, signed, rec[i : i + 4]) for i in range(6, len(rec), 4)]
    return size, signed, vals[0], vals[1], vals[2:]


def in_range(rec, value):
    """True when the number value is within a NUM record's range or one of its codes, or
    one of a 1-byte ENUM's values. Allocates nothing (but a word beyond a board's 31-bit
    small ints): the appliances' values go through it every second, and garbage made at
    boot fragments a small heap."""
    if rec[3] == ENUM:
        if rec[4] == 1:
            for i in range(5, len(rec)):
                if rec[i] == value:
                    return True
        return False
    lo = 0
    for i in range(6, len(rec), 4):  # lo, hi, then the codes: 4 bytes each, big-endian
        v = rec[i] - 256 if rec[5] and rec[i] & 0x80 else rec[i]  # signed: the top byte's sign first
        v = v << 24 | rec[i + 1] << 16 | rec[i + 2] << 8 | rec[i + 3]
        if i == 6:
            lo = v
        elif i == 10 and lo <= value <= v or i > 10 and v == value:
            return True
    return False


def encode_int(rec, value):
    return struct.pack(_FMT[rec[4] - 1 + 4 * rec[5]], value)


def valid(rec, edt):
    """True when edt is a well-formed value for this record's kind (size, range, enum)."""
    k = rec[3]
    n = len(edt)
    if k == NUM:
        if n != rec[4]:
            return False
        return in_range(rec, _int(n, rec[5], edt))
    if k == ENUM:
        size = rec[4]
        if n != size:
            return False
        for i in range(5, len(rec), size):
            if rec[i : i + size] == edt:
                return True
        return False
    if k == RAW:
        return rec[4] <= n <= rec[5]
    if k == TIME:
        if n != 2 * rec[4]:
            return False
        if rec[5] and edt == b"\xff" * n:
            return True
        for i in range(0, n, 2):
            if edt[i] > 23 or edt[i + 1] > 59:
                return False
        return True
    if k == DATE:  # Appendix: YYYY 0x0001-0x270F (1-9999)
        return n == 4 and 1 <= (edt[0] << 8 | edt[1]) <= 9999 and 1 <= edt[2] <= 12 and 1 <= edt[3] <= 31
    if k == LOCATION:
        # 0x01 announces 16 bytes of position information; otherwise a 1-byte code
        return (n == 1 and edt[0] != 0x01) or (n == 17 and edt[0] == 0x01)
    return False
