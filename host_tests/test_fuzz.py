"""Random and mutated frames: the node never raises, never answers a non-request, and
every reply it sends parses and follows the reply rules (reference §1.3)."""
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portable.support import SRC, make_node

REQUESTS = (0x60, 0x61, 0x62, 0x63, 0x6E, 0x74)
EOJS = (b"\x02\x7d\x01", b"\x02\x7d\x00", b"\x0e\xf0\x01", b"\x0e\xf0\x00", b"\x02\x6b\x01")
SEED_FRAMES = [
    bytes.fromhex("1081000105ff01027d0162038000da00e400"),
    bytes.fromhex("1081000205ff01027d016102da0142810100"),
    bytes.fromhex("1081000305ff01027d016e01da014302da008000"),
    bytes.fromhex("1081000405ff010ef0016301d500"),
    bytes.fromhex("1081000505ff010ef0017401d504010ef001"),
]


def parse(frame):
    """(tid, seoj, deoj, esv, [set part], [get part]) of a reply; AssertionError if broken."""
    assert frame[:2] == b"\x10\x81"
    esv = frame[10]
    parts = []
    i = 11
    for _ in range(2 if esv in (0x7E, 0x5E) else 1):
        opc = frame[i]
        i += 1
        props = []
        for _ in range(opc):
            epc, pdc = frame[i], frame[i + 1]
            props.append((epc, bytes(frame[i + 2 : i + 2 + pdc])))
            i += 2 + pdc
            assert i <= len(frame)
        parts.append(props)
    assert i == len(frame), "trailing bytes in a reply"
    return frame[2:4], frame[4:7], frame[7:10], esv, parts


def request_props(data):
    """The property parts of a well-formed request (the node replied, so it parsed)."""
    esv = data[10]
    parts = []
    i = 11
    for _ in range(2 if esv == 0x6E else 1):
        opc = data[i]
        i += 1
        props = []
        for _ in range(opc):
            pdc = data[i + 1]
            props.append((data[i], bytes(data[i + 2 : i + 2 + pdc])))
            i += 2 + pdc
        parts.append(props)
    return parts


def check(data):
    node, net = make_node(batteries=2)
    node.receive(data, SRC, 0)  # must not raise
    assert node.stats.errors == 0
    # status-change INFs (multicast, to 0x0EF001) follow accepted Sets; the rest are replies
    replies = [(d, f) for d, f in net.take() if not (d is None and data[10] != 0x63 and f[7:10] == b"\x0e\xf0\x01")]
    if not replies:
        return
    assert len(data) >= 12 and data[:2] == b"\x10\x81" and data[10] in REQUESTS, "replied to a non-request"
    asked = data[10]
    req = request_props(data)
    for dest, frame in replies:
        tid, seoj, deoj, esv, parts = parse(frame)
        assert tid == data[2:4] and deoj == data[4:7]
        # every EPC echoed in request order, with the same OPC
        assert [[e for e, _ in p] for p in parts] == [[e for e, _ in p] for p in req]
        if asked == 0x74:
            assert esv == 0x7A and all(v == b"" for _, v in parts[0])
            continue
        assert (dest is None) == (esv == 0x73)
        ok = any(parts)  # OPC=0 asks nothing and gets the SNA
        if asked in (0x60, 0x61, 0x6E):  # Set part: PDC=0 if accepted, else the request data
            for (_, v), (_, asked_v) in zip(parts[0], req[0], strict=True):
                assert v == b"" or v == asked_v
                ok = ok and v == b"" and asked_v != b""  # no property takes an empty EDT
        if asked in (0x62, 0x63, 0x6E):  # Get part: a value, or PDC=0 on failure
            ok = ok and all(v for _, v in parts[-1])
            assert len(frame) <= 1024
        if asked == 0x60:
            ok = False  # a SetI that succeeds is not answered at all
        assert esv == (asked + 0x10 if ok else asked - 0x10), (hex(asked), hex(esv))

frames = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda tid, eoj, esv, props, tail: b"\x10\x81" + tid + b"\x05\xff\x01" + eoj + bytes([esv, len(props)])
        + b"".join(bytes([e, len(v)]) + v for e, v in props) + tail,
        st.binary(min_size=2, max_size=2),
        st.sampled_from(EOJS),
        st.one_of(st.sampled_from(REQUESTS), st.integers(0, 255)),
        st.lists(st.tuples(st.integers(0x80, 0xFF), st.binary(max_size=20)), max_size=8),
        st.one_of(st.just(b""), st.binary(max_size=3)),
    ),
    st.builds(
        lambda seed, pos, val: seed[:pos] + bytes([val]) + seed[pos + 1 :],
        st.sampled_from(SEED_FRAMES),
        st.integers(0, 20),
        st.integers(0, 255),
    ),
    st.builds(lambda seed, cut: seed[:cut], st.sampled_from(SEED_FRAMES), st.integers(0, 20)),
)


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1500")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_random_and_mutated_frames(data):
    check(data)
