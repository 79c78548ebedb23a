"""ECHONET Lite objects: a declared class plus the current value of each property.

Values are kept as EDT bytes so a Get is a dictionary lookup. Whoever changes a value,
a controller's Set or the appliance itself, goes through `put`, which records a change of
an announced property so the node can send the status-change INF.
"""
from echonet import propmap
from echonet.props import ANNO, GET, NUM, SET, encode_int, enum, location, prop, raw

# Super class 0x0000 (Appendix Release R): what every device object carries.
SUPER_CLASS = (
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

# 0x82 of a device object: Appendix Release R, revision 1 ("00 00 'R' 01").
RELEASE_R = b"\x00\x00R\x01"


def merge(base, own):
    """A class table: the super class overridden and extended by the class's own rows."""
    table = {}
    for p in base:
        table[p[0]] = p
    for p in own:
        table[p[0]] = p
    return table


class EchonetObject:
    """One object instance. `table` maps EPC -> declared property (shared by instances)."""

    def __init__(self, eoj, table):
        self.eoj = eoj
        self.eoj_bytes = bytes(((eoj >> 16) & 0xFF, (eoj >> 8) & 0xFF, eoj & 0xFF))
        self.table = table
        self.values = {}
        self.changed = []  # announced EPCs changed since the last INF
        anno = []
        sets = []
        gets = []
        for epc, p in table.items():
            f = p[1]
            if f & ANNO:
                anno.append(epc)
            if f & SET:
                sets.append(epc)
            if f & GET:
                gets.append(epc)
        self.values[0x9D] = propmap.encode(anno)
        self.values[0x9E] = propmap.encode(sets)
        self.values[0x9F] = propmap.encode(gets)

    # -- values ---------------------------------------------------------------
    def put(self, epc, value):
        """Store a value (EDT bytes, or an int for numeric properties).

        Returns True when the stored value changed. A change of a property in 0x9D
        is queued for the status-change announcement.
        """
        if isinstance(value, int):
            kind = self.table[epc][2]
            if kind[0] == NUM:
                value = encode_int(kind, value)
            else:
                value = bytes((value,))
        old = self.values.get(epc)
        if old == value:
            return False
        self.values[epc] = value
        if old is not None and self.table[epc][1] & ANNO and epc not in self.changed:
            self.changed.append(epc)
        return True

    def get(self, epc):
        """EDT of a readable property, or None."""
        p = self.table.get(epc)
        if p is None or not p[1] & GET:
            return None
        return self.values.get(epc)

    def missing(self):
        """Readable properties that have no value yet (a declaration error at boot)."""
        return [e for e, p in self.table.items() if p[1] & GET and e not in self.values]

    # -- controller writes ------------------------------------------------------
    def accept(self, epc, edt, now):
        """Appliance hook: may refuse a well-formed value (state-dependent). Returns bool.

        Subclasses apply the command to the appliance here; the base accepts.
        """
        return True

    def tick(self, now):
        """Appliance hook, called about once a second with the node's time in seconds."""
        pass


class NodeProfile(EchonetObject):
    """Node profile object 0x0EF001 of a general node."""

    TABLE = merge(
        (),
        (
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
        ),
    )

    def __init__(self, identity, devices):
        EchonetObject.__init__(self, 0x0EF001, self.TABLE)
        v = self.values
        v[0x80] = b"\x30"
        # Spec version 1.14, format 1 only
        v[0x82] = b"\x01\x0e\x01\x00"
        v[0x83] = identity.id_number(0x0EF001)
        v[0x88] = b"\x42"
        v[0x8A] = identity.maker
        v[0x8C] = identity.product
        v[0x8D] = identity.serial
        v[0x8E] = identity.date
        self.set_instances(devices)

    def set_instances(self, devices):
        eojs = b"".join(d.eoj_bytes for d in devices[:84])
        count = len(devices)
        listing = bytes((min(count, 84),)) + eojs
        classes = []
        for d in devices:
            c = d.eoj_bytes[:2]
            if c not in classes:
                classes.append(c)
        self.put(0xD3, bytes(((count >> 16) & 0xFF, (count >> 8) & 0xFF, count & 0xFF)))
        self.put(0xD4, (len(classes) + 1).to_bytes(2, "big"))
        self.put(0xD5, listing)
        self.put(0xD6, listing)
        self.put(0xD7, bytes((min(len(classes), 8),)) + b"".join(classes[:8]))


def device_values(obj, identity):
    """Initial super-class values for a device object."""
    v = obj.values
    v[0x80] = b"\x30"
    v[0x81] = b"\x00"
    v[0x82] = RELEASE_R
    v[0x83] = identity.id_number(obj.eoj)
    v[0x88] = b"\x42"
    v[0x8A] = identity.maker
    if 0x8C in obj.table:
        v[0x8C] = identity.product
    if 0x8D in obj.table:
        v[0x8D] = identity.serial
    if 0x89 in obj.table:
        v[0x89] = b"\x00\x00"

