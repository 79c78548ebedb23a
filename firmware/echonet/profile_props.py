"""Declarations of the node profile 0x0EF0 and the device super class 0x0000
(Appendix Release R). See echonet/declare.py for the notation."""
from echonet.declare import enum, location, prop, raw, table

# Super class 0x0000 (Appendix Release R): what every device object carries.
SUPER_CLASS = table(
    prop(0x80, "MoM", enum(0x30, 0x31)),
    prop(0x81, "MMM", location()),
    prop(0x82, "M--", raw(4)),
    prop(0x83, "o--", raw(17)),
    prop(0x88, "M-M", enum(0x41, 0x42)),
    prop(0x8A, "M--", raw(3)),
    prop(0x9D, "M--", raw(1, 17)),
    prop(0x9E, "M--", raw(1, 17)),
    prop(0x9F, "M--", raw(1, 17)),
)

# Node profile object of a general node.
NODE_PROFILE = table(
    prop(0x80, "M-M", enum(0x30, 0x31)),
    prop(0x82, "M--", raw(4)),
    prop(0x83, "M--", raw(17)),
    prop(0x88, "o--", enum(0x41, 0x42)),
    prop(0x8A, "M--", raw(3)),
    prop(0x8C, "o--", raw(12)),
    prop(0x8D, "o--", raw(12)),
    prop(0x8E, "o--", raw(4)),
    prop(0x9D, "M--", raw(1, 17)),
    prop(0x9E, "M--", raw(1, 17)),
    prop(0x9F, "M--", raw(1, 17)),
    prop(0xD3, "M--", raw(3)),
    prop(0xD4, "M--", raw(2)),
    prop(0xD5, "o-M", raw(1, 253)),
    prop(0xD6, "M--", raw(1, 253)),
    prop(0xD7, "M--", raw(1, 17)),
)
