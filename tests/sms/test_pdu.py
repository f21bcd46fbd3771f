"""The sender's hand-written PDUs are byte for byte what smpplib would write and read."""
from __future__ import annotations

import pytest
from smpplib import client as smpp_client
from smpplib import smpp

from dashboard.sms import pdu

SEQUENCES = smpp_client.SimpleSequenceGenerator()

BASE = dict(source_addr_ton=5, source_addr_npi=0, source_addr="Switchboard", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr="14155550123", esm_class=0, data_coding=0, registered_delivery=1)


def smpplib_bytes(command: str, sequence: int, **fields) -> bytes:
    made = smpp.make_pdu(command, client=SEQUENCES, allow_unknown_opt_params=True, **fields)
    made.sequence = sequence
    return made.generate()


@pytest.mark.parametrize("fields", [
    dict(short_message=b"Your code is 1234"),
    dict(short_message=b"\x05\x00\x03\x2a\x02\x01" + b"x" * 134, esm_class=0x40, data_coding=0x08),
    dict(short_message=b"", message_payload=b"p" * 300, data_coding=3),
    dict(short_message=b"\x00\x01\xff" * 50, source_addr="+4477009001234567890123", source_addr_ton=1,
         source_addr_npi=1),
    dict(short_message=b"x", destination_addr="4477009001234567890123456", registered_delivery=0),
], ids=["plain", "udh-ucs2", "payload", "long-source", "long-destination"])
def test_submit_sm_is_what_smpplib_writes(fields):
    expected = smpplib_bytes("submit_sm", 4242, **{**BASE, **fields})
    assert pdu.submit_sm(4242, **{**BASE, **fields}) == expected


def test_submit_sm_refuses_a_payload_beside_a_short_message():
    with pytest.raises(ValueError):
        pdu.submit_sm(1, **{**BASE, "short_message": b"x", "message_payload": b"y"})


@pytest.mark.parametrize("status", [0, 0x58, 0x64])
def test_deliver_sm_resp_is_what_smpplib_writes(status):
    assert pdu.deliver_sm_resp(77, status) == smpplib_bytes("deliver_sm_resp", 77, status=status)


@pytest.mark.parametrize("raw", [
    smpplib_bytes("submit_sm_resp", 9, message_id="5a3f0001"),
    smpplib_bytes("submit_sm_resp", 0x7FFFFFFF, message_id="1234567890123456789012345678901234567890"),
    b"\x00\x00\x00\x10\x80\x00\x00\x04\x00\x00\x00\x58\x00\x00\x00\x0c",  # an error without a body
    b"\x00\x00\x00\x11\x80\x00\x00\x04\x00\x00\x00\x45\x00\x00\x00\x0d\x00",  # an error with an empty id
], ids=["ok", "long-id", "error-no-body", "error-empty-id"])
def test_submit_sm_resp_reads_as_smpplib_reads_it(raw):
    expected = smpp.parse_pdu(raw, client=SEQUENCES, allow_unknown_opt_params=True)
    parsed = pdu.parse_submit_sm_resp(raw)
    assert (parsed.command, parsed.sequence, parsed.status) == (expected.command, expected.sequence, expected.status)
    assert (parsed.message_id or None) == (expected.message_id or None)
