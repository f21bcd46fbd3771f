"""What the simulator saw: one record per submit_sm, and messages reassembled from them."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.simulator.wire import decode_text, split_udh


@dataclass(slots=True)
class SubmitRecord:
    """One submit_sm as received, with what the simulator answered."""

    system_id: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes  # as received, UDH included
    udh: tuple[int, int, int] | None  # (reference, total, sequence) from the UDH or SAR TLVs
    message_payload: bytes | None
    message_id: str | None  # None when rejected or dropped
    command_status: int  # of the submit_sm_resp; 0 for a dropped submit (no response was sent)
    received_at: float  # time.monotonic()
    dropped: bool = False  # drop_response_ratio swallowed it: no response, no receipt
    peer_port: int = 0  # the sender's local port: tells one ESME process's connections from another's

    @property
    def accepted(self) -> bool:
        """True when the SMSC answered with a message_id (and so will send a receipt)."""
        return self.message_id is not None

    @property
    def text(self) -> str:
        """This part's text, decoded without its UDH."""
        data = self.message_payload if self.message_payload is not None else self.short_message
        if self.esm_class & 0x40 and data:
            data = split_udh(data)[1]
        return decode_text(data, self.data_coding)


@dataclass(slots=True, frozen=True)
class ReassembledMessage:
    """A whole message: one submit, or every part of a concatenated one, decoded."""

    source_addr: str
    destination_addr: str
    text: str
    parts: int
    data_coding: int


def reassemble(records: list[SubmitRecord]) -> list[ReassembledMessage]:
    """Join accepted submits into messages, in the order their first part arrived.

    Parts are grouped by (system_id, source, destination, reference, total); a part whose
    sequence number was already seen in its open group is a retransmission and is
    ignored. Each part is decoded on its own, as a handset does, so a GSM escape or a
    UTF-16 surrogate pair split across two parts shows up as a wrong character.
    Incomplete messages are left out.
    """
    complete: list[tuple[int, ReassembledMessage]] = []
    open_groups: dict[tuple, dict[int, tuple[int, SubmitRecord]]] = {}
    for index, record in enumerate(records):
        if not record.accepted:
            continue
        if record.udh is None or record.udh[1] <= 1:
            message = ReassembledMessage(
                record.source_addr, record.destination_addr, record.text, 1, record.data_coding
            )
            complete.append((index, message))
            continue
        ref, total, seq = record.udh
        key = (record.system_id, record.source_addr, record.destination_addr, ref, total)
        group = open_groups.setdefault(key, {})
        group.setdefault(seq, (index, record))
        if len(group) == total and set(group) == set(range(1, total + 1)):
            del open_groups[key]
            parts = [group[n][1] for n in range(1, total + 1)]
            first_index = min(i for i, _ in group.values())
            message = ReassembledMessage(
                record.source_addr,
                record.destination_addr,
                "".join(part.text for part in parts),
                total,
                parts[0].data_coding,
            )
            complete.append((first_index, message))
    complete.sort(key=lambda pair: pair[0])
    return [message for _, message in complete]
