"""Declaration of the electric vehicle charger/discharger class 0x027E (V2H, Appendix
Release R): what this node serves of it. See echonet/declare.py for the notation.

Served beyond the Appendix's mandatory set: 0x97/0x98 (the clock the departure plan runs
on), 0xD3 instantaneous power, 0xD6/0xD8 cumulative energy, 0xE0 signed power setting
(V2G), 0xE7/0xEA charging/discharging amounts and 0xEB/0xEC power settings: the DR levers
and reports. The DR-available amount needs no manufacturer-specific EPC: 0xC2/0xC4 report
what can be discharged now without breaking the departure charge, 0xCF what can still be
charged.

With no vehicle connected (0xC7 = 0x30), C0 C2 C4 CE CF D0 E2 E4 answer Get with SNA.
"""

from echonet.declare import date, enum, prop, raw, s32, table, times, u8, u16, u32
from echonet.profile_props import SUPER_CLASS

CLASS_CODE = 0x027E

_WH = u32(0, 999999999)
_W = u32(0, 999999999)
# 0xDC / 0xDD methods: 00 other, 01 maximum, 02 surplus / load-following, 03 designated
# power, 04 designated current, 05 designated purchasing power, 06 V2G
_METHODS = enum(0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06)

TABLE = table(
    SUPER_CLASS,
    prop(0x80, "MoM", enum(0x30, 0x31)),
    prop(0x89, "M--", u16(0, 0x03FF)),
    prop(0x8C, "M--", raw(12)),
    prop(0x97, "oo-", times(1)),
    prop(0x98, "oo-", date()),
    prop(0xC0, "M--", _WH),
    prop(0xC2, "M--", _WH),
    prop(0xC4, "M--", u8(0, 100)),
    prop(0xC5, "M--", _W),
    prop(0xC6, "M--", _W),
    prop(0xC7, "M-M", enum(0x30, 0x40, 0x41, 0x42, 0x43, 0x44, 0xFF)),
    prop(0xC8, "M--", raw(8)),
    prop(0xC9, "M--", raw(8)),
    prop(0xCA, "M--", raw(4)),
    prop(0xCB, "M--", raw(4)),
    prop(0xCC, "M--", enum(0x11, 0x12, 0x13, 0x21, 0x22, 0x23, 0x31, 0x32, 0x33, 0x41, 0x42, 0x43, 0x51, 0x52, 0x53)),
    prop(0xCD, "-M-", enum(0x10)),
    prop(0xCE, "M--", _WH),
    prop(0xCF, "M--", _WH),
    prop(0xD0, "M--", _WH),
    prop(0xD3, "o--", s32(-999999999, 999999999)),
    prop(0xD6, "o--", _WH),
    prop(0xD8, "o--", _WH),
    prop(0xDA, "MMM", enum(0x40, 0x42, 0x43, 0x44, 0x46, 0x47, 0x48, 0x49)),
    prop(0xDC, "MoM", _METHODS),
    prop(0xDD, "MoM", _METHODS),
    prop(0xE0, "oo-", s32(-999999999, 999999999)),
    prop(0xE1, "o-M", enum(0x40, 0x42, 0x43, 0x44, 0x47, 0x48)),
    prop(0xE2, "M--", _WH),
    prop(0xE4, "M--", u8(0, 100)),
    prop(0xE5, "o-M", enum(0x41, 0x42)),
    prop(0xE6, "M--", raw(1, 25)),  # data size (0-24) + vehicle ID
    prop(0xE7, "oo-", _WH),  # 0 = not set
    prop(0xEA, "oo-", _WH),  # 0 = not set
    prop(0xEB, "oo-", _W),
    prop(0xEC, "oo-", _W),
)
