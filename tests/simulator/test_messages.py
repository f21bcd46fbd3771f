"""Concatenated messages reassembled (an independent check on our encoder) and MO messages."""

from __future__ import annotations

import pytest
from smpplib import consts

from tests.simulator.helpers import read_pdus, submit, wait_for

GSM_TEXT = "Summer sale: every item 5€ off, today only! Reply STOP to opt out. " * 4
UCS2_TEXT = "Merci 👋 — à bientôt 🎉 " * 9


def gsm_parts(text: str, size: int = 153) -> list[bytes]:
    """Split GSM 03.38 septets (one per byte in SMPP) without cutting an escape pair."""
    data = text.encode("gsm03.38")
    parts, start = [], 0
    while start < len(data):
        end = min(start + size, len(data))
        if end < len(data) and data[end - 1] == 0x1B:
            end -= 1
        parts.append(data[start:end])
        start = end
    return parts


def ucs2_parts(text: str, units: int = 67) -> list[bytes]:
    """Split UTF-16-BE into parts of `units` code units without cutting a surrogate pair."""
    data = text.encode("utf-16-be")
    parts, start = [], 0
    while start < len(data):
        end = min(start + 2 * units, len(data))
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2
        parts.append(data[start:end])
        start = end
    return parts


def udh8(ref: int, total: int, seq: int) -> bytes:
    return bytes((0x05, 0x00, 0x03, ref, total, seq))


def udh16(ref: int, total: int, seq: int) -> bytes:
    return bytes((0x06, 0x08, 0x04, ref >> 8, ref & 0xFF, total, seq))


def send_parts(client, parts, data_coding, make_udh, ref=0x2A):
    for seq, part in enumerate(parts, start=1):
        submit(client, "447700900123", make_udh(ref, len(parts), seq) + part,
               esm_class=consts.SMPP_GSMFEAT_UDHI, data_coding=data_coding)
    read_pdus(client, 2 * len(parts))


@pytest.mark.parametrize(("text", "coding", "split"), [
    (GSM_TEXT, 0x00, gsm_parts),
    (UCS2_TEXT, 0x08, ucs2_parts),
])
@pytest.mark.parametrize("make_udh", [udh8, udh16])
def test_concatenated_parts_reassemble_to_the_original_text(
    simulator, connect, text, coding, split, make_udh
):
    client = connect(simulator)
    parts = split(text)
    assert len(parts) >= 2

    send_parts(client, parts, coding, make_udh)

    [message] = simulator.messages()
    assert (message.text, message.parts, message.data_coding) == (text, len(parts), coding)
    assert message.destination_addr == "447700900123"
    records = simulator.submits
    assert [r.udh for r in records] == [(0x2A, len(parts), n) for n in range(1, len(parts) + 1)]
    assert len({r.message_id for r in records}) == len(parts)  # one id per part


def test_parts_are_reassembled_whatever_order_they_arrive_in(simulator, connect):
    client = connect(simulator)
    parts = gsm_parts(GSM_TEXT)
    for seq in reversed(range(1, len(parts) + 1)):
        submit(client, "447700900123", udh8(7, len(parts), seq) + parts[seq - 1],
               esm_class=0x40, registered_delivery=0)
    read_pdus(client, len(parts))

    assert [m.text for m in simulator.messages()] == [GSM_TEXT]


def test_an_escape_cut_between_two_parts_shows_in_the_reassembled_text(simulator, connect):
    client = connect(simulator)
    text = "a" * 152 + "€" + "b" * 10  # the € escape would straddle the 153 boundary
    data = text.encode("gsm03.38")
    send_parts(client, [data[:153], data[153:]], 0x00, udh8)  # cut inside the escape

    [message] = simulator.messages()

    assert message.text != text


def test_sar_tlvs_count_as_concatenation(simulator, connect):
    client = connect(simulator)
    parts = gsm_parts(GSM_TEXT)
    for seq, part in enumerate(parts, start=1):
        submit(client, "447700900123", part, registered_delivery=0, sar_msg_ref_num=300,
               sar_total_segments=len(parts), sar_segment_seqnum=seq)
    read_pdus(client, len(parts))

    [message] = simulator.messages()

    assert (message.text, message.parts) == (GSM_TEXT, len(parts))


def test_a_message_payload_is_one_whole_message(simulator, connect):
    client = connect(simulator)
    payload = UCS2_TEXT.encode("utf-16-be")[:250]
    submit(client, "447700900123", message_payload=payload, data_coding=0x08)

    resp, receipt = read_pdus(client, 2)

    [message] = simulator.messages()
    assert message.text == payload.decode("utf-16-be")
    assert simulator.submits[0].message_payload == payload
    assert resp.status == 0
    assert b"text:Merci ? ? ? bient" in receipt.short_message  # non-ASCII shown as '?'


def test_incomplete_messages_are_left_out(simulator, connect):
    client = connect(simulator)
    parts = gsm_parts(GSM_TEXT)
    submit(client, "447700900123", udh8(9, len(parts), 1) + parts[0], esm_class=0x40)
    read_pdus(client, 2)

    assert simulator.messages() == []
    assert simulator.submits[0].text == parts[0].decode("gsm03.38")


@pytest.mark.parametrize(("text", "coding", "decode"), [
    ("STOP please @ 5€", 0x00, "gsm03.38"),
    ("Arrêt 🙏 merci", 0x08, "utf-16-be"),
])
def test_inject_mo_arrives_at_a_transceiver(simulator, connect, text, coding, decode):
    client = connect(simulator)

    simulator.inject_mo(source="447700900123", destination="12345", text=text)

    [mo] = read_pdus(client, 1)
    assert (mo.command, mo.esm_class, mo.data_coding) == ("deliver_sm", 0x00, coding)
    assert mo.short_message.decode(decode) == text
    assert (mo.source_addr, mo.destination_addr) == (b"447700900123", b"12345")
    wait_for(lambda: simulator.deliver_responses == [(mo.sequence, 0)])


def test_a_long_mo_travels_in_message_payload(simulator, connect):
    client = connect(simulator)
    text = "Long reply " * 30

    simulator.inject_mo(source="447700900123", destination="12345", text=text)

    [mo] = read_pdus(client, 1)
    assert not mo.short_message
    assert mo.message_payload.decode("gsm03.38") == text


def test_inject_mo_waits_for_a_receiver_to_bind(make_simulator, connect):
    sim = make_simulator(accounts={"a": "pa", "b": "pb"})
    sim.inject_mo(source="447700900123", destination="12345", text="for b", system_id="b")
    sender = connect(sim, "tx", system_id="b", password="pb")
    other = connect(sim, "rx", system_id="a", password="pa")
    assert sim.pending_deliveries() == 1

    receiver = connect(sim, "rx", system_id="b", password="pb")

    [mo] = read_pdus(receiver, 1)
    assert mo.short_message == b"for b"
    assert sender and other  # bound, yet neither could take it
