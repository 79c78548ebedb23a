"""The security services' logic, under CPython and the MicroPython unix port: the
enrollment proof, back-off and lockout; the enrolled-controller list; the hash-chained
event log (ring, torn lines, tampering); the flood limiter; the button; factory reset."""
import hashlib
import os

from hal import store
from hal.button import FILE_POLL_MS, LONG, LONG_MS, SHORT, Presses
from security import logcheck
from security.audit import BURST, PERIOD_MS, Audit
from security.controllers import MAX, Controllers
from security.enroll import MAX_FAILURES, EnrollError, Enrollment, message
from security.eventlog import SEGMENT, EventLog
from security.hmac import hmac_sha256
from security.reset import factory_reset

from .support import raises

KEY = bytes(range(32))
VERIFIER = {"v": 1, "kdf": "pbkdf2-hmac-sha256", "iter": 10000, "salt": "00" * 16, "hash": KEY.hex()}
FP_C = hashlib.sha256(b"controller cert").digest()
FP_D = hashlib.sha256(b"device cert").digest()
CHALLENGE = bytes(32)


def tmpdir():
    d = "/tmp/drready-sec-" + os.urandom(6).hex()
    os.mkdir(d)
    return d


def proof(challenge=CHALLENGE, fp_c=FP_C, fp_d=FP_D, key=KEY):
    return hmac_sha256(key, message(b"C", challenge, fp_c, fp_d))


def opened(d, backoff_s=1):
    e = Enrollment(VERIFIER, d + "/enroll.json", store, backoff_s)
    e.open_window(0)
    return e


# -- enrollment ---------------------------------------------------------------------

def test_a_right_proof_is_confirmed_and_closes_the_window():
    e = opened(tmpdir())
    confirm = e.check(CHALLENGE, proof(), FP_C, FP_D, 1000)
    assert confirm == hmac_sha256(KEY, message(b"D", CHALLENGE, FP_C, FP_D))
    assert confirm != proof()  # the device's answer is not the controller's proof sent back
    raises(EnrollError, e.check, CHALLENGE, proof(), FP_C, FP_D, 2000)  # window closed


def test_a_proof_is_bound_to_the_challenge_and_both_certificates():
    for bad in (proof(challenge=b"\x01" * 32), proof(fp_c=FP_D), proof(fp_d=FP_C), proof(key=bytes(32))):
        e = opened(tmpdir())
        raises(EnrollError, e.check, CHALLENGE, bad, FP_C, FP_D, 1000)
        assert e.failures == 1


def test_wrong_proofs_back_off_doubling_then_lock_until_the_button():
    d = tmpdir()
    e = opened(d, backoff_s=1)
    now = 0
    for n in range(1, MAX_FAILURES + 1):
        raises(EnrollError, e.check, CHALLENGE, b"\x00" * 32, FP_C, FP_D, now)
        assert e.failures == n
        if n < MAX_FAILURES:
            wait = 1000 * (1 << (n - 1))
            raises(EnrollError, e.check_open, now + wait - 1)  # still waiting
            now += wait
            e.check_open(now)
    assert e.locked
    raises(EnrollError, e.check, CHALLENGE, proof(), FP_C, FP_D, now + 10**9)  # even the right code
    # the count survives a reboot
    again = Enrollment(VERIFIER, d + "/enroll.json", store)
    assert again.failures == MAX_FAILURES and again.locked
    # physical presence: unlocked, and the right code works at once
    again.open_window(5000)
    assert not again.locked
    again.check(CHALLENGE, proof(), FP_C, FP_D, 5001)


def test_no_setup_code_no_window_no_enrollment():
    e = Enrollment(None, tmpdir() + "/enroll.json", store)
    e.open_window(0)
    raises(EnrollError, e.check_open, 1)
    e = Enrollment(VERIFIER, tmpdir() + "/enroll.json", store)  # window never opened
    raises(EnrollError, e.check_open, 1)
    raises(ValueError, Enrollment, {"kdf": "md5", "iter": 1, "salt": "00" * 16, "hash": KEY.hex()}, "x", store)
    raises(ValueError, Enrollment, dict(VERIFIER, hash="abcd"), "x", store)


# -- controllers ----------------------------------------------------------------------

def test_controllers_are_added_found_renamed_and_revoked():
    d = tmpdir()
    c = Controllers(d + "/controllers.json", store)
    rec = c.add(FP_C, "hems", 100)
    assert c.find(FP_C) == rec and c.find(FP_D) is None
    raises(ValueError, c.add, FP_D, "hems", 101)  # a taken name
    raises(ValueError, c.add, FP_D, "bad name", 101)
    c.add(FP_D, "app", 102)
    assert Controllers(d + "/controllers.json", store).items == c.items  # persisted
    assert c.remove("nobody") is None and c.remove(FP_C.hex()[:7]) is None  # too short to be sure
    assert c.remove(FP_C.hex()[:8]) == rec
    assert c.find(FP_C) is None and [r["name"] for r in c.items] == ["app"]
    for i in range(MAX - 1):
        c.add(hashlib.sha256(bytes([i])).digest(), "c%d" % i, 0)
    raises(ValueError, c.add, FP_C, "one-too-many", 0)


# -- event log ---------------------------------------------------------------------

def test_the_log_chains_rotates_and_survives_a_reboot():
    d = tmpdir()
    log = EventLog(d, lambda: 1767225600)
    for i in range(2 * SEGMENT + 5):
        log.add("test", "record %d" % i)
    lines = list(log.lines())
    assert SEGMENT <= len(lines) <= 2 * SEGMENT
    first, last, head = logcheck.verify(lines)
    assert last == 2 * SEGMENT + 5 and first == last - len(lines) + 1 and head == log.head
    again = EventLog(d, lambda: 1767225601)  # a reboot continues the chain
    assert (again.seq, again.head) == (log.seq, log.head)
    again.add("boot")
    logcheck.verify(list(again.lines()))


def test_a_record_that_cannot_be_written_as_the_segment_turns_leaves_the_log_as_it_was():
    # the turn to the other segment is taken only once its first record is in: a write that
    # fails (flash full, or no heap: MemoryError) leaves the next record to turn it
    from security import eventlog

    d = tmpdir()
    log = eventlog.EventLog(d, lambda: 0)
    for i in range(2 * SEGMENT):  # both segments full, the current one at SEGMENT records
        log.add("test", "record %d" % i)
    state = (log._cur, log._count, log.seq)
    for err in (OSError(28, "no space"), MemoryError("memory allocation failed")):
        def no_write(*args, err=err):
            raise err

        eventlog.open = no_write  # pyright: ignore[reportAttributeAccessIssue] (a module global: shadows the builtin there alone)
        try:
            if isinstance(err, OSError):
                log.add("lost")  # (said on the console, and lost)
            else:
                raises(MemoryError, log.add, "lost")
        finally:
            del eventlog.open  # pyright: ignore[reportAttributeAccessIssue]
        assert (log._cur, log._count, log.seq) == state
    log.add("next")
    lines = list(log.lines())
    assert lines[-1].split()[2] == "next" and len(lines) == SEGMENT + 1
    logcheck.verify(lines)


def test_a_torn_last_line_is_skipped_and_the_next_record_starts_clean():
    d = tmpdir()
    log = EventLog(d, lambda: 0)
    log.add("a")
    log.add("b")
    with open(d + "/seclog.0", "a") as f:
        f.write("3 0 c - 12ab")  # a power cut in the middle of a write
    again = EventLog(d, lambda: 0)
    assert again.seq == 2
    again.add("c")
    lines = list(again.lines())
    assert [line.split()[2] for line in lines] == ["a", "b", "c"]
    logcheck.verify(lines)


def test_any_change_to_the_log_is_detected():
    d = tmpdir()
    log = EventLog(d, lambda: 0)
    for kind in ("boot", "enroll", "set", "revoke"):
        log.add(kind, "detail of " + kind)
    lines = list(log.lines())
    edited = list(lines)
    edited[1] = edited[1].replace("enroll", "enrol")
    raises(ValueError, logcheck.verify, edited)
    raises(ValueError, logcheck.verify, lines[:1] + lines[2:])  # one dropped
    raises(ValueError, logcheck.verify, [lines[0], lines[2], lines[1], lines[3]])  # reordered
    raises(ValueError, logcheck.verify, [])
    assert logcheck.verify(lines[1:])[0] == 2  # older records rotated out: still a chain


def test_details_are_one_printable_line():
    d = tmpdir()
    log = EventLog(d, lambda: 0)
    log.add("x", "two\nlines\x00 and " + "long " * 50)
    (line,) = list(log.lines())
    assert "\n" not in line and "\x00" not in line and len(line) < 260
    logcheck.verify([line])


# -- flood limiting -----------------------------------------------------------------

def test_noisy_events_are_written_a_few_times_a_minute_then_counted():
    d = tmpdir()
    log = EventLog(d, lambda: 0)
    audit = Audit(log)
    audit.tick(PERIOD_MS)  # the first period starts
    for i in range(20):
        audit.noisy("set-refused", "udp:10.0.0.%d" % i)
        audit.noisy("auth-fail", "tls 10.0.0.%d" % i)
    audit.event("enroll", "never held back")
    assert log.seq == BURST + 1  # all noisy kinds share one budget
    audit.tick(PERIOD_MS + PERIOD_MS - 1)
    assert log.seq == BURST + 1
    audit.tick(2 * PERIOD_MS)
    last = list(log.lines())[-1].split(" ")
    assert log.seq == BURST + 2 and last[2] == "held-back", last
    assert "set-refused=%d" % (20 - 2) in last and "auth-fail=%d" % (20 - 1) in last, last


# -- the button ------------------------------------------------------------------

class FakeButton:
    def __init__(self):
        self.down = False

    def pressed(self):
        return self.down


def test_short_and_long_presses_of_a_real_button():
    b = FakeButton()
    p = Presses(b, "/nonexistent")
    b.down = True
    assert p.poll(0) is None and p.poll(500) is None
    b.down = False
    assert p.poll(600) == SHORT and p.poll(700) is None
    b.down = True
    assert p.poll(1000) is None
    assert p.poll(1000 + LONG_MS) == LONG
    assert p.poll(2000 + LONG_MS) is None  # reported once while held
    b.down = False
    assert p.poll(3000 + LONG_MS) is None  # and not again as a short press on release


def test_the_simulated_button_is_a_file_consumed_once():
    d = tmpdir()
    p = Presses(None, d)
    assert p.poll(0) is None
    t = 0
    for kind in (SHORT, LONG):
        with open(d + "/button", "w") as f:
            f.write(kind + "\n")
        t += FILE_POLL_MS
        assert p.poll(t) == kind
        t += FILE_POLL_MS
        assert p.poll(t) is None
    with open(d + "/button", "w") as f:
        f.write("sideways")
    assert p.poll(t + 1) is None  # looked at no more often than every FILE_POLL_MS ...
    assert p.poll(t + FILE_POLL_MS) is None  # ... and a garbled press is no press


def test_a_press_left_from_before_the_start_is_not_acted_on():
    d = tmpdir()
    with open(d + "/button", "w") as f:
        f.write(LONG)  # pressed while no node ran: a factory reset nobody asked of this start
    p = Presses(None, d)
    assert p.poll(FILE_POLL_MS) is None
    assert "button" not in os.listdir(d)


# -- factory reset ---------------------------------------------------------------

def test_factory_reset_wipes_what_was_learned_and_keeps_the_chain_going():
    d = tmpdir()
    kept = ("identity.json", "config.json")
    for name in ("controllers.json", "enroll.json", "setup.json", "settings.json", "settings.json.tmp") + kept:
        store.save(d + "/" + name, {"x": 1})
    log = EventLog(d, lambda: 0)
    log.add("enroll", "hems")
    seq = log.seq
    factory_reset(d, log, "button held")
    left = sorted(n for n in os.listdir(d) if not n.startswith("seclog"))
    assert left == sorted(kept), left
    lines = list(EventLog(d, lambda: 0).lines())
    assert len(lines) == 1 and " factory-reset " in lines[0] and int(lines[0].split()[0]) == seq + 1


def test_a_reboot_neither_lifts_a_lockout_nor_shortens_a_wait():
    d = tmpdir()
    e = opened(d, backoff_s=4)
    raises(EnrollError, e.check, CHALLENGE, b"\x00" * 32, FP_C, FP_D, 0)
    again = Enrollment(VERIFIER, d + "/enroll.json", store, 4)  # rebooted: ms count from 0 again
    again.open_window(0, presence=False)  # the window a device with no controller opens at boot
    raises(EnrollError, again.check_open, 3999)  # the 4 s wait holds from boot
    again.check_open(4000)
    e._set_failures(MAX_FAILURES)  # a locked device ...
    booted = Enrollment(VERIFIER, d + "/enroll.json", store, 4)
    booted.open_window(0, presence=False)
    assert booted.locked  # ... stays locked through a reboot; only the button unlocks it
    booted.open_window(0)
    assert not booted.locked
