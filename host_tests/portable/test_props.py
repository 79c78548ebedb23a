from echonet.declare import date, enum, flags_rule, location, prop, raw, s32, table, times, u8, u32
from echonet.props import records
from echonet.props import valid as _valid

from .support import h


def valid(kind, edt):
    return _valid(prop(0xF0, "oo-", kind), edt)


def test_rule_notation_round_trips():
    for rule in ("MMM", "MoM", "M-o", "oo-", "-o-", "o-o"):
        assert flags_rule(prop(0x80, rule, u8())[1]) == rule


def test_number_range_size_and_specials():
    amount = u32(1, 999999999, 0)
    assert valid(amount, h("00000000"))  # "no setting"
    assert valid(amount, h("3B9AC9FF"))  # 999,999,999
    assert not valid(amount, h("3B9ACA00"))  # 1,000,000,000
    assert not valid(amount, h("000001"))  # wrong size
    pct = u8(0, 100)
    assert valid(pct, b"\x64") and not valid(pct, b"\x65")


def test_signed_numbers_use_twos_complement():
    w = s32()
    assert valid(w, h("FFFFFC18"))  # -1000 W
    assert not valid(w, h("80000000"))  # below -999,999,999


def test_enum():
    k = enum(0x41, 0x42)
    assert valid(k, b"\x41") and not valid(k, b"\x43") and not valid(k, b"\x41\x41")


def test_raw_time_date_location():
    assert valid(raw(1, 17), b"\x00") and not valid(raw(1, 17), b"")
    assert valid(times(1), h("1730")) and not valid(times(1), h("1830")[:1]) and not valid(times(1), h("183C"))
    assert valid(times(2, True), h("FFFFFFFF")) and not valid(times(2), h("FFFFFFFF"))
    assert valid(date(), h("07EA0B1A")) and not valid(date(), h("07EA0D01"))
    assert valid(location(), b"\x08") and valid(location(), b"\x01" + bytes(16))
    assert not valid(location(), b"\x01") and not valid(location(), b"\x08" + bytes(16))


def test_table_rows_sorted_and_overridable():
    base = table(prop(0x81, "MMM", location()), prop(0x80, "M-M", enum(0x30, 0x31)))
    t = table(base, prop(0x80, "MoM", enum(0x30, 0x31)), prop(0xDA, "MMM", enum(0x42)))
    rows = list(records(t))
    assert [e for e, _ in rows] == [0x80, 0x81, 0xDA]
    assert flags_rule(rows[0][1][1]) == "MoM"
