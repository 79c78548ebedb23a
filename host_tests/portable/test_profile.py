"""Node profile and super-class values (reference §2, §3)."""
from echonet import propmap
from echonet.identity import Identity
from echonet.objects import NodeProfile

from .support import ID, make_node


def test_node_profile_lists():
    node, _ = make_node()
    p = node.profile
    assert p.get(0xD3) == b"\x00\x00\x01"
    assert p.get(0xD4) == b"\x00\x02"
    assert p.get(0xD6) == bytes.fromhex("01027D01")
    assert p.get(0xD5) == bytes.fromhex("01027D01")
    assert p.get(0xD7) == bytes.fromhex("01027D")
    assert p.get(0x80) == b"\x30"
    assert p.get(0x82) == bytes.fromhex("010E0100")
    assert p.get(0x8A) == b"\xff\xff\xff"


def test_node_profile_maps_hold_the_mandatory_properties():
    node, _ = make_node()
    got = propmap.decode(node.profile.get(0x9F))
    for epc in (0x80, 0x82, 0x83, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xD4, 0xD6, 0xD7, 0x8C, 0x8D):
        assert epc in got, hex(epc)
    assert propmap.decode(node.profile.get(0x9D)) == [0x80, 0xD5]
    assert propmap.decode(node.profile.get(0x9E)) == []


def test_production_date_is_served_only_when_known():
    # an identity the node made itself has none: 0x8E is not in the map, a Get of it fails
    p = NodeProfile(ID, [])
    assert 0x8E not in propmap.decode(p.get(0x9F)) and p.get(0x8E) is None
    assert len(propmap.decode(p.get(0x9F))) == 15 and len(p.get(0x9F)) == 16  # 15 EPCs: the list form
    # a provisioned one (tools/provision.py writes the date): YYYY MM DD
    made = Identity(ID.maker, ID.unique, date=b"\x07\xea\x0b\x1b")
    p = NodeProfile(made, [])
    assert 0x8E in propmap.decode(p.get(0x9F)) and p.get(0x8E) == b"\x07\xea\x0b\x1b"
    assert len(p.get(0x9F)) == 17  # 16 EPCs: the bitmap


def test_identification_numbers_unique_per_object():
    node, _ = make_node(batteries=2)
    ids = [o.get(0x83) for o in node.objects.values()]
    assert len(set(ids)) == 3
    for i in ids:
        assert len(i) == 17 and i[0] == 0xFE and i[1:4] == ID.maker


def test_device_super_class():
    node, _ = make_node()
    b = node.devices[0]
    assert b.get(0x82) == b"\x00\x00R\x01"
    assert b.get(0x81) == b"\x00" and b.get(0x88) == b"\x42"
    assert 0x81 in propmap.decode(b.get(0x9E))
    anno = propmap.decode(b.get(0x9D))
    for epc in (0x80, 0x81, 0x88):
        assert epc in anno


def test_every_mapped_get_property_is_readable():
    node, _ = make_node()
    for obj in node.objects.values():
        for epc in propmap.decode(obj.get(0x9F)):
            assert obj.get(epc) is not None, "%06X %02X" % (obj.eoj, epc)
