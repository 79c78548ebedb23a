"""Every class declaration against the ECHONET Machine Readable Appendix (Release R).

Declarations: firmware/echonet/profile_props.py (SUPER_CLASS against superClass/0x0000.json,
NODE_PROFILE against nodeProfile/0x0EF0.json) and every firmware/drready/*_props.py
(TABLE against devices/0x<CLASS_CODE>.json; TABLE holds the super class rows too, and those
are compared with superClass/0x0000.json unless the device file has its own entry for the
EPC). Only the MRA's current entries count (validRelease.to == "latest"). The MRA files are
the copy in host_tests/data/mra, read by host_tests/mra.py; a declaration whose CLASS_CODE
has no file there fails.

What is checked, for each class:

Access (rule letters M/o/- of echonet/declare.py against the MRA's accessRule get/set/inf)
  - "required": served with that access and flagged M.
  - "required_c" (conditionally required) and "required_o" (required as one of a choice):
    M or o, or not served; the condition is in prose and cannot be checked in general.
    The one form that can be is checked: a group whose remark reads "Either 0xE2, 0xE3 or
    0xE4 is required." (storage battery) must have at least one member served with that
    access. A declared M on a required_c/required_o property is accepted (the firmware
    serves it, so for this device the condition holds).
  - "optional": o or not served, never M: an M must come from a required* rule (no
    invented mandatories).
  - "notApplicable": never served with that access.
  - every EPC served exists in the MRA for the class or the super class, except the
    manufacturer-specific 0xF0-0xFF, which are allowed and must be Get-only ("o--").

Values (the kind of the declaration against the MRA's data, see host_tests/mra.py)
  - sizes: declare.size_range(record) equals the MRA's (min, max) EDT length, for every kind
    (oneOf: smallest to largest alternative; object: the sum of its elements; array: item
    size times the item counts).
  - number kinds (u8..s32): the size and signedness match the MRA format, and the values the
    record accepts (lo..hi plus its extra values) are the values the MRA allows. With a
    oneOf the MRA allows the union of its alternatives: a number range, the edt codes of
    state alternatives (e.g. 0xAA: 1..999999999 or 0x00000000 "no setting" is
    u32(1, 999999999, 0)), further number ranges, which the extras can spell out value by
    value. A declaration that differs from that set only by filling gaps inside it (same
    lowest and highest value, every MRA value accepted, every extra an MRA value) is also
    accepted when the property is Get-only, since the device produces its value (fault
    description 0x89, codes 0..7, 9..0x3E9 and 0x3FF, declared u16(0, 0x3FF)), or when it is
    Set-able and the notation, one range plus up to 61 extras (the most a record holds),
    cannot spell the set (0xE0: -999999999..-1 or 1..999999999, no 0): then accept() must
    refuse the gap values. A Set-able property whose set the notation can spell must spell
    it exactly, so the table itself refuses bad Sets; the failure gives the declaration.
  - enum kinds: the codes are a subset of the MRA's codes; a Set-able enum lists exactly the
    MRA's codes. The table is the Appendix's value domain and is what tells a malformed Set
    (SNA, value out of the domain) from a well-formed one; a code the device does not carry
    out (0xDA 0x45 "test", say) is still declared, so the table validates it, and accept()
    refuses it. Equality then means a missing code can only be a mistake, and is caught.
    A Get-only enum may list fewer codes: the device only ever reports those.
  - raw: any MRA type of the same size for Get-only properties (the firmware builds the
    bytes: objects, arrays, bitmaps, or an integer it formats itself); a Set-able number,
    state or level must not be declared raw, or its Sets would go unvalidated.
  - times(count, undefined): the MRA value is count times HH:MM (a time, or an object of
    times), hours up to 23, and an all-0xFF alternative exactly when undefined is set.
  - date(): an MRA date; location(): an MRA raw (0x81: 1 or 17 bytes).

A mismatch fails with one line per problem naming the class, the EPC and the difference.
"""
import glob
import importlib
import os
import re

import mra
import pytest

from echonet import declare, props
from echonet.props import DATE, ENUM, GET, LOCATION, NUM, RAW, TIME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRREADY = os.path.join(ROOT, "firmware", "drready")

MAKER = range(0xF0, 0x100)
# A record's parameter length is one byte: a NUM kind is 10 + 4 * extras bytes after its
# kind byte, so a record holds at most 61 extra values.
MAX_EXTRAS = (255 - 10) // 4
WORD = {"get": "Get", "set": "Set", "inf": "Anno"}


def declarations():
    """(module, attribute, class code or None for the module's CLASS_CODE) of every table."""
    out = [
        pytest.param("echonet.profile_props", "SUPER_CLASS", mra.SUPER_CLASS, id="super_class"),
        pytest.param("echonet.profile_props", "NODE_PROFILE", mra.NODE_PROFILE, id="node_profile"),
    ]
    for path in sorted(glob.glob(os.path.join(DRREADY, "*_props.py"))):
        name = os.path.basename(path)[:-3]
        out.append(pytest.param("drready." + name, "TABLE", None, id=name))
    return out


def _label(code):
    name = mra.class_name(code) if mra.has_class(code) else "(no MRA file)"
    return "0x%04X %s" % (code, name)


def _either_groups(entries):
    """[(access, epcs)] for required_c properties whose remark reads "Either 0xE2, 0xE3 or
    0xE4 is required.": at least one of epcs must be served with access."""
    out = []
    for epc, e in sorted(entries.items()):
        remark = e.get("remark", {}).get("en", "")
        m = re.search(r"\bEither\b(.*?)\bis required", remark)
        if not m:
            continue
        group = frozenset(int(x, 16) for x in re.findall(r"0x[0-9A-Fa-f]{2}\b", m.group(1)))
        for a in mra.ACCESS:
            if mra.rule(e, a) == "required_c" and epc in group and (a, group) not in out:
                out.append((a, group))
    return out


def access_problems(entry, flags):
    out = []
    rule = declare.flags_rule(flags)
    for i, a in enumerate(mra.ACCESS):
        r = mra.rule(entry, a)
        served = flags & (1 << i)
        mandatory = flags & (8 << i)
        if r == "required" and not mandatory:
            out.append("%s is required by the MRA, declared %r (%s must be M)" % (WORD[a], rule, WORD[a]))
        elif r == "notApplicable" and served:
            out.append("%s is notApplicable in the MRA, declared %r (%s must be -)" % (WORD[a], rule, WORD[a]))
        elif mandatory and r not in mra.REQUIRED:
            out.append("%s is %s in the MRA, declared %r: an M only where the MRA requires it" % (WORD[a], r, rule))
    return out


def _num_text(lo, hi, extras):
    return "%d..%d%s" % (lo, hi, "".join(" +%d" % x for x in extras))


def _spelling(want, signed, size):
    """A declaration that accepts exactly the values want, or None if the notation cannot:
    the widest interval as the range, every other value as an extra."""
    want = mra.normalize(want)
    lo, hi = max(want, key=lambda iv: iv[1] - iv[0])
    rest = [iv for iv in want if iv != (lo, hi)]
    if mra.count(rest) > MAX_EXTRAS:
        return None
    extras = [v for a, b in rest for v in range(a, b + 1)]
    return "%s%d(%s)" % ("s" if signed else "u", 8 * size, ", ".join(str(v) for v in [lo, hi] + extras))


def num_problems(rec, sc, settable):
    size, signed, lo, hi, extras = props.num_limits(rec)
    out = []
    if sc.numbers and bool(signed) != sc.signed:
        out.append("declared %s, the MRA number is %s" % (("unsigned", "signed")[signed], ("unsigned", "signed")[sc.signed]))
        return out
    if not sc.numbers and signed:
        out.append("declared signed, the MRA has only codes")
        return out
    if size != sc.size:
        return out  # reported as a size mismatch
    want = sc.values(bool(signed))
    ours = mra.normalize([(lo, hi)] + [(x, x) for x in extras])
    if ours == want:
        return out
    mra_text = "MRA allows %s" % mra.show(want)
    fills_gaps = (
        ours[0][0] == want[0][0]
        and ours[-1][1] == want[-1][1]
        and mra.contains(ours, want)
        and mra.contains(want, [(x, x) for x in extras])
    )
    if not fills_gaps:
        out.append("values %s, %s" % (_num_text(lo, hi, extras), mra_text))
        return out
    if settable:
        exact = _spelling(want, signed, size)
        if exact:
            out.append(
                "Set-able: values %s also accept %s, which the MRA does not allow (%s); declare %s"
                % (_num_text(lo, hi, extras), mra.show(_minus(ours, want)), mra_text, exact)
            )
    return out


def _minus(ours, want):
    """Intervals of ours that are not in want (both normalized)."""
    out = []
    for lo, hi in ours:
        v = lo
        for a, b in want:
            if b < v or a > hi:
                continue
            if a > v:
                out.append((v, a - 1))
            v = b + 1
        if v <= hi:
            out.append((v, hi))
    return out


def enum_problems(rec, sc, settable):
    out = []
    codes = declare.enum_values(rec)
    want = sc.values(False)
    digits = 2 * rec[4]
    ours = mra.normalize([(c, c) for c in codes])
    strange = _minus(ours, want)
    if strange:
        out.append("codes %s are not in the MRA (%s)" % (mra.show(strange, digits), mra.show(want, digits)))
    if settable and ours != want:
        missing = _minus(want, ours)
        if missing:
            out.append(
                "Set-able enum lacks the MRA codes %s: declare every code, refuse the ones not carried out in accept()"
                % mra.show(missing, digits)
            )
    return out


def time_problems(rec, data):
    ts = mra.time_shape(data)
    if ts is None:
        return ["declared times(), the MRA type is %s" % "/".join(mra.type_names(data))]
    out = []
    count, undefined = rec[4], bool(rec[5])
    if ts.counts != {count}:
        out.append("declared %d time(s), the MRA has %s" % (count, sorted(ts.counts)))
    if ts.undefined != undefined:
        out.append(
            "declared undefined=%s, the MRA %s an all-0xFF value" % (undefined, "allows" if ts.undefined else "has no")
        )
    if ts.max_hour > 23:
        out.append("the MRA allows hours up to %d, times() only 0..23" % ts.max_hour)
    if ts.seconds:
        out.append("the MRA time has seconds, times() is HH:MM")
    return out


def data_problems(entry, rec):
    data = entry["data"]
    flags = rec[1]
    settable = bool(flags & 2)
    kind = rec[3]
    out = []
    want = mra.sizes(data)
    got = declare.size_range(rec)
    if want != got:
        out.append("size %d..%d bytes, the MRA's is %d..%d" % (got + want))
    sc = mra.scalar(data)
    types = "/".join(mra.type_names(data))
    if kind == NUM:
        if sc is None:
            out.append("declared a number, the MRA type is %s" % types)
        else:
            out.extend(num_problems(rec, sc, settable))
    elif kind == ENUM:
        if sc is None:
            out.append("declared an enum, the MRA type is %s" % types)
        else:
            out.extend(enum_problems(rec, sc, settable))
    elif kind == RAW:
        if settable and sc is not None:
            out.append("Set-able %s declared raw: its Sets would not be validated; declare a number or enum" % types)
    elif kind == TIME:
        out.extend(time_problems(rec, data))
    elif kind == DATE:
        if mra.type_names(data) != ["date"]:
            out.append("declared date(), the MRA type is %s" % types)
    elif kind == LOCATION:
        if mra.type_names(data) != ["raw"]:
            out.append("declared location(), the MRA type is %s" % types)
    else:
        out.append("unknown kind %d" % kind)
    return out


def problems(code, table):
    """One line per difference between a declared table and the MRA's class code."""
    label = _label(code)
    if not mra.has_class(code):
        return ["%s: no MRA file %s in host_tests/data/mra: copy it there from the MRA v1.3.1" % (label, mra.class_file(code))]
    if mra.class_json(code)["validRelease"]["to"] != "latest":
        return ["%s: the class is not current in the MRA (validRelease %s)" % (label, mra.class_json(code)["validRelease"])]
    entries = mra.properties(code)
    out = []
    served = {}
    for epc, rec in props.records(table):
        served[epc] = rec[1]
        where = "%s EPC 0x%02X" % (label, epc)
        if epc in MAKER:
            if rec[1] != GET:
                out.append("%s: manufacturer-specific, must be Get-only 'o--', declared %r" % (where, declare.flags_rule(rec[1])))
            continue
        entry = entries.get(epc)
        if entry is None:
            rule = declare.flags_rule(rec[1])
            out.append("%s: not a property of this class or the super class in the MRA (declared %r)" % (where, rule))
            continue
        where += " (%s)" % mra.property_name(entry)
        for p in access_problems(entry, rec[1]) + data_problems(entry, rec):
            out.append("%s: %s" % (where, p))
    for epc, entry in sorted(entries.items()):
        if epc in served:
            continue
        for a in mra.ACCESS:
            if mra.rule(entry, a) == "required":
                out.append(
                    "%s EPC 0x%02X (%s): %s is required by the MRA, not declared"
                    % (label, epc, mra.property_name(entry), WORD[a])
                )
    for a, group in _either_groups(entries):
        i = mra.ACCESS.index(a)
        if not any(served.get(epc, 0) & (1 << i) for epc in group):
            out.append(
                "%s EPCs %s: the MRA requires %s of at least one of them, none declared"
                % (label, "/".join("0x%02X" % e for e in sorted(group)), WORD[a])
            )
    return out


@pytest.mark.parametrize("module, attr, code", declarations())
def test_declaration_matches_mra(module, attr, code):
    mod = importlib.import_module(module)
    assert hasattr(mod, attr), "%s defines no %s" % (module, attr)
    if code is None:
        assert isinstance(getattr(mod, "CLASS_CODE", None), int), "%s defines no CLASS_CODE" % module
        code = mod.CLASS_CODE
    found = problems(code, getattr(mod, attr))
    # MAKER_EPCS (descriptions for docs/properties.md) may only name declared 0xF0-0xFF EPCs
    declared = {epc for epc, _rec in props.records(getattr(mod, attr))}
    for epc in sorted(getattr(mod, "MAKER_EPCS", None) or {}):
        if epc not in MAKER or epc not in declared:
            found.append("%s: MAKER_EPCS names 0x%02X, not a declared manufacturer-specific EPC" % (_label(code), epc))
    assert not found, "%s.%s differs from the MRA (Release R):\n  %s" % (module, attr, "\n  ".join(found))


def test_every_mra_file_copied_is_read():
    """The copy is complete for what it claims: metadata, definitions, base classes."""
    meta = mra.metadata()
    assert (meta["release"], meta["dataVersion"]) == ("R", "1.3.1")
    for code in (mra.SUPER_CLASS, mra.NODE_PROFILE):
        assert mra.has_class(code)
    for path in glob.glob(os.path.join(mra.DATA, "devices", "*.json")):
        code = int(os.path.basename(path)[:-5], 16)
        for entry in mra.properties(code).values():
            mra.sizes(entry["data"])  # every current data type resolves


def test_resolver():
    """What host_tests/mra.py makes of the MRA's types, on known properties."""
    node = mra.properties(mra.NODE_PROFILE)
    assert mra.sizes(node[0xD5]["data"]) == (1, 253)  # object: count + array of 0..84 EOJs
    assert mra.sizes(node[0xD7]["data"]) == (1, 17)
    assert mra.sizes(mra.properties(mra.SUPER_CLASS)[0x81]["data"]) == (1, 17)  # oneOf raw_1, raw_17
    battery = mra.properties(0x027D)
    assert battery[0x80] is mra.properties(mra.SUPER_CLASS)[0x80]  # inherited
    assert mra.property_name(battery[0x83]) == "Identification number"
    assert mra.rule(battery[0x83], "inf") == "optional"
    assert mra.sizes(battery[0xC8]["data"]) == (8, 8)
    aa = mra.scalar(battery[0xAA]["data"])
    assert (aa.size, aa.signed, aa.values()) == (4, False, [(0, 999999999)])
    e1 = mra.scalar(battery[0xE1]["data"])
    assert (e1.size, e1.signed, e1.values()) == (2, True, [(-32767, -1), (1, 32766)])
    fault = mra.scalar(battery[0x89]["data"])
    assert fault.values() == [(0, 7), (9, 0x3E9), (0x3FF, 0x3FF)]
    invalid = {"oneOf": [{"$ref": "#/definitions/number_-327670-327650Wh"}, {"$ref": "#/definitions/state_Invalid_8000"}]}
    assert mra.scalar(invalid).values() == [(-32768, 32765)]
    assert mra.scalar(invalid).values(False) == [(0, 32765), (32768, 65535)]
    heater = mra.properties(0x026B)
    assert mra.scalar(heater[0xE8]["data"]).values() == [(0x31, 0x38)]  # level base 0x31, 8 steps
    assert mra.scalar(heater[0xC8]["data"]).values() == [(1, 1), (20, 24)]  # number enum
    assert mra.sizes(heater[0xD9]["data"]) == (51, 51)  # month, day, hour + 24 x int16
    assert mra.sizes(heater[0xC2]["data"]) == (4, 4)  # bitmap
    assert mra.scalar(heater[0xC2]["data"]) is None
    window = mra.time_shape(mra.properties(0x027C)[0xD1]["data"])
    assert (window.counts, window.undefined, window.max_hour) == ({2}, True, 23)
    assert mra.sizes(mra.properties(0x027E)[0xE6]["data"]) == (1, 25)


# ---- the checker itself: a drift fails, naming class, EPC and mismatch


def _battery_with(*rows):
    from drready.battery_props import TABLE
    from echonet.declare import table

    return problems(0x027D, table(TABLE, *rows))


def test_battery_is_clean():
    assert _battery_with() == []


@pytest.mark.parametrize(
    "row, expect",
    [
        (("0xDA", "MoM", "enum", (0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x48, 0x49)), "Set is required by the MRA"),
        (("0xDA", "MMM", "enum", (0x42, 0x43, 0x44)), "lacks the MRA codes 0x40..0x41, 0x45..0x46, 0x48..0x49"),
        (("0xDB", "M--", "enum", (0x00, 0x03)), "codes 0x03 are not in the MRA"),
        (("0xA4", "M--", "u32", (0, 99999)), "values 0..99999, MRA allows 0..999999999"),
        (("0xAA", "MMM", "u32", (1, 999999999)), "MRA allows 0..999999999"),
        (("0xD3", "o--", "u32", (0, 999999999)), "declared unsigned, the MRA number is signed"),
        (("0xE5", "M--", "u8", (0, 100)), "Get is optional in the MRA, declared 'M--'"),
        (("0xD7", "o--", "enum", (0x00,)), "Get is notApplicable in the MRA"),
        (("0xB0", "o--", "u8", (0, 100)), "not a property of this class"),
        (("0xF5", "oo-", "raw", (2,)), "manufacturer-specific, must be Get-only"),
        (("0x8C", "M--", "raw", (10,)), "size 10..10 bytes, the MRA's is 12..12"),
        (("0xA6", "oo-", "raw", (1,)), "Set-able number declared raw"),
        (("0x97", "M--", "times", (2,)), "declared 2 time(s)"),
        (("0x98", "M--", "u32", ()), "declared a number, the MRA type is date"),
        (("0xE0", "oo-", "s32", (-999999999, 999999999)), None),  # the gap at 0 cannot be declared
        (("0x89", "M--", "u16", (0, 0x03FF)), None),  # Get-only: gaps filled
        (("0x89", "Mo-", "u16", (0, 0x03FF)), "notApplicable"),
    ],
)
def test_drift_is_reported(row, expect):
    from echonet import declare

    epc, rule, kind, args = row
    found = _battery_with(declare.prop(int(epc, 16), rule, getattr(declare, kind)(*args)))
    if expect is None:
        assert found == []
        return
    assert found, "no problem found for %r" % (row,)
    text = "\n".join(found)
    assert "0x027D Storage battery EPC %s" % epc in text and expect in text, text


def test_either_group_is_required():
    from drready.battery_props import TABLE

    rows = b"".join(rec for epc, rec in props.records(TABLE) if epc not in (0xE2, 0xE3, 0xE4))
    found = problems(0x027D, rows)
    assert found == ["0x027D Storage battery EPCs 0xE2/0xE3/0xE4: the MRA requires Get of at least one of them, none declared"]


def test_settable_gap_that_can_be_spelled_must_be():
    from echonet import declare

    sc = mra.scalar({"$ref": "#/definitions/state_for_epc89"})
    rec = declare.prop(0x89, "Mo-", declare.u16(0, 0x03FF))
    text = " ".join(num_problems(rec, sc, True))
    assert "accept 8, 1002..1022" in text and "declare u16(9, 1001, 0, 1, 2, 3, 4, 5, 6, 7, 1023)" in text
