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

HEADER = struct.Struct(">IIII")
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM_RESP = 0x80000005
TAG_MESSAGE_PAYLOAD = 0x0424
_ADDRESS_MAX = 20  # source_addr and destination_addr: 21 octets with the NUL


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
