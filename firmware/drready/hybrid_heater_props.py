"""Declaration of the hybrid water heater class 0x02A6 (heat pump + gas boiler back-up,
Appendix Release R): what this node serves of it. See echonet/declare.py for the notation."""
from echonet.declare import enum, prop, raw, table, times, u16, u32
from echonet.profile_props import SUPER_CLASS

CLASS_CODE = 0x02A6

_YES_NO = enum(0x41, 0x42)
_LITRES = u16(0, 65533)

TABLE = table(
    SUPER_CLASS,
    # Set is optional and not served: hot water at all times is this unit's primary job,
    # so no controller switches it off over the network.
    prop(0x80, "M-M", enum(0x30, 0x31)),
    prop(0x84, "o--", u16(0, 65533)),  # estimated (no CT sensor), W
    prop(0x85, "o--", u32(0, 999999999)),  # 0.001 kWh = Wh
    prop(0xB0, "ooM", enum(0x41, 0x42, 0x43)),  # auto / manual heating / manual stop
    prop(0xB2, "o-M", _YES_NO),  # tank being heated (by the heat pump)
    prop(0xB3, "o-M", _YES_NO),  # space-heating circuit being heated
    prop(0xB8, "MMM", enum(0x41, 0x42, 0x43, 0x44)),  # solar linkage: off / self-use / sell / economy
    prop(0xB9, "ooo", times(2)),  # solar utilisation window: start HH MM, end HH MM (end < start: past midnight)
    prop(0xC3, "o-M", _YES_NO),  # hot water being drawn
    prop(0xE1, "o--", _LITRES),  # remaining hot water, L
    prop(0xE2, "o--", _LITRES),  # tank capacity, L
    # 0xF0 (manufacturer-specific, Get only): DR-available amount for the current window
    # of 0xB9, or the next one if none is running. 8 bytes: up-DR energy (u32 Wh, the
    # electricity the heat pump can take inside the window: bounded by the window's
    # remaining time x heat-pump power and by the tank room at the window start, net of
    # the expected draw before it) + down-DR energy (u32 Wh, the heat-pump electricity the
    # unit can leave to the gas boiler outside the window over the next 24 h: refilling the
    # tank and the expected draw, at most one tank). Both figures are what solar linkage
    # (0xB8 other than 0x41) does with that window from now on, whether or not it is on yet.
    # Recomputed every second from the tank, the expected draw and the window; both 0 unless
    # 0xB0 is automatic (0x41) and the gas back-up is available. Release R has no property
    # for it (DRready asks the hybrid to report it).
    prop(0xF0, "o--", raw(8)),
)

# Manufacturer-specific properties, described for docs/properties.md (host only: the
# build ships bytes and numbers, not this text).
MAKER_EPCS = {
    0xF0: (
        "DR-available amount, 8 bytes: up-DR energy (u32 Wh): the electricity the heat "
        "pump can take inside the current (or next) 0xB9 window, bounded by the window's "
        "remaining time x heat-pump power and by the tank room at the window start net of "
        "the expected draw; then down-DR energy (u32 Wh): the heat-pump electricity the "
        "unit can leave to the gas boiler outside the window over the next 24 h (refill "
        "plus expected draw, at most one tank). What solar linkage (0xB8 other than 0x41) "
        "does with that window from now on; recomputed every second; both 0 unless 0xB0 "
        "is automatic and the gas back-up is available. Release R has no property for it."
    ),
}
