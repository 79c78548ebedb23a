"""Declaration of the household fuel cell class 0x027C (ENE-FARM; Appendix Release R):
what this node serves of it. See echonet/declare.py for the notation."""
from echonet.declare import date, enum, prop, raw, table, times, u8, u16, u32
from echonet.profile_props import SUPER_CLASS

CLASS_CODE = 0x027C

_W = u16(0, 65533)  # W, MJ, L and 0.001 m3/h alike
_CUM = u32(0, 999999999)  # 0.001 kWh or 0.001 m3

TABLE = table(
    SUPER_CLASS,
    prop(0x97, "oo-", times(1)),  # the clock D1 is read against
    prop(0x98, "oo-", date()),
    prop(0xC1, "o--", u8(0, 100)),  # tank water temperature, degC (mean of the tank)
    prop(0xC2, "M--", _W),  # rated generation output, W
    prop(0xC3, "o--", _W),  # heat stored in the tank above cold-water temperature, MJ
    prop(0xC4, "M--", _W),  # generation output now, W
    prop(0xC5, "M--", _CUM),  # cumulative generation, 0.001 kWh
    prop(0xC7, "o--", _W),  # gas consumption now, 0.001 m3/h
    prop(0xC8, "o--", _CUM),  # cumulative gas consumption, 0.001 m3
    prop(0xCA, "ooo", enum(0x41, 0x42)),  # generation setting: 41 generate, 42 stop
    prop(0xCB, "M-M", enum(0x41, 0x42, 0x43, 0x44, 0x45)),  # generating/stopped/starting/stopping/idling
    prop(0xCC, "o--", _W),  # household (in-house) consumption now, W
    prop(0xCD, "o--", _CUM),  # household cumulative consumption, 0.001 kWh
    prop(0xD0, "M--", enum(0x00, 0x01, 0x02)),  # 00 reverse flow allowed, 01 independent, 02 no reverse flow
    # generation request window, start HH MM + end HH MM, FFFFFFFF = none. One-shot: the
    # next occurrence of the window (it may cross midnight); when it ends the device
    # clears it to FFFFFFFF and announces that.
    prop(0xD1, "MMo", times(2, undefined=True)),
    prop(0xD2, "MM-", enum(0x41, 0x42)),  # in the window: 41 rated maximum, 42 load-following
    prop(0xE1, "o--", _W),  # remaining hot water, L
    prop(0xE2, "o--", _W),  # tank capacity, L
    # 0xF0 (manufacturer-specific, Get only), DR-available amount, 6 bytes:
    #   u32 Wh: extra energy it can generate in the D1 window (what is left of it, from
    #           when the unit can be generating; the next hour when D1 is FFFFFFFF) =
    #           (rated - present output, and with no reverse flow at most household
    #           load - present output) x that time, at most the tank's heat headroom
    #           (C3 room / heat recovered per Wh generated);
    #   u16 W:  extra power it can give now within the reverse-flow rule and the tank.
    # Both 0 while generation is off (CA = 42 or 80 = 31). C2, C4, CC, C3, E1/E2, D0 and
    # D1 stay readable so a DR server can compute its own figure.
    prop(0xF0, "o--", raw(6)),
)

# Manufacturer-specific properties, described for docs/properties.md (host only: the
# build ships bytes and numbers, not this text).
MAKER_EPCS = {
    0xF0: (
        "DR-available amount, 6 bytes: extra energy (u32 Wh) it can generate in what is "
        "left of the 0xD1 window (from when the unit can be generating; the next hour "
        "when 0xD1 is undefined) = (rated - present output; with no reverse flow at most "
        "household load - present output) x that time, at most the tank's heat headroom; "
        "then the extra power (u16 W) it can give now within the reverse-flow rule and "
        "the tank. Both 0 while generation is off. Release R has no property for it."
    ),
}
