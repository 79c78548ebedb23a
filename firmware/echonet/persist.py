"""Settings that survive a restart, sans-I/O: what to save, how to replay it, when to write.

What: every property an object serves for Set (its 0x9E map) whose value was accepted
(`EchonetObject.accepted`), with its value now (the appliance may have changed it since,
e.g. a fuel-cell window cleared at its end). Write-only properties keep no value and are
not saved: they are actions, not settings. The DR schedule the classes hold (water-heater
shift times and participation, the fuel-cell 0xD1 window, the hybrid's 0xB8/0xB9) is
made of such properties, so it is covered too.

The record, one small JSON object per node (settings.json in the state directory):
    {"027D01": ["EB=000007D0", "DA=42"], ...}
EOJ -> "EPC=EDT" in the order the values were last accepted. A list, not an object,
because order matters on replay (a 0xE0 V2G setpoint also sets 0xDA, so a later 0xDA
must come after it) and MicroPython's JSON objects do not keep their order.

Replay (`restore`) puts each value through the same checks as a Set from the network
(declared access and range, then the object's accept(), so the appliance gets the
command again), before the node starts and without announcements. A value that is
refused is tried again after the others (a battery's 0xA6 upper limit may wait for its
0xA7), then skipped and reported: a firmware change can make an old value invalid, and
that must never stop the boot. A value whose replay raised (the appliance's driver could
not pass it on: its bus did not answer, say) is not dropped: the Saver tries it again at
every tick until it is taken, and keeps it in the record meanwhile. Nor are the entries of
an object the node does not have (its driver has not started yet: drready/appliances.py):
they stay in the record, and are replayed as a whole once the object is there.

When (`Saver`): at most one write per interval of real time, only when the record
changed, and `flush` at a clean stop. The writing itself (hal.store.save: temp file,
sync, rename) is passed in. What was written is remembered by its digest, not kept: a
record of every setting would hold two objects per property on the heap for good.
"""
import hashlib

from echonet.props import SET, valid


def snapshot(node):
    """The settings record of the node's objects (see above)."""
    rec = {}
    for obj in node.objects.values():
        out = []
        for e in obj.accepted:
            v = obj.values.get(e)
            if v is not None:
                out.append("%02X=%s" % (e, v.hex().upper()))
        if out:
            rec["%06X" % obj.eoj] = out
    return rec


def _apply(obj, item, now):
    """Replay one "EPC=EDT" into obj; None when applied, else why not."""
    try:
        e = int(item[:2], 16)
        v = bytes.fromhex(item[3:])
        if item[2] != "=":
            raise ValueError
    except (ValueError, TypeError, IndexError, KeyError):
        return "not EPC=EDT"
    rec = obj.spec(e)
    if rec is None or not rec[1] & SET:
        return "not settable"
    if not valid(rec, v):
        return "invalid value"
    try:
        if not obj.accept(e, v, now):
            return "refused"
    except Exception as x:  # a class bug must not stop the boot
        return "error %r" % (x,)
    obj.put(e, v)
    obj.was_set(e, now)
    return None


def restore(node, record, now, retry=None):
    """Replay a record into the node's objects (before node.start); returns the entries
    skipped, as lines "EOJ EPC=EDT: why". retry: a list that gets (object, "EPC=EDT") for
    each entry whose replay raised, and (EOJ, [entries]) for an object the node does not
    have (Saver(retry=...) tries them again, and keeps them in the record meanwhile)."""
    skipped = []
    if not isinstance(record, dict):
        return ["settings: not a JSON object"]
    for key in record:
        items = record[key]
        try:
            eoj = int(key, 16)
        except (ValueError, TypeError):
            eoj = -1
        obj = node.objects.get(eoj)
        if obj is None or not isinstance(items, list):
            if retry is not None and isinstance(items, list) and 0 <= eoj <= 0xFFFFFF and key == "%06X" % eoj:
                # an object not there now (its driver has not started, or the config left
                # it out): its entries are kept, replayed if it comes (Saver.poll)
                retry.append((key, items))
                skipped.append("%s: no such object now; kept" % (key,))
                continue
            skipped.append("%s: no such object" % (key,))
            continue
        todo = items
        why = []
        while todo:  # until a pass applies nothing more
            left = []
            why = []
            for item in todo:
                r = _apply(obj, item, now)
                if r is not None:
                    left.append(item)
                    why.append(r)
            if len(left) == len(todo):
                break
            todo = left
        for i in range(len(why)):
            again = retry is not None and why[i].startswith("error")
            if retry is not None and again:
                retry.append((obj, todo[i]))
            skipped.append("%s %s: %s%s" % (key, todo[i], why[i], "; kept, tried again at every tick" if again else ""))
        del obj.changed[:]  # a restart is not a status change: no INF
    return skipped


def digest(rec):
    """SHA-256 of a record, piece by piece: equal for the same record built the same way
    (one built in another order is one more write, no loss). No string of the whole
    record: in a heap in pieces after days of running, that one allocation can fail."""
    h = hashlib.sha256()
    for key in rec:
        for s in [key] + rec[key]:  # (a kept entry from an old file may hold any character)
            b = str(s).encode()
            h.update(len(b).to_bytes(4, "big"))
            h.update(b)
    return h.digest()


class Saver:
    """Writes snapshot(node) with save(path, record): at most once per `interval_s` of
    real time and only when the record changed. poll(ms) runs on every tick with a real
    (not simulated) millisecond count; an accepted Set is written at the next poll unless
    the last write is less than an interval old. Errors are reported through node.event
    and retried at the next chance; the record on flash stays the old one."""

    def __init__(self, node, path, interval_s, save, ms=0, retry=None):
        self.node = node
        self.path = path
        self.save = save
        self.interval = interval_s * 1000
        self.retry = retry or []  # (object, "EPC=EDT") whose replay raised (restore)
        self.last = digest(self.record())  # of what the file holds (or the boot made of it)
        self.sets = node.stats.sets
        self.wrote = self.checked = ms - self.interval

    def record(self):
        """snapshot(node), and the entries still to replay where the node has none of
        its own for that property since."""
        rec = snapshot(self.node)
        at = {}  # per object, where the next entry goes: before its own, in their order
        for obj, item in self.retry:
            if isinstance(obj, str):  # the entries of an object not there (restore)
                rec[obj] = item
                continue
            key = "%06X" % obj.eoj
            out = rec.setdefault(key, [])
            if not any(x[:3] == item[:3] for x in out):
                i = at.get(key, 0)
                out.insert(i, item)
                at[key] = i + 1
        return rec

    def poll(self, ms):
        """Write if due; returns True when it wrote. First, the entries whose replay
        raised are tried again (taken: announced, and written as any Set)."""
        if self.retry:
            node = self.node
            for entry in list(self.retry):
                obj, item = entry
                if isinstance(obj, str):  # an object not there at boot: replayed if it is now
                    if int(obj, 16) in node.objects:
                        lines = restore(node, {obj: item}, node.now, self.retry)
                        self.retry.remove(entry)  # only now: a replay cut short is replayed again
                        for line in lines:
                            if node.event:
                                node.event("settings not restored %s" % line)
                    continue
                if int(item[:2], 16) in obj.accepted:
                    self.retry.remove(entry)  # set anew by a controller since: that one stands
                elif _apply(obj, item, node.now) is None:
                    self.retry.remove(entry)  # taken: announced, and written as any Set
                    node.stats.sets += 1
                    if node.event:
                        node.event("settings restored %06X %s" % (obj.eoj, item))
        if ms - self.wrote < self.interval:
            return False
        if self.node.stats.sets == self.sets and ms - self.checked < self.interval:
            return False  # no Set since the last look, which was recent
        return self.flush(ms)

    def flush(self, ms=0):
        """Write now if the record changed (a clean stop); returns True when it wrote."""
        node = self.node
        self.sets = node.stats.sets
        self.checked = ms
        rec = self.record()
        d = digest(rec)
        if d == self.last:
            return False
        try:
            self.save(self.path, rec)
        except OSError as e:
            if node.event:
                node.event("ERROR saving %s: %s" % (self.path, e))
            return False
        self.last = d
        self.wrote = ms
        return True
