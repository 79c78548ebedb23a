"""Declaration of the electric water heater class 0x026B (heat-pump EcoCute, Appendix
Release R): what this node serves of it. See echonet/declare.py for the notation."""
from echonet.declare import date, enum, prop, raw, table, times, u8, u16, u32
from echonet.profile_props import SUPER_CLASS

CLASS_CODE = 0x026B

_YES_NO = enum(0x41, 0x42)
_LITRES = u16(0, 65533)

TABLE = table(
    SUPER_CLASS,
    # Set is optional and not served: hot water at all times is this unit's primary job,
    # so no controller switches it off over the network (0xB0 0x43 is the checked way).
    prop(0x80, "M-M", enum(0x30, 0x31)),
    prop(0x84, "o--", u16(0, 65533)),  # electric input now, W, estimated (no CT sensor)
    prop(0x85, "o--", u32(0, 999999999)),  # cumulative electric input, 0.001 kWh = Wh
    prop(0x97, "oo-", times(1)),  # the clock the heating plan runs on
    prop(0x98, "oo-", date()),
    # 41 automatic; 42 manual heating (heat until full, then back to 41); 43 manual stop
    # (refused unless the tank keeps the reserve without heating; back to 41 at 0xC8)
    prop(0xB0, "MMM", enum(0x41, 0x42, 0x43)),
    prop(0xB2, "M-M", _YES_NO),  # heating now
    prop(0xC0, "MM-", _YES_NO),  # daytime reheating: 41 permitted, 42 not
    prop(0xC2, "o-M", raw(4)),  # alarm bitmap: byte 0 bit 0 no hot water
    prop(0xC3, "M-M", _YES_NO),  # hot water being drawn
    # energy shift (daytime heating): C7 01 participates in the next heating cycle, fixed
    # at the standard start time C8 (23 = 23:00) together with CA/CD; cleared (and
    # announced, so the controller sees the unit back on its own plan) at CA.
    prop(0xC7, "MMo", enum(0x00, 0x01)),
    prop(0xC8, "M--", enum(1, 20, 21, 22, 23, 24)),  # hour; 24 = midnight, 1 = 01:00
    prop(0xC9, "M--", u8(1, 2)),
    # shift times: hour codes (09 = 09:00 ... 11 = 17:00), 00 = cleared; CD after CA
    prop(0xCA, "MM-", enum(0x00, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11)),
    prop(0xCB, "M--", raw(16)),  # 4 x u32 Wh: shift-1 heating if CA were 10/13/15/17 h
    prop(0xCC, "M--", raw(8)),  # 4 x u16 Wh: electricity per hour of heating at those hours
    prop(0xCD, "MM-", enum(0x00, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11)),
    prop(0xCE, "M--", raw(12)),  # 3 x u32 Wh: shift-2 heating if CD were 13/15/17 h
    prop(0xCF, "M--", raw(6)),  # 3 x u16 Wh per hour at those hours
    prop(0xE1, "o--", _LITRES),  # hot water left in the tank, L
    prop(0xE2, "o--", _LITRES),  # tank capacity, L
    prop(0xE3, "MM-", _YES_NO),  # automatic bath: 41 on (fill, then keep warm), 42 off
    prop(0xEA, "o-M", enum(0x41, 0x42, 0x43)),  # bath: 41 filling, 42 stopped, 43 keeping warm
)
