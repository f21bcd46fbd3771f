"""The hand-rolled hot path agrees with smpplib, both ways."""

from __future__ import annotations

import struct

import pytest
from smpplib import client as smpp_client
from smpplib import smpp

from dashboard.simulator import wire

SEQUENCES = smpp_client.SimpleSequenceGenerator()


def smpplib_submit(**fields) -> bytes:
    fields.setdefault("source_addr", "Acme")
    fields.setdefault("destination_addr", "447700900123")
    return smpp.make_pdu("submit_sm", client=SEQUENCES, allow_unknown_opt_params=True,
                         **fields).generate()


@pytest.mark.parametrize("fields", [
    {"short_message": b"Hello", "registered_delivery": 1, "data_coding": 0},
    {"short_message": b"\x05\x00\x03\x2a\x02\x01" + b"x" * 20, "esm_class": 0x40,
     "data_coding": 0x08, "source_addr_ton": 5, "dest_addr_ton": 1, "dest_addr_npi": 1},
    {"message_payload": b"p" * 300, "data_coding": 3},
    {"short_message": b"part", "sar_msg_ref_num": 513, "sar_total_segments": 3,
     "sar_segment_seqnum": 2, "validity_period": "000001000000000R"},
    {"short_message": b"", "service_type": "CMT", "schedule_delivery_time": ""},
])
def test_the_submit_parser_reads_what_smpplib_writes(fields):
    raw = smpplib_submit(**fields)
    expected = smpp.parse_pdu(raw, client=SEQUENCES, allow_unknown_opt_params=True)

    parsed = wire.parse_submit_sm(raw[16:])

    assert parsed.source_addr == expected.source_addr.decode()
    assert parsed.destination_addr == expected.destination_addr.decode()
    assert (parsed.source_addr_ton, parsed.dest_addr_ton, parsed.dest_addr_npi) == (
        expected.source_addr_ton, expected.dest_addr_ton, expected.dest_addr_npi)
    assert (parsed.esm_class, parsed.registered_delivery, parsed.data_coding) == (
        expected.esm_class, expected.registered_delivery, expected.data_coding)
    assert parsed.short_message == (expected.short_message or b"")
    assert parsed.message_payload == expected.message_payload
    if expected.sar_msg_ref_num is not None:
        assert parsed.udh == (513, 3, 2)


def test_the_submit_parser_skips_unknown_tlvs():
    raw = smpplib_submit(short_message=b"Hi") + struct.pack(">HHI", 0x1403, 4, 7)

    assert wire.parse_submit_sm(raw[16:]).short_message == b"Hi"


@pytest.mark.parametrize("cut", [1, 5, 20, 30])
def test_the_submit_parser_rejects_a_truncated_body(cut):
    raw = smpplib_submit(short_message=b"Hello world")

    with pytest.raises(wire.PDUFormatError):
        wire.parse_submit_sm(raw[16:-cut])


def test_smpplib_reads_the_deliver_sm_we_write():
    body = wire.deliver_sm_body(
        source_addr="447700900123", source_addr_ton=1, source_addr_npi=1,
        destination_addr="Acme", dest_addr_ton=5, dest_addr_npi=0,
        esm_class=0x04, data_coding=0, short_message=b"id:abc stat:UNDELIV",
        tlvs=wire.receipt_tlvs("abc", 5, failed=True),
    )
    raw = wire.HEADER.pack(16 + len(body), wire.DELIVER_SM, 0, 77) + body

    pdu = smpp.parse_pdu(raw, client=SEQUENCES, allow_unknown_opt_params=True)

    assert (pdu.command, pdu.sequence, pdu.esm_class) == ("deliver_sm", 77, 0x04)
    assert (pdu.source_addr, pdu.destination_addr) == (b"447700900123", b"Acme")
    assert (pdu.source_addr_ton, pdu.dest_addr_ton) == (1, 5)
    assert pdu.short_message == b"id:abc stat:UNDELIV"
    assert pdu.receipted_message_id == b"abc"
    assert pdu.message_state == 5
    assert pdu.network_error_code == b"\x03\x00\x01"


def test_smpplib_reads_the_submit_sm_resp_we_write():
    pdu = smpp.parse_pdu(wire.submit_sm_resp(9, "5a3f"), client=SEQUENCES)

    assert (pdu.command, pdu.sequence, pdu.status, pdu.message_id) == (
        "submit_sm_resp", 9, 0, b"5a3f")


@pytest.mark.parametrize(("data", "coding", "text"), [
    ("Hi @ 5€ £".encode("gsm03.38"), 0x00, "Hi @ 5€ £"),
    ("😀".encode("utf-16-be")[:2] + "a".encode("utf-16-be"), 0x08, "\ufffda"),
    ("é".encode("latin-1"), 0x03, "é"),
    (b"\x01\x02", 0x04, "0102"),
])
def test_decode_text_follows_data_coding(data, coding, text):
    assert wire.decode_text(data, coding) == text
