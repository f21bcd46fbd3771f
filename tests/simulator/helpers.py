"""Helpers shared by the simulator tests: send, read and answer PDUs."""

from __future__ import annotations

import socket
import struct
import time

from smpplib import consts, smpp

SYSTEM_ID, PASSWORD = "switchboard", "secret"


def submit(client, destination="447700900123", text=b"Hello", **fields):
    """Send one submit_sm asking for a receipt; return its sequence number."""
    fields.setdefault("registered_delivery", 1)
    fields.setdefault("source_addr", "Acme")
    fields.setdefault("source_addr_ton", consts.SMPP_TON_ALNUM)
    fields.setdefault("dest_addr_ton", consts.SMPP_TON_INTL)
    fields.setdefault("dest_addr_npi", consts.SMPP_NPI_ISDN)
    if "message_payload" not in fields:
        fields["short_message"] = text
    pdu = client.send_message(destination_addr=destination, **fields)
    return pdu.sequence


def read_pdus(client, count, *, answer=True, timeout=2.0):
    """Read exactly `count` PDUs, answering each deliver_sm with OK unless answer=False."""
    client._socket.settimeout(timeout)
    pdus = []
    for _ in range(count):
        pdu = client.read_pdu()
        if pdu.command == "deliver_sm" and answer:
            ack(client, pdu)
        pdus.append(pdu)
    return pdus


def ack(client, pdu, status=0):
    """Answer a deliver_sm (smpplib's make_pdu ignores sequence=, so set it after)."""
    resp = smpp.make_pdu("deliver_sm_resp", client=client, status=status,
                         allow_unknown_opt_params=True)
    resp.sequence = pdu.sequence
    client.send_pdu(resp)


def nothing_more(client, wait=0.3) -> bool:
    """True when no PDU arrives within `wait` seconds."""
    client._socket.settimeout(wait)
    try:
        client._socket.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    return False


def read_raw(sock, count):
    """Read `count` whole PDUs from a raw socket: [(command_id, status, sequence, body)]."""
    out = []
    buffer = b""
    while len(out) < count:
        while len(buffer) < 16 or len(buffer) < struct.unpack(">I", buffer[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            buffer += chunk
        length, command_id, status, sequence = struct.unpack(">IIII", buffer[:16])
        out.append((command_id, status, sequence, buffer[16:length]))
        buffer = buffer[length:]
    return out


def header(length, command_id, status=0, sequence=1) -> bytes:
    return struct.pack(">IIII", length, command_id, status, sequence)


def wait_for(condition, timeout=2.0) -> None:
    """Poll until condition() is true: the simulator works in its own thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the simulator")
        time.sleep(0.005)
