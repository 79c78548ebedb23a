"""Serve ECHONET Lite until stopped: the receive and tick loops, and the errors that stop
the node with one line. Reading config and building the node is start-up code, in
startup.py, dropped once the node runs.

main.py calls `main()` on the board (with /config.json) and in the host simulator (with
<state>/config.json): both take the same path below.
"""
import asyncio
import errno
import gc
import os
import sys

from micropython import const
from unload import drop

from hal.udp import peer_key

# asyncio.gather is loaded on first use (asyncio.funcs, about 1 KB): load it now, while the
# heap is whole, rather than after boot when it may find no room in one piece
_gather = asyncio.gather

_TICK_MS = const(1000)
# a trial update is confirmed once the node has served this long with every task started:
# a release that fails just after READY (no heap for a task, say) is not made permanent
_CONFIRM_MS = const(30000)
# on a board, a trial boot and every boot of a production image arm the hardware watchdog
# with this timeout (hal/board.py): a node that hangs resets the board, and an unconfirmed
# trial reverts. A development image arms it on trial boots only: its REPL would be reset
_WATCHDOG_S = const(60)
_PERSIST_INTERVAL_S = const(60)  # config persist_interval_s: real seconds between settings writes
RESTART = 4  # main's return code for "start me again" (factory reset, update): tools/sim.py starts it again
_OUT_OF_HEAP = const(3)  # main's return code when the node found no heap to run in (tools/sim.py explains)
NO_ROOM = "/secure-channel-off"  # in the state directory: the last start found no heap for the secure channel
secure_start = False  # this start builds the secure channel (security/boot.py build sets it)
# when READY was printed (the clock's real ms), None before: from then on a lack of heap is
# no reason to drop the secure channel
_up = None


class ConfigError(Exception):
    pass


class Restart(Exception):
    pass


class Security:
    """The security services startup made: server and enrollment None when the device is
    not provisioned (controllers enroll over the secure channel)."""

    def __init__(self, state_dir, server, audit, enrollment, presses):
        self.state_dir = state_dir
        self.server = server
        self.audit = audit
        self.enrollment = enrollment
        self.presses = presses
        self.restart_pending = False

    def serve_secure(self, server):
        self.server = server

    def request_restart(self):
        """Restart at the next tick, once the answer that asked for it is out."""
        self.restart_pending = True


def log(text):
    print(text)


def write_policy(allow):
    """Who may Set: over the secure channel an enrolled controller; over plain UDP only the
    addresses the operator listed (legacy write)."""
    from hal.udp import peer_ip

    def write_allowed(src):
        may = getattr(src, "may_write", None)  # a secure session (security/channel.py)
        if may is not None:
            return may
        return peer_ip(src) in allow

    return write_allowed


def controller_of(src):
    """Node.who: the controller behind a request, for the DR timeout. Over plain UDP its
    host, whatever port it sent from (ECHONET Lite answers port 3610 anyway, and a
    controller may send from several sockets), found without allocating, as it is asked
    for every datagram while a command is in force; over the secure channel the enrolled
    controller, whichever session it came in on."""
    ctl = getattr(src, "ctl", None)  # a secure session (security/channel.py)
    if ctl is not None:
        return "ctl:" + ctl["fp"]
    if hasattr(src, "may_write"):  # a session not (yet) of an enrolled controller
        return src
    return peer_key(src)


async def _tick(node, clock, saver, sec, trial=None):
    """trial: the state directory while an update waits for its confirmation."""
    start = clock.real_ms()
    while True:
        await asyncio.sleep_ms(_TICK_MS)
        try:
            node.tick(clock.now())
            if saver:
                saver.poll(clock.elapsed_ms // clock.speed)  # real, not simulated, milliseconds
            if sec:
                sec.audit.tick(clock.real_ms())
            if trial and clock.real_ms() - start >= _CONFIRM_MS:
                import update

                try:
                    confirmed = update.confirm_if_trial(trial)
                    trial = None
                except OSError as e:  # the record not written (flash full, say): tried again later
                    log("update not confirmed: %s; tried again in %d s" % (e, _CONFIRM_MS // 1000))
                    confirmed = None
                    start = clock.real_ms()
                drop("update", "update.state")
                if confirmed:
                    log("update %s confirmed" % confirmed)
                    if sec:
                        sec.audit.event("update", "%s confirmed after a healthy start" % confirmed)
        except MemoryError:  # this second found no heap: the next tick catches up; the node runs on
            node.stats.errors += 1
            log("tick skipped: out of heap")
        if sec and sec.restart_pending:
            log("restarting into the update")
            raise Restart()


async def _button(sec, clock):
    """The commissioning / factory-reset button (hal/button.py)."""
    from hal.button import LONG, POLL_MS, SHORT

    while True:
        await asyncio.sleep_ms(POLL_MS)
        kind = sec.presses.poll(clock.real_ms())
        enrollment = sec.enrollment
        if kind == SHORT and enrollment is None:
            log("no commissioning window: the secure channel is off until this device is provisioned")
        elif kind == SHORT:
            enrollment.open_window(clock.real_ms())
            sec.audit.event("window-open", "button")
            log("commissioning window open for %d s" % enrollment.window_left(clock.real_ms()))
        elif kind == LONG:
            from security.reset import factory_reset

            factory_reset(sec.state_dir, sec.audit.log, "button held")
            log("factory reset: restarting")
            raise Restart()


async def serve(node, ep, clock, saver=None, sec=None, cfg=None):
    global _up
    import update

    cfg = cfg or {}
    state_dir = cfg.get("state_dir", ".")
    node.clock = clock.now  # for Sets: they act from when they arrive
    if sec and sec.server:
        await sec.server.start(ep.addr)
        log("SECURE %s:%d device %s" % (ep.addr, sec.server.port, sec.server.fingerprint))
    if sec and sec.enrollment and sec.enrollment.window_left(clock.real_ms()):
        log("commissioning window open for %d s" % sec.enrollment.window_left(clock.real_ms()))
    node.start(clock.now())
    short = False  # up without the secure channel for want of heap (security/boot.py out_of_heap)
    if sec and sec.server is None:  # the note goes: the next start tries the channel again
        try:
            os.remove(state_dir + NO_ROOM)
            short = True
        except OSError:
            pass
    from update import state

    try:
        rec = state.load(state_dir)
        version = update.version(state_dir, rec)
        # a trial update is confirmed once every task below has run for _CONFIRM_MS
        # (_tick); an update that started only without its secure channel is not healthy
        trial = state_dir if not short and rec["pending"] else None
    except Exception as e:  # a damaged update record: the node serves, and takes no update (update/state.py)
        log("ERROR %s: the node runs, but takes no update until the record is restored" % (e,))
        version = "?"
        trial = None
    if sec and sec.server:
        sec.server.version = version  # (there, not on sec: the unprovisioned node's smallest heap)
    gc.collect()
    eojs = " ".join("%06X" % o.eoj for o in [node.profile] + node.devices)
    log("READY %s:3610 objects %s version %s heap %d/%d"
        % (ep.addr, eojs, version, gc.mem_alloc(), gc.mem_alloc() + gc.mem_free()))
    _up = clock.real_ms()
    update = None  # pyright: ignore[reportAssignmentType]
    drop("update", "update.state")  # needed again only by an update, which loads them
    feed = None
    if sys.platform != "linux":  # on a board: the status LED (board.json) says the node runs
        from hal import board

        feed = board.watchdog(_WATCHDOG_S, trial)
        try:
            led = board.open_pins()[0]
            if led:
                led.on()
        except ValueError as e:
            log("board.json: %s" % e)
    tasks = [ep.receive_loop(sock, node.serve, node.failed, log) for sock in (ep.unicast, ep.multicast)]
    if feed:
        tasks.append(feed)
    tasks.append(_tick(node, clock, saver, sec, trial))
    if sec:
        tasks.append(_button(sec, clock))
    retry = getattr(sys.modules.get("drready.appliances"), "retry", None)
    if retry:  # an object waits for its driver (drready/appliances.py)
        tasks.append(retry(node, clock, saver, log))
    if cfg.get("update_url"):
        from update import pull

        from hal.clock import wall

        tasks.append(pull.task(cfg, wall, log, Restart))  # pyright: ignore[reportArgumentType] (ends, unlike the loops)
    try:
        await _gather(*tasks)
    finally:
        if sec and sec.server:
            sec.server.close()
        ep.close()


def _boot(path):
    """Build the node with the start-up code, then drop that code: its bytecode is not
    needed again and a small heap wants the room. The security services are made first
    (their buffers live as long as the node) and attached to the node at the end."""
    from echonet.node import MAX_FRAME

    gc.collect()
    out = bytearray(MAX_FRAME)  # the node's frame buffer, before anything fragments the heap
    from security import boot

    pre = boot.build(path)
    gc.collect()  # its leftovers gone before the start-up code loads (as in startup.build)
    import startup

    try:
        cfg, node, ep, clock, identity = startup.start(path, out)
    finally:
        drop("startup")
        if not getattr(sys.modules.get("drready.appliances"), "retry", None):  # no object waits for its driver
            drop("drready.registry", "drready.appliances")
    gc.collect()
    try:
        sec = boot.attach(pre, node, identity, clock)
    finally:
        drop("security.boot", "security.provisioned", "echonet.identity", "update.boot")
    if sec.server is None:  # unprovisioned: the secure channel's code is not needed
        drop("security.channel", "security.controllers")
    return cfg, node, ep, clock, sec


def settings(cfg, node, clock):
    """Replay the saved settings into the node before it starts (echonet/persist.py), then
    return the writer that keeps them (state_dir/settings.json, rate-limited). A damaged
    file, or a value that no longer validates, is logged and skipped: never a reason not
    to boot. A .tmp left by a power cut during a save is never read. Runs after _boot
    has dropped the start-up code, so the two never take the heap at once."""
    gc.collect()  # the same, before the settings code loads
    from echonet import persist
    from hal import store

    path = cfg.get("state_dir", ".") + "/settings.json"
    retry = []
    try:
        skipped = persist.restore(node, store.load(path, {}), clock.now(), retry)
    except ValueError as e:  # not JSON: not something a save leaves, even cut short
        skipped = ["%s: damaged (%s)" % (path, e)]
    for line in skipped:
        log("settings not restored %s" % line)
    interval = cfg.get("persist_interval_s", _PERSIST_INTERVAL_S)
    return persist.Saver(node, path, interval, store.save, clock.elapsed_ms // clock.speed, retry)


_NO_HEAP_WITH = const("ERROR out of heap with the secure channel: give MicroPython more (HEAP=) or configure fewer objects")
_NO_HEAP_WITHOUT = const("ERROR out of heap without the secure channel: give MicroPython more (HEAP=) or configure fewer objects")


def _note_out_of_heap(path, secure):
    """security.boot.out_of_heap, or False when even that fails (a damaged file, no heap)."""
    try:
        from security.boot import out_of_heap

        return out_of_heap(path, secure)
    except Exception:
        return False


def _spare_trial(cfg, clock):
    """A clean stop (Ctrl-C, SIGTERM) in the _CONFIRM_MS after READY, while an application
    update is on trial, does not spend its trial boot (update/boot.py): the next start is
    its trial again, not a revert. Nothing else spares it: not a restart the release asks
    for itself (a factory reset a broken button pin would trigger at every start), not a
    stop after the window, by when a healthy release has been confirmed."""
    if _up is None or clock.real_ms() - _up >= _CONFIRM_MS:
        return
    try:
        from update import state

        d = cfg.get("state_dir", ".")
        rec = state.load(d)
        if rec["pending"] and rec["trial"] and rec["boots"]:
            rec["boots"] = 0
            state.save(d, rec)
    except Exception:  # no heap, a damaged record: the trial boot is spent, as by a crash
        pass


def main(path="config.json"):
    cfg = {}
    writer = None
    try:
        cfg, node, ep, clock, sec = _boot(path)
        writer = settings(cfg, node, clock)
        gc.collect()
        asyncio.run(serve(node, ep, clock, writer, sec, cfg))
    except KeyboardInterrupt:
        if writer:
            try:
                writer.flush()  # a clean stop keeps the changes not yet written
            except MemoryError:  # Ctrl-C landed inside a collection (the heap stays locked)
                log("settings not written at stop: no heap")
        if writer:  # (the node was built: the clock exists)
            _spare_trial(cfg, clock)  # pyright: ignore[reportPossiblyUnbound]
    except Restart:
        log("RESTART")
        return RESTART
    except ConfigError as e:
        print("ERROR %s" % e)
        return 2
    except MemoryError as e:
        # a provisioned device that could not start with its secure channel starts again
        # without it (security/boot.py): an expected way to start, so no traceback. Once
        # it has run, a lack of heap (a flood of sessions, say) must not be a way to turn
        # the channel off
        cfg = node = ep = sec = writer = None  # the heap they held, for what follows
        gc.collect()
        if secure_start and _up is None and _note_out_of_heap(path, True):
            print("ERROR out of heap with the secure channel: starting again without it; "
                  "give MicroPython more (HEAP=) to have it")
            log("restarting without the secure channel")
            return RESTART
        print(_NO_HEAP_WITH if secure_start else _NO_HEAP_WITHOUT)
        sys.print_exception(e)  # where it ran out (the traceback names lines, holds no frames)
        if _up is None and not secure_start:
            _note_out_of_heap(path, False)  # any note goes: the next start tries the channel again
        return _OUT_OF_HEAP
    except OSError as e:
        code = e.args[0] if e.args else 0
        if code == errno.EADDRINUSE:
            print("ERROR UDP port 3610 on %s is taken by another program; stop it or use another address" % cfg.get("addr"))
        elif code == 99:  # EADDRNOTAVAIL (Linux); MicroPython's errno lacks the name
            print("ERROR %s is not an address of this host" % cfg.get("addr"))
        else:
            print("ERROR network: %s" % (e,))
        return 1
    log("STOPPED")
    return 0
