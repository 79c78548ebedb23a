"""The security event log: a bounded, hash-chained ring of records on flash.

    log = EventLog(state_dir, clock)       # reads the tail once, at boot
    log.add("enroll", "ctl 1a2b3c4d name=hems")
    for line in log.lines(): ...           # oldest first, for export

Each record is one text line: `seq time kind detail hash`, where hash is the hex SHA-256
of the previous record's hash (32 zero bytes before the first record ever) followed by
`seq time kind detail`. Changing, dropping or reordering any record breaks the chain
from there on; tools/ctl.py `log` checks it when it exports (security/logcheck.py). seq never restarts (a factory
reset continues it), so a controller that saw seq N earlier can tell a truncated log.

The ring is two files of SEGMENT records each. Records are appended to the current one;
when it is full the other is emptied and becomes current, so the log keeps between
SEGMENT and 2*SEGMENT of the latest records and never grows. An append is one write: a
power cut leaves at most one torn line at the end, which readers skip and the next
append starts after. Details never hold a secret: callers pass names, fingerprints and
counts, never codes, proofs or keys.
"""
import hashlib
import os
from binascii import hexlify

SEGMENT = 64
ZERO = b"\x00" * 32


def chain_hash(prev, body):
    h = hashlib.sha256(prev)
    h.update(body)
    return h.digest()


def parse(line):
    """(seq, body, hash) of one record line, or None if it is not one (torn, garbage)."""
    parts = line.rstrip("\n").rsplit(" ", 1)
    if len(parts) != 2 or len(parts[1]) != 64:
        return None
    body = parts[0]
    seq = body.split(" ", 1)[0]
    try:
        return int(seq), body, bytes.fromhex(parts[1])
    except ValueError:
        return None


def clean(text):
    """Detail text safe for one record: printable ASCII, no newlines, at most 120 bytes.
    Works on the bytes: iterating a str would make MicroPython intern each character it
    meets, for good."""
    b = bytearray(str(text).encode()[:120])
    for i in range(len(b)):
        if not 0x20 <= b[i] <= 0x7E:
            b[i] = 0x3F  # "?", for each byte of a character outside printable ASCII
    return b.decode()


class EventLog:
    def __init__(self, state_dir, wall):
        self._paths = (state_dir + "/seclog.0", state_dir + "/seclog.1")
        self._wall = wall  # () -> Unix seconds
        self.seq = 0
        self.head = ZERO
        self._cur = 0  # index of the segment appended to
        self._count = 0  # records in it
        self._torn = False  # it ends in a torn line: start the next record on a new line
        self._scan()

    def _scan(self):
        best = -1
        for i, path in enumerate(self._paths):
            count, last, torn = 0, None, False
            for line in self._read(path):
                rec = parse(line)
                torn = not line.endswith("\n")
                if rec:
                    count += 1
                    last = rec
            if last and last[0] > best:
                best = last[0]
                self.seq, self.head = last[0], last[2]
                self._cur, self._count, self._torn = i, count, torn

    def _read(self, path):
        try:
            with open(path) as f:
                while True:
                    line = f.readline()
                    if not line:
                        return
                    yield line
        except OSError:
            return

    def _record(self, kind, detail):
        seq = self.seq + 1
        body = "%d %d %s %s" % (seq, self._wall(), kind, clean(detail) or "-")
        digest = chain_hash(self.head, body.encode())
        return seq, digest, "%s %s\n" % (body, hexlify(digest).decode())

    def add(self, kind, detail=""):
        """Append one record; a full flash or a failing write loses the record, not the node."""
        seq, digest, line = self._record(kind, detail)
        cur, count, mode = self._cur, self._count, "a"
        if count >= SEGMENT:  # the other segment, started afresh (taken once the record is in)
            cur, count, mode = cur ^ 1, 0, "w"
        elif self._torn:
            line = "\n" + line
        try:
            with open(self._paths[cur], mode) as f:
                f.write(line)
        except OSError as e:
            print("security log: cannot write (%s)" % e)
            return
        self.seq, self.head, self._torn = seq, digest, False
        self._cur, self._count = cur, count + 1

    def lines(self):
        """Every record line, oldest first (the segment not appended to holds the older ones)."""
        for path in (self._paths[self._cur ^ 1], self._paths[self._cur]):
            for line in self._read(path):
                if parse(line):
                    yield line.rstrip("\n")

    def wipe(self, kind, detail=""):
        """Factory reset: drop every record but a new one, kind; seq and the chain go on, so
        the gap shows. The new record is written to the other segment first, and only then
        the current one removed, so no moment leaves the log without its latest seq (a cut
        between the two keeps the old records, never restarts the count)."""
        seq, digest, line = self._record(kind, detail)
        other = self._cur ^ 1
        try:
            with open(self._paths[other], "w") as f:
                f.write(line)
            os.remove(self._paths[self._cur])
        except OSError as e:
            print("security log: cannot wipe (%s)" % e)
        self.seq, self.head = seq, digest
        self._cur, self._count, self._torn = other, 1, False

