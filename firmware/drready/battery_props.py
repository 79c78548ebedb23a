"""Declaration of the storage battery class 0x027D (Appendix Release R): what this node
serves of it. See echonet/declare.py for the notation."""
from echonet.declare import date, enum, prop, raw, s32, table, times, u8, u16, u32
from echonet.profile_props import SUPER_CLASS

CLASS_CODE = 0x027D

# 0xDA / 0xCF operation mode codes
_MODES = (0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x48, 0x49)
_WH = u32(0, 999999999)
_AMOUNT = u32(1, 999999999, 0)  # 0 = no setting

TABLE = table(
    SUPER_CLASS,
    prop(0x80, "MoM", enum(0x30, 0x31)),
    prop(0x89, "M--", u16(0, 0x03FF)),
    prop(0x8C, "M--", raw(12)),
    prop(0x97, "Mo-", times(1)),  # Set: moves the node's clock (echonet/node.py _move_clock)
    prop(0x98, "Mo-", date()),
    prop(0xA0, "M--", _WH),
    prop(0xA1, "M--", _WH),
    prop(0xA2, "M--", _WH),
    prop(0xA3, "M--", _WH),
    prop(0xA4, "M--", _WH),
    prop(0xA5, "M--", _WH),
    prop(0xA6, "oo-", u8(0, 100)),
    prop(0xA7, "oo-", u8(0, 100)),
    prop(0xA8, "M--", _WH),
    prop(0xA9, "M--", _WH),
    prop(0xAA, "MMM", _AMOUNT),
    prop(0xAB, "MMM", _AMOUNT),
    prop(0xC1, "MoM", enum(0x00, 0x01, 0x02, 0x03, 0x04)),
    prop(0xC2, "MoM", enum(0x00, 0x01, 0x02, 0x03, 0x04)),
    prop(0xC8, "M--", raw(8)),
    prop(0xC9, "M--", raw(8)),
    prop(0xCF, "M-M", enum(*_MODES)),
    prop(0xD0, "o--", _WH),
    prop(0xD3, "o--", s32()),
    prop(0xDA, "MMM", enum(*_MODES)),
    prop(0xDB, "M--", enum(0x00, 0x01, 0x02)),
    prop(0xE2, "M--", _WH),
    prop(0xE3, "M--", u16(0, 32766)),
    prop(0xE4, "M--", u8(0, 100)),
    prop(0xE6, "M--", enum(0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06)),
    prop(0xEB, "oo-", _WH),
    prop(0xEC, "oo-", _WH),
)
