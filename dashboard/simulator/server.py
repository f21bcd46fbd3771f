"""An SMPP 3.4 SMSC that runs in a background thread: the demo's, the tests' and the
benchmarks' counterpart.

One asyncio event loop in one thread owns every socket and all protocol state. Public
methods may be called from any thread: they either read snapshots kept under a lock or
run their work inside the loop and wait for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import random
import re
import signal
import socket
import threading
import time
import uuid
from collections import deque

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from smpplib import client as smpp_client
from smpplib import command_codes, consts, exceptions, smpp

from dashboard.simulator import wire
from dashboard.simulator.config import MESSAGE_STATES, SimulatorConfig
from dashboard.simulator.records import ReassembledMessage, SubmitRecord, reassemble

ESME_ROK = consts.SMPP_ESME_ROK
ESME_RINVCMDLEN = consts.SMPP_ESME_RINVCMDLEN
ESME_RINVCMDID = consts.SMPP_ESME_RINVCMDID
ESME_RINVBNDSTS = consts.SMPP_ESME_RINVBNDSTS
ESME_RALYBND = consts.SMPP_ESME_RALYBND
ESME_RBINDFAIL = consts.SMPP_ESME_RBINDFAIL
ESME_RTHROTTLED = consts.SMPP_ESME_RTHROTTLED
ESME_RQUERYFAIL = consts.SMPP_ESME_RQUERYFAIL
ESME_RSYSERR = consts.SMPP_ESME_RSYSERR

log = logging.getLogger(__name__)

MAX_PDU_LENGTH = 64 * 1024  # nothing legitimate comes close; a bigger length is garbage
BIND_MODES = {"bind_transmitter": "tx", "bind_receiver": "rx", "bind_transceiver": "trx"}
SIMULATOR_SYSTEM_ID = "SWITCHBOARD_SIM"

# smpplib PDUs want a "client" that hands out sequence numbers; responses carry the
# request's own sequence, so this one only keeps smpplib's constructors happy.
_SEQUENCES = smpp_client.SimpleSequenceGenerator()

# Message ids come from one counter shared by every Simulator in the process, starting
# at the seconds since 2024 shifted 16 bits: ids stay unique across restarts of the
# object, across connections and across restarts of the process (as long as it averages
# under 65,536 ids/s).
_EPOCH_2024 = 1_704_067_200
_ID_COUNTER = itertools.count((int(time.time()) - _EPOCH_2024) << 16)


class _Session(asyncio.Protocol):
    """One ESME connection. Loop-thread only."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.system_id: str | None = None
        self.mode: str | None = None  # "tx" | "rx" | "trx" once bound
        self.closed = False
        self.out: list[bytes] = []
        self.peer_port = 0  # the ESME's side of the connection: which process sent what
        self.sequence = 0
        # deliver_sm sent and not yet answered: sequence -> (delivery, sent_at)
        self.unacked: dict[int, tuple[tuple, float]] = {}

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer_port = peer[1] if peer else 0
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small PDUs must not wait for Nagle; writes are coalesced per read instead.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sim._sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.sim._session_lost(self)

    def data_received(self, data: bytes) -> None:
        self.sim._on_data(self, data)

    def pause_writing(self) -> None:
        # The client is not reading: stop reading its submits until it catches up.
        if not self.closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.resume_reading()

    # sending
    def queue(self, data: bytes) -> None:
        """Queue bytes; they are written with everything else at the end of the turn."""
        if self.closed:
            return
        if not self.out:
            self.sim._dirty.append(self)
        self.out.append(data)

    def send_deliver(self, delivery: tuple, now: float) -> None:
        self.sequence = self.sequence + 1 if self.sequence < 0x7FFFFFFF else 1
        body = delivery[1]
        self.unacked[self.sequence] = (delivery, now)
        self.queue(wire.HEADER.pack(16 + len(body), wire.DELIVER_SM, 0, self.sequence) + body)

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.out.clear()
            self.transport.abort()


class Simulator:
    """An SMPP 3.4 SMSC simulator. See SimulatorConfig for what it can be told to do.

    Use as a context manager (`with Simulator(cfg) as sim:`) or start()/stop().
    Deliveries (receipts and MO messages) are tuples
    (system_id or None, deliver_sm body, session that submitted or None).
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.config.validate()
        self.port: int = self.config.port
        self._rules = [(re.compile(rule.pattern), rule) for rule in self.config.outcomes]
        self._rng = random.Random(self.config.seed)

        # observations, shared with other threads under _lock
        self._lock = threading.Lock()
        self._submits: list[SubmitRecord] = []
        self._deliver_responses: list[tuple[int, int]] = []
        self._rate_events: deque[tuple[float, float, int]] = deque()
        self._bound: dict[_Session, tuple[str, str]] = {}

        # loop-thread state (kept on the object so that it survives stop()/start())
        self._sessions: set[_Session] = set()
        self._receivers: dict[str, list[_Session]] = {}
        self._dirty: list[_Session] = []
        self._pending: dict[str | None, deque[tuple]] = {}
        self._delayed: deque[tuple[float, _Session | None, bytes | None, tuple | None]] = deque()
        self._delayed_timer: asyncio.TimerHandle | None = None
        self._buckets: dict[str, list[float]] = {}
        self._round_robin = 0
        self._snippets: dict[tuple[bytes, int], str] = {}
        self._date_cache: tuple[int, str] = (-1, "")

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        """Listen and serve in a background thread; return once the port is listening."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # e.g. the port is taken: hand it to start()
                failure.append(exc)
                loop.close()
                ready.set()
                return
            loop.call_soon(self._housekeeping)
            if self._delayed:
                self._arm_delayed()
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._close_late_sessions(loop)
                loop.close()

        self._loop = loop
        thread = threading.Thread(target=run, name="smsc-simulator", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            self._loop = None
            raise failure[0]
        self._thread = thread
        return self

    def stop(self) -> None:
        """Close the listener and every session, and end the background thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._call(self._close_everything)
        # abort() queued each connection_lost with call_soon; stop() queues behind them
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = None
        self._delayed_timer = None

    def kill_connections(self) -> None:
        """Drop every client connection abruptly (a crash or network loss); keep listening."""
        self._call(self._abort_sessions)
        self._settle()

    def set_outcomes(self, rules: list) -> None:
        """Answer from now on by these OutcomeRules (a carrier whose outcomes change mid-run)."""
        self.config.outcomes = list(rules)
        self._rules = [(re.compile(rule.pattern), rule) for rule in self.config.outcomes]

    def pause(self) -> None:
        """Stop listening entirely (port closed) and drop every session: the SMSC is down."""
        self._call(self._close_everything)
        self._settle()

    def resume(self) -> None:
        """Listen again on the same port after pause()."""
        if self._loop is None:
            self.start()
            return
        if self._server is None:
            asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM (for the command line), then stop."""
        self.start()
        stopping = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stopping.set())
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ observation
    @property
    def submits(self) -> list[SubmitRecord]:
        """Every submit_sm received (accepted, rejected, throttled or dropped), in order."""
        with self._lock:
            return list(self._submits)

    def submit_times(self) -> list[tuple[float, int]]:
        """(received at, command status of the answer) of every submit_sm, in order: the pace of a
        run, small enough to ask a simulator in another process for."""
        with self._lock:
            return [(record.received_at, record.command_status) for record in self._submits]

    def submit_count(self, destination: str | None = None, *, accepted_only: bool = True) -> int:
        """How many submit_sm were accepted (given a message_id), optionally to one number.

        accepted_only=False also counts the rejected, throttled and dropped ones.
        """
        with self._lock:
            return sum(
                1
                for record in self._submits
                if (destination is None or record.destination_addr == destination)
                and (record.message_id is not None or not accepted_only)
            )

    def messages(self) -> list[ReassembledMessage]:
        """Accepted submits joined into whole messages (concatenated parts reassembled)."""
        return reassemble(self.submits)

    def bound_sessions(self) -> list[tuple[str, str]]:
        """(system_id, mode) of every bound session, mode being "trx", "tx" or "rx"."""
        with self._lock:
            return list(self._bound.values())

    @property
    def deliver_responses(self) -> list[tuple[int, int]]:
        """(sequence, command_status) of every deliver_sm_resp received, in order."""
        with self._lock:
            return list(self._deliver_responses)

    def pending_deliveries(self) -> int:
        """Receipts and MO messages waiting for a receiver to bind."""
        return self._call(lambda: sum(len(queue) for queue in self._pending.values()))

    def rate(self, window: float = 1.0) -> float:
        """submit_sm per second over the busiest `window` seconds of the last minute.

        A burst shorter than `window` is measured from the start of its first read to
        the end of its last one, so even a single batch gives the simulator's own pace.
        """
        with self._lock:
            events = list(self._rate_events)  # (read started, read handled, submits)
        if not events:
            return 0.0
        span = events[-1][1] - events[0][0]
        if span <= 0:
            return 0.0
        if span <= window:
            return sum(count for _, _, count in events) / span
        best = total = start = 0
        for _, finished, count in events:
            total += count
            while events[start][1] <= finished - window:
                total -= events[start][2]
                start += 1
            best = max(best, total)
        return best / window

    def cpu_time(self) -> float:
        """CPU seconds used so far by the simulator's thread (0.0 when not running)."""
        thread = self._thread
        if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
            return 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:
            return 0.0

    def reset(self) -> None:
        """Clear the observation lists (submits, deliver responses, rate) between tests."""
        with self._lock:
            self._submits.clear()
            self._deliver_responses.clear()
            self._rate_events.clear()

    # ------------------------------------------------------------------ control
    def inject_mo(
        self, *, source: str, destination: str, text: str, system_id: str | None = None
    ) -> None:
        """Deliver a mobile-originated message (deliver_sm, esm_class 0) to a receiver.

        GSM 03.38 (data_coding 0) when the text fits that alphabet, else UCS-2 (0x08).
        With no receiver bound (of `system_id`, or of any account when None) it waits
        for one to bind.
        """
        try:
            data, coding = text.encode("gsm03.38"), 0x00
        except UnicodeEncodeError:
            data, coding = text.encode("utf-16-be"), 0x08
        short_message, tlvs = data, b""
        if len(data) > 254:  # too long for short_message: SMPP's message_payload TLV
            short_message, tlvs = b"", wire.tlv(wire.TAG_MESSAGE_PAYLOAD, data)
        src_ton, src_npi = _ton_npi(source)
        dst_ton, dst_npi = _ton_npi(destination)
        body = wire.deliver_sm_body(
            source_addr=source, source_addr_ton=src_ton, source_addr_npi=src_npi,
            destination_addr=destination, dest_addr_ton=dst_ton, dest_addr_npi=dst_npi,
            esm_class=0x00, data_coding=coding, short_message=short_message, tlvs=tlvs,
        )
        self._call(self._deliver, (system_id, body, None), time.monotonic())

    # ------------------------------------------------------------------ loop plumbing
    def _call(self, function, *args):
        """Run `function` in the loop thread and return its result (inline when stopped)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or threading.current_thread() is thread:
            result = function(*args)
            if loop is not None and thread is not None:
                self._flush()
            return result
        future: concurrent.futures.Future = concurrent.futures.Future()

        def runner() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as exc:
                future.set_exception(exc)
            finally:
                self._flush()

        loop.call_soon_threadsafe(runner)
        return future.result(timeout=10)

    def _settle(self) -> None:
        """Wait until the loop has run the callbacks queued so far (e.g. connection_lost)."""
        if self._loop is not None and self._thread is not None:
            self._call(lambda: None)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Session(self), self.config.host, self.port, reuse_address=True, backlog=128
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _close_everything(self) -> None:
        if self._server is not None:
            # close() alone shuts the listening sockets at once; wait_closed() would
            # (from Python 3.12) also wait for the sessions, which are aborted next.
            self._server.close()
            self._server = None
        self._abort_sessions()

    def _close_late_sessions(self, loop: asyncio.AbstractEventLoop) -> None:
        # A connection accepted while stop() closed everything is announced (connection_made)
        # after it: abort it too, before the loop closes, so that no transport is left to the
        # garbage collector (a ResourceWarning in a later test, once, in CI).
        for _ in range(3):  # run what is queued: late connection_made, then each connection_lost
            loop.run_until_complete(asyncio.sleep(0))
            self._abort_sessions()

    def _abort_sessions(self) -> None:
        for session in list(self._sessions):
            session.abort()

    def _flush(self) -> None:
        dirty = self._dirty
        for session in dirty:
            if session.out and not session.closed and not session.transport.is_closing():
                session.transport.write(b"".join(session.out))
            session.out.clear()
        dirty.clear()

    def _housekeeping(self) -> None:
        """Once a second: re-send unanswered deliveries, forget old rate figures."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        now = time.monotonic()
        timeout = self.config.redeliver_after
        if timeout is not None:
            for session in list(self._sessions):
                expired = []
                for sequence, (delivery, sent_at) in session.unacked.items():
                    if sent_at > now - timeout:
                        break  # sequences were sent in order: the rest are younger
                    expired.append((sequence, delivery))
                for sequence, delivery in expired:
                    del session.unacked[sequence]
                    self._deliver(delivery, now)
            self._flush()
        with self._lock:
            while self._rate_events and self._rate_events[0][0] < now - 60:
                self._rate_events.popleft()
        loop.call_later(1.0, self._housekeeping)

    # ------------------------------------------------------------------ sessions
    def _session_lost(self, session: _Session) -> None:
        self._sessions.discard(session)
        with self._lock:
            self._bound.pop(session, None)
        if session.system_id is not None and session in self._receivers.get(session.system_id, ()):
            self._receivers[session.system_id].remove(session)
        # What the client never acknowledged goes back in line, as a real SMSC would do.
        if session.unacked:
            now = time.monotonic()
            for (key, body, _origin), _sent_at in session.unacked.values():
                self._deliver((key, body, None), now)
            session.unacked.clear()
            self._flush()

    def _on_data(self, session: _Session, data: bytes) -> None:
        buffer = session.buffer + data if session.buffer else data
        size = len(buffer)
        pos = 0
        now = time.monotonic()
        records: list[SubmitRecord] = []
        unpack = wire.HEADER.unpack_from
        while size - pos >= 16 and not session.closed:
            length, command_id, status, sequence = unpack(buffer, pos)
            if length < 16 or length > MAX_PDU_LENGTH:
                # The stream cannot be resynchronised: say so and hang up.
                session.queue(wire.error_response(wire.GENERIC_NACK, ESME_RINVCMDLEN, sequence))
                self._flush()
                session.transport.close()
                session.closed = True
                break
            end = pos + length
            if end > size:
                break
            try:
                if command_id == wire.SUBMIT_SM:
                    self._on_submit(session, buffer[pos + 16 : end], sequence, now, records)
                elif command_id == wire.DELIVER_SM_RESP:
                    session.unacked.pop(sequence, None)
                    with self._lock:
                        self._deliver_responses.append((sequence, status))
                    _trim(self._deliver_responses, self.config.keep_records)
                else:
                    self._on_other(session, buffer[pos:end], command_id, sequence, now)
            except Exception:  # a simulator bug must not take the whole session down
                log.exception("simulator failed on command 0x%08x", command_id)
                session.queue(wire.error_response(wire.GENERIC_NACK, ESME_RSYSERR, sequence))
            pos = end
        session.buffer = buffer[pos:] if pos < size else b""
        if records:
            with self._lock:
                self._submits.extend(records)
                self._rate_events.append((now, time.monotonic(), len(records)))
                _trim(self._submits, self.config.keep_records)
        self._flush()

    def _on_other(
        self, session: _Session, raw: bytes, command_id: int, sequence: int, now: float
    ) -> None:
        """Everything but the hot path, through smpplib's PDU classes."""
        if command_id & 0x80000000:
            return  # enquire_link_resp, generic_nack, unbind_resp…: nothing to answer
        try:
            name = command_codes.get_command_name(command_id)
        except exceptions.UnknownCommandError:
            session.queue(wire.error_response(wire.GENERIC_NACK, ESME_RINVCMDID, sequence))
            return
        if name == "enquire_link":
            self._respond(session, "enquire_link_resp", sequence)
        elif name in BIND_MODES:
            self._on_bind(session, raw, name, sequence, now)
        elif name == "unbind":
            self._respond(session, "unbind_resp", sequence)
            self._flush()
            session.transport.close()  # after the buffered unbind_resp is written
            session.closed = True
            self._session_lost(session)
        elif name == "query_sm":
            status = ESME_RQUERYFAIL if session.mode else ESME_RINVBNDSTS
            session.queue(wire.error_response(command_id | 0x80000000, status, sequence))
        else:
            # deliver_sm from an ESME, data_sm, replace_sm, cancel_sm, submit_multi, outbind…
            session.queue(wire.error_response(wire.GENERIC_NACK, ESME_RINVCMDID, sequence))

    def _respond(self, session: _Session, name: str, sequence: int, **fields) -> None:
        pdu = smpp.make_pdu(name, client=_SEQUENCES, allow_unknown_opt_params=True, **fields)
        # make_pdu ignores a sequence= argument (the client's counter wins): set it after.
        pdu.sequence = sequence
        session.queue(pdu.generate())

    def _on_bind(self, session: _Session, raw: bytes, name: str, sequence: int, now: float) -> None:
        resp_id = command_codes.get_command_code(name + "_resp")
        try:
            pdu = smpp.parse_pdu(raw, client=_SEQUENCES, allow_unknown_opt_params=True)
            system_id = (pdu.system_id or b"").decode("latin-1")
            password = (pdu.password or b"").decode("latin-1")
        except Exception:  # smpplib raises whatever its struct/slicing code hits
            session.queue(wire.error_response(wire.GENERIC_NACK, ESME_RINVCMDLEN, sequence))
            return
        if session.mode is not None:
            session.queue(wire.error_response(resp_id, ESME_RALYBND, sequence))
            return
        if self.config.accounts.get(system_id) != password:
            session.queue(wire.error_response(resp_id, ESME_RBINDFAIL, sequence))
            return
        session.system_id, session.mode = system_id, BIND_MODES[name]
        with self._lock:
            self._bound[session] = (system_id, session.mode)
        self._respond(session, name + "_resp", sequence, system_id=SIMULATOR_SYSTEM_ID)
        if session.mode in ("trx", "rx"):
            self._receivers.setdefault(system_id, []).append(session)
            # Hand over what waited for a receiver: this account's, then anyone's.
            for key in (system_id, None):
                queue = self._pending.pop(key, None)
                while queue:
                    self._deliver(queue.popleft(), now)

    # ------------------------------------------------------------------ submit_sm
    def _on_submit(
        self, session: _Session, body: bytes, sequence: int, now: float, records: list
    ) -> None:
        if session.mode not in ("tx", "trx"):
            session.queue(wire.error_response(wire.SUBMIT_SM_RESP, ESME_RINVBNDSTS, sequence))
            return
        try:
            fields = wire.parse_submit_sm(body)
        except wire.PDUFormatError:
            session.queue(wire.error_response(wire.GENERIC_NACK, ESME_RINVCMDLEN, sequence))
            return
        status, dropped, stat = self._decide(session.system_id, fields.destination_addr, now)
        message_id = None
        if dropped:
            pass
        elif status:
            session.queue(wire.error_response(wire.SUBMIT_SM_RESP, status, sequence))
        else:
            message_id = self._new_message_id()
            response = wire.submit_sm_resp(sequence, message_id)
            wanted = fields.registered_delivery & 0x03
            if wanted == 1 or (wanted == 2 and stat != "DELIVRD"):
                body = self._receipt_body(fields, message_id, stat)
                receipt = (session.system_id, body, session)
                self._schedule_receipt(session, response, receipt, now)
            else:
                session.queue(response)
        records.append(SubmitRecord(
            session.system_id, fields.source_addr, fields.source_addr_ton,
            fields.source_addr_npi, fields.destination_addr, fields.esm_class,
            fields.data_coding, fields.registered_delivery, fields.short_message, fields.udh,
            fields.message_payload, message_id, status, now, dropped, session.peer_port,
        ))

    def _decide(self, system_id: str, destination: str, now: float) -> tuple[int, bool, str]:
        """(submit status, dropped?, receipt stat) for one submit."""
        config = self.config
        if config.max_tps is not None and not self._take_token(system_id, now):
            return ESME_RTHROTTLED, False, ""
        if config.throttle_ratio and self._rng.random() < config.throttle_ratio:
            return ESME_RTHROTTLED, False, ""
        if config.drop_response_ratio and self._rng.random() < config.drop_response_ratio:
            return ESME_ROK, True, ""
        for pattern, rule in self._rules:
            if pattern.search(destination):
                return rule.submit_status, False, rule.stat
        return ESME_ROK, False, "DELIVRD"

    def _take_token(self, system_id: str, now: float) -> bool:
        """Token bucket per account: max_tps per second, bursts of up to one second's worth."""
        rate = self.config.max_tps
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = self._buckets[system_id] = [max(1.0, rate), now]
        tokens = min(max(1.0, rate), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        return False

    def _new_message_id(self) -> str:
        number = next(_ID_COUNTER)
        form = self.config.message_id_format
        if form == "hex":
            return format(number, "x")
        if form == "dec":
            return str(number)
        return str(uuid.uuid4())

    def _receipt_id(self, message_id: str) -> str:
        """The id as the receipt spells it (Jasmin's dlr_msg_id_bases cases)."""
        form = self.config.receipt_id_format
        if form == "same":
            return message_id
        if self.config.message_id_format == "uuid":
            return str(uuid.UUID(message_id).int) if form == "dec" else message_id
        if form == "dec":
            hex_ids = self.config.message_id_format == "hex"
            return str(int(message_id, 16)) if hex_ids else message_id
        return "0" * max(1, 16 - len(message_id)) + message_id  # hex_zero_padded

    def _receipt_body(self, fields: wire.SubmitFields, message_id: str, stat: str) -> bytes:
        receipt_id = self._receipt_id(message_id)
        failed = stat != "DELIVRD"
        style = self.config.receipt_style
        text = b""
        if style != "tlv":
            wall = time.time()
            text = (
                f"id:{receipt_id} sub:001 dlvrd:{'000' if failed else '001'} "
                f"submit date:{self._date(wall)} "
                f"done date:{self._date(wall + self.config.receipt_delay)} "
                f"stat:{stat} err:{'001' if failed else '000'} "
                f"text:{self._snippet(fields.text_bytes, fields.data_coding)}"
            ).encode("ascii")
        tlvs = b""
        if style != "text":
            tlvs = wire.receipt_tlvs(receipt_id, MESSAGE_STATES[stat], failed)
        return wire.deliver_sm_body(
            source_addr=fields.destination_addr,
            source_addr_ton=fields.dest_addr_ton,
            source_addr_npi=fields.dest_addr_npi,
            destination_addr=fields.source_addr,
            dest_addr_ton=fields.source_addr_ton,
            dest_addr_npi=fields.source_addr_npi,
            esm_class=wire.ESM_DELIVERY_RECEIPT,
            data_coding=0,
            short_message=text,
            tlvs=tlvs,
        )

    def _date(self, wall: float) -> str:
        """YYMMDDhhmm in UTC, cached per minute (it is on the hot path)."""
        minute = int(wall // 60)
        if self._date_cache[0] != minute:
            self._date_cache = (minute, time.strftime("%y%m%d%H%M", time.gmtime(minute * 60)))
        return self._date_cache[1]

    def _snippet(self, data: bytes, data_coding: int) -> str:
        key = (data[:40], data_coding)
        snippet = self._snippets.get(key)
        if snippet is None:
            if len(self._snippets) > 4096:
                self._snippets.clear()
            snippet = self._snippets[key] = wire.ascii_snippet(wire.decode_text(*key))
        return snippet

    # ------------------------------------------------------------------ deliveries
    def _schedule_receipt(
        self, session: _Session, response: bytes, receipt: tuple, now: float
    ) -> None:
        config = self.config
        if config.receipt_before_response:
            if config.receipt_delay <= 0:
                self._deliver_copies(receipt, now)
                session.queue(response)
            else:  # hold the response back until the receipt has gone
                self._delay(now + config.receipt_delay, session, response, receipt)
        else:
            session.queue(response)
            if config.receipt_delay <= 0:
                self._deliver_copies(receipt, now)
            else:
                self._delay(now + config.receipt_delay, None, None, receipt)

    def _delay(self, due: float, session, response, receipt) -> None:
        # receipt_delay is constant, so appending keeps the queue sorted by due time
        self._delayed.append((due, session, response, receipt))
        if self._delayed_timer is None:
            self._arm_delayed()

    def _arm_delayed(self) -> None:
        loop = self._loop
        if loop is None or not self._delayed:
            self._delayed_timer = None
            return
        delay = max(0.0, self._delayed[0][0] - time.monotonic())
        self._delayed_timer = loop.call_later(delay, self._run_delayed)

    def _run_delayed(self) -> None:
        now = time.monotonic()
        delayed = self._delayed
        while delayed and delayed[0][0] <= now + 0.0005:
            _due, session, response, receipt = delayed.popleft()
            self._deliver_copies(receipt, now)
            if session is not None:
                session.queue(response)
        self._flush()
        self._arm_delayed()

    def _deliver_copies(self, delivery: tuple, now: float) -> None:
        for _ in range(self.config.duplicate_receipts):
            self._deliver(delivery, now)

    def _deliver(self, delivery: tuple, now: float) -> None:
        """Send a deliver_sm to a receiver of its account (any account when None), or keep it.

        A receipt goes back on the transceiver session that submitted the message when
        that one is still bound, else to the account's receivers in turn.
        """
        key, _body, origin = delivery
        if origin is not None and origin.mode == "trx" and not origin.closed:
            origin.send_deliver(delivery, now)
            return
        if key is None:
            receivers = [s for group in self._receivers.values() for s in group]
        else:
            receivers = self._receivers.get(key)
        if not receivers:
            self._pending.setdefault(key, deque()).append(delivery)
            return
        self._round_robin += 1
        receivers[self._round_robin % len(receivers)].send_deliver(delivery, now)


def _trim(records: list, keep: int | None) -> None:
    """Drop the oldest entries, in chunks so that the cost stays amortised."""
    if keep is not None and len(records) > keep + max(1, keep // 10):
        del records[: len(records) - keep]


def _ton_npi(address: str) -> tuple[int, int]:
    """International/E.164 for digits, alphanumeric otherwise."""
    return (1, 1) if address.lstrip("+").isdigit() else (5, 0)
