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


def _deliver_sm(body: bytes, sequence: int = 31) -> bytes:
    return pdu.HEADER.pack(16 + len(body), pdu.DELIVER_SM, 0, sequence) + body


def _deliver_body(short_message: bytes = b"", tlvs: bytes = b"", esm_class: int = 0x04, data_coding: int = 0) -> bytes:
    from dashboard.simulator import wire
    return wire.deliver_sm_body(source_addr="14155550123", source_addr_ton=1, source_addr_npi=1,
                                destination_addr="Switchboard", dest_addr_ton=5, dest_addr_npi=0,
                                esm_class=esm_class, data_coding=data_coding, short_message=short_message,
                                tlvs=tlvs)


def _tlv(tag: int, value: bytes) -> bytes:
    return pdu._TLV.pack(tag, len(value)) + value


RECEIPT_TEXT = b"id:5a3f0001 sub:001 dlvrd:001 submit date:2611231200 done date:2611231200 stat:DELIVRD err:000 text:"


@pytest.mark.parametrize("raw", [
    _deliver_sm(_deliver_body(RECEIPT_TEXT, _tlv(0x001E, b"5a3f0001\0") + _tlv(0x0427, b"\x02"))),
    _deliver_sm(_deliver_body(RECEIPT_TEXT, _tlv(0x001E, b"5a3f0001\0") + _tlv(0x0427, b"\x05")
                              + _tlv(0x0423, b"\x03\x00\x0b"))),
    _deliver_sm(_deliver_body(b"", _tlv(0x0424, b"a long MO text" * 20), esm_class=0)),
    _deliver_sm(_deliver_body(b"\x05\x00\x03\x2a\x02\x01" + "Grüße".encode("utf-16-be"), esm_class=0x40,
                              data_coding=8)),
    _deliver_sm(_deliver_body(RECEIPT_TEXT, _tlv(0x1403, b"vendor") + _tlv(0x001E, b"77\0"))),
    _deliver_sm(_deliver_body(RECEIPT_TEXT)),
], ids=["receipt-tlvs", "failed-receipt", "mo-payload", "mo-udh", "vendor-tlv", "text-only"])
def test_deliver_sm_reads_as_smpplib_reads_it(raw):
    expected = smpp.parse_pdu(raw, client=SEQUENCES, allow_unknown_opt_params=True)
    parsed = pdu.parse_deliver_sm(raw)
    for name in ("command", "sequence", "status", "source_addr_ton", "source_addr_npi", "source_addr",
                 "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class", "data_coding",
                 "registered_delivery", "short_message", "message_payload", "receipted_message_id",
                 "message_state", "network_error_code"):
        assert getattr(parsed, name) == getattr(expected, name, None), name


@pytest.mark.parametrize("cut", [20, 40, -3])
def test_a_truncated_deliver_sm_is_refused_not_misread(cut):
    raw = _deliver_sm(_deliver_body(RECEIPT_TEXT, _tlv(0x001E, b"5a3f0001\0")))
    with pytest.raises(ValueError):
        pdu.parse_deliver_sm(raw[:cut])
