"""The outbox: putting messages in, and the sender's side of taking them out.

Every write that the SMPP sender depends on is here, so the invariants of DESIGN.md can be read
in one place:
  * recorded before sent: `mark_parts_submitting` commits before a PDU is written;
  * one owner: `claim_messages` is a conditional UPDATE (SKIP LOCKED on PostgreSQL);
  * receipts never lost: `record_inbound` commits before the deliver_sm_resp goes out, and
    receipts that match nothing yet are held and matched when the response lands;
  * every part counts, states only move forward: see dashboard.sms.lifecycle.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import selectinload

from dashboard.extensions import db
from dashboard.models import (Bind, BrandOptOut, Campaign, Contact, DeliveryReceipt, InboundMessage, ListMembership,
                              Message, MessageEvent, MessagePart, SenderId)
from dashboard.services.routing import Router
from dashboard.sms import lifecycle as lc
from dashboard.sms.backoff import backoff_delay
from dashboard.sms.encoding import analyse, encode_message
from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.sms.receipts import message_id_candidates, normalise_message_id
from dashboard.sms.smpp_status import is_throttling, is_transient, status_name


class OutboxError(ValueError):
    pass


SOURCE_ADDRESSING = {  # sender id kind → (TON, NPI)
    "alphanumeric": (5, 0),
    "short_code": (3, 0),
    "long_code": (1, 1),
}


def source_addressing(kind: str) -> tuple[int, int]:
    return SOURCE_ADDRESSING.get(kind, (5, 0))


# ----------------------------------------------------------------------------- enqueue

def enqueue(*, destinations: Sequence[str], text: str, source: str, now: datetime,
            default_region: str = "US", priority: int = 100) -> list[Message]:
    """Queue one message per destination through the normal path. All numbers are checked
    first: one invalid number refuses the whole request, naming it, so nothing half-queues."""
    if not text:
        raise OutboxError("message text is empty")
    if not source:
        raise OutboxError("a sender (--from) is required")
    numbers = []
    for raw in destinations:
        try:
            numbers.append(normalise(raw, default_region))
        except InvalidNumber as exc:
            raise OutboxError(f"{raw}: {exc}") from None
    if not numbers:
        raise OutboxError("no destination given")
    sender = db.session.scalar(select(SenderId).where(SenderId.value == source))
    ton, npi = source_addressing(sender.kind if sender else _guess_kind(source))
    info = analyse(text)
    router = Router()
    messages = []
    for number in numbers:
        route = router.choose(number)
        message = Message(destination=number, source=source, source_ton=ton, source_npi=npi, text=text,
                          encoding=info.encoding, segments=info.segments, priority=priority,
                          bind_id=route.bind_id, route_id=route.route_id,
                          price_per_segment=route.price_per_segment, reason=route.reason,
                          created_at=now)
        db.session.add(message)
        messages.append(message)
    db.session.flush()
    for message in messages:
        message.udh_ref = message.id % 256
        _event(message, "queued", {"bind_id": message.bind_id, "route_id": message.route_id,
                                   "segments": message.segments, "encoding": message.encoding}, now)
    _commit()
    return messages


def _guess_kind(source: str) -> str:
    digits = source.lstrip("+")
    if digits.isdigit():
        return "short_code" if len(digits) <= 8 else "long_code"
    return "alphanumeric"


# State changes carry the per-message sequence number that webhooks will send (DESIGN #5);
# protocol events are ordered by their own id and time.
SEQUENCED_EVENTS = frozenset({"queued", "status", "requeued"})


def _event(message: Message, kind: str, detail: dict, now: datetime, part_no: int | None = None) -> None:
    if kind in SEQUENCED_EVENTS:
        message.event_seq = (message.event_seq or 0) + 1
        detail = {"seq": message.event_seq, **detail}
    _event_row(message.id, kind, detail, now, part_no)


def _event_row(message_id: int, kind: str, detail: dict, now: datetime, part_no: int | None = None) -> None:
    """Buffer a timeline row; _commit() writes the buffer in one executemany. The sender writes
    several rows per message, and one ORM insert each was most of its time."""
    db.session.info.setdefault("pending_events", []).append(
        {"message_id": message_id, "part_no": part_no, "kind": kind, "detail": detail, "at": now})


def _commit() -> None:
    rows = db.session.info.pop("pending_events", None)
    if rows:
        db.session.execute(insert(MessageEvent), rows)
    db.session.commit()


# ----------------------------------------------------------------------------- claim

@dataclass
class OutgoingPart:
    """Everything the SMPP loop needs to write one submit_sm, without touching the ORM."""
    part_id: int
    message_id: int
    part_no: int
    parts_total: int
    destination: str
    source: str
    source_ton: int
    source_npi: int
    short_message: bytes
    esm_class: int
    data_coding: int
    payload: bytes | None
    priority: int
    possible_duplicate: bool


@dataclass(frozen=True)
class BindSettings:
    bind_id: int
    concat_mode: str = "udh"
    default_data_coding: int = 0
    max_attempts: int = 5
    message_id_format: str = "auto"
    validity: timedelta = timedelta(hours=48)

    @classmethod
    def from_bind(cls, bind: Bind, validity: timedelta) -> "BindSettings":
        return cls(bind_id=bind.id, concat_mode=bind.concat_mode, default_data_coding=bind.default_data_coding,
                   max_attempts=bind.max_attempts, message_id_format=bind.message_id_format, validity=validity)


def claim_messages(settings: BindSettings, worker_id: str, limit: int, now: datetime,
                   lease: timedelta) -> list[OutgoingPart]:
    """Claim up to `limit` queued messages for this bind and return their unsent parts.

    The claim is one UPDATE whose WHERE repeats `status = 'queued'`: two workers racing for
    the same rows cannot both win (SQLite serialises writers; PostgreSQL skips locked rows).
    Consent is checked here, at the last moment before sending (DESIGN #7).
    """
    if limit <= 0:
        return []
    from dashboard.services.campaigns import halted_campaign_ids
    due = (select(Message.id)
           .where(Message.status == lc.QUEUED, Message.bind_id == settings.bind_id,
                  or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                  or_(Message.campaign_id.is_(None), Message.campaign_id.not_in(halted_campaign_ids())))
           .order_by(Message.priority, Message.id)
           .limit(limit)
           .with_for_update(skip_locked=True))  # dropped by SQLAlchemy on SQLite, where writes serialise
    claimed_ids = db.session.scalars(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()), Message.status == lc.QUEUED)
        .values(status=lc.SUBMITTING, claimed_by=worker_id, claim_expires_at=now + lease,
                submitting_at=now, attempts=Message.attempts + 1, reason=None)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed_ids:
        db.session.commit()
        return []
    with db.session.no_autoflush:
        messages = db.session.scalars(select(Message).where(Message.id.in_(claimed_ids))
                                      .options(selectinload(Message.parts))
                                      .order_by(Message.priority, Message.id)).all()
        suppressed = suppressed_message_ids(claimed_ids)
        encoded = {}
        for message in messages:
            if message.id in suppressed:
                _finish(message, lc.SKIPPED, suppressed[message.id], now)
            else:
                encoded[message.id] = _ensure_parts(message, settings)
        db.session.flush()  # one batched insert gives every new part its id
        outgoing: list[OutgoingPart] = []
        for message in messages:
            if message.id in encoded:
                outgoing.extend(_outgoing_parts(message, settings, *encoded[message.id]))
    _commit()
    return outgoing


def _ensure_parts(message: Message, settings: BindSettings):
    """Encode the message for this bind and make sure its part rows exist (DESIGN #1)."""
    encoded = encode_message(message.text, ref=message.udh_ref, concat=settings.concat_mode,
                             gsm_data_coding=settings.default_data_coding)
    bodies: list[bytes] = list(encoded.parts) if encoded.payload is None else [b""]
    if not message.parts:
        for number in range(1, len(bodies) + 1):
            message.parts.append(MessagePart(part_no=number, parts_total=len(bodies), bind_id=settings.bind_id))
    return encoded, bodies


def _outgoing_parts(message: Message, settings: BindSettings, encoded, bodies: list[bytes]) -> list[OutgoingPart]:
    result = []
    for part in message.parts:
        if part.status != lc.PENDING:
            continue  # already accepted by the SMSC on an earlier attempt
        part.bind_id = settings.bind_id
        result.append(OutgoingPart(
            part_id=part.id, message_id=message.id, part_no=part.part_no, parts_total=part.parts_total,
            destination=message.destination, source=message.source, source_ton=message.source_ton,
            source_npi=message.source_npi, short_message=bodies[part.part_no - 1],
            esm_class=encoded.esm_class, data_coding=encoded.data_coding, payload=encoded.payload,
            priority=message.priority, possible_duplicate=message.possible_duplicate))
    return result


def suppressed_message_ids(message_ids: Iterable[int]) -> dict[int, str]:
    """Messages whose recipient has opted out, globally, from the campaign's list, or from the
    brand of the message's sender."""
    ids = list(message_ids)
    found: dict[int, str] = {}
    global_rows = db.session.execute(
        select(Message.id).join(Contact, Contact.phone == Message.destination)
        .where(Message.id.in_(ids), Contact.global_opt_out.is_(True))).scalars()
    for message_id in global_rows:
        found[message_id] = "opted out (all messages)"
    list_rows = db.session.execute(
        select(Message.id).join(Campaign, Campaign.id == Message.campaign_id)
        .join(ListMembership, and_(ListMembership.list_id == Campaign.list_id,
                                   ListMembership.contact_id == Message.contact_id))
        .where(Message.id.in_(ids), ListMembership.subscribed.is_(False))).scalars()
    for message_id in list_rows:
        found.setdefault(message_id, "opted out of the list")
    # Brand-scoped opt-outs (OPT_OUT_SCOPE = "brand"): the sender's brand, whatever the setting is
    # now, so that switching the setting back never resumes sending to someone who said STOP.
    brand_rows = db.session.execute(
        select(Message.id, SenderId.brand).join(SenderId, SenderId.value == Message.source)
        .join(Contact, Contact.phone == Message.destination)
        .join(BrandOptOut, and_(BrandOptOut.contact_id == Contact.id, BrandOptOut.brand == SenderId.brand))
        .where(Message.id.in_(ids), BrandOptOut.opted_out.is_(True))).all()
    for message_id, brand in brand_rows:
        found.setdefault(message_id, f"opted out of {brand}")
    return found


def mark_parts_submitting(assignments: Sequence[tuple[OutgoingPart, int]], session_id: str,
                          now: datetime, submit_fields: Callable[[OutgoingPart], dict]) -> None:
    """Record each part as being submitted, with its session and sequence number, and commit —
    before the bytes leave (DESIGN #1). A crash after this leaves the part visibly uncertain."""
    db.session.execute(update(MessagePart), [
        {"id": part.part_id, "status": lc.SUBMITTING, "session_id": session_id, "sequence_number": seq,
         "submitting_at": now} for part, seq in assignments])
    for part, seq in assignments:
        _event_row(part.message_id, "submit_sm", {"sequence": seq, "session": session_id, **submit_fields(part)},
                   now, part.part_no)
    _commit()


def halted_message_ids(message_ids: Iterable[int]) -> set[int]:
    """Of these messages, those whose campaign was paused or cancelled since they were claimed."""
    from dashboard.services.campaigns import halted_campaign_ids
    return set(db.session.scalars(select(Message.id).where(Message.id.in_(list(message_ids)),
                                                           Message.campaign_id.in_(halted_campaign_ids()))))


def release_unsent(parts: Iterable[OutgoingPart], now: datetime, reason: str) -> None:
    """Claimed but never written (shutdown, link lost before sending): back to the queue, as is."""
    message_ids = {p.message_id for p in parts}
    for message in db.session.scalars(select(Message).where(Message.id.in_(message_ids))):
        if message.status == lc.SUBMITTING:
            _requeue_if_idle(message, now, reason, delay=None)
    _commit()


# ----------------------------------------------------------------------------- outcomes

@dataclass(frozen=True)
class SubmitResult:
    part_id: int
    command_status: int | None  # None: no response came (time-out or lost link)
    smsc_message_id: str | None = None
    raw: dict = field(default_factory=dict)
    why_no_response: str = "no submit_sm_resp within the time-out"


@dataclass(frozen=True)
class InboundReceipt:
    smsc_message_id: str
    stat: str | None
    err: str | None
    status: str | None  # our part state, or None for a non-final stat (ENROUTE, ACCEPTD)
    raw: dict


@dataclass(frozen=True)
class InboundMO:
    source: str
    destination: str
    text: str
    raw: dict


@dataclass
class RecordOutcome:
    throttled: int = 0
    submitted: int = 0
    failed: int = 0
    retried: int = 0
    unmatched_receipts: int = 0
    matched_receipts: int = 0


def record_outcomes(settings: BindSettings, results: Sequence[SubmitResult],
                    receipts: Sequence[InboundReceipt], inbound: Sequence[InboundMO], now: datetime,
                    retry_base: float = 2.0) -> RecordOutcome:
    """Write a batch of submit responses, receipts and MOs in one transaction, then commit.
    The caller sends the deliver_sm_resps only after this returns (DESIGN #3)."""
    outcome = RecordOutcome()
    touched: dict[int, Message] = {}
    with db.session.no_autoflush:
        parts = _load_parts([r.part_id for r in results], touched)
        newly_submitted: list[MessagePart] = []
        for result in results:
            part = parts.get(result.part_id)
            if part is None or part.status != lc.SUBMITTING:
                continue  # a late response for a part already settled: nothing moves backwards
            if _apply_submit_result(settings, touched[part.message_id], part, result, now, outcome):
                newly_submitted.append(part)
        db.session.flush()  # the new SMSC ids must be visible to the receipt queries below
        _match_held_receipts(settings, newly_submitted, touched, now)
        _store_receipts(settings, receipts, now, outcome, touched)
        for mo in inbound:
            db.session.add(InboundMessage(bind_id=settings.bind_id, source=mo.source, destination=mo.destination,
                                          text=mo.text, raw=mo.raw, received_at=now))
        for message in touched.values():
            _settle(message, settings, now, retry_base)
    _commit()
    return outcome


def _load_parts(part_ids: Sequence[int], touched: dict[int, Message]) -> dict[int, MessagePart]:
    """Parts by id, with their messages and sibling parts loaded in two queries, not 2 per part."""
    if not part_ids:
        return {}
    parts = {p.id: p for p in db.session.scalars(select(MessagePart).where(MessagePart.id.in_(part_ids)))}
    missing = {p.message_id for p in parts.values()} - set(touched)
    if missing:
        for message in db.session.scalars(select(Message).where(Message.id.in_(missing))
                                          .options(selectinload(Message.parts))):
            touched[message.id] = message
    return parts


def _apply_submit_result(settings: BindSettings, message: Message, part: MessagePart,
                         result: SubmitResult, now: datetime, outcome: RecordOutcome) -> bool:
    """Apply one submit_sm_resp (or its absence). True when the part was newly accepted."""
    if result.command_status is None:
        # No answer: the SMSC may or may not have it. Retry under a visible mark (DESIGN #1).
        part.status = lc.PENDING
        message.possible_duplicate = True
        _event(message, "response_timeout", {"reason": result.why_no_response}, now, part.part_no)
        outcome.retried += 1
        return False
    name = status_name(result.command_status)
    _event(message, "submit_sm_resp", {"command_status": result.command_status, "status_name": name,
                                       "message_id": result.smsc_message_id, **result.raw}, now, part.part_no)
    if result.command_status == 0:
        part.status = lc.SUBMITTED
        part.smsc_message_id = result.smsc_message_id
        part.smsc_id_key = normalise_message_id(result.smsc_message_id or "", _part_key_mode(settings))
        part.submitted_at = now
        part.command_status = 0
        # Costs are facts at send time (DESIGN #10): a payload part carries every segment.
        per_part_segments = message.segments if part.parts_total == 1 else 1
        part.price = (message.price_per_segment or Decimal("0")) * per_part_segments
        outcome.submitted += 1
        return True
    part.command_status = result.command_status
    part.error_name = name
    message.error_code = result.command_status
    message.error_name = name
    if is_throttling(result.command_status):
        part.status = lc.PENDING
        message.reason = f"throttled by the SMSC ({name})"
        outcome.throttled += 1
    elif is_transient(result.command_status):
        part.status = lc.PENDING
        message.reason = f"temporary SMSC error {name}"
        outcome.retried += 1
    else:
        part.status = lc.FAILED
        part.done_at = now
        message.reason = f"refused by the SMSC: {name}"
        outcome.failed += 1
    return False


def _part_key_mode(settings: BindSettings) -> str:
    # The key a part is filed under; receipts are normalised the same way for this bind.
    return {"auto": "str", "hex_to_dec": "hex_to_dec"}.get(settings.message_id_format, settings.message_id_format)


def _receipt_key_mode(settings: BindSettings) -> str:
    return {"auto": "str", "hex_to_dec": "dec"}.get(settings.message_id_format, settings.message_id_format)


def _store_receipts(settings: BindSettings, receipts: Sequence[InboundReceipt], now: datetime,
                    outcome: RecordOutcome, touched: dict[int, Message]) -> None:
    """Keep every receipt, then match the batch against parts with one query (two in auto mode)."""
    if not receipts:
        return
    rows = []
    for receipt in receipts:
        key = normalise_message_id(receipt.smsc_message_id, _receipt_key_mode(settings))
        rows.append(DeliveryReceipt(bind_id=settings.bind_id, smsc_message_id=receipt.smsc_message_id, id_key=key,
                                    stat=receipt.stat, err=receipt.err, raw=receipt.raw, received_at=now))
    db.session.add_all(rows)
    db.session.flush()  # receipt ids go on the timeline
    by_key = _match_parts(settings, rows)
    _load_parts([p.id for p in by_key.values()], touched)
    for row in rows:
        part = by_key.get(row.id_key)
        if part is None:
            outcome.unmatched_receipts += 1
            continue  # held: matched when the submit_sm_resp lands, or by the reconcile job
        _apply_receipt(row, part, touched[part.message_id], now)
        outcome.matched_receipts += 1


def _match_parts(settings: BindSettings, rows: Sequence[DeliveryReceipt]) -> dict[str, MessagePart]:
    """The part each receipt row belongs to, by the row's id_key: exact keys in one query, then,
    on binds left on "auto", the hex/decimal/leading-zero readings of the rest (Jasmin #643)."""
    by_key = _parts_by_key(settings.bind_id, {row.id_key for row in rows})
    if settings.message_id_format == "auto":
        alternatives = {row.id_key: message_id_candidates(row.smsc_message_id) - {row.id_key}
                        for row in rows if row.id_key not in by_key}
        found = _parts_by_key(settings.bind_id, set().union(*alternatives.values())) if alternatives else {}
        for key, candidates in alternatives.items():
            match = next((found[c] for c in candidates if c in found), None)
            if match is not None:
                by_key[key] = match
    return by_key


def _parts_by_key(bind_id: int, keys: set[str]) -> dict[str, MessagePart]:
    if not keys:
        return {}
    return {p.smsc_id_key: p for p in db.session.scalars(select(MessagePart).where(
        MessagePart.bind_id == bind_id, MessagePart.smsc_id_key.in_(keys)))}


def _apply_receipt(row: DeliveryReceipt, part: MessagePart, message: Message, now: datetime) -> None:
    row.part_id = part.id
    row.matched_at = now
    _event(message, "deliver_sm", {"receipt_id": row.id, "stat": row.stat, "err": row.err, **row.raw},
           now, part.part_no)
    new_state = _RECEIPT_STATES.get(row.stat or "")
    if new_state is None or not lc.moves_forward(part.status, new_state):
        if part.status in lc.PART_FINAL:
            row.duplicate = True
        return
    part.status = new_state
    part.receipt_stat = row.stat
    part.receipt_err = row.err
    part.done_at = now


_RECEIPT_STATES = {"DELIVRD": lc.DELIVERED, "UNDELIV": lc.UNDELIVERABLE, "EXPIRED": lc.EXPIRED,
                   "REJECTD": lc.REJECTED, "DELETED": lc.FAILED, "UNKNOWN": lc.FAILED}


def _match_held_receipts(settings: BindSettings, parts: Sequence[MessagePart], touched: dict[int, Message],
                         now: datetime) -> None:
    """Receipts that came before their submit_sm_resp wait in the table; pick them up now."""
    if not parts:
        return
    keys_for: dict[str, MessagePart] = {}
    for part in parts:
        keys = {part.smsc_id_key}
        if settings.message_id_format == "auto":
            keys |= message_id_candidates(part.smsc_message_id or "")
        for key in keys:
            keys_for.setdefault(key, part)
    held = db.session.scalars(select(DeliveryReceipt).where(
        DeliveryReceipt.bind_id == settings.bind_id, DeliveryReceipt.id_key.in_(keys_for),
        DeliveryReceipt.part_id.is_(None)).order_by(DeliveryReceipt.id)).all()
    for row in held:
        part = keys_for[row.id_key]
        _apply_receipt(row, part, touched[part.message_id], now)


def _settle(message: Message, settings: BindSettings, now: datetime, retry_base: float) -> None:
    """After its parts changed: derive the message's state, or put it back in the queue."""
    states = [p.status for p in message.parts]
    if lc.FAILED in states and lc.PENDING in states:
        # One part was refused for good: the rest cannot make a whole message.
        for part in message.parts:
            if part.status == lc.PENDING:
                part.status = lc.FAILED
                part.done_at = now
        states = [p.status for p in message.parts]
    if lc.SUBMITTING in states:
        return  # more responses to come
    if lc.PENDING in states:
        throttled = message.reason is not None and message.reason.startswith("throttled")
        expired = message.created_at + settings.validity <= now
        if expired or (not throttled and message.attempts >= settings.max_attempts):
            # Throttling does not use up attempts (it slows the bind instead), so the validity
            # period is what bounds a message that the SMSC keeps refusing to take.
            for part in message.parts:
                if part.status == lc.PENDING:
                    part.status = lc.FAILED
                    part.done_at = now
            if expired:
                _finish(message, lc.EXPIRED, f"validity period passed before it could be sent: {message.reason}", now)
            else:
                _finish(message, lc.FAILED, f"gave up after {message.attempts} attempts: {message.reason}", now)
            return
        # Throttling slows the whole bind instead (dashboard.sms.throttle); the message keeps its place.
        delay = None if throttled else backoff_delay(message.attempts, base=retry_base)
        _requeue_if_idle(message, now, message.reason or "retry", delay)
        return
    derived = lc.derive_message_state(states)
    if derived == message.status:
        return
    if lc.is_final(derived):
        _finish(message, derived, message.reason if derived != lc.DELIVERED else None, now)
    elif lc.moves_forward(message.status, derived):
        message.status = derived
        message.submitted_at = message.submitted_at or now
        message.claimed_by = None
        message.claim_expires_at = None
        _event(message, "status", {"status": derived}, now)


def _requeue_if_idle(message: Message, now: datetime, reason: str, delay: float | None) -> None:
    message.status = lc.QUEUED
    message.claimed_by = None
    message.claim_expires_at = None
    message.reason = reason
    message.next_attempt_at = now + timedelta(seconds=delay) if delay else None
    _event(message, "requeued", {"reason": reason, "retry_in_s": delay}, now)


def _finish(message: Message, state: str, reason: str | None, now: datetime) -> None:
    message.status = state
    message.reason = reason
    message.done_at = now
    message.claimed_by = None
    message.claim_expires_at = None
    if state == lc.SUBMITTED:
        message.submitted_at = now
    _event(message, "status", {"status": state, "reason": reason}, now)


# ----------------------------------------------------------------------------- housekeeping

def reap_expired_claims(now: datetime) -> int:
    """Return messages whose owner died to the queue. Parts that may have been written are
    uncertain: they are retried under the possible-duplicate mark, never silently (DESIGN #1)."""
    stale = db.session.scalars(select(Message).where(Message.status == lc.SUBMITTING,
                                                     Message.claim_expires_at < now)).all()
    for message in stale:
        uncertain = [p for p in message.parts if p.status == lc.SUBMITTING]
        for part in uncertain:
            part.status = lc.PENDING
        if uncertain:
            message.possible_duplicate = True
        _requeue_if_idle(message, now, f"claim by {message.claimed_by} expired"
                         + (f"; {len(uncertain)} part(s) may have been sent" if uncertain else ""), None)
    _commit()
    return len(stale)


def release_worker_claims(worker_id: str, now: datetime) -> int:
    """On a clean shutdown or a restart of the same worker: its claims are known dead now."""
    db.session.execute(update(Message).where(Message.claimed_by == worker_id, Message.status == lc.SUBMITTING)
                       .values(claim_expires_at=now - timedelta(seconds=1)))
    db.session.commit()
    return reap_expired_claims(now)


def reconcile_held_receipts(now: datetime, hold: timedelta, settings_for: Callable[[int], BindSettings]) -> int:
    """Match held receipts whose part has since been recorded (e.g. by another transaction)."""
    held = db.session.scalars(select(DeliveryReceipt).where(
        DeliveryReceipt.part_id.is_(None), DeliveryReceipt.received_at >= now - hold)).all()
    by_bind: dict[int, list[DeliveryReceipt]] = {}
    for row in held:
        by_bind.setdefault(row.bind_id, []).append(row)
    matched = 0
    touched: dict[int, Message] = {}
    for bind_id, rows in by_bind.items():
        parts = _match_parts(settings_for(bind_id), rows)
        _load_parts([p.id for p in parts.values()], touched)
        for row in rows:
            part = parts.get(row.id_key)
            if part is not None:
                _apply_receipt(row, part, touched[part.message_id], now)
                matched += 1
    for message in touched.values():
        if message.status not in lc.FINAL:
            _settle(message, settings_for(message.bind_id), now, 2.0)
    _commit()
    return matched


def unmatched_receipts(bind_id: int, now: datetime, hold: timedelta) -> int:
    """Receipts of this bind still held, matching no part yet."""
    return db.session.scalar(select(func.count()).select_from(DeliveryReceipt).where(
        DeliveryReceipt.bind_id == bind_id, DeliveryReceipt.part_id.is_(None),
        DeliveryReceipt.received_at >= now - hold))


def status_counts() -> dict[str, int]:
    rows = db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: count for status, count in rows}
