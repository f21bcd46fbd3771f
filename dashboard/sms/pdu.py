"""The three PDUs every message costs the sender, written and read with struct.

smpplib builds or parses one PDU in 40–100 µs on our machine (attribute reflection per field);
a one-part message with its receipt costs four of them, more than all the database work of the
sender once that was made set-based (docs/performance.md). These functions produce exactly the
bytes smpplib produces for the fields the sender uses (tests/sms/test_pdu.py checks it against
smpplib); every other PDU, and every deliver_sm, still goes through smpplib. The simulator does
the same on its side (dashboard/simulator/wire.py).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct(">IIII")
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM_RESP = 0x80000005
TAG_MESSAGE_PAYLOAD = 0x0424
_ADDRESS_MAX = 20  # source_addr and destination_addr: 21 octets with the NUL


@dataclass
class OutgoingPart:
    """Everything the SMPP loop needs to write one submit_sm, without touching the database."""
    part_id: int
    message_id: int
    part_no: int
    parts_total: int
    destination: str  # E.164
    source: str
    source_ton: int
    source_npi: int
    short_message: bytes
    esm_class: int
    data_coding: int
    payload: bytes | None  # the whole text in message_payload (binds set to "payload") or None
    priority: int
    possible_duplicate: bool


def submit_sm_fields(part: OutgoingPart) -> dict:
    """The submit_sm of one part, as keyword arguments of `submit_sm` (and of smpplib's)."""
    fields = dict(source_addr_ton=part.source_ton, source_addr_npi=part.source_npi, source_addr=part.source,
                  dest_addr_ton=1, dest_addr_npi=1, destination_addr=part.destination.lstrip("+"),
                  esm_class=part.esm_class, data_coding=part.data_coding, registered_delivery=1,
                  short_message=part.short_message)
    if part.payload is not None:
        fields["message_payload"] = part.payload
        fields["short_message"] = b""
    return fields


def timeline_fields(part: OutgoingPart) -> dict:
    """What the message's timeline keeps of a submit_sm (the text itself is on the message)."""
    return {"destination_addr": part.destination.lstrip("+"), "source_addr": part.source,
            "esm_class": part.esm_class, "data_coding": part.data_coding,
            "part": f"{part.part_no}/{part.parts_total}", "possible_duplicate": part.possible_duplicate}


def submit_sm(sequence: int, *, source_addr_ton: int, source_addr_npi: int, source_addr: str,
              dest_addr_ton: int, dest_addr_npi: int, destination_addr: str, esm_class: int,
              data_coding: int, registered_delivery: int, short_message: bytes,
              message_payload: bytes | None = None) -> bytes:
    """A submit_sm with empty service_type, schedule and validity, protocol_id and priority 0."""
    if short_message and message_payload:
        raise ValueError("`message_payload` can not be used with `short_message`")
    body = b"".join((
        b"\0",  # service_type
        bytes((source_addr_ton, source_addr_npi)),
        source_addr[:_ADDRESS_MAX].encode("latin-1"), b"\0",
        bytes((dest_addr_ton, dest_addr_npi)),
        destination_addr[:_ADDRESS_MAX].encode("latin-1"), b"\0",
        bytes((esm_class, 0, 0)),  # protocol_id, priority_flag
        b"\0\0",  # schedule_delivery_time, validity_period
        bytes((registered_delivery, 0, data_coding, 0, len(short_message))),
        short_message,
        struct.pack(">HH", TAG_MESSAGE_PAYLOAD, len(message_payload)) + message_payload if message_payload else b"",
    ))
    return HEADER.pack(16 + len(body), SUBMIT_SM, 0, sequence) + body


def deliver_sm_resp(sequence: int, status: int = 0) -> bytes:
    """The answer to a deliver_sm: an empty message_id, as SMPP 3.4 requires."""
    return HEADER.pack(17, DELIVER_SM_RESP, status, sequence) + b"\0"


class SubmitSmResp:
    """A parsed submit_sm_resp, with the attributes smpplib's would have."""

    __slots__ = ("sequence", "status", "message_id")
    command = "submit_sm_resp"

    def __init__(self, sequence: int, status: int, message_id: bytes | None):
        self.sequence = sequence
        self.status = status
        self.message_id = message_id


def parse_submit_sm_resp(data: bytes) -> SubmitSmResp:
    """`data` is the whole PDU. An error response may have no body: message_id is then None."""
    _, _, status, sequence = HEADER.unpack_from(data)
    if len(data) == 16:
        return SubmitSmResp(sequence, status, None)
    end = data.find(b"\0", 16)
    return SubmitSmResp(sequence, status, data[16:end if end >= 0 else len(data)])


DELIVER_SM = 0x00000005
_TLV = struct.Struct(">HH")
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_STATE = 0x0427


class DeliverSm:
    """A parsed deliver_sm with the attributes the sender reads, named and typed as smpplib's."""

    __slots__ = ("sequence", "status", "service_type", "source_addr_ton", "source_addr_npi", "source_addr",
                 "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class", "protocol_id",
                 "priority_flag", "registered_delivery", "data_coding", "short_message", "message_payload",
                 "receipted_message_id", "message_state", "network_error_code")
    command = "deliver_sm"

    def __init__(self, sequence: int, status: int):
        for name in self.__slots__:
            setattr(self, name, None)
        self.sequence = sequence
        self.status = status


def parse_deliver_sm(data: bytes) -> DeliverSm:
    """`data` is the whole PDU. TLVs other than the receipt's and message_payload are skipped.
    Raises ValueError on a malformed body (the caller then lets smpplib try)."""
    _, _, status, sequence = HEADER.unpack_from(data)
    pdu = DeliverSm(sequence, status)
    try:
        pos = 16
        pdu.service_type, pos = _cstring(data, pos)
        pdu.source_addr_ton, pdu.source_addr_npi = data[pos], data[pos + 1]
        pdu.source_addr, pos = _cstring(data, pos + 2)
        pdu.dest_addr_ton, pdu.dest_addr_npi = data[pos], data[pos + 1]
        pdu.destination_addr, pos = _cstring(data, pos + 2)
        pdu.esm_class, pdu.protocol_id, pdu.priority_flag = data[pos], data[pos + 1], data[pos + 2]
        _, pos = _cstring(data, pos + 3)  # schedule_delivery_time
        _, pos = _cstring(data, pos)  # validity_period
        pdu.registered_delivery, pdu.data_coding = data[pos], data[pos + 2]  # replace_if_present at +1
        sm_length = data[pos + 4]
        pos += 5
        pdu.short_message = data[pos:pos + sm_length]
        pos += sm_length
        while pos < len(data):
            tag, length = _TLV.unpack_from(data, pos)
            value = data[pos + 4:pos + 4 + length]
            if len(value) != length:
                raise ValueError("truncated TLV")
            pos += 4 + length
            if tag == TAG_RECEIPTED_MESSAGE_ID:
                pdu.receipted_message_id = value[:-1] if value.endswith(b"\0") else value
            elif tag == TAG_MESSAGE_STATE and length == 1:
                pdu.message_state = value[0]
            elif tag == TAG_NETWORK_ERROR_CODE:
                pdu.network_error_code = value
            elif tag == TAG_MESSAGE_PAYLOAD:
                pdu.message_payload = value
    except (IndexError, struct.error) as exc:
        raise ValueError(f"malformed deliver_sm: {exc}") from None
    if pos > len(data):
        raise ValueError("malformed deliver_sm: short_message runs past the end")
    return pdu


def _cstring(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos)
    return data[pos:end], end + 1
