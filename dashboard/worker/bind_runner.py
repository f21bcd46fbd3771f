"""The SMPP loop of one bind: one thread owns its session(s) and does everything in turn —
read, record, acknowledge, time out, keep alive, then submit up to the window and the rate.

Order inside one turn is what keeps the invariants: receipts are committed before their
deliver_sm_resp is queued, and parts are committed as `submitting` before their bytes leave.
"""
from __future__ import annotations

import logging
import select
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask

from dashboard.crypto import decrypt_secret
from dashboard.db_setup import one_connection_session
from dashboard.extensions import db
from dashboard.models import Bind, BindStatus
from dashboard.models.types import utcnow
from dashboard.services import health, inbound, leases
from dashboard.services.sending import claim, housekeeping, record
from dashboard.services.sending.rows import BindSettings, OwnedRows
from dashboard.sms.backoff import backoff_delay
from dashboard.sms.encoding import decode, split_udh
from dashboard.sms.pdu import OutgoingPart, submit_sm_fields
from dashboard.sms.receipts import is_receipt, parse_receipt
from dashboard.sms.session import Endpoint, SessionError, SmppSession
from dashboard.sms.smpp_status import is_throttling
from dashboard.sms.throttle import AdaptiveRate, TokenBucket

log = logging.getLogger(__name__)

STATUS_PUBLISH_SECONDS = 1.0
CONFIG_CHECK_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 5.0
IDLE_CLAIM_SECONDS = 0.25  # how often an idle bind looks for new work
HALT_CHECK_SECONDS = 0.5  # a pause must stop what this bind has claimed but not yet written


@dataclass
class InFlight:
    part: OutgoingPart
    session: SmppSession
    sent_at: float


class Reconfigure(Exception):
    """The bind's settings changed: reconnect with the new ones."""


# A lease is trusted on this process's own clock for this share of its length only: the rest is the
# margin by which it stops before another worker may take over (docs/scaling.md, "Fencing").
LEASE_TRUST = 0.8


class LeaseGrant:
    """The worker's lease on this bind, as the runner needs it: renewed by the worker's supervising
    job, read by the runner's thread before it claims and before it writes bytes. `valid_until` is
    on this process's monotonic clock, a margin short of the lease's expiry: a process that was
    paused (SIGSTOP, a long GC, a VM freeze) finds it passed the moment it wakes, before another
    worker can have taken the bind (docs/scaling.md, "Fencing")."""

    def __init__(self, lease: leases.Lease, valid_until: float) -> None:
        self.lease = lease
        self.valid_until = valid_until
        self.lost = False

    def valid(self, now_m: float) -> bool:
        return not self.lost and now_m < self.valid_until

    @classmethod
    def take(cls, name: str, owner: str, now: datetime, ttl: timedelta) -> LeaseGrant | None:
        """The lease `name`, when it is free, expired or ours already (leases.acquire); else None."""
        started = time.monotonic()
        lease = leases.acquire(name, owner, now, ttl)
        return cls(lease, started + ttl.total_seconds() * LEASE_TRUST) if lease is not None else None

    def renew(self, now: datetime, ttl: timedelta) -> None:
        """Extend the lease (leases.renew), or mark it lost when it is no longer ours."""
        started = time.monotonic()
        renewed = leases.renew(self.lease, now, ttl)
        if renewed is None:
            self.lost = True
        else:
            self.lease = renewed
            self.valid_until = started + ttl.total_seconds() * LEASE_TRUST


def keep_lease(grant: LeaseGrant | None, name: str, owner: str, now: datetime,
               ttl: timedelta) -> LeaseGrant | None:
    """For what runs in one place at a time (the leader's jobs, the webhook deliverer): renew
    `grant`, or, when there is none or it was lost, take the lease if it is free."""
    if grant is not None:
        grant.renew(now, ttl)
        if not grant.lost:
            return grant
        log.warning("%s lost the lease %s", owner, name)
    return LeaseGrant.take(name, owner, now, ttl)


class BindRunner(threading.Thread):
    def __init__(self, app: Flask, bind_id: int, worker_id: str, grant: LeaseGrant | None = None):
        super().__init__(name=f"bind-{bind_id}", daemon=True)
        self.app = app
        self.bind_id = bind_id
        self.worker_id = worker_id
        self.grant = grant  # None: no lease to keep (a single worker in tests of the loop itself)
        self.draining = False  # handing the bind over: no new claims, the window settles, then stop
        self.drain_deadline = 0.0
        self.stop_event = threading.Event()
        self.sessions: list[SmppSession] = []
        self.in_flight: dict[tuple[int, int], InFlight] = {}
        self.ready: deque[OutgoingPart] = deque()
        self.owned = OwnedRows()  # rows of what is claimed or in flight, kept for recording
        self.adaptive: AdaptiveRate | None = None
        self.state = "connecting"
        self.last_error: str | None = None
        self.last_error_at = None
        self.retry_at = None
        self._state_since = utcnow()
        self._submitted_total = 0
        self._throttled_total = 0
        self._held_receipts = 1  # unknown until the first count: look for them
        self._window_counts: deque[tuple[float, int]] = deque()

    def stop(self) -> None:
        self.stop_event.set()

    def drain(self, timeout: float) -> None:
        """Hand the bind over gently: claim nothing more, give back what is claimed but unwritten,
        wait up to `timeout` for the answers to what is in flight, then stop — so a rebalance
        marks no message as a possible duplicate."""
        self.drain_deadline = time.monotonic() + timeout
        self.draining = True
        if self.state == "backing_off":
            self.stop_event.set()  # no link, nothing in flight: nothing to wait for (not the back-off)

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        with self.app.app_context(), one_connection_session():
            failures = 0
            while not self.stop_event.is_set():
                if self.grant is not None and not self.grant.valid(time.monotonic()):
                    break  # the lease ran out while this runner backed off: the worker decides what next
                bind = db.session.get(Bind, self.bind_id)
                if bind is None or not bind.enabled:
                    self._set_state("disabled")
                    self._publish(force=True)
                    break
                self._set_state("connecting")
                self._publish(force=True)
                try:
                    self._connect(bind)
                    failures = 0
                    self._set_state("bound")
                    self.last_error = None
                    self._serve(bind)
                except Reconfigure:
                    self._drop_link("settings changed")
                    continue
                except leases.LeaseLost:
                    # Another worker drives this bind now, or will in a moment: stop at once.
                    log.warning("bind %s: lease lost, stopping", self.bind_id)
                    self.last_error = "lease lost: another worker drives this bind"
                    self._drop_link("lease lost")
                    self.stop_event.set()
                    break
                except SessionError as exc:
                    failures += 1
                    self._drop_link(exc.reason)
                    self._back_off(exc.reason, failures, permanent=exc.permanent)
                except Exception as exc:  # never let one bind take the worker down
                    log.exception("bind %s loop failed", self.bind_id)
                    db.session.rollback()
                    self.owned.clear()  # may have been changed by what failed: settle from the database
                    failures += 1
                    self._drop_link(f"internal error: {exc}")
                    self._back_off(f"internal error: {exc}", failures, permanent=False)
            self._drop_link("worker stopping", unbind=True)
            if self.state != "disabled":
                self._set_state("stopped")
            self._publish(force=True)
            db.session.remove()

    def _connect(self, bind: Bind) -> None:
        password = decrypt_secret(self.app.config, bind.password_encrypted)
        modes = ["tx", "rx"] if bind.mode == "tx+rx" else [bind.mode]
        self.settings = BindSettings.from_bind(bind, timedelta(hours=self.app.config["VALIDITY_HOURS"]))
        self.bind_version = bind.updated_at
        self.window = bind.window
        self.response_timeout = bind.response_timeout
        self.enquire_interval = bind.enquire_link_interval
        if self.adaptive is None or self.adaptive.contracted_tps != bind.tps:
            # Kept across reconnects: a throttling carrier still grants what it granted before.
            self.adaptive = AdaptiveRate(bind.tps)
        self.bucket = TokenBucket(self.adaptive.current(time.monotonic()))
        tls_context = None
        if bind.use_tls:
            tls_context = ssl.create_default_context(cafile=self.app.config["SMPP_TLS_CA_FILE"] or None)
        for mode in modes:
            session = SmppSession(Endpoint(host=bind.host, port=bind.port, system_id=bind.system_id,
                                           password=password, system_type=bind.system_type or "",
                                           mode=mode, use_tls=bind.use_tls,
                                           connect_timeout=min(10.0, bind.response_timeout)),
                                  tls_context=tls_context)
            session.open()
            self.sessions.append(session)

    def _back_off(self, reason: str, failures: int, *, permanent: bool) -> None:
        # Refused credentials will not fix themselves in a second: wait longer before asking again.
        delay = backoff_delay(failures, base=5.0 if permanent else 1.0, cap=60.0)
        self.last_error = reason
        self.last_error_at = utcnow()
        self.retry_at = utcnow() + timedelta(seconds=delay)
        self._set_state("backing_off")
        self._publish(force=True)
        self.stop_event.wait(delay)
        self.retry_at = None

    def _drop_link(self, reason: str, *, unbind: bool = False) -> None:
        """Close the sessions. What was in flight is uncertain; what was only claimed goes back."""
        for session in self.sessions:
            try:
                session.close(unbind=unbind)
            except Exception:
                log.debug("closing session failed", exc_info=True)
        self.sessions = []
        try:
            if self.in_flight:
                results = [record.SubmitResult(part_id=f.part.part_id, command_status=None,
                                               why_no_response=f"link lost before the response: {reason}")
                           for f in self.in_flight.values()]
                record.record_outcomes(self.settings, results, [], [], utcnow(), owned=self.owned)
            if self.ready:
                claim.release_unsent(list(self.ready), utcnow(), f"not sent: {reason}")
        except Exception:
            db.session.rollback()
            log.exception("could not settle in-flight parts of bind %s; the claim reaper will", self.bind_id)
        self.in_flight.clear()
        self.ready.clear()
        self.owned.clear()

    # ------------------------------------------------------------------ the loop

    def _serve(self, bind: Bind) -> None:
        lease = timedelta(seconds=self.app.config["CLAIM_LEASE_SECONDS"])
        last_claim_empty = 0.0
        last_publish = last_config_check = last_health_check = last_halt_check = 0.0
        enquire_due = time.monotonic() + self.enquire_interval
        enquire_pending: dict[int, tuple[SmppSession, float]] = {}
        while not self.stop_event.is_set():
            now_m = time.monotonic()
            if self.grant is not None and not self.grant.valid(now_m):
                raise leases.LeaseLost(self.grant.lease.name)
            if self.draining and (not self.in_flight or now_m > self.drain_deadline):
                self.stop_event.set()  # handed over: what was in flight has settled (or timed out)
                break
            busy = bool(self.in_flight or self.ready)
            pdus = self._read_all(0.005 if busy else 0.05)

            results: list[record.SubmitResult] = []
            receipts: list[record.InboundReceipt] = []
            mos: list[inbound.InboundMO] = []
            to_ack: list[tuple[SmppSession, object]] = []
            throttled_sent_at: list[float] = []
            for session, pdu in pdus:
                command = pdu.command
                if command == "submit_sm_resp" or command == "generic_nack":
                    flight = self.in_flight.pop((id(session), pdu.sequence), None)
                    if flight is not None:
                        if is_throttling(pdu.status):
                            throttled_sent_at.append(flight.sent_at)
                        message_id = _text(getattr(pdu, "message_id", None))
                        results.append(record.SubmitResult(part_id=flight.part.part_id,
                                                           command_status=pdu.status,
                                                           smsc_message_id=message_id,
                                                           raw={"command": command, "latency_ms":
                                                                round((now_m - flight.sent_at) * 1000, 1)}))
                elif command in ("deliver_sm", "data_sm"):
                    self._classify_inbound(pdu, receipts, mos)
                    to_ack.append((session, pdu))
                elif command == "enquire_link":
                    session.respond(pdu)
                elif command == "enquire_link_resp":
                    enquire_pending.pop(pdu.sequence, None)
                elif command == "unbind":
                    session.respond(pdu)
                    session.flush()
                    raise SessionError("the SMSC unbound the session")
                elif command == "unparsable":
                    session.respond(pdu)

            if results:
                # What the SMSC took and refused as too fast sets the bind's rate (AdaptiveRate).
                if self.adaptive.on_answers(now_m, len(results) - len(throttled_sent_at), throttled_sent_at):
                    self.bucket.tokens = 0.0  # no burst at the lower rate into an SMSC that just refused
                self._throttled_total += len(throttled_sent_at)
            for key, flight in list(self.in_flight.items()):
                if now_m - flight.sent_at > self.response_timeout:
                    del self.in_flight[key]
                    results.append(record.SubmitResult(part_id=flight.part.part_id, command_status=None))

            if results or receipts or mos:
                # Held receipts (come before their response) are rare: look for them only when the
                # last count or this runner saw some. Another worker's are counted within a second,
                # and the reconcile job matches whatever this misses.
                outcome = record.record_outcomes(self.settings, results, receipts, mos, utcnow(),
                                                 match_held=self._held_receipts > 0, owned=self.owned,
                                                 waiting={part.message_id for part in self.ready})
                self._held_receipts += outcome.unmatched_receipts
                if outcome.settled and self.ready:
                    # E.g. one part refused for good: the message failed, its other parts stay unsent.
                    self.ready = deque(p for p in self.ready if p.message_id not in outcome.settled)
                if mos:
                    inbound.act_on_keywords(utcnow())
            for session, pdu in to_ack:  # only now: the receipts are committed (docs/architecture.md #3)
                session.respond(pdu)
            for session in self.sessions:
                session.flush()

            if now_m >= enquire_due:
                for session in self.sessions:
                    enquire_pending[session.enquire_link()] = (session, now_m)
                enquire_due = now_m + self.enquire_interval
            for seq, (session, sent) in list(enquire_pending.items()):
                if now_m - sent > self.response_timeout:
                    raise SessionError(f"no enquire_link_resp within {self.response_timeout:.0f} s: link dead")

            if self.ready and now_m - last_halt_check >= HALT_CHECK_SECONDS:
                last_halt_check = now_m
                self._drop_halted()
            if now_m - last_claim_empty >= IDLE_CLAIM_SECONDS or self.ready:
                if not self._submit(lease):
                    last_claim_empty = now_m

            if now_m - last_publish >= STATUS_PUBLISH_SECONDS:
                self._publish()
                last_publish = now_m
            if now_m - last_config_check >= CONFIG_CHECK_SECONDS:
                last_config_check = now_m
                self._check_config()
            if now_m - last_health_check >= HEALTH_CHECK_SECONDS:
                last_health_check = now_m
                self._check_health()

    def _read_all(self, timeout: float) -> list[tuple[SmppSession, object]]:
        readable, _, _ = select.select(self.sessions, [], [], timeout)
        out = []
        for session in readable:
            out.extend((session, pdu) for pdu in session.read(0))
        return out

    def _classify_inbound(self, pdu, receipts: list, mos: list) -> None:
        short_message = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        raw = {"command": pdu.command, "esm_class": pdu.esm_class, "source_addr": _text(pdu.source_addr),
               "destination_addr": _text(pdu.destination_addr), "data_coding": pdu.data_coding}
        if is_receipt(pdu.esm_class or 0):
            receipt = parse_receipt(short_message=short_message,
                                    receipted_message_id=getattr(pdu, "receipted_message_id", None),
                                    message_state=getattr(pdu, "message_state", None),
                                    network_error_code=getattr(pdu, "network_error_code", None))
            if receipt is None:
                log.warning("bind %s: unreadable receipt %r", self.bind_id, short_message)
                mos.append(inbound.InboundMO(source=raw["source_addr"], destination=raw["destination_addr"],
                                             text=_text(short_message), raw={**raw, "unreadable_receipt": True}))
                return
            raw["text"] = _text(short_message)
            if getattr(pdu, "message_state", None) is not None:
                raw["message_state"] = pdu.message_state
            if getattr(pdu, "receipted_message_id", None):
                raw["receipted_message_id"] = _text(pdu.receipted_message_id)
            receipts.append(record.InboundReceipt(smsc_message_id=receipt.message_id, stat=receipt.stat,
                                                  err=receipt.err, status=receipt.status, raw=raw))
            return
        udh, body = split_udh(bytes(short_message), pdu.esm_class or 0)
        if udh:
            raw["udh"] = list(udh)
        mos.append(inbound.InboundMO(source=raw["source_addr"], destination=raw["destination_addr"],
                                     text=decode(body, pdu.data_coding or 0), raw=raw))

    def _drop_halted(self) -> None:
        halted = claim.halted_message_ids({p.message_id for p in self.ready})
        if halted:
            claim.release_unsent([p for p in self.ready if p.message_id in halted], utcnow(),
                                 "campaign paused or cancelled")
            self.owned.forget(halted)
            self.ready = deque(p for p in self.ready if p.message_id not in halted)

    def _submit(self, lease: timedelta) -> bool:
        """Claim and write as much as the window and the rate allow. False when the queue was empty."""
        if self.draining:
            if self.ready:
                claim.release_unsent(list(self.ready), utcnow(), "handed over to another worker")
                self.owned.forget({p.message_id for p in self.ready})
                self.ready.clear()
            return False
        bind_lease = self.grant.lease if self.grant is not None else None
        submitters = [s for s in self.sessions if s.can_submit]
        if not submitters:
            return False
        session = submitters[0]
        room = self.window - len(self.in_flight)
        if room <= 0:
            return True
        found = True
        now_m = time.monotonic()
        self.bucket.rate = self.adaptive.current(now_m)
        batch: list[tuple[OutgoingPart, int]] = []
        if len(self.ready) < room:
            # Nothing waiting: what the window and the rate allow goes out recorded by the claim
            # itself, one transaction for the turn (claim.SendNow).
            going_now = 0 if self.ready else min(room, self.bucket.available(now_m))
            send_now = claim.SendNow(going_now, session.session_id, session.next_sequence) if going_now else None
            claimed = claim.claim_messages(self.settings, self.worker_id, room, utcnow(), lease, self.owned,
                                           bind_lease, send_now)
            if send_now is not None and send_now.assigned:
                going = {part.part_id for part, _ in send_now.assigned}
                claimed = [part for part in claimed if part.part_id not in going]
                for assignment in send_now.assigned:
                    self.bucket.take(1, now_m)
                    batch.append(assignment)
            self.ready.extend(claimed)
            found = bool(self.ready or batch)
        if not batch:
            while self.ready and len(batch) < room and self.bucket.take(1, now_m):
                batch.append((self.ready.popleft(), session.next_sequence()))
            if not batch:
                return found
            try:
                claim.mark_parts_submitting(batch, session.session_id, utcnow(), self.owned, bind_lease)
            except BaseException:
                # Neither written nor recorded as submitting (a lease lost while they waited, or
                # the database): back with the parts that wait, which _drop_link hands back to the
                # queue at once, not when their claim runs out (a minute, by default).
                self.ready.extendleft(part for part, _ in reversed(batch))
                raise
        pdus = [session.make_submit(seq, **submit_sm_fields(part)) for part, seq in batch]
        for (part, seq) in batch:
            self.in_flight[(id(session), seq)] = InFlight(part, session, now_m)
        if self.grant is not None and not self.grant.valid(time.monotonic()):
            # Paused between the fenced commit and here: the parts stay marked as submitting, and the
            # next holder retries them as possible duplicates; no byte leaves after the lease.
            raise leases.LeaseLost(self.grant.lease.name)
        session.write(pdus)
        self._count_sent(now_m, len(batch))
        return True

    # ------------------------------------------------------------------ status

    def _count_sent(self, now_m: float, n: int) -> None:
        self._submitted_total += n
        self._window_counts.append((now_m, n))

    def _current_tps(self) -> float:
        now_m = time.monotonic()
        while self._window_counts and now_m - self._window_counts[0][0] > 5.0:
            self._window_counts.popleft()
        return sum(n for _, n in self._window_counts) / 5.0

    def _unmatched_receipts(self) -> int:
        hold = timedelta(hours=self.app.config["RECEIPT_HOLD_HOURS"])
        return housekeeping.unmatched_receipts(self.bind_id, utcnow(), hold)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._state_since = utcnow()

    def _check_health(self) -> None:
        """Bound is not the same as healthy: a bind refusing most submits, or whose receipts stop
        coming, is published as degraded so the router sends traffic elsewhere."""
        reason = health.unhealthy_reason(self.bind_id, utcnow())
        if reason:
            self._set_state("degraded")
            self.last_error = f"degraded: {reason}"
            self.last_error_at = utcnow()
        elif self.state == "degraded":
            self._set_state("bound")
            self.last_error = None

    def _check_config(self) -> None:
        db.session.expire_all()
        bind = db.session.get(Bind, self.bind_id)
        if bind is None or not bind.enabled:
            self.stop_event.set()
            return
        if bind.updated_at != self.bind_version:
            raise Reconfigure()

    def _publish(self, force: bool = False) -> None:
        try:
            status = db.session.get(BindStatus, self.bind_id)
            if status is None:
                if db.session.get(Bind, self.bind_id) is None:
                    return
                status = BindStatus(bind_id=self.bind_id)
                db.session.add(status)
            if status.state != self.state:
                status.state_since = self._state_since
            status.state = self.state
            status.last_error = self.last_error
            status.last_error_at = self.last_error_at
            status.retry_at = self.retry_at
            status.in_flight = len(self.in_flight)
            status.current_tps = round(self._current_tps(), 1)
            adaptive = self.adaptive
            status.allowed_tps = round(adaptive.current(time.monotonic()), 1) if adaptive else 0.0
            settled = adaptive.settled_tps if adaptive else None
            status.settled_tps = round(settled, 1) if settled is not None else None
            status.throttled_total = self._throttled_total
            status.submitted_total = self._submitted_total
            status.unmatched_receipts = self._held_receipts = self._unmatched_receipts()
            status.worker_id = self.worker_id
            status.heartbeat_at = utcnow()
            db.session.commit()
        except Exception:
            db.session.rollback()
            if force:
                log.exception("could not publish the state of bind %s", self.bind_id)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("latin-1")
    return str(value)

