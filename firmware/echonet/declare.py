"""Declaring a class table: `prop(epc, rule, kind)` rows joined by `table(...)`.

  epc   the property code
  rule  Get/Set/Anno access in the Appendix notation, one letter each:
        "M" mandatory and served, "o" optional and served, "-" not served.
        "MoM" = Get mandatory, Set optional (served), status announcement mandatory.
  kind  the value type: u8/u16/u32/s8/s16/s32(lo, hi, *extra), enum(*codes),
        raw(min, max), times(count), date(), location().

Declarations live in modules named *_props.py. The build (tools/build.py) evaluates them
on the host and ships only the resulting bytes, so the device never runs this code and
the tables cost no heap to build; pytest and the portable suite import them as source.
"""
import struct

from echonet.props import DATE, ENUM, LOCATION, NUM, RAW, TIME, records


def _num(size, signed, lo, hi, extra):
    out = bytes((NUM, size, signed)) + struct.pack(">ii" if signed else ">II", lo, hi)
    for x in extra:
        out += struct.pack(">i" if signed else ">I", x)
    return out


def u8(lo=0, hi=0xFD, *extra):
    return _num(1, 0, lo, hi, extra)


def u16(lo=0, hi=0xFFFD, *extra):
    return _num(2, 0, lo, hi, extra)


def u32(lo=0, hi=0xFFFFFFFD, *extra):
    return _num(4, 0, lo, hi, extra)


def s8(lo=-127, hi=125, *extra):
    return _num(1, 1, lo, hi, extra)


def s16(lo=-32767, hi=32766, *extra):
    return _num(2, 1, lo, hi, extra)


def s32(lo=-999999999, hi=999999999, *extra):
    return _num(4, 1, lo, hi, extra)


def enum(*values, size=1):
    out = bytes((ENUM, size))
    for v in values:
        out += v.to_bytes(size, "big")
    return out


def raw(minsize, maxsize=None):
    return bytes((RAW, minsize, minsize if maxsize is None else maxsize))


def times(count=1, undefined=False):
    return bytes((TIME, count, 1 if undefined else 0))


def date():
    return bytes((DATE,))


def location():
    return bytes((LOCATION,))


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
    """One declared property as a record."""
    return bytes((epc, _flags(rule), len(kind) - 1)) + kind


def table(*parts):
    """Join declarations; a later row for the same EPC replaces an earlier one, so a class
    can start from the super class and override it."""
    rows = {}
    for part in parts:
        for epc, rec in records(part):
            rows[epc] = rec
    return b"".join(rows[e] for e in sorted(rows))


# -- reading tables back, for tests and documents (host only) --


def flags_rule(flags):
    """Inverse of the rule notation, for documents and error messages."""
    out = ""
    for i in range(3):
        out += ("M" if flags & (8 << i) else "o") if flags & (1 << i) else "-"
    return out


def size_range(rec):
    """(min, max) EDT length of a record's kind."""
    k = rec[3]
    if k == NUM or k == ENUM:
        return rec[4], rec[4]
    if k == RAW:
        return rec[4], rec[5]
    if k == TIME:
        return 2 * rec[4], 2 * rec[4]
    if k == DATE:
        return 4, 4
    return 1, 17  # LOCATION


def enum_values(rec):
    size = rec[4]
    return [int.from_bytes(rec[i : i + size], "big") for i in range(5, len(rec), size)]
