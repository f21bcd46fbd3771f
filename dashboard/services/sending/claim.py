"""Phase two: a bind runner takes queued messages for its bind and gets their parts ready to write.

The claim is one UPDATE whose WHERE repeats `status = 'queued'`: two workers racing for the same
rows cannot both win (SQLite serialises writers; PostgreSQL skips locked rows): one owner at a
time (docs/architecture.md #2). What may go is decided here, at the last moment (#7): the opt-out
rule (dashboard.services.suppression), quiet hours and each campaign's cap and budget (the
campaigns service, asked through one function each). Parts are created by the claim and recorded
as submitting, with their session and sequence number, before their bytes leave (#1).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, or_, select, true, update

from dashboard.models.types import unindexed
from dashboard.services import budgets, bulk, campaigns, leases, suppression
from dashboard.services.sending.rows import (
    MESSAGE_COLUMNS,
    BindSettings,
    M,
    MessageRow,
    OwnedRows,
    P,
    Row,
    Working,
    commit,
    conn,
    event_row,
    finish,
    requeue,
    rollback,
    write_timeline,
)
from dashboard.sms import lifecycle as lc
from dashboard.sms.encoding import EncodedMessage, encode_message
from dashboard.sms.pdu import OutgoingPart, timeline_fields

# What a claim needs beyond the working columns, to build submit_sm without another query.
_CLAIM_COLUMNS = (M.c.source_ton, M.c.source_npi, M.c.text,
                  M.c.priority, M.c.udh_ref, M.c.campaign_id, M.c.recipient_tz)
_NEW_PART_COLUMNS = ("message_id", "part_no", "parts_total", "status", "bind_id")
_SUBMITTING_COLUMNS = ("session_id", "sequence_number", "submitting_at")


@dataclass
class SendNow:
    """Parts that leave as soon as the claim commits (the runner's window and rate have room for
    `count`, and nothing else waits before them): recorded as submitting, with their session and
    sequence numbers, in the claim's own transaction (#1), so the common turn of a bind's loop
    is one transaction, not two, and a new part is written once, not inserted then updated.
    The claim fills `assigned`, in queue order."""
    count: int
    session_id: str
    next_sequence: Callable[[], int]
    assigned: list[tuple[OutgoingPart, int]] = field(default_factory=list)


def claim_messages(settings: BindSettings, worker_id: str, limit: int, now: datetime,
                   lease: timedelta, owned: OwnedRows | None = None,
                   bind_lease: leases.Lease | None = None, send_now: SendNow | None = None) -> list[OutgoingPart]:
    """Claim up to `limit` queued messages for this bind and return their unsent parts, in queue
    order (priority, then age). The rows of the messages going out are kept in `owned`, for
    recording their responses without reading them again. `lease` is how long the claim lasts;
    `bind_lease` the worker's lease on the bind: the claim takes nothing unless it is still this
    worker's at its epoch (the fence, docs/scaling.md). With `send_now`, the first parts that
    fit in it are recorded as submitting too (SendNow); they are among the parts returned."""
    if limit <= 0:
        return []
    params = {"p_bind": settings.bind_id, "p_now": now, "p_limit": limit, "p_worker": worker_id,
              "p_expires": now + lease}
    if bind_lease is not None:
        params |= {"p_lease": bind_lease.name, "p_epoch": bind_lease.epoch}
    claimed = MessageRow.all_from(conn().execute(_main_claim(bind_lease is not None), params))
    if len(claimed) < limit:
        claimed += campaigns.claim_within_allowances(
            limit - len(claimed), now,
            due=lambda campaign_id, n: _due_in_campaign(settings.bind_id, campaign_id, n, now),
            take=lambda ids: _claim(ids, worker_id, now, lease, bind_lease))
    if not claimed:
        commit()
        return []
    claimed.sort(key=lambda r: (r.priority, r.id))  # RETURNING promises no order
    work = Working()
    # Parts are created by a claim, in the transaction that raised `attempts` to at least 1, and
    # `attempts` never goes down but for a deferral undoing its own claim's rise. So a message at
    # its first attempt has no parts to load (the unique (message_id, part_no) would refuse a
    # second set if that ever stopped being true).
    messages = work.adopt(claimed, partless={m.id for m in claimed if m.attempts == 1})
    suppressed = suppression.suppressed_messages(m.id for m in messages)
    waits = campaigns.quiet_hours_waits(((m.id, m.campaign_id, m.recipient_tz) for m in messages), now)
    new_parts: list[dict] = []
    encoded: dict[int, EncodedMessage] = {}
    for message in messages:
        if message.id in suppressed:
            finish(message, lc.SKIPPED, suppressed[message.id], now)
            continue
        if message.id in waits:
            _defer(message, *waits[message.id], now)
            continue
        try:
            encoded[message.id] = _encode_cached(message.text, message.udh_ref, settings.concat_mode,
                                                 settings.default_data_coding)
        except ValueError as exc:  # e.g. more parts than one message can have: it never will go
            _fail_unsent(message, f"cannot be encoded: {exc}", now)
            continue
        if not message.parts:  # first attempt: its part rows are created now (#1)
            total = encoded[message.id].segments if encoded[message.id].payload is None else 1
            new_parts.extend({"message_id": message.id, "part_no": n, "parts_total": total,
                              "status": lc.PENDING, "bind_id": settings.bind_id} for n in range(1, total + 1))
    going = _going_now(messages, encoded, new_parts, send_now, now) if send_now else {}
    with bulk.pipeline(conn()):  # PostgreSQL: the writes in one round trip, then the COMMIT
        if new_parts:
            columns = (*_NEW_PART_COLUMNS, *_SUBMITTING_COLUMNS) if send_now else _NEW_PART_COLUMNS
            ids = bulk.insert_returning_ids(conn(), P, columns, new_parts, reserved=True)
            for values, part_id in zip(new_parts, ids):
                part = work.parts[part_id] = Row({"id": part_id, "smsc_message_id": None, "smsc_id_key": None,
                                                  "receipt_stat": None, "receipt_err": None, "error_name": None,
                                                  **values})
                work.messages[part.message_id].parts.append(part)
        outgoing: list[OutgoingPart] = []
        for message in messages:
            if message.id in encoded:
                outgoing.extend(_outgoing_parts(message, settings, encoded[message.id], going))
        if going:
            _record_going(work, outgoing, going, send_now, now)
        work.write()
        write_timeline()
    commit()
    if owned is not None:
        for message in messages:
            if message.id in encoded:
                owned.keep(message)
    return outgoing


@lru_cache(maxsize=2)
def _main_claim(fenced: bool):
    """The claim of every message not in a separately claimed campaign, built once: it runs
    several times a second per bind. Parameters: p_bind, p_now, p_limit, p_worker, p_expires, and
    when `fenced` p_lease, p_epoch (not named after columns of the table it updates, which
    SQLAlchemy reserves). Sent unprepared on PostgreSQL, so that it is planned for its values every
    time: the generic plan PostgreSQL may keep for a prepared statement cost the claim ~1 ms of
    its CPU per message (dashboard.db_setup.install_unprepared_statements)."""
    now = bindparam("p_now")
    fence = (leases.held_clause(bindparam("p_lease"), bindparam("p_worker"), bindparam("p_epoch"), now)
             if fenced else true())
    due = (select(M.c.id)
           .where(M.c.status == lc.QUEUED, M.c.bind_id == bindparam("p_bind"),
                  or_(M.c.next_attempt_at.is_(None), M.c.next_attempt_at <= now),
                  or_(M.c.campaign_id.is_(None), M.c.campaign_id.not_in(campaigns.separately_claimed_campaign_ids())),
                  budgets.within_budget(M.c.currency), fence)
           .order_by(M.c.priority, M.c.id)
           .limit(bindparam("p_limit"))
           .with_for_update(skip_locked=True)  # dropped by SQLAlchemy on SQLite, where writes serialise
           # Materialised: PostgreSQL may otherwise run a LIMIT … SKIP LOCKED subquery once per outer
           # row and claim more than `limit` (2 of limit 1 in tests/services/test_claims.py).
           .cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
    return (update(M)
            .where(M.c.id.in_(select(due.c.id)), unindexed(M.c.status) == lc.QUEUED)
            .values(status=lc.SUBMITTING, claimed_by=bindparam("p_worker"), claim_expires_at=bindparam("p_expires"),
                    submitting_at=now, attempts=M.c.attempts + 1, reason=None)
            .returning(*MESSAGE_COLUMNS, *_CLAIM_COLUMNS)
            .execution_options(unprepared=True))


def _due_in_campaign(bind_id: int, campaign_id: int, limit: int, now: datetime) -> list[campaigns.Candidate]:
    """Queued messages of one metered campaign for this bind, in queue order, locked for the claim."""
    rows = conn().execute(
        select(M.c.id, M.c.segments, M.c.price_per_segment, M.c.attempts)
        .where(M.c.status == lc.QUEUED, M.c.bind_id == bind_id, M.c.campaign_id == campaign_id,
               or_(M.c.next_attempt_at.is_(None), M.c.next_attempt_at <= now))
        .order_by(M.c.priority, M.c.id).limit(limit).with_for_update(skip_locked=True))
    return [campaigns.Candidate(*row) for row in rows]


def _claim(ids: Sequence[int], worker_id: str, now: datetime, lease: timedelta,
           bind_lease: leases.Lease | None) -> list[MessageRow]:
    fence = (leases.held_clause(bind_lease.name, worker_id, bind_lease.epoch, now)
             if bind_lease is not None else true())
    return MessageRow.all_from(conn().execute(
        update(M)
        .where(M.c.id.in_(ids), unindexed(M.c.status) == lc.QUEUED, fence)
        .values(status=lc.SUBMITTING, claimed_by=worker_id, claim_expires_at=now + lease,
                submitting_at=now, attempts=M.c.attempts + 1, reason=None)
        .returning(*MESSAGE_COLUMNS, *_CLAIM_COLUMNS)))


def _defer(message: MessageRow, until: datetime, why: str, now: datetime) -> None:
    """Quiet hours: back to the queue until the window opens. Not an attempt, and not paid for."""
    message.attempts -= 1
    if message.attempts == 0 and message.campaign_id is not None and message.price_per_segment:
        campaigns.release_commitment(message.campaign_id, message.price_per_segment * message.segments)
    requeue(message, now, why, None)
    message.next_attempt_at = until


def _fail_unsent(message: MessageRow, reason: str, now: datetime) -> None:
    for part in message.parts:
        if part.status == lc.PENDING:
            part.status = lc.FAILED
            part.done_at = now
    finish(message, lc.FAILED, reason, now)


@lru_cache(maxsize=1024)
def _encode_cached(text: str, ref: int, concat: str, data_coding: int) -> EncodedMessage:
    # A campaign sends one text to many numbers: encoding it once per reference is enough.
    return encode_message(text, ref=ref, concat=concat, gsm_data_coding=data_coding)


def _going_now(messages: Sequence[MessageRow], encoded: dict[int, EncodedMessage], new_parts: list[dict],
               send_now: SendNow, now: datetime) -> dict[tuple[int, int], int]:
    """The first `send_now.count` unsent parts in queue order, each with its sequence number:
    (message id, part number) → sequence. New parts' rows get their submitting values here,
    before they are inserted."""
    new_by_message: dict[int, list[dict]] = {}
    for values in new_parts:
        new_by_message.setdefault(values["message_id"], []).append(values)
    going: dict[tuple[int, int], int] = {}
    for message in messages:
        if len(going) >= send_now.count:
            break
        if message.id not in encoded:
            continue
        unsent = ([(p.part_no, None) for p in message.parts if p.status == lc.PENDING] if message.parts
                  else [(values["part_no"], values) for values in new_by_message.get(message.id, ())])
        for part_no, values in unsent[:send_now.count - len(going)]:
            sequence = going[(message.id, part_no)] = send_now.next_sequence()
            if values is not None:
                values.update(status=lc.SUBMITTING, session_id=send_now.session_id, sequence_number=sequence,
                              submitting_at=now)
    for values in new_parts:
        if values["status"] == lc.PENDING:
            values.update(dict.fromkeys(_SUBMITTING_COLUMNS))
    return going


def _record_going(work: Working, outgoing: list[OutgoingPart], going: dict[tuple[int, int], int],
                  send_now: SendNow, now: datetime) -> None:
    """What mark_parts_submitting records, for the parts leaving straight from the claim (the new
    ones were inserted so already)."""
    for part_out in outgoing:
        sequence = going.get((part_out.message_id, part_out.part_no))
        if sequence is None:
            continue
        part = work.parts[part_out.part_id]
        if part.status == lc.PENDING:  # a part from an earlier attempt: updated by work.write()
            part.status, part.session_id, part.sequence_number = lc.SUBMITTING, send_now.session_id, sequence
            part.submitting_at = now
        _submit_sm_event(part_out, sequence, send_now.session_id, now)
        send_now.assigned.append((part_out, sequence))


def _outgoing_parts(message: MessageRow, settings: BindSettings, encoded: EncodedMessage,
                    going: dict[tuple[int, int], int]) -> list[OutgoingPart]:
    bodies = list(encoded.parts) if encoded.payload is None else [b""]
    result = []
    for part in message.parts:
        if part.status != lc.PENDING and (message.id, part.part_no) not in going:
            continue  # already accepted by the SMSC on an earlier attempt
        if part.bind_id != settings.bind_id:
            part.bind_id = settings.bind_id  # failed over from another bind
        result.append(OutgoingPart(
            part_id=part.id, message_id=message.id, part_no=part.part_no, parts_total=part.parts_total,
            destination=message.destination, source=message.source, source_ton=message.source_ton,
            source_npi=message.source_npi, short_message=bodies[part.part_no - 1],
            esm_class=encoded.esm_class, data_coding=encoded.data_coding, payload=encoded.payload,
            priority=message.priority, possible_duplicate=message.possible_duplicate))
    return result


def mark_parts_submitting(assignments: Sequence[tuple[OutgoingPart, int]], session_id: str, now: datetime,
                          owned: OwnedRows | None = None, bind_lease: leases.Lease | None = None) -> None:
    """Record each part as being submitted, with its session and sequence number, and commit —
    before the bytes leave (#1). A crash after this leaves the part visibly uncertain. With
    `bind_lease`, nothing is recorded (and LeaseLost raised) unless the lease is still ours: a
    worker that lost its bind sends nothing more on it (docs/scaling.md, "Fencing")."""
    if bind_lease is not None and not leases.check_held(bind_lease, now):
        rollback()
        if owned is not None:
            owned.clear()
        raise leases.LeaseLost(bind_lease.name)
    try:
        with bulk.pipeline(conn()):  # PostgreSQL: the update and the timeline in one round trip
            bulk.update_many_counted(conn(), P, ("status", "session_id", "sequence_number", "submitting_at"), [
                {"b_id": part.part_id, "status": lc.SUBMITTING, "session_id": session_id, "sequence_number": seq,
                 "submitting_at": now} for part, seq in assignments])
            for part, seq in assignments:
                _submit_sm_event(part, seq, session_id, now)
            write_timeline()
        commit()
    except BaseException:
        if owned is not None:
            owned.clear()
        raise
    if owned is not None:
        owned.mark_submitting((part.part_id for part, _ in assignments), lc.SUBMITTING)


def _submit_sm_event(part: OutgoingPart, sequence: int, session_id: str, now: datetime) -> None:
    """The timeline row of a part recorded as submitting: which session and sequence number carry it."""
    event_row(part.message_id, "submit_sm", {"sequence": sequence, "session": session_id, **timeline_fields(part)},
              now, part.part_no)


def halted_message_ids(message_ids: Iterable[int]) -> set[int]:
    """Of these messages, those whose campaign was paused or cancelled since they were claimed."""
    return set(conn().scalars(select(M.c.id).where(M.c.id.in_(list(message_ids)),
                                                   M.c.campaign_id.in_(campaigns.halted_campaign_ids()))))


def release_unsent(parts: Iterable[OutgoingPart], now: datetime, reason: str) -> None:
    """Claimed but never written (shutdown, link lost before sending): back to the queue, as is."""
    work = Working()
    for message in work.load_messages(M.c.id.in_({p.message_id for p in parts})):
        if message.status == lc.SUBMITTING:
            requeue(message, now, reason, delay=None)
    work.write()
    commit()
