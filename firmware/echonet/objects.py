"""ECHONET Lite objects: a declared class plus the current value of each property.

Values are kept as EDT bytes so a Get is a dictionary lookup. Whoever changes a value,
a controller's Set or the appliance itself, goes through `put`, which records a change of
an announced property so the node can send the status-change INF.

Appliance drivers. A device object drives an appliance through its class's interface
(drready/battery.py BatteryAppliance and its siblings; a driver for a real product
subclasses it: README, Driving a real appliance). What they share:
- Ratings (capacity, power ranges) are fixed by the end of the driver's constructor: the
  object serves some of them from when it is made, and uses others as it goes.
- `step(now)` refreshes the measured attributes from the product. The object calls it
  when it is made, about once a second after that, and just before it carries out a Set.
  `now` is the node's clock in whole Unix seconds (UTC): it runs SPEED times fast in the
  simulator and jumps when a controller sets 0x97/0x98 (`clock_moved` is called first).
  Return promptly: the node serves its controllers between steps.
- `command(...)` passes an accepted setting on to the product; what it receives is the
  class's own (its interface says).
- A step or command that raises (a bus that does not answer, say) does not stop the
  node (echonet/node.py, Node.step), nor does a value outside its property's declared
  range (`put` raises, and that is the step failing): a failing step is a fault, 0x88 =
  0x41 announced, while the node serves the values of the last step that worked (what
  a step that failed half-way had put is taken back: an object notes its own state only
  after its puts), cleared by the first tick that works; a failing command refuses the
  Set (SNA) and the object keeps the settings it had. A command that raises must leave
  the driver's own attributes as they were too: the object reads them back at the next
  step. docs/drivers.md has the rest of the contract.
"""
from micropython import const

from echonet import propmap
from echonet.profile_props import NODE_PROFILE
from echonet.props import ANNO, ENUM, GET, NUM, SET, encode_int, find, in_range, records

# 0x82 of a device object: Appendix Release R, revision 1 ("00 00 'R' 01").
_RELEASE_R = const(b"\x00\x00R\x01")


class EchonetObject:
    """One object instance over a class table (shared by all instances of the class)."""

    def __init__(self, eoj, tbl):
        self.eoj = eoj
        self.eoj_bytes = bytes(((eoj >> 16) & 0xFF, (eoj >> 8) & 0xFF, eoj & 0xFF))
        self.table = tbl
        self.changed = []  # announced EPCs changed since the last INF
        # settable EPCs whose value was accepted (Set, or replayed at boot), the last
        # accepted last: what echonet/persist.py saves
        self.accepted = []
        self.set_at = None  # time of the last accepted Set; None once autonomous again
        self.set_by = None  # who sent it (Node.who of its source); None at boot, the Node once revoked
        # while the appliance steps (Node.step), the list that put adds EPC, old EDT and
        # whether it queued the announcement to, for each value it changes: what a step that
        # fails half-way is undone by. Without the heap to note a change, put sets it to
        # None: that step is then not undone, as before there were notes
        self.undo = None
        anno = bytearray()
        sets = bytearray()
        gets = bytearray()
        for epc, rec in records(tbl):
            f = rec[1]
            if f & ANNO:
                anno.append(epc)
            if f & SET:
                sets.append(epc)
            if f & GET:
                gets.append(epc)
        self.anno = bytes(anno)
        self.gets = bytes(gets)
        # EPC -> EDT (bytes, or bytearray once changed) or None, readable only. Every
        # readable EPC gets its slot now, in one allocation of the final size, so the dict
        # never grows (and moves) later; None = no value yet, or none right now: a Get
        # answers PDC=0
        self.values = dict.fromkeys(gets)
        self.values[0x9D] = propmap.encode(anno)
        self.values[0x9E] = propmap.encode(sets)
        self.values[0x9F] = propmap.encode(gets)

    def spec(self, epc):
        """The declared record of a property, or None."""
        i = find(self.table, epc)
        if i < 0:
            return None
        return self.table[i : i + 4 + self.table[i + 2]]

    # -- values ---------------------------------------------------------------
    def put(self, epc, value):
        """Store a value (EDT bytes, or an int for numeric and 1-byte properties).

        Returns True when the stored value changed. A change of a property in 0x9D
        is queued for the status-change announcement. Write-only properties keep no value.
        """
        if epc not in self.gets:
            return False
        if isinstance(value, int):
            # a number outside the declared range is refused, not wrapped into the field
            # (MicroPython's struct.pack wraps): from a driver it is a fault (Node.step)
            rec = self.spec(epc)
            if rec is None:  # not declared (then not in gets either)
                return False
            num = rec[3] == NUM
            if not (in_range(rec, value) if num or rec[3] == ENUM else 0 <= value <= 255):
                raise ValueError("%02X=%d outside its range" % (epc, value))
            value = encode_int(rec, value) if num else bytes((value,))
        old = self.values.get(epc)
        if old == value:
            return False
        queue = old is not None and epc in self.anno and epc not in self.changed
        undo = self.undo
        if undo is not None:
            try:
                was = None if old is None else bytes(old)
                undo.append(epc)
                undo.append(was)
                undo.append(queue)
            except MemoryError:  # no heap to note it: the step goes on, and is not taken back if it fails
                self.undo = None
        if isinstance(old, bytearray) and len(old) == len(value):
            # overwrite in place: no new long-lived object that would fragment a small heap
            old[:] = value
        else:
            self.values[epc] = bytearray(value)
        if queue:
            self.changed.append(epc)
        return True

    def get(self, epc):
        """EDT of a readable property, or None."""
        return self.values.get(epc)

    def missing(self):
        """Readable properties that have no value yet (a declaration error at boot)."""
        return [e for e in self.gets if self.values.get(e) is None]

    def check(self):
        """Raise ValueError naming the properties missing() finds, as the node takes the
        object (Node, Node.add)."""
        missing = self.missing()
        if missing:
            raise ValueError("object %06X has no value for EPC %s" % (self.eoj, " ".join("%02X" % e for e in missing)))

    def was_set(self, epc, now):
        """Record that a Set of epc was accepted at time now (the node, and a replay at
        boot, call this). True for a command, which starts the DR wait (Node.dr_timeout);
        on/off (0x80) and the installation location (0x81) are settings, which no return
        to autonomous operation undoes: they neither start it nor take it over."""
        cmd = epc != 0x80 and epc != 0x81
        if cmd:
            self.set_at = now
        acc = self.accepted
        if acc and acc[-1] == epc:
            return cmd
        if epc in acc:
            acc.remove(epc)
        acc.append(epc)
        return cmd

    def apply(self, epc, edt, now):
        """Change a settable value as an accepted Set would (the class's accept() checks it
        and commands the appliance), announced like any change; for autonomous()."""
        if self.values.get(epc) != edt and self.accept(epc, edt, now):
            self.put(epc, edt)

    # -- appliance hooks ------------------------------------------------------
    def accept(self, epc, edt, now):
        """May refuse a well-formed value (state-dependent); applies it to the appliance.

        Subclasses override; the base accepts.
        """
        return True

    def tick(self, now):
        """Called about once a second with the node's time in Unix seconds."""
        pass

    def driver_fault(self, on):
        """The node found the appliance's driver failing (it raised) or working again: the
        fault status 0x88 and, in a class that has it, the fault description 0x89: the
        driver's `fault_description` as the fault begins if it is a code of the Appendix
        (1 to 0x3FF), else 0x3FF (fault); 0 (no fault) once it works. A class with faults
        of its own reports them here too."""
        self.put(0x88, 0x41 if on else 0x42)
        if 0x89 in self.gets:
            c = getattr(getattr(self, "appliance", None), "fault_description", None)
            self.put(0x89, (c if type(c) is int and 0 < c <= 0x3FF else 0x3FF) if on else 0)

    def clock_moved(self, delta, now):
        """A controller set the clock (0x97/0x98): every time is `delta` seconds later
        than it was, `now` is the new time. The appliance's last step moves with it, so
        the jump is not taken for time that passed. Subclasses with other times of their
        own (a window) move those too."""
        a = getattr(self, "appliance", None)
        if a is not None:
            a.clock_moved(delta, now)

    def autonomous(self, now):
        """Return to the appliance's own operation: the DR command expired or the
        controller fell silent (the node calls this once `dr_timeout` passes with no
        request from the controller of the last accepted Set). Change values through
        put() (or apply()) so the INFs go out.
        Subclasses override; the base has nothing to undo."""
        pass


class NodeProfile(EchonetObject):
    """Node profile object 0x0EF001 of a general node."""

    def __init__(self, identity, devices):
        EchonetObject.__init__(self, 0x0EF001, NODE_PROFILE)
        v = self.values
        v[0x80] = b"\x30"
        # Spec version 1.14, format 1 only
        v[0x82] = b"\x01\x0e\x01\x00"
        v[0x83] = identity.id_number(0x0EF001)
        v[0x88] = b"\x42"
        v[0x8A] = identity.maker
        v[0x8C] = identity.product
        v[0x8D] = identity.serial
        if identity.date:
            v[0x8E] = identity.date
        else:  # no production date (an identity the node made itself): 0x8E is not served
            del v[0x8E]
            self.gets = self.gets.replace(b"\x8e", b"")
            v[0x9F] = propmap.encode(self.gets)
        self.set_instances(devices)

    def set_instances(self, devices):
        eojs = b"".join(d.eoj_bytes for d in devices[:84])
        count = len(devices)
        listing = bytes((min(count, 84),)) + eojs
        classes = []
        for d in devices:
            c = d.eoj_bytes[:2]
            if c not in classes:
                classes.append(c)
        self.put(0xD3, bytes(((count >> 16) & 0xFF, (count >> 8) & 0xFF, count & 0xFF)))
        self.put(0xD4, (len(classes) + 1).to_bytes(2, "big"))
        self.put(0xD5, listing)
        self.put(0xD6, listing)
        self.put(0xD7, bytes((min(len(classes), 8),)) + b"".join(classes[:8]))


def rating(a, name, low=1, high=999999999):
    """The driver a's rating `name` (drready interfaces): a whole number from low to high
    (by default the top of the Appendix's rating fields, 999,999,999 W or Wh), or a
    (min, max) pair of them with max at least low. Anything else (a float, None, a
    capacity of 0, a power no field can hold) raises ValueError naming it: the object is
    not made, and drready/appliances.py reports the driver and tries it again."""
    v = getattr(a, name, None)
    if isinstance(v, tuple) and len(v) == 2:
        ok = isinstance(v[0], int) and isinstance(v[1], int) and 0 <= v[0] <= v[1] and low <= v[1] <= high
    else:
        ok = isinstance(v, int) and low <= v <= high
    if not ok:
        raise ValueError("%s = %r: a rating is a whole number, or a (min, max) pair, from %d to %d (docs/drivers.md)"
                         % (name, v, low, high))
    return v


def device_values(obj, identity):
    """Initial super-class values for a device object."""
    v = obj.values
    v[0x80] = b"\x30"
    v[0x81] = b"\x00"
    v[0x82] = _RELEASE_R
    v[0x83] = identity.id_number(obj.eoj)
    v[0x88] = b"\x42"
    v[0x8A] = identity.maker
    gets = obj.gets
    if 0x8C in gets:
        v[0x8C] = identity.product
    if 0x8D in gets:
        v[0x8D] = identity.serial
    if 0x89 in gets:
        v[0x89] = b"\x00\x00"

