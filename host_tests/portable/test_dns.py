"""The DNS query and answer of hal/dns.py (RFC 1035), byte-exact: the name lookup of the
update pull, which must not block the node (the live lookups: test_update_pull.py)."""
from hal import dns

from .support import raises

QID = 0x1234
# header: ID, flags 0x0100 (recursion desired), 1 question; then 7updates 7example 3com 0, A, IN
QUERY = bytes.fromhex("123401000001000000000000" "077570646174657307" "6578616d706c6503636f6d00" "00010001")


def _reply(q, rcode=0, answers=b"", count=0, flags=0x81):
    return q[:2] + bytes((flags, 0x80 | rcode, 0, 1, 0, count, 0, 0, 0, 0)) + q[12:] + answers


def _a(ip, name=b"\xc0\x0c"):
    return name + b"\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04" + bytes(ip)


def test_the_query_is_the_rfc_1035_one():
    assert dns.query("updates.example.com", QID) == QUERY
    assert dns.query("updates.example.com.", QID) == QUERY  # a fully qualified name: the same


def test_names_dns_cannot_carry_are_refused():
    for bad in ("", ".", "a..b", "updates.example.com..", "under_score.test", "sp ace.test", "x" * 64 + ".test",
                "-a.test", "a-.test", "user@updates.example.com", "updates.example.com?x=1", "\u00e9.test",
                "192.168.001.010", "1.2.3", "+1.2.3.4"):  # the last three: addresses misspelled, not names
        assert raises(ValueError, dns.query, bad, QID), bad


def test_a_name_is_253_characters_at_most_besides_its_trailing_dot():
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253 and len(dns.query(name, QID)) == 12 + 255 + 4
    assert dns.query(name + ".", QID) == dns.query(name, QID)
    assert raises(ValueError, dns.query, "c" + name, QID)
    assert dns.query("x-1.a9.test", QID)[12:] == b"\x03x-1\x02a9\x04test\x00\x00\x01\x00\x01"


def test_the_address_in_the_answer():
    assert dns.answer(_reply(QUERY, answers=_a((192, 0, 2, 7)), count=1), QUERY) == "192.0.2.7"


def test_the_address_behind_a_cname_with_compressed_names():
    # CNAME updates.example.com -> cdn.<that>, then the A record of cdn.<that> (a pointer to the CNAME's data)
    cname = b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x06\x03cdn\xc0\x0c"
    at = len(QUERY) + 12
    reply = _reply(QUERY, answers=cname + _a((192, 0, 2, 8), bytes((0xC0, at))), count=2)
    assert dns.answer(reply, QUERY) == "192.0.2.8"


def test_a_name_in_other_letter_case_is_the_same_question():
    reply = _reply(QUERY, answers=_a((192, 0, 2, 9)), count=1)
    reply = reply[:13] + b"UPDATES" + reply[20:]
    assert dns.answer(reply, QUERY) == "192.0.2.9"


def test_what_is_no_answer_to_this_query_is_passed_over():
    good = _reply(QUERY, answers=_a((192, 0, 2, 7)), count=1)
    other = dns.query("updates.example.org", QID)
    for junk in (
        b"",
        good[:11],
        b"\x43\x21" + good[2:],  # another ID
        good[:2] + b"\x01" + good[3:],  # not a reply (QR clear)
        _reply(other, answers=_a((192, 0, 2, 7)), count=1)[: len(good)],  # another question
        good[:-1],  # the record cut short
        good[: len(QUERY)] + b"\x05abc",  # a name running off the end
        good[: len(QUERY)] + b"\x80" + good[len(QUERY) + 1 :],  # a label length with 0x80 set
        good[:-6] + b"\x00\x40" + good[-4:],  # rdlength past the end
        good[:2] + b"\x91" + good[3:],  # another opcode (2: status)
        _reply(other, rcode=3),  # another question's NXDOMAIN: not this name's
        _reply(QUERY, rcode=2)[:5] + b"\x00" + _reply(QUERY, rcode=2)[6:12],  # a failure naming no question
    ):
        assert dns.answer(junk, QUERY) is None, junk


def test_what_the_server_says_of_the_name_is_final_its_failures_are_not():
    for reply, final, words in (
        (_reply(QUERY, rcode=3), True, "no such host"),
        (_reply(QUERY), True, "no IPv4 address"),  # no answers
        (_reply(QUERY, answers=b"\xc0\x0c\x00\x1c\x00\x01\x00\x00\x01\x2c\x00\x10" + bytes(16), count=1),
         True, "no IPv4 address"),  # only an AAAA record
        (_reply(QUERY, rcode=2), False, "RCODE 2"),
        (_reply(QUERY, flags=0x83), False, "truncated"),
    ):
        try:
            dns.answer(reply, QUERY)
            raise AssertionError("no error for %s" % words)
        except dns.DNSError as e:
            assert words in str(e) and isinstance(e, dns.NoSuchHost) == final, (words, e)


def test_addresses_need_no_lookup():
    assert dns.is_ip("192.0.2.1") and not dns.is_ip("updates.example.com") and not dns.is_ip("1.2.3")
    for bad in ("256.1.1.1", "1.2.3.511", "192.168.001.010", "+1.2.3.4", " 1.2.3.4", "1_0.2.3.4", "1.2.3.4.", "1.2.3.-0"):
        assert not dns.is_ip(bad), bad


def test_the_configured_server():
    assert dns.server({"dns_server": "192.0.2.53"}) == ("192.0.2.53", 53)
    assert dns.server({"dns_server": "127.0.0.1:5353"}) == ("127.0.0.1", 5353)
    for bad in ("192.0.2", "192.0.2.53:0", "192.0.2.53:x", "ns.example.com", "192.0.2.53:", "192.0.2.53:+53",
                "192.0.2.53:65536", "192.000.2.53"):
        assert raises(ValueError, dns.split, bad), bad
