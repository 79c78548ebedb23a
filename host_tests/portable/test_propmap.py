from echonet import propmap

from .support import h, raises


def test_list_form_below_16():
    # reference §4: storage battery Set map {81 97 98 AA AB C1 C2 DA}
    assert propmap.encode([0xDA, 0x81, 0x97, 0x98, 0xAA, 0xAB, 0xC1, 0xC2]) == h("08 81 97 98 AA AB C1 C2 DA")


def test_fifteen_is_list_sixteen_is_bitmap():
    fifteen = list(range(0x80, 0x8F))
    assert propmap.encode(fifteen) == bytes([15] + fifteen)
    sixteen = list(range(0x80, 0x90))
    m = propmap.encode(sixteen)
    assert len(m) == 17 and m[0] == 16
    # EPC 0x80..0x8F set bit 0 of bytes 1..16
    assert m[1:] == b"\x01" * 16


def test_bitmap_worked_example():
    epcs = [0x80, 0x81, 0x82, 0x83, 0x88, 0x89, 0x8A, 0x8C, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
            0xA3, 0xA4, 0xA5, 0xA8, 0xA9, 0xAA, 0xAB, 0xC1, 0xC2, 0xC8, 0xC9, 0xCF, 0xDA, 0xDB, 0xE4, 0xE6]
    want = h("20 05 15 15 05 44 04 40 02 17 15 25 24 01 02 02 12")
    assert propmap.encode(epcs) == want
    assert propmap.decode(want) == sorted(epcs)


def test_bitmap_high_epcs_kept():
    # 0xF0..0xFF sit in bit 7; a mask bug elsewhere drops EPCs >= 0xC0
    epcs = list(range(0xF0, 0x100))
    m = propmap.encode(epcs)
    assert m[1:] == b"\x80" * 16
    assert propmap.decode(m) == epcs


def test_real_device_bitmap_decodes_64():
    epcs = propmap.decode(h("40 A5 95 D5 A7 C4 C4 C5 86 97 95 A7 E4 71 33 93 92"))
    assert len(epcs) == 64


def test_decode_rejects_inconsistent_maps():
    raises(ValueError, propmap.decode, b"")
    raises(ValueError, propmap.decode, h("03 80 81"))
    raises(ValueError, propmap.decode, h("10 01 01"))
    raises(ValueError, propmap.decode, h("11") + b"\x01" * 16)  # count 17, 16 bits set
