"""A controller on the command line: ECHONET Lite over plain UDP and over the secure channel.

Plain UDP (any ECHONET Lite node; --bind is this computer's address on the node's network):
    ctl.py --bind 192.168.1.10 discover 192.168.1.23
    ctl.py --bind 192.168.1.10 get 192.168.1.23 027D01 80 DA E4
    ctl.py --bind 192.168.1.10 set 192.168.1.23 027D01 DA=42         (refused unless legacy_write)
    ctl.py --bind 192.168.1.10 watch              (INF announcements until Ctrl-C)

Secure channel (TLS to port 3611 with this controller's own certificate, kept in --home):
    ctl.py enroll 192.168.1.23 --code 7K3M-Q9XD-2HNV-R8TB-F --name hems
    ctl.py --secure get 192.168.1.23 027D01 80 DA
    ctl.py --secure set 192.168.1.23 027D01 DA=42
    ctl.py controllers 192.168.1.23               (the enrolled controllers)
    ctl.py revoke 192.168.1.23 hems               (by name, or 8+ hex digits of a fingerprint)
    ctl.py rotate-code 192.168.1.23               (a new setup code, printed once)
    ctl.py log 192.168.1.23 [--out FILE]          (the security event log, chain checked)
    ctl.py status 192.168.1.23                    (version, uptime, heap, sessions, frame counters)
    ctl.py update 192.168.1.23 PACKAGE            (a signed update: tools/sign.py; resumes if cut)

For plain UDP, ctl binds ADDR:3610, because nodes send their replies to port 3610: nothing
else here may hold that port on that address (or on 0.0.0.0). It sends unicast only;
`watch` joins 224.0.23.0 on the --bind address's interface only and never sends.
Enrollment needs the device's commissioning window open: it is, out of the box (first 15
minutes, until a controller enrolls); later press the device's button (`make commission`
for the simulator). The first enrollment pins the device's certificate in --home; with
--ca the device is checked against its manufacturer CA instead.

Output: one line per property, `EPC PDC EDT` in hex. Exit codes: 0 done, every property
accepted; 3 the node answered but refused or lacks at least one property (SNA), or
refused a request; 4 the security log's hash chain is broken; 1 no reply, or the secure
channel failed; 2 a bad argument or an address that cannot be bound.
"""

import argparse
import ipaddress
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import el, secure, setupcode  # noqa: E402

REFUSED = 3
TAMPERED = 4
SECURE_CMDS = ("enroll", "controllers", "revoke", "rotate-code", "log", "update", "status")
# what status prints, in this order, one "name value" line each (frames.*: echonet/node.py Stats)
STATUS = ("version", "uptime_s", "heap_alloc", "heap_free", "sessions", "handshakes", "log_seq")
FRAMES = ("received", "replies", "announcements", "sets", "refused", "ignored", "malformed", "errors")


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
    return show_get(c.request(node, eoj, el.GET, [(e, b"") for e in epcs], timeout), node, out)


def show_get(res, node, out):
    ok = res.esv == el.GET_RES
    out("%06X %s from %s%s" % (res.seoj, el.esv_name(res.esv), node,
                               "" if ok else ": the node refused or lacks the properties marked SNA"))
    out("  EPC PDC  EDT")
    for epc, edt in res.props:
        out(_prop_line(epc, edt, "" if edt or ok else "  SNA (not available)"))
    return 0 if ok else REFUSED


def set_(c, node, eoj, pairs, timeout, out):
    return show_set(c.request(node, eoj, el.SETC, pairs, timeout), node, pairs, out)


def show_set(res, node, pairs, out):
    ok = res.esv == el.SET_RES
    out("%06X %s from %s%s" % (res.seoj, el.esv_name(res.esv), node, "" if ok else ": SNA, not every property was accepted"))
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
    ap.add_argument("--bind", metavar="ADDR", help="this computer's address; plain UDP binds ADDR:3610 (needed for UDP)")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a reply (default 3)")
    ap.add_argument("--secure", action="store_true", help="get/set over the secure channel instead of plain UDP")
    ap.add_argument("--home", default=secure.default_home(),
                    help="this controller's key, certificate and enrolled devices (default $DRREADY_CTL_HOME or "
                         "~/.config/drready-ctl)")
    ap.add_argument("--ca", help="check the device's certificate against this CA (PEM) instead of the enrollment pin")
    ap.add_argument("--port", type=int, default=secure.SECURE_PORT, help="the secure channel's TCP port (default 3611)")
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
    p = sub.add_parser("enroll", help="enroll this controller with the device's setup code")
    p.add_argument("node")
    p.add_argument("--code", required=True, help="the setup code from the device's label (or from rotate-code)")
    p.add_argument("--name", default="controller", help="a name for this controller on the device (default controller)")
    p = sub.add_parser("controllers", help="list the controllers enrolled on the device")
    p.add_argument("node")
    p = sub.add_parser("revoke", help="revoke an enrolled controller (name or 8+ hex digits of its fingerprint)")
    p.add_argument("node")
    p.add_argument("id")
    p = sub.add_parser("rotate-code", help="give the device a new random setup code; prints it once")
    p.add_argument("node")
    p = sub.add_parser("update", help="push a signed update package (tools/sign.py) to the device")
    p.add_argument("node")
    p.add_argument("package")
    p = sub.add_parser("status", help="the device's version, uptime, heap, sessions and frame counters")
    p.add_argument("node")
    p = sub.add_parser("log", help="export the security event log and check its hash chain")
    p.add_argument("node")
    p.add_argument("--out", help="also write the records to this file")
    return ap.parse_args(argv)


def _connect(args, node, enrolling=False):
    me = secure.ControllerIdentity.load_or_create(args.home)
    return secure.Connection(node, me, secure.Pins(args.home), args.ca, args.port, args.bind, max(args.timeout, 5.0),
                             enrolling), me


def secure_cmd(args, node, eoj, epcs, pairs, out):
    if args.cmd == "update":
        package, msize = read_package(args.package)
    if args.cmd == "enroll":
        try:
            chars = setupcode.normalize(args.code)
        except ValueError as e:
            raise ArgError("--code: %s" % e)
        c, me = _connect(args, node, enrolling=True)
        with c:
            secure.enroll(c, me, chars, args.name)
            secure.Pins(args.home).put(c.where, c.device_fp, c.device)
        out("enrolled as %s with %s; device certificate %s pinned" % (args.name, c.where, c.device_fp.hex()[:16]))
        return 0
    c, _me = _connect(args, node)
    if c.repinned:
        secure.Pins(args.home).put(c.where, c.device_fp, c.device)
        out("note: device %s has a new certificate (key rotated), signed by --ca; pinned it" % c.device)
    with c:
        if args.cmd == "get":
            return show_get(c.echonet(eoj, el.GET, [(e, b"") for e in epcs]), node, out)
        if args.cmd == "set":
            return show_set(c.echonet(eoj, el.SETC, pairs), node, pairs, out)
        if args.cmd == "controllers":
            rows = c.request({"op": "controllers"})["controllers"]
            for r in rows:
                out("%s  %-16s enrolled %s" % (r["fp"][:16], r["name"], time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["at"]))))
            out("(%d enrolled)" % len(rows))
            return 0
        if args.cmd == "status":
            st = c.request({"op": "status"})
            for k in STATUS:
                out("%s %s" % (k, st.get(k, "?")))
            frames = st.get("frames", {})
            for k in FRAMES:
                out("frames.%s %s" % (k, frames.get(k, "?")))
            return 0
        if args.cmd == "revoke":
            r = c.request({"op": "revoke", "id": args.id})["revoked"]
            out("revoked %s (%s)" % (r["name"], r["fp"][:16]))
            return 0
        if args.cmd == "update":
            reply = secure.push_update(c, package, msize, progress_bar)
            sys.stderr.write("\n")
            out("installed version %s; the device restarts into it" % reply["version"])
            return 0
        if args.cmd == "rotate-code":
            code, chars = setupcode.new(os.urandom(10))
            import hashlib

            salt = os.urandom(16)
            v = {"kdf": "pbkdf2-hmac-sha256", "iter": 10000, "salt": salt.hex(),
                 "hash": hashlib.pbkdf2_hmac("sha256", chars.encode("ascii"), salt, 10000, 32).hex()}
            c.request({"op": "set-code", "verifier": v})
            out("new setup code (shown only now; the old one no longer works):")
            out("    " + code)
            return 0
        return export_log(c, args.out, out, args.home)


def read_package(path):
    """(bytes, metadata size) of a package file; ArgError if it is not one."""
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from security import manifest  # the device's own parser: one format

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ArgError("cannot read package %s: %s" % (path, e.strerror or e))
    try:
        size = manifest.metadata_size(data[: manifest.HEAD])
    except manifest.ManifestError as e:
        raise ArgError("%s is not an update package (%s); make one with tools/sign.py sign" % (path, e))
    if size > len(data):
        raise ArgError("%s is truncated: its metadata alone is %d bytes, the file %d" % (path, size, len(data)))
    return data, size


def progress_bar(done, total):
    width = 30
    n = width * done // total if total else width
    sys.stderr.write("\r[%s%s] %3d%% %d/%d KB" % ("#" * n, "." * (width - n), 100 * done // max(total, 1), done // 1024,
                                                  total // 1024))
    sys.stderr.flush()


def export_log(c, path, out, home):
    """Export the records, check their chain, and check it against the device's head now
    and against what this controller saw at its last export (home/logs.json), so that
    records dropped at either end, or a log rewritten from the start, show."""
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from security import logcheck  # the device's own module: one chain rule for both

    lines, after = [], 0
    while True:
        page = c.request({"op": "log", "after": after})
        lines += page["lines"]
        head = (page["head"], page["head_hash"])
        if not page["more"] or not page["lines"]:
            break
        after = int(page["lines"][-1].split(" ", 1)[0])
    for line in lines:
        out(line)
    if path:
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    try:
        first, last, last_hash = logcheck.verify(lines)
        if (last, last_hash.hex()) != tuple(head):
            raise ValueError("the device's newest record is seq %d, the export ends at %d" % (head[0], last))
        note = check_anchor(home, c.where, lines, first, last)
    except ValueError as e:
        out("CHAIN BROKEN: %s" % e)
        return TAMPERED
    save_anchor(home, c.where, last, last_hash.hex())
    out("chain ok: records %d to %d%s" % (first, last, note))
    return 0


def _anchors(home):
    try:
        with open(os.path.join(home, "logs.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def check_anchor(home, where, lines, first, last):
    """'' or a note; ValueError when the log no longer holds what this controller saw."""
    seen = _anchors(home).get(where)
    if not seen:
        return " (first export from this controller)"
    seq, digest = seen["seq"], seen["hash"]
    if seq > last:
        raise ValueError("the log went back: this controller saw record %d before, the device now ends at %d" % (seq, last))
    if seq < first:
        return " (records up to %d, and the one this controller saw last, rotated out since)" % (first - 1)
    line = lines[seq - first]
    if line.rsplit(" ", 1)[1] != digest:
        raise ValueError("record %d differs from the one this controller saw before: the log was rewritten" % seq)
    return ""


def save_anchor(home, where, seq, digest):
    anchors = _anchors(home)
    anchors[where] = {"seq": seq, "hash": digest}
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(home, "logs.json.tmp"), "w") as f:
        json.dump(anchors, f, indent=1)
    os.replace(os.path.join(home, "logs.json.tmp"), os.path.join(home, "logs.json"))


def fail(message, code=2):
    print("ctl: " + message, file=sys.stderr)
    return code


def main(argv=None, out=print):
    args = parse_args(argv)
    try:
        if not 0 < args.timeout <= 600:
            raise ArgError("--timeout must be more than 0 and at most 600 seconds")
        secure_path = args.cmd in SECURE_CMDS or (args.secure and args.cmd in ("get", "set"))
        if args.secure and not secure_path:
            raise ArgError("--secure goes with get and set; %s is plain UDP" % args.cmd)
        if args.bind is None and not secure_path:
            raise ArgError("--bind ADDR is needed for plain UDP: this computer's address on the node's network")
        bind = _ipv4(args.bind, "--bind") if args.bind is not None else None
        if not 1 <= args.port <= 65535:
            raise ArgError("--port must be a TCP port from 1 to 65535")
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
        if secure_path:
            return secure_cmd(args, node, eoj, epcs, pairs, out)
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
    except secure.SecureError as e:
        return fail(str(e), REFUSED if isinstance(e, secure.Refused) else 1)
    except TimeoutError:
        return fail("no reply from %s within %g s: is the node running there, is the object in it, and is --bind %s "
                    "on the node's network?" % (args.node, args.timeout, args.bind), 1)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
