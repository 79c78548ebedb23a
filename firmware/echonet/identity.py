"""What makes this device itself: manufacturer code, product, serial and the unique bytes
behind every object's identification number 0x83. Built from stored bytes; generating
them (randomly, once per device) is the job of the code that owns storage."""


def _ascii12(text):
    b = text.encode()[:12]
    return b + b" " * (12 - len(b))


class Identity:
    def __init__(self, maker, unique, product="DRready-node", serial="", date=None):
        if len(maker) != 3:
            raise ValueError("manufacturer code must be 3 bytes")
        if len(unique) != 10:
            raise ValueError("unique id must be 10 bytes")
        self.maker = bytes(maker)
        self.unique = bytes(unique)
        self.product = _ascii12(product)
        self.serial = _ascii12(serial or unique[:6].hex().upper())
        self.date = bytes(date) if date else None  # production date YYYY MM DD (0x8E), if known

    def id_number(self, eoj):
        """0x83: 0xFE, manufacturer code, then 13 bytes unique to this device and object."""
        return b"\xfe" + self.maker + self.unique + bytes(((eoj >> 16) & 0xFF, (eoj >> 8) & 0xFF, eoj & 0xFF))
