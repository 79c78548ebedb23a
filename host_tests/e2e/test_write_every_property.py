"""Every settable property of every object of the default node (all five classes), written
over plain UDP from an address in LEGACY_WRITE with a valid value: each SetC gets a Set_Res
that echoes the EPC with PDC 0, and the value reads back. A readable property is written
with the value it reads (valid, and consistent with the appliance's state); a write-only
one with a value its declaration allows. One property takes a value only in a state the
test sets up first: PRECONDITION."""
from drready import registry
from echonet import props

from . import enl
from .harness import ready_objects

EV = 0x027E
# (class, EPC): (EPC, value) to Set first. The EV charger's 0xE0 is accepted only while a
# charging or discharging method (0xDC/0xDD) is V2G, 0x06 (Appendix note; drready/ev_charger.py)
PRECONDITION = {(EV, 0xE0): (0xDC, b"\x06")}


def table(code):
    """The property table of the ECHONET class code (drready/<class>_props.py)."""
    for module, _cls, c in registry.CLASSES.values():
        if c == code:
            return __import__(module + "_props", None, None, ("TABLE",)).TABLE
    raise KeyError("%04X" % code)


def declared_value(rec):
    """A value the record's declaration allows."""
    kind = rec[3]
    if kind == props.NUM:
        return props.encode_int(rec, props.num_limits(rec)[2])  # its lowest value
    if kind == props.ENUM:
        return bytes(rec[5 : 5 + rec[4]])
    if kind == props.RAW:
        return bytes(rec[4])
    if kind == props.TIME:
        return b"\x00\x00" * rec[4]
    if kind == props.DATE:
        return b"\x07\xea\x01\x01"
    return b"\x00"  # LOCATION: a one-byte code


def test_every_settable_property_of_every_object_takes_a_valid_value(node_factory):
    n = node_factory()  # the controller's address is in LEGACY_WRITE
    objects = [e for e in ready_objects(n.proc) if e != enl.NODE_PROFILE]
    assert len(objects) == len(registry.CLASSES), "make sim serves every class by default: %s" % objects
    assert write_every_property(n) >= 5 * 3


def write_every_property(n):
    """Write every EPC in each device object's 0x9E with a valid value from n.ctrl (in
    LEGACY_WRITE); returns how many were written."""
    objects = [e for e in ready_objects(n.proc) if e != enl.NODE_PROFILE]
    written = 0
    with enl.RawController(n.ctrl) as c:
        for eoj in objects:
            maps = c.get(n.addr, eoj, [0x9E, 0x9F])
            assert maps.esv == enl.GET_RES, maps
            setmap, getmap = enl.decode_map(maps.edt(0x9E)), enl.decode_map(maps.edt(0x9F))
            assert setmap, "%06X has no settable property" % eoj
            tbl = table(eoj >> 8)
            for epc in setmap:
                at = props.find(tbl, epc)
                assert at >= 0, "%06X: %02X is in 0x9E but not declared" % (eoj, epc)
                rec = tbl[at : at + 4 + tbl[at + 2]]
                if epc in getmap:
                    got = c.get(n.addr, eoj, [epc])
                    assert got.esv == enl.GET_RES, "%06X Get %02X -> %s" % (eoj, epc, got)
                    value = got.edt(epc)
                else:
                    value = declared_value(rec)
                assert props.valid(rec, value), "%06X %02X: %s is not valid by its declaration" % (eoj, epc, value.hex())
                if (eoj >> 8, epc) in PRECONDITION:
                    pre = PRECONDITION[eoj >> 8, epc]
                    res = c.request(n.addr, eoj, enl.SETC, [pre])
                    assert res.esv == enl.SET_RES, "%06X precondition %02X=%s -> %s" % (eoj, pre[0], pre[1].hex(), res)
                res = c.request(n.addr, eoj, enl.SETC, [(epc, value)])
                where = "%06X SetC %02X=%s -> %s" % (eoj, epc, value.hex(), res)
                assert res.esv == enl.SET_RES and res.props == [(epc, b"")], where
                if epc in getmap:
                    again = c.get(n.addr, eoj, [epc])
                    assert again.esv == enl.GET_RES and again.edt(epc) == value, where
                written += 1
    return written
