"""CPython stand-in for MicroPython's `esp32`: NVS and partitions backed by memory."""


class NVS:
    _spaces = {}

    def __init__(self, namespace):
        self._d = NVS._spaces.setdefault(namespace, {})

    def set_i32(self, key, value):
        self._d[key] = int(value)

    def get_i32(self, key):
        if key not in self._d:
            raise OSError(-0x1102, "ESP_ERR_NVS_NOT_FOUND")
        return self._d[key]

    def set_blob(self, key, value):
        self._d[key] = bytes(value)

    def get_blob(self, key, buf):
        v = self._d.get(key)
        if v is None:
            raise OSError(-0x1102, "ESP_ERR_NVS_NOT_FOUND")
        buf[: len(v)] = v
        return len(v)

    def erase_key(self, key):
        self._d.pop(key, None)

    def commit(self):
        pass


def raw_temperature():
    return 120


# --- flash partitions -------------------------------------------------------------------
# The partition table of boards/DRREADY_ESP32/partitions.csv, in memory, with ESP-IDF's
# OTA bootloader behaviour (app rollback on, as sdkconfig.base builds it). Semantics
# follow ports/esp32/esp32_partition.c and docs/library/esp32.rst (MicroPython v1.29):
# - blocks of block_size bytes (4096 by default, the flash erase size);
# - writeblocks(n, buf) erases the range first (its size must be whole 4096-byte
#   sectors, as esp_partition_erase_range wants), writeblocks(n, buf, offset) does not;
#   a write can only clear bits (NOR flash): writing over unerased data ANDs it;
# - ioctl 1 INIT, 2 DEINIT, 3 SYNC -> 0; 4 BLOCK_COUNT; 5 BLOCK_SIZE; 6 BLOCK_ERASE -> 0;
# - set_boot validates the image (here: the 0xE9 magic byte an ESP image starts with)
#   and marks it NEW in otadata; the bootloader boots a NEW image as PENDING_VERIFY, and
#   one still PENDING_VERIFY at the next reset is ABORTED: the previous image boots;
# - mark_app_valid_cancel_rollback() marks the running image VALID.
# Test helpers (not MicroPython API) start with an underscore: _flash_reset, _reset,
# and _hook, called with the operation's name before every change to flash, so a test
# can cut the power there.

ESP_ERR_INVALID_ARG = 0x102
ESP_ERR_INVALID_SIZE = 0x104
ESP_ERR_OTA_VALIDATE_FAILED = 0x1503
_ENOENT = 2
_SECTOR = 4096
_TABLE = (  # label, type, subtype, address, size
    ("nvs", 1, 0x02, 0x9000, 0x4000),
    ("otadata", 1, 0x00, 0xD000, 0x2000),
    ("phy_init", 1, 0x01, 0xF000, 0x1000),
    ("ota_0", 0, 0x10, 0x10000, 0x180000),
    ("ota_1", 0, 0x11, 0x190000, 0x180000),
    ("vfs", 1, 0x81, 0x310000, 0xF0000),
)


class _Flash:
    def __init__(self):
        self.sectors = {}  # (label, sector number) -> bytearray(4096); absent = erased (0xFF)
        self.running = "ota_0"
        self.ota = {"boot": "ota_0", "state": "VALID", "prev": None}  # otadata, written atomically

    def snapshot(self):
        f = _Flash()
        f.sectors = {k: bytearray(v) for k, v in self.sectors.items()}
        f.running = self.running
        f.ota = dict(self.ota)
        return f


_flash = _Flash()
_hook = None


def _changing(what):
    if _hook is not None:
        _hook(what)


def _flash_reset(image=b""):
    """A fresh board whose ota_0 holds image and runs it (as esptool leaves it)."""
    global _flash
    _flash = _Flash()
    if image:
        p = Partition("ota_0")
        n = (len(image) + _SECTOR - 1) // _SECTOR * _SECTOR
        p.writeblocks(0, bytes(image) + b"\xff" * (n - len(image)))


def _reset():
    """What the bootloader does at a reset (power back on): pick the image to run."""
    ota = _flash.ota
    if ota["state"] == "NEW":
        ota["state"] = "PENDING_VERIFY"
    elif ota["state"] == "PENDING_VERIFY":  # never confirmed: roll back
        ota["boot"], ota["state"], ota["prev"] = ota["prev"], "VALID", None
    _flash.running = ota["boot"]


def _esp_error(code, name):
    return OSError(-code, name)


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=4096):
        if id == Partition.BOOT:
            id = _flash.ota["boot"]
        elif id == Partition.RUNNING:
            id = _flash.running
        elif not isinstance(id, str):
            raise ValueError
        rows = [r for r in _TABLE if r[0] == id and r[1] == 0] or [r for r in _TABLE if r[0] == id]
        if not rows:
            raise OSError(_ENOENT)
        self._row = rows[0]
        self._bs = block_size

    def __eq__(self, other):
        return isinstance(other, Partition) and other._row == self._row

    def __hash__(self):
        return hash(self._row)

    def __repr__(self):
        label, t, st, addr, size = self._row
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>" % (t, st, addr, size, label)

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=4096):
        out = []
        for r in _TABLE:
            if r[1] == type and subtype in (0xFF, r[2]) and label in (None, r[0]):
                out.append(Partition(r[0], block_size))
        return out

    def info(self):
        label, t, st, addr, size = self._row
        return (t, st, addr, size, label, False)

    # -- block device
    def _check(self, offset, n):
        if offset < 0 or offset + n > self._row[4]:
            raise _esp_error(ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE")

    def _read(self, offset, n):
        label = self._row[0]
        out = bytearray()
        while n:
            sector, o = divmod(offset, _SECTOR)
            take = min(n, _SECTOR - o)
            data = _flash.sectors.get((label, sector))
            out += data[o : o + take] if data is not None else b"\xff" * take
            offset += take
            n -= take
        return out

    def _erase(self, offset, n):
        if offset % _SECTOR or n % _SECTOR:
            raise _esp_error(ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG")
        self._check(offset, n)
        _changing("erase")
        for s in range(offset // _SECTOR, (offset + n) // _SECTOR):
            _flash.sectors.pop((self._row[0], s), None)

    def _program(self, offset, buf):
        self._check(offset, len(buf))
        _changing("write")
        label = self._row[0]
        p = 0
        while p < len(buf):
            sector, o = divmod(offset + p, _SECTOR)
            take = min(len(buf) - p, _SECTOR - o)
            data = _flash.sectors.setdefault((label, sector), bytearray(b"\xff" * _SECTOR))
            old = int.from_bytes(data[o : o + take], "big")
            new = int.from_bytes(bytes(buf[p : p + take]), "big")
            data[o : o + take] = (old & new).to_bytes(take, "big")  # NOR flash: bits only go 1 -> 0
            p += take

    def readblocks(self, block_num, buf, offset=0):
        start = block_num * self._bs + offset
        self._check(start, len(buf))
        buf[:] = self._read(start, len(buf))

    def writeblocks(self, block_num, buf, offset=None):
        start = block_num * self._bs
        if offset is None:  # the simple protocol: erase, then write
            self._erase(start, len(buf))
        else:
            start += offset
        self._program(start, buf)

    def ioctl(self, cmd, arg=0):
        if cmd in (1, 2, 3):
            return 0
        if cmd == 4:
            return self._row[4] // self._bs
        if cmd == 5:
            return self._bs
        if cmd == 6:
            if self._bs != _SECTOR:
                return -22  # -EINVAL
            self._erase(arg * _SECTOR, _SECTOR)
            return 0
        return None

    # -- OTA
    def set_boot(self):
        if self._row[1] != 0 or self._read(0, 1) != b"\xe9":
            raise _esp_error(ESP_ERR_OTA_VALIDATE_FAILED, "ESP_ERR_OTA_VALIDATE_FAILED")
        _changing("set_boot")
        ota = _flash.ota
        prev = _flash.running if self._row[0] != _flash.running else ota["prev"]
        _flash.ota = {"boot": self._row[0], "state": "NEW", "prev": prev}

    def get_next_update(self):
        otas = [r for r in _TABLE if r[1] == 0 and 0x10 <= r[2] <= 0x1F]
        if not otas:
            raise OSError(_ENOENT)
        labels = [r[0] for r in otas]
        i = labels.index(self._row[0]) + 1 if self._row[0] in labels else 0
        return Partition(labels[i % len(labels)])

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        _changing("mark_valid")
        ota = _flash.ota
        if ota["boot"] == _flash.running and ota["state"] == "PENDING_VERIFY":
            ota["state"] = "VALID"
            ota["prev"] = None
