"""Write docs/properties.md: every ECHONET Lite property this node serves, per class.

The rows come from the class declarations themselves (firmware/echonet/profile_props.py
and firmware/drready/*_props.py: the same tables the firmware runs on); names, units and
the meaning of codes from the ECHONET Machine Readable Appendix v1.3.1 (Release R) copy in
host_tests/data/mra; the DR role column from DR_ROLES below. Manufacturer-specific EPCs
(0xF0-0xFF) take their description from a MAKER_EPCS = {0xF0: "text"} dict in their _props
module, if it has one.

    .venv/bin/python tools/gen_props_doc.py          write docs/properties.md
    .venv/bin/python tools/gen_props_doc.py --check  exit 1 if it is out of date

host_tests/test_docs.py fails when docs/properties.md differs from what this writes.
"""

import argparse
import glob
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "properties.md")
for _p in (os.path.join(ROOT, "host_tests"), os.path.join(ROOT, "host_tests", "shim"), os.path.join(ROOT, "firmware")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import mra  # noqa: E402  (host_tests/mra.py)

from echonet import declare, props  # noqa: E402
from echonet.props import ANNO, DATE, ENUM, LOCATION, NUM, RAW, TIME  # noqa: E402

SUPER_CLASS = mra.SUPER_CLASS
NODE_PROFILE = mra.NODE_PROFILE

def _carried_out(module):
    """The operation modes (0xDA) a class's model carries out, from the model itself."""
    codes = importlib.import_module(module)._SUPPORTED_MODES
    return ", ".join("0x%02X" % c for c in sorted(codes)) + " carried out, others SNA"


# What a property does for demand response (DRready; /work/shared/dr-model.md and the
# reference's section 4, items 15-17), keyed by (class code, EPC). A device class row
# falls back to the super class key (0x0000, EPC).
DR_ROLES = {
    # every device object and the node profile
    (SUPER_CLASS, 0x80): "DR report: on/off",
    (SUPER_CLASS, 0x83): "DR ID: individual device ID",
    (SUPER_CLASS, 0x84): "DR report: present power",
    (SUPER_CLASS, 0x97): "DR clock: plans run on it; a Set moves the node's one clock (every object)",
    (SUPER_CLASS, 0x98): "DR clock: plans run on it; a Set moves the node's one clock (every object)",
    (NODE_PROFILE, 0x83): "DR ID: individual device ID",
    (NODE_PROFILE, 0x8E): "served when the identity has a production date (a factory's, tools/provision.py); "
                          "not in 0x9F of one the node made itself (the simulator's)",
    # storage battery
    (0x027D, 0xDA): "DR lever: operation mode; " + _carried_out("drready.battery"),
    (0x027D, 0xEB): "DR lever: charging power (W), within 0xC8 (else SNA); 0 = the appliance's maximum",
    (0x027D, 0xEC): "DR lever: discharging power (W), within 0xC9 (else SNA); 0 = the appliance's maximum",
    (0x027D, 0xAA): "DR lever: AC charge amount (Wh), counted from its Set or a change of mode (a Set of 0xDA "
                    "to the mode it has, a HEMS's keep-alive, does not count again)",
    (0x027D, 0xAB): "DR lever: AC discharge amount (Wh), counted from its Set or a change of mode",
    (0x027D, 0xC1): "DR lever: charging method; 0x01, 0x03 carried out, others SNA",
    (0x027D, 0xC2): "DR lever: discharging method; 0x01, 0x03 carried out, others SNA",
    (0x027D, 0xC8): "DR limit: the charging powers 0xEB accepts",
    (0x027D, 0xC9): "DR limit: the discharging powers 0xEC accepts",
    (0x027D, 0xA6): "DR limit: charge upper limit",
    (0x027D, 0xA7): "DR limit: backup reserve (discharge lower limit)",
    (0x027D, 0xA4): "DR report: chargeable energy now (up-DR amount)",
    (0x027D, 0xA5): "DR report: dischargeable energy now (down-DR amount)",
    (0x027D, 0xA0): "DR report: effective capacity, charging",
    (0x027D, 0xA1): "DR report: effective capacity, discharging",
    (0x027D, 0xA8): "DR report: cumulative charged energy",
    (0x027D, 0xA9): "DR report: cumulative discharged energy",
    (0x027D, 0xD0): "DR report: rated energy",
    (0x027D, 0xE2): "DR report: remaining energy (Wh)",
    (0x027D, 0xE3): "DR report: remaining capacity (Ah)",
    (0x027D, 0xE4): "DR report: state of charge (%)",
    (0x027D, 0xD3): "DR report: charging (+) / discharging (-) power",
    (0x027D, 0xCF): "DR report: actual operation",
    # heat-pump water heater
    (0x026B, 0xC7): "DR lever: participation in energy shift. Shiftable share of a day's heating time "
                    "(DRready: at least 50 %, published): the simulated plant moves 88 % of it into the day "
                    "for a shift to 09:00-15:00, 76 % at 16:00, 62 % at 17:00 (the evening draw keeps the rest "
                    "at night)",
    (0x026B, 0xCA): "DR lever: daytime heating shift time 1",
    (0x026B, 0xCD): "DR lever: daytime heating shift time 2",
    (0x026B, 0xB0): "DR lever: automatic / manual heating",
    (0x026B, 0xC0): "DR lever: daytime reheating permission",
    (0x026B, 0xC8): "DR input: standard heating start time",
    (0x026B, 0xC9): "DR input: number of energy shifts",
    (0x026B, 0xCB): "DR amount: energy if shifted (time 1)",
    (0x026B, 0xCC): "DR amount: energy per hour (time 1)",
    (0x026B, 0xCE): "DR amount: energy if shifted (time 2)",
    (0x026B, 0xCF): "DR amount: energy per hour (time 2)",
    (0x026B, 0xD9): "DR input: surplus solar forecast",
    (0x026B, 0x84): "DR report: present power (estimate)",
    (0x026B, 0xB2): "DR report: heating now",
    (0x026B, 0xE1): "DR limit: remaining hot water",
    # hybrid water heater
    (0x02A6, 0xB8): "DR lever: solar linkage mode",
    (0x02A6, 0xB9): "DR lever: DR window (solar utilisation time), daily; an end before its start runs "
                    "past midnight, an end equal to its start is SNA",
    (0x02A6, 0xF0): "DR amount: up / down energy for the window",
    (0x02A6, 0x84): "DR report: present power (estimate)",
    (0x02A6, 0xB2): "DR report: heating now",
    (0x02A6, 0xE1): "DR limit: remaining hot water",
    # EV charger/discharger
    (0x027E, 0xDA): "DR lever: operation mode; " + _carried_out("drready.ev_charger"),
    (0x027E, 0xEB): "DR lever: charging power (W), within 0xC8 (else SNA)",
    (0x027E, 0xEC): "DR lever: discharging power (W), within 0xC9 (else SNA)",
    (0x027E, 0xDC): "DR lever: charging method; 0x01, 0x03, 0x06 carried out, others SNA",
    (0x027E, 0xDD): "DR lever: discharging method; 0x01, 0x03, 0x06 carried out, others SNA",
    (0x027E, 0xE0): "DR lever: signed power (V2G method); while the vehicle is short of its departure "
                    "charge the unit charges at its maximum whatever this says (0xE1 reports what it does)",
    (0x027E, 0xE7): "DR lever: charging amount (Wh), counted from its Set or a change of mode",
    (0x027E, 0xE9): "DR lever: charging amount (Ah)",
    (0x027E, 0xEA): "DR lever: discharging amount (Wh), counted from its Set or a change of mode",
    (0x027E, 0xDE): "DR lever: purchasing power",
    (0x027E, 0xC8): "DR limit: the charging powers 0xEB accepts",
    (0x027E, 0xC9): "DR limit: the discharging powers 0xEC accepts",
    (0x027E, 0xC7): "DR input: vehicle connected / chargeable",
    (0x027E, 0xC2): "DR report: dischargeable energy now (down-DR amount)",
    (0x027E, 0xC4): "DR report: dischargeable share now (%)",
    (0x027E, 0xCE): "DR report: chargeable capacity",
    (0x027E, 0xCF): "DR report: chargeable energy now (up-DR amount)",
    (0x027E, 0xE2): "DR report: vehicle remaining energy (Wh)",
    (0x027E, 0xE4): "DR report: vehicle state of charge (%)",
    (0x027E, 0xD3): "DR report: charging (+) / discharging (-) power",
    (0x027E, 0xE1): "DR report: actual operation",
    # fuel cell
    (0x027C, 0xCA): "DR lever: generate / stop",
    (0x027C, 0xD1): "DR lever: generation request window",
    (0x027C, 0xD2): "DR lever: rated maximum / load following",
    (0x027C, 0xF0): "DR amount: extra energy / power it can generate",
    (0x027C, 0xC2): "DR input: rated output",
    (0x027C, 0xC4): "DR report: generation output now",
    (0x027C, 0xCB): "DR report: generation status",
    (0x027C, 0xCC): "DR input: household consumption now",
    (0x027C, 0xC3): "DR limit: heat stored in the tank",
    (0x027C, 0xE1): "DR limit: remaining hot water",
    (0x027C, 0xD0): "DR limit: reverse power flow allowed or not",
}

UNITS = {"Celsius": "°C"}


def declarations():
    """(class code, source path, attribute, table, module) of every class declaration: the
    node profile, the super class, then the device classes by class code."""
    from echonet import profile_props

    out = [
        (NODE_PROFILE, "firmware/echonet/profile_props.py", "NODE_PROFILE", profile_props.NODE_PROFILE, profile_props),
        (SUPER_CLASS, "firmware/echonet/profile_props.py", "SUPER_CLASS", profile_props.SUPER_CLASS, profile_props),
    ]
    devices = []
    for path in sorted(glob.glob(os.path.join(ROOT, "firmware", "drready", "*_props.py"))):
        name = os.path.basename(path)[:-3]
        mod = importlib.import_module("drready." + name)
        rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
        devices.append((mod.CLASS_CODE, rel, "TABLE", mod.TABLE, mod))
    return out + sorted(devices, key=lambda d: d[0])


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(v):
    return ("%g" % v) if isinstance(v, float) else str(v)


def _unit(sc):
    for unit, scale in sc.units if sc else ():
        if unit:
            unit = UNITS.get(unit, unit)
            return unit if scale in (1, None) else "%s %s" % (_num(scale), unit)
    return ""


def _label(sc, code):
    """MRA description of an unsigned code, or ""."""
    if sc is None:
        return ""
    for (lo, hi), text in sorted(sc.labels.items()):
        if lo <= code <= hi:
            return text
    return ""


def _code(sc, code, digits):
    text = "0x%0*X" % (digits, code)
    label = _label(sc, code)
    return "%s %s" % (text, label) if label else text


def describe(rec, entry):
    """(type, range or codes) of a record, with the MRA entry's units and code names."""
    kind = rec[3]
    data = entry["data"] if entry else None
    sc = mra.scalar(data) if data else None
    if kind == NUM:
        size, signed, lo, hi, extras = props.num_limits(rec)
        typ = "%s%d" % ("s" if signed else "u", 8 * size)
        unit = _unit(sc)
        if unit:
            typ += ", " + unit
        text = "%d..%d" % (lo, hi)
        for x in extras:
            text += "; " + _code(sc, x % (1 << (8 * size)), 2 * size)
        return typ, text
    if kind == ENUM:
        size = rec[4]
        typ = "enum" if size == 1 else "enum, %d bytes" % size
        return typ, ", ".join(_code(sc, c, 2 * size) for c in declare.enum_values(rec))
    if kind == RAW:
        lo, hi = rec[4], rec[5]
        typ = "raw %d" % lo if lo == hi else "raw %d..%d" % (lo, hi)
        alts = mra.alternatives(data) if data else []
        if len(alts) == 1 and alts[0].get("type") == "object":
            return typ, " + ".join(el["elementName"]["en"] for el in alts[0]["properties"])
        return typ, ""
    if kind == TIME:
        count, undefined = rec[4], rec[5]
        typ = "time" if count == 1 else "time x%d" % count
        text = " ".join(["HH:MM"] * count)
        if undefined:
            text += "; 0x" + "FF" * (2 * count) + " undefined"
        return typ, text
    if kind == DATE:
        return "date", "YYYY MM DD (year 1-9999, month 1-12, day 1-31 and a real date)"
    if kind == LOCATION:
        return "location", "1-byte code, or 0x01 + 16 bytes of position"
    return "kind %d" % kind, ""


def access(flags):
    out = []
    for i, word in enumerate(("Get", "Set", "Anno")):
        if flags & (1 << i):
            out.append("%s %s" % (word, "M" if flags & (8 << i) else "o"))
    return ", ".join(out)


def class_section(code, path, attr, table, mod):
    known = mra.has_class(code)
    entries = mra.properties(code) if known else {}
    title = mra.class_name(code) if known else "(class not in host_tests/data/mra)"
    maker = getattr(mod, "MAKER_EPCS", None) or {}
    n = sum(1 for _ in props.records(table))
    readable = sum(1 for _, rec in props.records(table) if rec[1] & props.GET)
    lines = ["## 0x%04X %s" % (code, title), ""]
    note = "`%s`, `%s`: %d properties" % (path, attr, n)
    if readable != n:  # the Get map 0x9F lists only these
        note += " (%d of them readable: %s Set-only)" % (readable, ", ".join(
            "0x%02X" % epc for epc, rec in props.records(table) if not rec[1] & props.GET))
    if code not in (SUPER_CLASS, NODE_PROFILE):
        note += ", the super class rows included"
    lines += [note + ".", ""]
    lines.append("| EPC | Name | Type | Range or codes | Access | Announced | DR role |")
    lines.append("|---|---|---|---|---|---|---|")
    for epc, rec in props.records(table):
        entry = entries.get(epc)
        if 0xF0 <= epc <= 0xFF:
            name = maker.get(epc, "manufacturer-specific")
            entry = None
        else:
            name = mra.property_name(entry) if entry else "(not in the MRA)"
        typ, values = describe(rec, entry)
        role = DR_ROLES.get((code, epc))
        if role is None and code != NODE_PROFILE:
            role = DR_ROLES.get((SUPER_CLASS, epc), "")
        cells = [
            "0x%02X" % epc,
            name,
            typ,
            values,
            access(rec[1]),
            "yes" if rec[1] & ANNO else "no",
            role or "",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    return lines


def generate():
    meta = mra.metadata()
    lines = [
        "# ECHONET Lite properties served by this node",
        "",
        "<!-- Generated by tools/gen_props_doc.py: do not edit. Run `.venv/bin/python tools/gen_props_doc.py`. -->",
        "",
        "Generated from the class declarations the firmware runs on (`firmware/echonet/profile_props.py`,",
        "`firmware/drready/*_props.py`), with names, units and code meanings from the ECHONET Machine",
        "Readable Appendix v%s (Appendix Release %s, %s) copied in `host_tests/data/mra`."
        % (meta["dataVersion"], meta["release"], meta["date"]),
        "`host_tests/test_mra.py` checks the declarations against the same appendix.",
        "",
        "- **Type**: u8..u32 / s8..s32 unsigned or signed integer of 1 to 4 bytes (with the unit and",
        "  scale of one step), enum (one of the listed codes), raw n (n bytes the firmware builds),",
        "  time (HH MM), date (YYYY MM DD).",
        "- **Range or codes**: the values a Set is validated against (and the values a Get returns);",
        "  extra single values after a range, with their meaning.",
        "- **Access**: Get / Set / Anno (status change announcement) served; M: mandatory in the",
        "  Appendix, o: optional.",
        "- **Announced**: an INF is sent when the value changes (the property is in map 0x9D).",
        "- **DR role**: what the property does for demand response (DRready): a lever a controller",
        "  sets, a report or amount it reads, an input or limit DR respects.",
        "",
    ]
    for decl in declarations():
        lines += class_section(*decl)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write docs/properties.md from the class declarations.")
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/properties.md is out of date")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print("docs/properties.md is out of date: run .venv/bin/python tools/gen_props_doc.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote " + os.path.relpath(OUT, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
