"""The readiness probe's hand-built DNS query is dnspython's, byte for byte apart from the id,
and the rcode read from an answer is dnspython's (labsim.bringup.dnswire)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.bringup import dnswire

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@pytest.mark.parametrize("qname,rdtype", [("ipv4only.arpa.", "A"), ("example.test.", "SOA"),
                                          ("api.example.test", "AAAA"), (".", "NS"), ("x.test.", "TXT")])
def test_the_query_is_dnspythons_but_for_the_id(qname, rdtype):
    qid, wire = dnswire.query(qname, rdtype)
    theirs = dns.message.make_query(qname, rdtype)
    theirs.id = qid
    assert wire == theirs.to_wire()


@settings(max_examples=200, deadline=None)
@given(st.lists(LABEL, min_size=0, max_size=6), st.sampled_from(sorted(dnswire.RDTYPES)))
def test_any_name_and_type_the_probe_may_ask_for(labels, rdtype):
    qname = ".".join(labels) + "."
    qid, wire = dnswire.query(qname, rdtype)
    parsed = dns.message.from_wire(wire)
    assert parsed.id == qid and parsed.flags == dns.flags.RD
    assert parsed.question[0].name.to_text() == qname


def test_a_type_outside_the_table_and_bad_names():
    _, wire = dnswire.query("x.test.", "HTTPS")
    assert dns.message.from_wire(wire).question[0].rdtype == 65
    for bad in ("a" * 64 + ".test.", "a..test."):
        with pytest.raises(ValueError):
            dnswire.query(bad, "A")


@pytest.mark.parametrize("rcode", [0, 1, 2, 3, 4, 5, 9])
def test_the_rcode_of_an_answer_is_dnspythons(rcode):
    query = dns.message.make_query("example.test.", "SOA")
    answer = dns.message.make_response(query)
    answer.set_rcode(rcode)
    assert dnswire.answer_rcode(answer.to_wire(), query.id) == dns.rcode.to_text(rcode)
    assert dnswire.answer_rcode(answer.to_wire(), query.id ^ 1) is None  # an earlier query's
    assert dnswire.answer_rcode(query.to_wire(), query.id) is None  # a query, not an answer


@given(st.binary(max_size=64), st.integers(0, 0xFFFF))
def test_any_datagram_is_an_rcode_or_none_never_an_error(wire, qid):
    assert dnswire.answer_rcode(wire, qid) in {None, *dnswire.RCODES.values(), *map(str, range(16))}
