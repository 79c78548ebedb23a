"""Property map EDT (0x9D/0x9E/0x9F), Appendix Annex 1.

Fewer than 16 EPCs: count + the EPCs. 16 or more: count + a 16-byte bitmap in which
EPC e sets bit (e >> 4) - 8 of byte 1 + (e & 0x0F).
"""


def encode(epcs):
    epcs = sorted(set(epcs))
    n = len(epcs)
    if n < 16:
        return bytes([n] + epcs)
    out = bytearray(17)
    out[0] = n
    for e in epcs:
        out[1 + (e & 0x0F)] |= 1 << ((e >> 4) - 8)
    return bytes(out)


def decode(edt):
    """EPCs listed in a property map EDT; ValueError if it is inconsistent."""
    if not edt:
        raise ValueError("empty property map")
    n = edt[0]
    if n < 16:
        if len(edt) != n + 1:
            raise ValueError("list map length")
        return sorted(edt[1:])
    if len(edt) != 17:
        raise ValueError("bitmap map length")
    epcs = []
    for i in range(16):
        b = edt[1 + i]
        for bit in range(8):
            if b & (1 << bit):
                epcs.append(((bit + 8) << 4) | i)
    if len(epcs) != n:
        raise ValueError("bitmap count")
    return sorted(epcs)
