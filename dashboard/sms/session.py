"""One SMPP connection, owned by exactly one thread.

Built on smpplib's PDU classes, but not on its Client's read loop, because of what we measured
(docs/dependencies.md): its read time-out mid-PDU corrupts the stream, it sends
enquire_link on every idle time-out without checking the answer, it never sets TCP_NODELAY and
writes one PDU per syscall. Here the socket is read into a buffer and framed by length, so a
time-out never loses bytes; many PDUs go out in one sendall; enquire_link is the caller's timer.
The four PDUs every message costs (submit_sm and its response, deliver_sm and its response)
are written and read by dashboard.sms.pdu instead: smpplib's were most of the sender's CPU.
"""
from __future__ import annotations

import itertools
import select
import socket
import ssl
import struct
import time
import uuid
from dataclasses import dataclass

from smpplib import consts, smpp
from smpplib.command import Command

from dashboard.sms import pdu as pdu_codec
from dashboard.sms.smpp_status import status_name

BIND_COMMANDS = {"trx": "bind_transceiver", "tx": "bind_transmitter", "rx": "bind_receiver"}
MAX_PDU_LENGTH = 64 * 1024  # far above any legal PDU; a larger length means the stream is broken
_SEQUENCE_MAX = 0x7FFFFFFF
_SUBMIT_SM_RESP_ID = struct.pack(">I", pdu_codec.SUBMIT_SM_RESP)
_DELIVER_SM_ID = struct.pack(">I", pdu_codec.DELIVER_SM)


class SessionError(Exception):
    """The link cannot be used. `permanent` errors (bad credentials) are not worth a fast retry."""

    def __init__(self, reason: str, *, permanent: bool = False, code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code


class _NoSequence:
    """Parsing must not consume our sequence numbers: smpplib numbers every PDU it constructs."""
    sequence = 0

    @staticmethod
    def next_sequence() -> int:
        return 0


_PARSER = _NoSequence()


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    mode: str = "trx"  # trx | tx | rx
    use_tls: bool = False
    connect_timeout: float = 10.0


class SmppSession:
    """A bound SMPP session. Not thread-safe by design: one owner thread calls everything."""

    def __init__(self, endpoint: Endpoint, *, tls_context: ssl.SSLContext | None = None):
        self.endpoint = endpoint
        self.session_id = f"{endpoint.system_id}-{endpoint.mode}-{uuid.uuid4().hex[:8]}"
        self._tls_context = tls_context
        self._socket: socket.socket | None = None
        self._inbuf = bytearray()
        self._outbuf: list[bytes] = []
        self._sequence = itertools.count(1)
        self.bound = False

    # smpplib's PDU constructors call client.next_sequence(); we are that client.
    @property
    def sequence(self) -> int:
        return 0

    def next_sequence(self) -> int:
        value = next(self._sequence)
        if value > _SEQUENCE_MAX:
            self._sequence = itertools.count(2)
            value = 1
        return value

    @property
    def can_submit(self) -> bool:
        return self.endpoint.mode in ("trx", "tx")

    def fileno(self) -> int:
        return self._socket.fileno() if self._socket else -1

    # ------------------------------------------------------------------ connect and bind

    def open(self) -> None:
        """Connect and bind. Raises SessionError with the SMSC's reason when refused."""
        ep = self.endpoint
        try:
            raw = socket.create_connection((ep.host, ep.port), timeout=ep.connect_timeout)
        except OSError as exc:
            raise SessionError(f"cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}") from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ep.use_tls:
            context = self._tls_context or ssl.create_default_context()
            try:
                # server_hostname is what smpplib forgets (its PR #259): without it, verification fails.
                raw = context.wrap_socket(raw, server_hostname=ep.host)
            except (ssl.SSLError, OSError) as exc:
                raw.close()
                raise SessionError(f"TLS handshake with {ep.host}:{ep.port} failed: {exc}") from None
        self._socket = raw
        bind = smpp.make_pdu(BIND_COMMANDS[ep.mode], client=self, system_id=ep.system_id,
                             password=ep.password, system_type=ep.system_type,
                             interface_version=0x34, addr_ton=0, addr_npi=0, address_range="")
        self.write([bind])
        deadline = time.monotonic() + ep.connect_timeout
        while time.monotonic() < deadline:
            for pdu in self.read(min(0.5, max(0.0, deadline - time.monotonic()))):
                if pdu.command == f"{BIND_COMMANDS[ep.mode]}_resp" and pdu.sequence == bind.sequence:
                    if pdu.status != 0:
                        self.close(unbind=False)
                        raise SessionError(f"bind refused: {status_name(pdu.status)}",
                                           permanent=pdu.status in (0x0D, 0x0E, 0x0F), code=pdu.status)
                    self.bound = True
                    return
                if pdu.command == "generic_nack":
                    self.close(unbind=False)
                    raise SessionError(f"bind answered with generic_nack {status_name(pdu.status)}",
                                       code=pdu.status)
        self.close(unbind=False)
        raise SessionError(f"no bind response within {ep.connect_timeout:.0f} s")

    # ------------------------------------------------------------------ writing

    def make_submit(self, sequence: int, **fields) -> bytes:
        """The submit_sm's bytes, numbered with the sequence recorded on its part (dashboard.sms.pdu)."""
        return pdu_codec.submit_sm(sequence, **fields)

    def queue(self, pdu: Command | bytes) -> None:
        self._outbuf.append(pdu if isinstance(pdu, bytes) else pdu.generate())

    def flush(self) -> None:
        """Write everything queued in one sendall: with TCP_NODELAY, one PDU per write is slow."""
        if not self._outbuf:
            return
        data = b"".join(self._outbuf)
        self._outbuf.clear()
        if self._socket is None:
            raise SessionError("link is closed")
        try:
            self._socket.sendall(data)
        except OSError as exc:
            raise SessionError(f"write failed: {exc}") from None

    def write(self, pdus: list[Command | bytes]) -> None:
        for pdu in pdus:
            self.queue(pdu)
        self.flush()

    def respond(self, request: Command, status: int = 0) -> None:
        """Queue the response to an SMSC request; flush() sends it."""
        if request.command == "deliver_sm":  # one per receipt: built without smpplib
            self._outbuf.append(pdu_codec.deliver_sm_resp(request.sequence, status))
            return
        resp_name = {"deliver_sm": "deliver_sm_resp", "enquire_link": "enquire_link_resp",
                     "unbind": "unbind_resp", "data_sm": "data_sm_resp"}.get(request.command)
        if resp_name is None:
            resp = smpp.make_pdu("generic_nack", client=self, status=consts.SMPP_ESME_RINVCMDID)
        else:
            resp = smpp.make_pdu(resp_name, client=self, status=status)
        resp.sequence = request.sequence
        self.queue(resp)

    def enquire_link(self) -> int:
        pdu = smpp.make_pdu("enquire_link", client=self)
        self.write([pdu])
        return pdu.sequence

    # ------------------------------------------------------------------ reading

    def read(self, timeout: float) -> list[Command]:
        """Every complete PDU available within `timeout` seconds. Partial bytes stay buffered."""
        if self._socket is None:
            raise SessionError("link is closed")
        pending = self._socket.pending() if isinstance(self._socket, ssl.SSLSocket) else 0
        if not pending:
            readable, _, _ = select.select([self._socket], [], [], timeout)
            if not readable:
                return []
        try:
            chunk = self._socket.recv(256 * 1024)
        except (BlockingIOError, ssl.SSLWantReadError, socket.timeout):
            return []
        except OSError as exc:
            raise SessionError(f"read failed: {exc}") from None
        if not chunk:
            raise SessionError("connection closed by the SMSC")
        self._inbuf += chunk
        return self._frames()

    def _frames(self) -> list[Command]:
        pdus = []
        buf = self._inbuf
        offset = 0
        while len(buf) - offset >= 16:
            (length,) = struct.unpack_from(">L", buf, offset)
            if length < 16 or length > MAX_PDU_LENGTH:
                raise SessionError(f"corrupt SMPP stream (command_length {length})")
            if len(buf) - offset < length:
                break
            data = bytes(buf[offset:offset + length])
            offset += length
            command_id = data[4:8]
            if command_id == _SUBMIT_SM_RESP_ID:  # one per part and one per receipt: parsed without smpplib
                pdus.append(pdu_codec.parse_submit_sm_resp(data))
                continue
            if command_id == _DELIVER_SM_ID:
                try:
                    pdus.append(pdu_codec.parse_deliver_sm(data))
                    continue
                except ValueError:
                    pass  # smpplib reads it, or says why not
            try:
                pdus.append(smpp.parse_pdu(data, client=_PARSER, allow_unknown_opt_params=True))
            except Exception as exc:  # a PDU smpplib cannot parse: tell the SMSC, keep the link
                (command_id, _, sequence) = struct.unpack_from(">LLL", data, 4)
                pdus.append(_Unparsable(command_id, sequence, str(exc)))
        del buf[:offset]
        return pdus

    # ------------------------------------------------------------------ closing

    def close(self, *, unbind: bool = True, timeout: float = 2.0) -> None:
        if self._socket is None:
            return
        if unbind and self.bound:
            try:
                pdu = smpp.make_pdu("unbind", client=self)
                self.write([pdu])
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if any(p.command == "unbind_resp" for p in self.read(deadline - time.monotonic())):
                        break
            except SessionError:
                pass
        try:
            self._socket.close()
        finally:
            self._socket = None
            self.bound = False


class _Unparsable:
    """Stands in for a PDU that smpplib could not parse, so the caller can generic_nack it."""

    def __init__(self, command_id: int, sequence: int, error: str):
        self.command = "unparsable"
        self.command_id = command_id
        self.sequence = sequence
        self.status = consts.SMPP_ESME_RINVCMDLEN
        self.error = error
