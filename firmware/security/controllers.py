"""The controllers enrolled on this device, each pinned by its certificate's SHA-256.

    ctls = Controllers(state_dir + "/controllers.json", store)
    rec = ctls.find(fp)            # fp: 32 bytes; {"fp": hex, "name": ..., "at": unix s} or None
    ctls.add(fp, "hems", now)      # after a successful enrollment
    rec = ctls.remove("hems")      # by name or by at least 8 hex digits of the fingerprint

Pinning the certificate rather than trusting a CA means a controller needs no
certificate authority: it proves at enrollment that it knows the setup code, and in every
later TLS handshake that it holds the key of the certificate that was pinned.
"""

MAX = 16
NAME_LEN = 32


def fp_hex(fp):
    return fp.hex()


def check_name(name):
    # the bytes, not the characters: MicroPython interns every one-character string it makes
    # by iterating a str, and those names stay on the heap for good
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_LEN or any(not 0x21 <= c <= 0x7E for c in name.encode()):
        raise ValueError("a controller name is 1 to %d printable characters without spaces" % NAME_LEN)
    return name


class Controllers:
    def __init__(self, path, store):
        self.path = path
        self._store = store
        items = store.load(path, [])
        self.items = items if isinstance(items, list) else []

    def find(self, fp):
        h = fp_hex(fp)
        for rec in self.items:
            if rec.get("fp") == h:
                return rec
        return None

    def check_add(self, fp, name):
        """The list add() would save; ValueError when the name is taken or the list is full.
        Enrollment asks this before it spends the proof."""
        h = fp_hex(fp)
        check_name(name)
        items = [r for r in self.items if r.get("fp") != h]  # enrolling again renames
        if any(r.get("name") == name for r in items):
            raise ValueError("a controller named %s is already enrolled; choose another name" % name)
        if len(items) >= MAX:
            raise ValueError("%d controllers are enrolled, the most this device keeps; revoke one first" % MAX)
        return items

    def add(self, fp, name, now):
        """The new record; ValueError when the name is taken or the list is full."""
        h = fp_hex(fp)
        items = self.check_add(fp, name)
        rec = {"fp": h, "name": name, "at": now}
        self._save(items + [rec])
        return rec

    def remove(self, key):
        """The removed record, or None when no controller matches key."""
        key = str(key).lower()
        hit = [r for r in self.items if r.get("name", "").lower() == key or (len(key) >= 8 and r.get("fp", "").startswith(key))]
        if len(hit) != 1:
            return None
        self._save([r for r in self.items if r is not hit[0]])
        return hit[0]

    def wipe(self):
        self._save([])

    def _save(self, items):
        self._store.save(self.path, items)  # first: a failed write changes nothing
        self.items = items
