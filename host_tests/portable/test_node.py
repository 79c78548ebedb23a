"""Reply and SNA rules (reference §1.3-§1.5), byte for byte."""
from .support import SRC, h, make_node, request

HDR = "1081"


def test_get_reply_copies_tid_and_swaps_eojs():
    node, net = make_node()
    out = request(node, net, "1081 1234 05FF01 027D01 62 01 80 00")
    assert out == [(SRC, h("1081 1234 027D01 05FF01 72 01 80 01 30"))]


def test_get_failure_echoes_every_epc_in_order_with_pdc0():
    node, net = make_node()
    out = request(node, net, "1081 0001 05FF01 027D01 62 03 FF 00 80 00 F0 00")
    assert out == [(SRC, h("1081 0001 027D01 05FF01 52 03 FF 00 80 01 30 F0 00"))]


def test_get_of_set_only_epc_fails():
    node, net = make_node()
    # 0xD7 of a battery (reset cumulative) is not declared; 0x9E is readable
    out = request(node, net, "1081 0002 05FF01 027D01 62 01 D7 00")
    assert out == [(SRC, h("1081 0002 027D01 05FF01 52 01 D7 00"))]


def test_setc_accepted_pdc0_then_status_change_inf():
    node, net = make_node()
    out = request(node, net, "1081 0003 05FF01 027D01 61 01 DA 01 42")
    assert out[0] == (SRC, h("1081 0003 027D01 05FF01 71 01 DA 00"))
    dest, inf = out[1]
    assert dest is None and len(out) == 2
    assert inf[:2] == h(HDR) and inf[4:] == h("027D01 0EF001 73 01 DA 01 42")


def test_set_of_same_value_announces_nothing():
    node, net = make_node()
    out = request(node, net, "1081 0004 05FF01 027D01 61 01 DA 01 46")  # already automatic
    assert out == [(SRC, h("1081 0004 027D01 05FF01 71 01 DA 00"))]


def test_setc_rejections_echo_the_request_data():
    node, net = make_node()
    cases = [
        "DA 01 50",  # not a code of 0xDA
        "DA 02 42 42",  # wrong size
        "E4 01 10",  # Get-only
        "F5 01 01",  # not a property of this object
        "DA 01 45",  # a valid code this appliance does not carry out (test mode)
        "EB 04 00 00 27 10",  # 10 kW charge power: outside 0xC8 (100-3000 W)
    ]
    for body in cases:
        out = request(node, net, "1081 0005 05FF01 027D01 61 01 " + body)
        assert out == [(SRC, h("1081 0005 027D01 05FF01 51 01 " + body))], body


def test_partial_set_answers_each_epc():
    node, net = make_node()
    out = request(node, net, "1081 0006 05FF01 027D01 61 02 E4 01 10 DA 01 42")
    assert out[0] == (SRC, h("1081 0006 027D01 05FF01 51 02 E4 01 10 DA 00"))
    assert out[1][0] is None  # the accepted DA is still announced


def test_seti_success_has_no_reply_failure_has_sna():
    node, net = make_node()
    out = request(node, net, "1081 0007 05FF01 027D01 60 01 DA 01 43")
    assert [d for d, _ in out] == [None]  # only the status-change INF
    out = request(node, net, "1081 0008 05FF01 027D01 60 01 E4 01 10")
    assert out == [(SRC, h("1081 0008 027D01 05FF01 50 01 E4 01 10"))]


def test_setget_keeps_two_part_layout():
    node, net = make_node()
    out = request(node, net, "1081 0009 05FF01 027D01 6E 01 DA 01 43 02 DA 00 80 00")
    assert out[0] == (SRC, h("1081 0009 027D01 05FF01 7E 01 DA 00 02 DA 01 43 80 01 30"))
    out = request(node, net, "1081 000A 05FF01 027D01 6E 01 E4 01 10 01 FF 00")
    assert out == [(SRC, h("1081 000A 027D01 05FF01 5E 01 E4 01 10 01 FF 00"))]


def test_inf_req_is_answered_by_multicast_inf_with_tid():
    node, net = make_node()
    out = request(node, net, "1081 000B 05FF01 027D01 63 01 80 00")
    assert out == [(None, h("1081 000B 027D01 05FF01 73 01 80 01 30"))]
    out = request(node, net, "1081 000C 05FF01 027D01 63 01 FF 00")
    assert out == [(SRC, h("1081 000C 027D01 05FF01 53 01 FF 00"))]


def test_infc_is_answered_with_infc_res():
    node, net = make_node()
    out = request(node, net, "1081 000D 05FF01 0EF001 74 01 D5 04 01 05FF01")
    assert out == [(SRC, h("1081 000D 0EF001 05FF01 7A 01 D5 00"))]


def test_instance_zero_answered_once_per_instance():
    node, net = make_node(batteries=2)
    out = request(node, net, "1081 000E 05FF01 027D00 62 01 80 00")
    assert out == [
        (SRC, h("1081 000E 027D01 05FF01 72 01 80 01 30")),
        (SRC, h("1081 000E 027D02 05FF01 72 01 80 01 30")),
    ]
    out = request(node, net, "1081 000F 05FF01 0EF000 62 01 D3 00")
    assert out == [(SRC, h("1081 000F 0EF001 05FF01 72 01 D3 03 000002"))]


def test_unknown_deoj_dropped_silently():
    node, net = make_node()
    for deoj in ("026B01", "027D02", "026B00", "0EF002"):
        assert request(node, net, "1081 0010 05FF01 %s 62 01 80 00" % deoj) == []
    assert node.stats.ignored == 4


def test_non_requests_are_ignored():
    node, net = make_node()
    for esv in ("72", "73", "52", "7A", "99", "64", "00"):
        assert request(node, net, "1081 0011 05FF01 027D01 %s 01 80 01 30" % esv) == []


def test_opc_zero_gets_the_sna_without_properties():
    node, net = make_node()
    # what pychonet sends for setMessage() of an EPC outside 0x9E
    assert request(node, net, "1081000a05ff01027d016100") == [(SRC, h("1081 000A 027D01 05FF01 51 00"))]
    assert request(node, net, "1081 000B 05FF01 027D01 62 00") == [(SRC, h("1081 000B 027D01 05FF01 52 00"))]


def test_broken_frames_dropped_and_counted():
    node, net = make_node()
    broken = [
        "",
        "10",
        "1081 0001 05FF01 027D01 62",  # no OPC
        "1081 0001 05FF01 027D01 62 02 80 00",  # OPC says 2, one property
        "1081 0001 05FF01 027D01 62 01 80",  # no PDC
        "1081 0001 05FF01 027D01 61 01 DA 02 42",  # EDT shorter than PDC
        "1081 0001 05FF01 027D01 62 01 80 00 00",  # trailing byte
        "1081 0001 05FF01 027D01 6E 01 DA 01 42",  # SetGet without its Get part
        "1181 0001 05FF01 027D01 62 01 80 00",  # EHD1
        "1083 0001 05FF01 027D01 62 01 80 00",  # EHD2
    ]
    for b in broken:
        assert request(node, net, b) == [], b
    assert node.stats.malformed == len(broken)
    # format 2 is someone else's business: ignored, not malformed
    assert request(node, net, "1082 0001 0102030405") == []
    assert node.stats.malformed == len(broken) and node.stats.ignored == 1


def test_writes_refused_when_requester_not_allowed():
    node, net = make_node(allow=False)
    out = request(node, net, "1081 0012 05FF01 027D01 61 01 DA 01 42")
    assert out == [(SRC, h("1081 0012 027D01 05FF01 51 01 DA 01 42"))]
    out = request(node, net, "1081 0013 05FF01 027D01 62 01 DA 00")
    assert out == [(SRC, h("1081 0013 027D01 05FF01 72 01 DA 01 46"))]  # unchanged: automatic


def test_reply_never_exceeds_max_frame():
    node, net = make_node()
    body = "9F 00" * 80  # 80 x 19 bytes would be 1532
    out = request(node, net, "1081 0014 05FF01 027D01 62 50 " + body)
    frame = out[0][1]
    assert len(frame) <= 1024 and frame[10] == 0x52 and frame[11] == 80
    assert frame.endswith(h("9F 00"))


def test_a_full_reply_keeps_room_only_for_what_the_request_still_asks():
    # EDT bytes in a Get (its PDCs should be 0) take no room in the reply: 50 x 0x9F
    # (19 bytes each) and 0x80 fit in 965 bytes, though the request is 364 long
    node, net = make_node()
    out = request(node, net, "1081 0015 05FF01 027D01 62 33 " + "9F 00 " * 50 + "80 FA " + "00" * 250)
    frame = out[0][1]
    assert frame[10] == 0x72 and len(frame) == 12 + 50 * 19 + 3
    assert frame.endswith(h("80 01 30"))


def test_a_set_carried_out_is_announced_even_if_a_later_target_fails():
    node, net = make_node(batteries=2)

    def broken(epc, edt, now):
        raise RuntimeError("a bug")

    node.devices[1].accept = broken
    out = request(node, net, "1081 0016 05FF01 027D00 61 01 DA 01 42")  # instance 0: both
    assert node.stats.errors == 1
    assert out[0] == (SRC, h("1081 0016 027D01 05FF01 71 01 DA 00"))
    infs = [f for d, f in out if d is None]
    assert len(infs) == 1 and infs[0][4:7] == h("027D01") and infs[0][10] == 0x73


def test_a_time_given_to_receive_holds_for_that_request_only():
    node, net = make_node()
    b = node.devices[0]
    request(node, net, "1081 0017 05FF01 027D01 61 01 DA 01 42", now=5000)
    assert b.set_at == 5000
    node.tick(6000)
    node.serve(h("1081 0018 05FF01 027D01 61 01 DA 01 44"), SRC)  # no time given: the node's
    assert b.set_at == 6000


def test_boot_announces_instance_list():
    node, net = make_node()
    node.start(0)
    out = net.take()
    assert len(out) == 1 and out[0][0] is None
    assert out[0][1][4:] == h("0EF001 0EF001 73 01 D5 04 01 027D01")


def audited(allow, text):
    node, net = make_node(allow=allow)
    records = []
    # as security/boot.py attaches the event log's (Node declares it None until then)
    node.audit = lambda src, eoj, allowed, ok, props: records.append(  # pyright: ignore[reportAttributeAccessIssue]
        (src, eoj, allowed, ok, props))
    request(node, net, text)
    return records


def test_each_set_request_is_audited_once_with_what_it_asked():
    assert audited(True, "1081 0005 05FF01 027D01 61 02 DA 01 42 DA 01 99") == [
        (SRC, 0x027D01, True, False, "DA=42 DA=99")
    ]
    assert audited(False, "1081 0006 05FF01 027D01 60 01 DA 01 42") == [(SRC, 0x027D01, False, False, "DA=42")]


def test_a_set_is_answered_when_the_heap_has_no_room_for_its_record_or_its_line():
    # The Set has taken effect by the time its audit record and its console line are made:
    # with no heap for them, they are lost and counted, and the reply still goes (else the
    # controller would wait for an answer to a command already carried out).
    def no_heap(*args):
        raise MemoryError("memory allocation failed, allocating 136 bytes")

    for where in ("audit", "event", "both"):
        node, net = make_node()
        if where != "event":
            node.audit = no_heap  # pyright: ignore[reportAttributeAccessIssue]
        if where != "audit":
            node.event = no_heap
        errors = node.stats.errors
        out = request(node, net, "1081 0008 05FF01 027D01 61 02 DA 01 42 DA 01 99")
        replies = [f for d, f in out if d is not None]
        assert replies == [h("1081 0008 027D01 05FF01 51 02 DA 00 DA 01 99")], where
        assert node.devices[0].get(0xDA) == b"\x42", where
        # one line per property (taken, refused) and one record: each one lost is counted
        assert node.stats.errors - errors == {"audit": 1, "event": 2, "both": 3}[where], where


def test_a_set_is_answered_when_a_driver_fails_and_the_heap_has_no_room_for_the_line():
    node, net = make_node()
    dev = node.devices[0]
    take = dev.accept

    def accept(epc, edt, now):
        if epc == 0xEB:
            raise ValueError("bus timeout")
        return take(epc, edt, now)

    def no_heap(*args):
        raise MemoryError("memory allocation failed, allocating 136 bytes")

    dev.accept = accept  # pyright: ignore[reportAttributeAccessIssue]
    node.event = no_heap
    out = request(node, net, "1081 0009 05FF01 027D01 61 02 DA 01 42 EB 04 000003E8")
    assert [f for d, f in out if d is not None] == [h("1081 0009 027D01 05FF01 51 02 DA 00 EB 04 000003E8")]
    assert dev.get(0xDA) == b"\x42"


def test_the_audit_of_a_large_set_is_bounded():
    # 20 properties, one with a 17-byte value: the record names 8 of them, values cut at 16 bytes
    body = "81 11 " + "01" * 17 + " " + "DA 01 42 " * 19
    records = audited(True, "1081 0007 05FF01 027D01 61 14 " + body)
    assert records == [(SRC, 0x027D01, True, True, "81=" + "01" * 16 + " DA=42" * 7 + " +12 more")]
