"""Reading the copy of the ECHONET Machine Readable Appendix in host_tests/data/mra (CPython).

Shared by host_tests/test_mra.py (declarations checked against the Appendix) and
tools/gen_props_doc.py (names and units for docs/properties.md). Only the current
definitions count: entries whose validRelease.to is "latest".

The value types of the MRA ("data"), as resolved here:
  number     format uint8/16/32 or int8/16/32 (size and signedness), minimum..maximum, or an
             "enum" list of allowed numbers; unit and multiple (scale) for documents
  state      size and enum codes ("edt", a hex string, or a range "0x006F...0x03E8")
  level      codes base .. base + maximum - 1 (size from the width of base), or
             minimum..maximum when there is no base
  raw        minSize..maxSize bytes; time: size (HH MM [SS]); date: 4; date-time: size;
  bitmap     size; object: its elements in a row; array: itemSize x minItems..maxItems
  oneOf      any of the alternatives; {"$ref": "#/definitions/x"} points into definitions.json
"""
import functools
import json
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mra")

SUPER_CLASS = 0x0000
NODE_PROFILE = 0x0EF0
ACCESS = ("get", "set", "inf")  # bit 0, 1, 2 of the table flags (GET, SET, ANNO)
REQUIRED = ("required", "required_c", "required_o")

FORMATS = {
    "uint8": (1, False),
    "uint16": (2, False),
    "uint32": (4, False),
    "int8": (1, True),
    "int16": (2, True),
    "int32": (4, True),
}


class MRAError(ValueError):
    """The MRA data has a shape this reader does not know."""


# ---- files


def class_file(code):
    """Path of a class's file relative to DATA."""
    if code == SUPER_CLASS:
        return "superClass/0x0000.json"
    if code == NODE_PROFILE:
        return "nodeProfile/0x0EF0.json"
    return "devices/0x%04X.json" % code


def has_class(code):
    return os.path.isfile(os.path.join(DATA, class_file(code)))


@functools.lru_cache(maxsize=None)
def _load(rel):
    with open(os.path.join(DATA, rel), encoding="utf-8") as f:
        return json.load(f)


def definitions():
    return _load("definitions/definitions.json")["definitions"]


def metadata():
    return _load("metaData.json")["metaData"]


def class_json(code):
    return _load(class_file(code))


def class_name(code):
    """English class name, e.g. "Storage battery"."""
    return class_json(code)["className"]["en"]


def is_current(entry):
    return entry["validRelease"]["to"] == "latest"


def own_properties(code):
    """{epc: entry} of the current properties a class file itself lists."""
    out = {}
    for entry in class_json(code)["elProperties"]:
        if is_current(entry):
            epc = int(entry["epc"], 16)
            if epc in out:
                raise MRAError("0x%04X: two current entries for EPC 0x%02X" % (code, epc))
            out[epc] = entry
    return out


def properties(code):
    """{epc: entry} of a class's current properties. A device class inherits the super
    class's, and its own entry for an EPC replaces the super class's; the node profile and
    the super class stand alone."""
    if code in (SUPER_CLASS, NODE_PROFILE):
        return own_properties(code)
    out = dict(own_properties(SUPER_CLASS))
    out.update(own_properties(code))
    return out


def property_name(entry):
    return entry["propertyName"]["en"]


def rule(entry, access):
    """"required", "required_c", "required_o", "optional" or "notApplicable"."""
    return entry["accessRule"][access]


# ---- data types


def deref(data):
    """data with a top-level {"$ref": ...} replaced by the definition it names."""
    while "$ref" in data:
        ref = data["$ref"]
        prefix = "#/definitions/"
        if not ref.startswith(prefix):
            raise MRAError("unsupported $ref %r" % ref)
        data = definitions()[ref[len(prefix) :]]
    return data


def alternatives(data):
    """The resolved alternatives of data: the members of a oneOf (nested ones flattened),
    or data itself."""
    data = deref(data)
    if "oneOf" in data:
        out = []
        for alt in data["oneOf"]:
            out.extend(alternatives(alt))
        return out
    return [data]


def _hex_size(text):
    return (len(text) - 2 + 1) // 2


def sizes(data):
    """(min, max) EDT length in bytes of a value of data."""
    lo = hi = None
    for alt in alternatives(data):
        a, b = _sizes1(alt)
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    return lo, hi


def _sizes1(d):
    t = d.get("type")
    if t == "number":
        if d.get("format") not in FORMATS:
            raise MRAError("number of unknown format %r" % d.get("format"))
        n = FORMATS[d["format"]][0]
        return n, n
    if t in ("state", "bitmap", "time", "date-time"):
        return d["size"], d["size"]
    if t == "date":
        n = d.get("size", 4)
        return n, n
    if t == "level":
        n = _hex_size(d["base"]) if "base" in d else 1
        return n, n
    if t == "raw":
        return d["minSize"], d["maxSize"]
    if t == "object":
        lo = hi = 0
        for el in d["properties"]:
            a, b = sizes(el["element"])
            lo += a
            hi += b
        return lo, hi
    if t == "array":
        item = d.get("itemSize")
        if item is None:
            a, b = sizes(d["items"])
            if a != b:
                raise MRAError("array of variable-size items")
            item = a
        return item * d.get("minItems", 0), item * d["maxItems"]
    raise MRAError("unknown data type %r" % t)


def _codes(text):
    """(lo, hi) of an "edt" string: "0x41" or a range "0x006F...0x03E8"."""
    parts = text.split("...")
    return int(parts[0], 16), int(parts[-1], 16)


class Scalar:
    """A value that is one integer: the MRA's number, state and level types and oneOfs of
    them. All alternatives have one size.

    numbers  (lo, hi) ranges of number alternatives, in the format's own domain
    codes    (lo, hi) codes of state/level alternatives and number "enum" lists, as the
             unsigned bit pattern of the EDT
    signed   True when a number alternative has a signed format
    labels   {(lo, hi): English description} of the state codes, for documents
    units    [(unit, scale)] of the number alternatives, for documents
    """

    def __init__(self, size):
        self.size = size
        self.signed = False
        self.numbers = []
        self.codes = []
        self.labels = {}
        self.units = []

    def values(self, signed=None):
        """All allowed values as merged (lo, hi) intervals, in the signed domain if signed
        (default: the signedness of the number alternatives) else as unsigned patterns."""
        if signed is None:
            signed = self.signed
        bits = 8 * self.size
        out = []
        for lo, hi in self.numbers:
            if self.signed and not signed:  # signed numbers as bit patterns
                out.extend(_wrap_unsigned(lo, hi, bits))
            elif signed and not self.signed:
                out.extend(_wrap_signed(lo, hi, bits))
            else:
                out.append((lo, hi))
        for lo, hi in self.codes:
            out.extend(_wrap_signed(lo, hi, bits) if signed else [(lo, hi)])
        return normalize(out)


def _wrap_signed(lo, hi, bits):
    """Unsigned-pattern interval as signed intervals."""
    half = 1 << (bits - 1)
    full = 1 << bits
    out = []
    if lo < half:
        out.append((lo, min(hi, half - 1)))
    if hi >= half:
        out.append((max(lo, half) - full, hi - full))
    return out


def _wrap_unsigned(lo, hi, bits):
    full = 1 << bits
    out = []
    if lo < 0:
        out.append((lo + full, min(hi, -1) + full))
    if hi >= 0:
        out.append((max(lo, 0), hi))
    return out


def scalar(data):
    """The Scalar of data, or None when data is not (only) a single integer value."""
    alts = alternatives(data)
    if any(a.get("type") not in ("number", "state", "level") for a in alts):
        return None
    size = {_sizes1(a)[0] for a in alts}
    if len(size) != 1:
        raise MRAError("oneOf of integers of sizes %s" % sorted(size))
    out = Scalar(size.pop())
    bits = 8 * out.size
    for a in alts:
        t = a["type"]
        if t == "number":
            _n, signed = FORMATS[a["format"]]
            out.signed = out.signed or signed
            if "enum" in a:
                for v in a["enum"]:
                    out.codes.append((v % (1 << bits), v % (1 << bits)))
            else:
                out.numbers.append((a["minimum"], a["maximum"]))
                out.units.append((a.get("unit"), a.get("multiple", a.get("multipleOf", 1))))
            # the Appendix's overflow / underflow codes, when a number declares them
            if a.get("overflowCode"):
                c = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
                out.codes.append((c, c))
                out.labels[(c, c)] = "overflow"
            if a.get("underflowCode"):
                c = (1 << (bits - 1)) if signed else (1 << bits) - 2
                out.codes.append((c, c))
                out.labels[(c, c)] = "underflow"
        elif t == "state":
            for e in a["enum"]:
                lo, hi = _codes(e["edt"])
                out.codes.append((lo, hi))
                out.labels[(lo, hi)] = e.get("descriptions", {}).get("en", e.get("name", ""))
        else:  # level
            if "base" in a:
                base = int(a["base"], 16)
                out.codes.append((base, base + a["maximum"] - 1))
                out.labels[(base, base + a["maximum"] - 1)] = "level 1..%d" % a["maximum"]
            else:
                out.codes.append((a["minimum"], a["maximum"]))
    return out


def normalize(intervals):
    """Sorted, merged (lo, hi) intervals (adjacent ones joined)."""
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def contains(outer, inner):
    """True when every value of the intervals inner lies in the intervals outer."""
    outer = normalize(outer)
    return all(any(a <= lo and hi <= b for a, b in outer) for lo, hi in normalize(inner))


def count(intervals):
    return sum(hi - lo + 1 for lo, hi in normalize(intervals))


def show(intervals, hexdigits=0):
    """Intervals as text: "0..7, 9..1001, 1023" (hex with hexdigits > 0)."""

    def one(v):
        if hexdigits:
            return "0x%0*X" % (hexdigits, v) if v >= 0 else "-0x%0*X" % (hexdigits, -v)
        return str(v)

    parts = []
    for lo, hi in normalize(intervals):
        parts.append(one(lo) if lo == hi else "%s..%s" % (one(lo), one(hi)))
    return ", ".join(parts)


class TimeShape:
    """A value made only of times of day: a time, or an object of times, possibly with an
    all-0xFF state alternative ("undefined"/"no setting").

    counts     the numbers of HH:MM times in the alternatives
    undefined  True when an all-0xFF alternative is allowed
    max_hour   the largest hour allowed (time "maximumOfHour", else 23)
    seconds    True when a time carries seconds (size 3)
    """

    def __init__(self):
        self.counts = set()
        self.undefined = False
        self.max_hour = 23
        self.seconds = False


def time_shape(data):
    """The TimeShape of data, or None when data is not made of times of day."""
    out = TimeShape()
    for alt in alternatives(data):
        t = alt.get("type")
        if t == "state":
            full = [(1 << (8 * alt["size"])) - 1] * 2
            if all(list(_codes(e["edt"])) == full for e in alt["enum"]):
                out.undefined = True
                continue
            return None
        leaves = [alt] if t == "time" else None
        if t == "object":
            leaves = [deref(el["element"]) for el in alt["properties"]]
        if not leaves or any(x.get("type") != "time" for x in leaves):
            return None
        for x in leaves:
            out.max_hour = max(out.max_hour, x.get("maximumOfHour", 23))
            out.seconds = out.seconds or x["size"] != 2
        out.counts.add(len(leaves))
    return out if out.counts else None


def type_names(data):
    """Sorted set of the type names of the alternatives of data."""
    return sorted({a.get("type", "?") for a in alternatives(data)})
