"""A controller on the command line: ECHONET Lite over plain UDP (no secure channel yet).

    ctl.py --bind 192.168.1.10 discover 192.168.1.23
    ctl.py --bind 192.168.1.10 get 192.168.1.23 027D01 80 DA E4
    ctl.py --bind 192.168.1.10 set 192.168.1.23 027D01 DA=42 EB=000007D0
    ctl.py --bind 192.168.1.10 watch              (INF announcements until Ctrl-C)

--bind is this computer's own address on the node's network. ctl binds ADDR:3610,
because nodes send their replies to port 3610: nothing else here may hold that port on
that address (or on 0.0.0.0). It sends unicast only; `watch` joins the group 224.0.23.0 on
the --bind address's interface only, with outgoing multicast pinned to it, and never
sends.

The node accepts Set over plain UDP only from addresses its operator listed in
legacy_write (LEGACY_WRITE= for make sim, make provision); from any other address each
property comes back refused (SetC_SNA).

Output: one line per property, `EPC PDC EDT` in hex. Exit codes: 0 done, every property
accepted; 3 the node answered but refused or lacks at least one property (SNA);
1 no reply within --timeout; 2 a bad argument or an address that cannot be bound.
"""

import argparse
import ipaddress
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import el  # noqa: E402

REFUSED = 3


class ArgError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with one line on a bad command (not usage + error), exit 2."""

    def error(self, message):
        print("ctl: %s (ctl.py -h for help)" % message, file=sys.stderr)
        sys.exit(2)


def _ipv4(text, what):
    try:
        a = ipaddress.IPv4Address(text)
    except ValueError:
        raise ArgError("%s %r is not an IPv4 address" % (what, text))
    if a.is_multicast or a.is_unspecified or str(a) == "255.255.255.255":
        raise ArgError("%s %s must be a unicast address" % (what, text))
    return str(a)


def _epc_edt(text):
    epc, sep, value = text.partition("=")
    if not sep:
        raise ArgError("%r: write each property as EPC=HEX, e.g. DA=42" % text)
    try:
        code = el.parse_epc(epc)
    except ValueError as e:
        raise ArgError(str(e))
    v = value.replace(" ", "").replace(":", "")
    try:
        edt = bytes.fromhex(v)
    except ValueError:
        raise ArgError("%r: the value after = must be hex bytes, e.g. DA=42 or EB=000007D0" % text)
    if not 1 <= len(edt) <= 255:
        raise ArgError("%r: the value must be 1 to 255 bytes" % text)
    return code, edt


def _prop_line(epc, edt, note=""):
    return "  %02X %3d  %s%s" % (epc, len(edt), edt.hex(" ").upper() if edt else "-", note)


def discover(c, node, timeout, out):
    res = c.request(node, el.NODE_PROFILE, el.GET, [(0xD6, b""), (0x83, b""), (0x8A, b"")], timeout)
    ident, maker, inst = res.edt(0x83), res.edt(0x8A), res.edt(0xD6)
    out("node %s: %s" % (node, el.esv_name(res.esv)))
    out("  identification 83 %s" % (ident.hex().upper() if ident else "(not given)"))
    out("  manufacturer   8A %s" % (maker.hex().upper() if maker else "(not given)"))
    if not inst:
        out("  objects: (0xD6 not given)")
        return REFUSED
    try:
        eojs = el.decode_instances(inst)
    except ValueError as e:
        out("  objects: malformed 0xD6 %s (%s)" % (inst.hex(), e))
        return REFUSED
    out("  objects (%d):" % len(eojs))
    out("    %06X  %s" % (el.NODE_PROFILE, el.class_name(el.NODE_PROFILE)))
    for eoj in eojs:
        out("    %06X  %s" % (eoj, el.class_name(eoj)))
    return 0 if res.esv == el.GET_RES else REFUSED


def get(c, node, eoj, epcs, timeout, out):
    res = c.request(node, eoj, el.GET, [(e, b"") for e in epcs], timeout)
    ok = res.esv == el.GET_RES
    out("%06X %s from %s%s" % (eoj, el.esv_name(res.esv), node,
                               "" if ok else ": the node refused or lacks the properties marked SNA"))
    out("  EPC PDC  EDT")
    for epc, edt in res.props:
        out(_prop_line(epc, edt, "" if edt or ok else "  SNA (not available)"))
    return 0 if ok else REFUSED


def set_(c, node, eoj, pairs, timeout, out):
    res = c.request(node, eoj, el.SETC, pairs, timeout)
    ok = res.esv == el.SET_RES
    out("%06X %s from %s%s" % (eoj, el.esv_name(res.esv), node, "" if ok else ": SNA, not every property was accepted"))
    sent = dict(pairs)
    refused = 0
    for epc, edt in res.props:
        # accepted properties come back with PDC 0; refused ones with the value that was sent
        if edt:
            refused += 1
        value = sent.get(epc, edt)
        out("  %02X=%s %s" % (epc, value.hex().upper(), "refused" if edt else "accepted"))
    return 0 if ok and not refused else REFUSED


def watch(bind, seconds, count, out):
    try:
        s = el.group_listener(bind)
    except OSError as e:
        raise ArgError("cannot join %s on %s:%d (%s)" % (el.GROUP, bind, el.PORT, e.strerror or e))
    seen = 0
    deadline = time.monotonic() + seconds if seconds else None
    out("watching %s:%d on %s (Ctrl-C stops)" % (el.GROUP, el.PORT, bind))
    import select

    with s:
        while count == 0 or seen < count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                continue
            data, src = s.recvfrom(2048)
            try:
                f = el.parse(data)
            except ValueError:
                continue
            seen += 1
            out("%s %s %06X %s %s" % (time.strftime("%H:%M:%S"), src[0], f.seoj, el.class_name(f.seoj), el.esv_name(f.esv)))
            for epc, edt in f.props:
                out(_prop_line(epc, edt))
    return 0


def parse_args(argv):
    ap = Parser(prog="ctl.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", required=True, metavar="ADDR", help="this computer's address; ctl binds ADDR:3610")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a reply (default 3)")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    p = sub.add_parser("discover", help="Get 0xD6, 0x83, 0x8A of the node profile: its objects and identity")
    p.add_argument("node")
    p = sub.add_parser("get", help="Get properties: get NODE EOJ EPC...")
    p.add_argument("node")
    p.add_argument("eoj")
    p.add_argument("epcs", nargs="+", metavar="EPC")
    p = sub.add_parser("set", help="SetC properties: set NODE EOJ EPC=HEX...")
    p.add_argument("node")
    p.add_argument("eoj")
    p.add_argument("pairs", nargs="+", metavar="EPC=HEX")
    p = sub.add_parser("watch", help="print INF announcements to 224.0.23.0 until Ctrl-C")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--count", type=int, default=0, help="stop after this many frames (default: until Ctrl-C)")
    return ap.parse_args(argv)


def fail(message, code=2):
    print("ctl: " + message, file=sys.stderr)
    return code


def main(argv=None, out=print):
    args = parse_args(argv)
    try:
        bind = _ipv4(args.bind, "--bind")
        if not 0 < args.timeout <= 600:
            raise ArgError("--timeout must be more than 0 and at most 600 seconds")
        if args.cmd == "watch":
            if args.seconds < 0 or args.count < 0:
                raise ArgError("--seconds and --count must not be negative")
            return watch(bind, args.seconds, args.count, out)
        node = _ipv4(args.node, "NODE")
        eoj = epcs = pairs = None
        if args.cmd in ("get", "set"):
            try:
                eoj = el.parse_eoj(args.eoj)
                if args.cmd == "get":
                    epcs = [el.parse_epc(e) for e in args.epcs]
            except ValueError as e:
                raise ArgError(str(e))
            if args.cmd == "set":
                pairs = [_epc_edt(p) for p in args.pairs]
        try:
            c = el.Controller(bind)
        except OSError as e:
            raise ArgError("cannot bind %s:%d (%s): use an address of this computer, and stop any other program that "
                           "holds port %d on it" % (bind, el.PORT, e.strerror or e, el.PORT))
        with c:
            if args.cmd == "discover":
                return discover(c, node, args.timeout, out)
            if args.cmd == "get":
                return get(c, node, eoj, epcs, args.timeout, out)
            return set_(c, node, eoj, pairs, args.timeout, out)
    except ArgError as e:
        return fail(str(e))
    except TimeoutError:
        return fail("no reply from %s within %g s: is the node running there, is the object in it, and is --bind %s "
                    "on the node's network?" % (args.node, args.timeout, args.bind), 1)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
