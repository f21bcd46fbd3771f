"""The simulator's hot path on the wire: submit_sm in, submit_sm_resp and deliver_sm out.

smpplib's PDU classes cost about 80 µs to parse a submit_sm and 120 µs to generate a
receipt deliver_sm on this machine (its TLV lookups are linear scans), which would cap the
simulator near 4,500 msgs/s. These few PDUs are therefore packed and unpacked here with
struct; every other PDU goes through smpplib, and the tests check that smpplib parses
what this module writes and that this module reads what smpplib writes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

HEADER = struct.Struct(">IIII")
TLV_HEADER = struct.Struct(">HH")

GENERIC_NACK = 0x80000000
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

ESM_UDHI = 0x40
ESM_DELIVERY_RECEIPT = 0x04


class PDUFormatError(ValueError):
    """The body does not hold the fields its command requires."""


@dataclass(slots=True)
class SubmitFields:
    """The fields of a submit_sm the simulator acts on."""

    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    udh: tuple[int, int, int] | None  # (reference, total, sequence), from the UDH or SAR TLVs
    text_bytes: bytes  # short_message without its UDH, or message_payload


def parse_submit_sm(body: bytes) -> SubmitFields:
    """Parse a submit_sm body (the bytes after the 16-byte header)."""
    try:
        index = body.index
        pos = index(0, 0) + 1  # service_type
        src_ton = body[pos]
        src_npi = body[pos + 1]
        end = index(0, pos + 2)
        source = body[pos + 2 : end].decode("latin-1")
        dst_ton = body[end + 1]
        dst_npi = body[end + 2]
        pos = end + 3
        end = index(0, pos)
        destination = body[pos:end].decode("latin-1")
        esm_class = body[end + 1]  # then protocol_id, priority_flag
        pos = index(0, end + 4) + 1  # schedule_delivery_time
        pos = index(0, pos) + 1  # validity_period
        registered_delivery = body[pos]
        data_coding = body[pos + 2]
        sm_length = body[pos + 4]
        pos += 5
        short_message = body[pos : pos + sm_length]
        if len(short_message) != sm_length:
            raise PDUFormatError("short_message shorter than sm_length")
        pos += sm_length
        payload, sar = _parse_submit_tlvs(body, pos)
    except (IndexError, ValueError, struct.error) as exc:
        if isinstance(exc, PDUFormatError):
            raise
        raise PDUFormatError(str(exc)) from exc

    text_bytes = short_message if payload is None else payload
    udh = None
    if esm_class & ESM_UDHI and text_bytes:
        udh, text_bytes = split_udh(text_bytes)
    if udh is None and sar is not None and None not in sar:
        udh = sar
    return SubmitFields(
        src_ton, src_npi, source, dst_ton, dst_npi, destination, esm_class,
        registered_delivery, data_coding, short_message, payload, udh, text_bytes,
    )


def _parse_submit_tlvs(body: bytes, pos: int) -> tuple[bytes | None, tuple | None]:
    payload = None
    ref = total = seq = None
    size = len(body)
    while pos + 4 <= size:
        tag, length = TLV_HEADER.unpack_from(body, pos)
        pos += 4
        value = body[pos : pos + length]
        if len(value) != length:
            raise PDUFormatError(f"TLV 0x{tag:04x} runs past the end of the PDU")
        pos += length
        if tag == TAG_MESSAGE_PAYLOAD:
            payload = value
        elif tag == TAG_SAR_MSG_REF_NUM and length == 2:
            ref = int.from_bytes(value, "big")
        elif tag == TAG_SAR_TOTAL_SEGMENTS and length == 1:
            total = value[0]
        elif tag == TAG_SAR_SEGMENT_SEQNUM and length == 1:
            seq = value[0]
    if pos != size:
        raise PDUFormatError("trailing bytes after the last TLV")
    sar = None if ref is None and total is None and seq is None else (ref, total, seq)
    return payload, sar


def split_udh(data: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """Split a user data header off `data`; return ((ref, total, seq) or None, text bytes).

    Understands the concatenation elements 0x00 (8-bit reference) and 0x08 (16-bit).
    """
    udhl = data[0]
    header = data[1 : 1 + udhl]
    text = data[1 + udhl :]
    concat = None
    pos = 0
    while pos + 2 <= len(header):
        iei, iel = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + iel]
        if iei == 0x00 and iel == 3 and len(value) == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4 and len(value) == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + iel
    return concat, text


def submit_sm_resp(sequence: int, message_id: str) -> bytes:
    """A successful submit_sm_resp carrying message_id."""
    body = message_id.encode("ascii") + b"\0"
    return HEADER.pack(16 + len(body), SUBMIT_SM_RESP, 0, sequence) + body


def error_response(command_id: int, status: int, sequence: int) -> bytes:
    """A response with no body: SMPP 3.4 omits the body of error responses."""
    return HEADER.pack(16, command_id, status, sequence)


def deliver_sm_body(
    *,
    source_addr: str,
    source_addr_ton: int,
    source_addr_npi: int,
    destination_addr: str,
    dest_addr_ton: int,
    dest_addr_npi: int,
    esm_class: int,
    data_coding: int,
    short_message: bytes = b"",
    tlvs: bytes = b"",
) -> bytes:
    """The body of a deliver_sm; the header is added when a session sends it."""
    return b"".join((
        b"\0",  # service_type
        bytes((source_addr_ton, source_addr_npi)),
        source_addr.encode("latin-1"), b"\0",
        bytes((dest_addr_ton, dest_addr_npi)),
        destination_addr.encode("latin-1"), b"\0",
        bytes((esm_class, 0, 0)),  # protocol_id, priority_flag
        b"\0\0",  # schedule_delivery_time, validity_period
        bytes((0, 0, data_coding, 0, len(short_message))),
        short_message,
        tlvs,
    ))


def tlv(tag: int, value: bytes) -> bytes:
    """One TLV: tag, length, value."""
    return TLV_HEADER.pack(tag, len(value)) + value


def receipt_tlvs(receipted_id: str, state: int, failed: bool) -> bytes:
    """receipted_message_id (C-string), message_state and, on failure, network_error_code."""
    parts = [
        tlv(TAG_RECEIPTED_MESSAGE_ID, receipted_id.encode("ascii") + b"\0"),
        tlv(TAG_MESSAGE_STATE, bytes((state,))),
    ]
    if failed:
        # network type 3 (GSM), error 0x0001: "unknown subscriber"-like, good enough for tests
        parts.append(tlv(TAG_NETWORK_ERROR_CODE, b"\x03\x00\x01"))
    return b"".join(parts)


def decode_text(data: bytes, data_coding: int) -> str:
    """Decode user data the way a handset would, independently of our own encoder.

    Broken input shows up as U+FFFD (or, for a GSM escape cut at the end of a part,
    as a missing character), so a bad encoder is visible in the reassembled text.
    """
    if data_coding == 0x08:
        return data.decode("utf-16-be", "replace")
    if data_coding == 0x03:
        return data.decode("latin-1")
    if data_coding == 0x01:
        return data.decode("ascii", "replace")
    if data_coding in (0x02, 0x04):
        return data.hex()
    return data.decode("gsm03.38", "replace")


def ascii_snippet(text: str, length: int = 20) -> str:
    """The first `length` characters, made safe for a receipt's ASCII text field."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:length])
