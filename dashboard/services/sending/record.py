"""Phase three: what the SMSC answered. Submit responses, receipts and MOs of one turn of a bind's
loop are written in one transaction and committed before the deliver_sm_resps go back: receipts
are never lost (docs/architecture.md #3). A receipt that matches no part yet is kept, held, and
matched when its response lands or by the reconcile job. Each part has its own SMSC id and
receipt, and the message's state is derived from all of them (#4), forward only (#5): the rules
are dashboard.sms.lifecycle's; this module applies them to rows.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from dashboard.services import bulk, inbound
from dashboard.services.sending.rows import (
    RECEIPT_COLUMNS,
    BindSettings,
    MessageRow,
    OwnedRows,
    P,
    R,
    Row,
    StaleRows,
    Working,
    commit,
    conn,
    event,
    finish,
    requeue,
    rollback,
    write_timeline,
)
from dashboard.sms import lifecycle as lc
from dashboard.sms.receipts import (
    FINAL_STATUSES,
    describe_outcome,
    message_id_candidates,
    normalise_message_id,
)
from dashboard.sms.smpp_status import is_throttling, status_name

THROTTLED_REASON = "throttled by the SMSC"


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


@dataclass
class RecordOutcome:
    throttled: int = 0
    submitted: int = 0
    failed: int = 0
    retried: int = 0
    unmatched_receipts: int = 0
    matched_receipts: int = 0
    settled: set[int] = field(default_factory=set)  # messages this call took out of the sender's hands


def record_outcomes(settings: BindSettings, results: Sequence[SubmitResult],
                    receipts: Sequence[InboundReceipt], mos: Sequence[inbound.InboundMO], now: datetime,
                    retry_base: float = 2.0, match_held: bool = True,
                    owned: OwnedRows | None = None, waiting: Collection[int] = ()) -> RecordOutcome:
    """Write a batch of submit responses, receipts and MOs in one transaction, then commit.
    The caller sends the deliver_sm_resps only after this returns (#3).

    `match_held=False` skips looking for receipts that came before their response, for a caller
    that knows none of its bind's are held; any it misses the reconcile job matches.
    `owned` are the caller's kept rows (OwnedRows): used instead of reading them again, and
    dropped, with the transaction redone from the database, if any of them went stale.
    `waiting` are messages with parts still waiting in the caller to be sent (a slow bind spreads
    a long message's parts over seconds): they are not put back in the queue meanwhile. The
    caller drops the waiting parts of messages in `RecordOutcome.settled` (e.g. one failed part)."""
    if owned:
        try:
            return _record_outcomes(settings, results, receipts, mos, now, retry_base, match_held, owned, waiting)
        except StaleRows:
            rollback()
        except BaseException:
            owned.clear()
            rollback()
            raise
    return _record_outcomes(settings, results, receipts, mos, now, retry_base, match_held, None, waiting)


def _record_outcomes(settings: BindSettings, results: Sequence[SubmitResult],
                     receipts: Sequence[InboundReceipt], mos: Sequence[inbound.InboundMO], now: datetime,
                     retry_base: float, match_held: bool, owned: OwnedRows | None,
                     waiting: Collection[int]) -> RecordOutcome:
    outcome = RecordOutcome()
    work = Working(owned)
    parts = work.load_parts(r.part_id for r in results)
    newly_submitted: list[Row] = []
    for result in results:
        part = parts.get(result.part_id)
        if part is None or part.status != lc.SUBMITTING:
            continue  # a late response for a part already settled: nothing moves backwards
        if _apply_submit_result(settings, work.messages[part.message_id], part, result, now, outcome):
            newly_submitted.append(part)
    if match_held:
        _match_held_receipts(settings, newly_submitted, work, now)
    new_receipts = _match_receipts(settings, receipts, now, outcome, work, newly_submitted)
    for message in work.messages.values():
        was = message.status
        settle(message, settings, now, retry_base, waiting=message.id in waiting)
        if was == lc.SUBMITTING and message.status != lc.SUBMITTING:
            outcome.settled.add(message.id)
    # The writes come last, after all the work in Python: on SQLite a transaction holds the
    # database's one write lock from its first write to its commit, and the web app, the webhook
    # job and the other bind runners wait while it does (docs/performance.md, "HTTP API"); on
    # PostgreSQL they go out in one pipeline, waited for once before the COMMIT (docs/scaling.md).
    inbound.store(settings.bind_id, mos, now)  # ORM rows: written by the commit's flush
    with bulk.pipeline(conn()):
        _insert_receipts(*new_receipts)
        work.write()
        write_timeline()
    try:
        commit()
    except StaleRows:
        owned.clear()
        raise
    if owned:
        owned.forget(outcome.settled)
    return outcome


def _apply_submit_result(settings: BindSettings, message: MessageRow, part: Row,
                         result: SubmitResult, now: datetime, outcome: RecordOutcome) -> bool:
    """Apply one submit_sm_resp (or its absence). True when the part was newly accepted."""
    if result.command_status is None:
        # No answer: the SMSC may or may not have it. Retry under a visible mark (#1).
        part.status = lc.PENDING
        if not message.possible_duplicate:
            message.possible_duplicate = True
        event(message, "response_timeout", {"reason": result.why_no_response}, now, part.part_no)
        outcome.retried += 1
        return False
    name = status_name(result.command_status)
    event(message, "submit_sm_resp", {"command_status": result.command_status, "status_name": name,
                                      "message_id": result.smsc_message_id, **result.raw}, now, part.part_no)
    part.status = lc.part_state_after_response(result.command_status)
    if part.status == lc.SUBMITTED:
        part.smsc_message_id = result.smsc_message_id
        part.smsc_id_key = normalise_message_id(result.smsc_message_id or "", _part_key_mode(settings))
        part.submitted_at = now
        part.command_status = 0
        # Costs are facts at send time (#10): a payload part carries every segment.
        per_part_segments = message.segments if part.parts_total == 1 else 1
        part.price = (message.price_per_segment or Decimal("0")) * per_part_segments
        part.currency = message.currency
        outcome.submitted += 1
        return True
    part.command_status = result.command_status
    part.error_name = name
    message.error_code = result.command_status
    message.error_name = name
    if is_throttling(result.command_status):
        message.reason = f"{THROTTLED_REASON} ({name})"
        outcome.throttled += 1
    elif part.status == lc.PENDING:
        message.reason = f"temporary SMSC error {name}"
        outcome.retried += 1
    else:
        part.done_at = now
        message.reason = f"refused by the SMSC: {name}"
        outcome.failed += 1
    return False


def _part_key_mode(settings: BindSettings) -> str:
    # The key a part is filed under; receipts are normalised the same way for this bind.
    return {"auto": "str", "hex_to_dec": "hex_to_dec"}.get(settings.message_id_format, settings.message_id_format)


def _receipt_key_mode(settings: BindSettings) -> str:
    return {"auto": "str", "hex_to_dec": "dec"}.get(settings.message_id_format, settings.message_id_format)


def _match_receipts(settings: BindSettings, receipts: Sequence[InboundReceipt], now: datetime,
                    outcome: RecordOutcome, work: Working, fresh: Sequence[Row]) -> tuple[list[Row], list[dict | None]]:
    """Every receipt as a row to keep, matched first so that each is one INSERT with its outcome
    in it, and the timeline detail of each matched one (_insert_receipts writes both). `fresh` are
    the parts accepted in this same batch, whose SMSC ids are not written yet."""
    if not receipts:
        return [], []
    mode = _receipt_key_mode(settings)
    rows = [Row({"id": None, "bind_id": settings.bind_id, "smsc_message_id": r.smsc_message_id,
                 "id_key": normalise_message_id(r.smsc_message_id, mode), "stat": r.stat, "err": r.err,
                 "raw": r.raw, "received_at": now, "part_id": None, "matched_at": None, "duplicate": False})
            for r in receipts]
    by_key = match_parts(settings, rows, work, fresh)
    details: list[dict | None] = []
    for row in rows:
        part = by_key.get(row.id_key)
        if part is None:
            outcome.unmatched_receipts += 1
            details.append(None)
            continue  # held: matched when the submit_sm_resp lands, or by the reconcile job
        details.append(apply_receipt(row, part, work.messages[part.message_id], now))
        outcome.matched_receipts += 1
    return rows, details


_RECEIPT_INSERT_COLUMNS = ("bind_id", "smsc_message_id", "id_key", "stat", "err", "raw", "received_at", "part_id",
                           "matched_at", "duplicate")


def _insert_receipts(rows: Sequence[Row], details: Sequence[dict | None]) -> None:
    ids = bulk.insert_returning_ids(conn(), R, _RECEIPT_INSERT_COLUMNS, [row.__dict__ for row in rows],
                                    reserved=True)
    for detail, receipt_id in zip(details, ids):
        if detail is not None:
            detail["receipt_id"] = receipt_id  # its timeline row is still in the buffer, written at commit


def match_parts(settings: BindSettings, rows: Sequence[Row], work: Working,
                fresh: Sequence[Row] = ()) -> dict[str, Row]:
    """The part each receipt row belongs to, by the row's id_key: exact keys in one query, then,
    on binds left on "auto", the hex/decimal/leading-zero readings of the rest (Jasmin #643)."""
    fresh_keys = {p.smsc_id_key: p for p in fresh}
    by_key = _parts_by_key(settings.bind_id, {row.id_key for row in rows}, work, fresh_keys)
    if settings.message_id_format == "auto":
        alternatives = {row.id_key: message_id_candidates(row.smsc_message_id) - {row.id_key}
                        for row in rows if row.id_key not in by_key}
        found = (_parts_by_key(settings.bind_id, set().union(*alternatives.values()), work, fresh_keys)
                 if alternatives else {})
        for key, candidates in alternatives.items():
            match = next((found[c] for c in candidates if c in found), None)
            if match is not None:
                by_key[key] = match
    return by_key


def _parts_by_key(bind_id: int, keys: set[str], work: Working, fresh_keys: dict[str, Row]) -> dict[str, Row]:
    found = {key: fresh_keys[key] for key in keys if key in fresh_keys}
    rest = keys - found.keys()
    if not rest:
        return found
    stored = conn().execute(select(P.c.id, P.c.smsc_id_key).where(
        P.c.bind_id == bind_id, P.c.smsc_id_key.in_(rest))).all()
    parts = work.load_parts(part_id for part_id, _ in stored)
    for part_id, key in stored:
        part = parts.get(part_id)
        if part is not None and part.smsc_id_key == key:  # not re-keyed in this transaction
            found[key] = part
    return found


def apply_receipt(row: Row, part: Row, message: MessageRow, now: datetime) -> dict:
    """Match the receipt to its part and move the part forward if it can. Returns the timeline detail."""
    row.part_id = part.id
    row.matched_at = now
    detail = event(message, "deliver_sm", {"receipt_id": row.id, "stat": row.stat, "err": row.err, **row.raw},
                   now, part.part_no)
    new_state = FINAL_STATUSES.get(row.stat or "")
    if new_state is None or not lc.moves_forward(part.status, new_state):
        if part.status in lc.PART_FINAL:
            row.duplicate = True
        return detail
    part.status = new_state
    part.receipt_stat = row.stat
    part.receipt_err = row.err
    part.done_at = now
    if new_state != lc.DELIVERED:
        message.reason = describe_outcome(row.stat, row.err)  # what the network said, and what it means
    return detail


def _match_held_receipts(settings: BindSettings, parts: Sequence[Row], work: Working, now: datetime) -> None:
    """Receipts that came before their submit_sm_resp wait in the table; pick them up now."""
    if not parts:
        return
    keys_for: dict[str, Row] = {}
    for part in parts:
        keys = {part.smsc_id_key}
        if settings.message_id_format == "auto":
            keys |= message_id_candidates(part.smsc_message_id or "")
        for key in keys:
            keys_for.setdefault(key, part)
    held = Row.all_from(conn().execute(select(*RECEIPT_COLUMNS).where(
        R.c.bind_id == settings.bind_id, R.c.id_key.in_(keys_for), R.c.part_id.is_(None)).order_by(R.c.id)))
    work.receipts.extend(held)
    for row in held:
        part = keys_for[row.id_key]
        apply_receipt(row, part, work.messages[part.message_id], now)


def settle(message: MessageRow, settings: BindSettings, now: datetime, retry_base: float,
           waiting: bool = False) -> None:
    """After its parts changed: apply lifecycle.settle to the message's row — its state derived
    from its parts, back to the queue, or given up with the reason."""
    decision = lc.settle([p.status for p in message.parts], status=message.status, attempts=message.attempts,
                         max_attempts=settings.max_attempts,
                         throttled=(message.reason or "").startswith(THROTTLED_REASON),
                         created_at=message.created_at, validity=settings.validity, now=now, waiting=waiting,
                         retry_base=retry_base)
    if decision.fail_pending:
        for part in message.parts:
            if part.status == lc.PENDING:
                part.status = lc.FAILED
                part.done_at = now
    if decision.requeue:
        requeue(message, now, message.reason or "retry", decision.retry_in)
    elif decision.gave_up == lc.GAVE_UP_EXPIRED:
        finish(message, lc.EXPIRED, f"validity period passed before it could be sent: {message.reason}", now)
    elif decision.gave_up == lc.GAVE_UP_ATTEMPTS:
        finish(message, lc.FAILED, f"gave up after {message.attempts} attempts: {message.reason}", now)
    elif decision.state is not None and lc.is_final(decision.state):
        if message.submitted_at is None and any(p.smsc_message_id for p in message.parts):
            # Response and receipt recorded together: it was submitted on the way to this state.
            message.submitted_at = now
            if message.webhook_seq is not None:
                # Its webhook receiver hears of every state, in order, from the timeline
                # (services/webhooks.py); other messages' timelines show it by the submit_sm_resp,
                # and a row fewer per message is 6 % of the sender's speed (docs/performance.md).
                event(message, "status", {"status": lc.SUBMITTED}, now)
        finish(message, decision.state, message.reason if decision.state != lc.DELIVERED else None, now)
    elif decision.state is not None:
        message.status = decision.state
        message.submitted_at = message.submitted_at or now
        message.claimed_by = None
        message.claim_expires_at = None
        event(message, "status", {"status": decision.state}, now)
