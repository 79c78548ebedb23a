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
