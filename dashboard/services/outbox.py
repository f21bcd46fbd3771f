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

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, bindparam, func, literal, or_, select, union_all, update

from dashboard.extensions import db
from dashboard.models import (Bind, BrandOptOut, Campaign, Contact, DeliveryReceipt, InboundMessage, ListMembership,
                              Message, MessageEvent, MessagePart, SenderId)
from dashboard.models.message import HELP_REPLY
from dashboard.models.types import unindexed
from dashboard.services import bulk
from dashboard.services.routing import Router
from dashboard.sms import lifecycle as lc
from dashboard.sms.backoff import backoff_delay
from dashboard.sms.encoding import analyse, encode_message
from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.sms.receipts import message_id_candidates, normalise_message_id
from dashboard.sms.send_window import SendWindow
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
            default_region: str = "US", priority: int = 100, purpose: str | None = None) -> list[Message]:
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
                          price_per_segment=route.price_per_segment, currency=route.currency, reason=route.reason,
                          created_at=now, purpose=purpose)
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


def _event(message, kind: str, detail: dict, now: datetime, part_no: int | None = None) -> dict:
    """Append to the message's timeline (a Message or a _MessageRow). Returns the detail written."""
    if kind in SEQUENCED_EVENTS:
        message.event_seq = (message.event_seq or 0) + 1
        detail = {"seq": message.event_seq, **detail}
    _event_row(message.id, kind, detail, now, part_no)
    return detail


def _event_row(message_id: int, kind: str, detail: dict, now: datetime, part_no: int | None = None) -> None:
    """Buffer a timeline row; _commit() writes the buffer in one executemany. The sender writes
    several rows per message, and one ORM insert each was most of its time."""
    db.session.info.setdefault("pending_events", []).append(
        {"message_id": message_id, "part_no": part_no, "kind": kind, "detail": detail, "at": now})


_EVENT_COLUMNS = ("message_id", "part_no", "kind", "detail", "at")


def _commit() -> None:
    rows = db.session.info.pop("pending_events", None)
    if rows:
        bulk.insert_many(_conn(), MessageEvent.__table__, _EVENT_COLUMNS, rows)
    db.session.commit()


def _conn():
    return db.session.connection()


# ----------------------------------------------------------------------------- working rows
# The sender's hot path reads rows with Core into these plain objects, changes them in Python
# (the state rules below are the same for every caller) and writes each table's changes back
# with one executemany per set of changed columns. The ORM's unit of work did the same with
# several times the CPU per row (docs/performance.md).

_M = Message.__table__
_P = MessagePart.__table__
_R = DeliveryReceipt.__table__
_MESSAGE_COLUMNS = (_M.c.id, _M.c.status, _M.c.reason, _M.c.attempts, _M.c.created_at, _M.c.segments,
                    _M.c.price_per_segment, _M.c.currency, _M.c.event_seq, _M.c.submitted_at, _M.c.bind_id,
                    _M.c.claimed_by, _M.c.possible_duplicate)
_PART_COLUMNS = (_P.c.id, _P.c.message_id, _P.c.part_no, _P.c.parts_total, _P.c.status,
                 _P.c.smsc_message_id, _P.c.smsc_id_key, _P.c.bind_id)
_RECEIPT_COLUMNS = (_R.c.id, _R.c.bind_id, _R.c.smsc_message_id, _R.c.id_key, _R.c.stat, _R.c.err,
                    _R.c.raw, _R.c.part_id)


class _Row:
    """A row as plain attributes; every assignment is remembered in `changes` for write-back."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)
        self.__dict__["changes"] = {}

    @classmethod
    def all_from(cls, result) -> list:
        """One object per result row. Zipping the keys once is several times cheaper than a
        RowMapping per row."""
        keys = tuple(result.keys())
        return [cls(dict(zip(keys, row))) for row in result]

    def __setattr__(self, name: str, value) -> None:
        self.__dict__[name] = value
        self.changes[name] = value


class _MessageRow(_Row):
    def __init__(self, values) -> None:
        super().__init__(values)
        self.__dict__["parts"] = []


class OwnedRows:
    """The working rows of the messages one bind runner has claimed and not yet settled, kept
    from the claim to the response so that recording it needs no reload. Only that runner's
    thread touches them.

    They may go stale: another process can move one of these messages meanwhile (the reaper after
    a lapsed lease, the reconcile job matching a held receipt). So every write of a kept row is
    guarded by the values it was read with (status, and a message's attempts, which every claim
    raises); when any guarded write finds its row moved, the whole transaction is rolled back,
    these rows are dropped, and it is done again from freshly read rows (`record_outcomes`).
    """

    def __init__(self) -> None:
        self.messages: dict[int, _MessageRow] = {}
        self.parts: dict[int, _Row] = {}

    def __len__(self) -> int:
        return len(self.messages)

    def keep(self, message: _MessageRow) -> None:
        self.forget([message.id])
        message.__dict__["guard"] = {"status": message.status, "attempts": message.attempts}
        self.messages[message.id] = message
        for part in message.parts:
            part.__dict__["guard"] = {"status": part.status}
            self.parts[part.id] = part

    def forget(self, message_ids: Iterable[int]) -> None:
        for message_id in message_ids:
            message = self.messages.pop(message_id, None)
            if message is not None:
                for part in message.parts:
                    self.parts.pop(part.id, None)

    def clear(self) -> None:
        self.messages.clear()
        self.parts.clear()


class StaleRows(Exception):
    """A guarded write found its row changed by someone else since it was read."""


class _Working:
    """The messages, parts and receipts one transaction reads and changes, each loaded once."""

    def __init__(self, owned: OwnedRows | None = None) -> None:
        self.messages: dict[int, _MessageRow] = {}
        self.parts: dict[int, _Row] = {}
        self.receipts: list[_Row] = []
        self.owned = owned

    def load_parts(self, part_ids: Iterable[int]) -> dict[int, _Row]:
        """Parts by id, with their messages and sibling parts: two queries, not two per part."""
        wanted = set(part_ids)
        missing = wanted - self.parts.keys()
        if missing and self.owned:
            kept = {self.owned.parts[i].message_id for i in missing if i in self.owned.parts}
            self._take_owned(kept)
            missing = wanted - self.parts.keys()
        if missing:
            self.load_messages(_M.c.id.in_(select(_P.c.message_id).where(_P.c.id.in_(missing))))
        return {i: self.parts[i] for i in wanted if i in self.parts}

    def _take_owned(self, message_ids: Iterable[int]) -> None:
        for message_id in message_ids:
            if message_id not in self.messages:
                message = self.messages[message_id] = self.owned.messages[message_id]
                for part in message.parts:
                    self.parts[part.id] = part

    def load_messages(self, where) -> list[_MessageRow]:
        """Messages matching `where` (and all of their parts); already loaded ones are kept as they are."""
        rows = _MessageRow.all_from(_conn().execute(select(*_MESSAGE_COLUMNS).where(where)))
        return self.adopt(rows)

    def adopt(self, rows: Iterable[_MessageRow], partless: Collection[int] = ()) -> list[_MessageRow]:
        """Take these message rows into the transaction, with their parts; `partless` are ids
        known to have none yet, whose parts are not looked for."""
        result, new = [], []
        for row in rows:
            if self.owned and row.id in self.owned.messages:
                self._take_owned([row.id])  # one object per row in a transaction, the kept one
            if row.id in self.messages:
                result.append(self.messages[row.id])
            else:
                self.messages[row.id] = row
                result.append(row)
                if row.id not in partless:
                    new.append(row.id)
        if new:
            for part in _Row.all_from(_conn().execute(select(*_PART_COLUMNS).where(_P.c.message_id.in_(new))
                                                      .order_by(_P.c.message_id, _P.c.part_no))):
                if part.id not in self.parts:
                    self.parts[part.id] = part
                    self.messages[part.message_id].parts.append(part)
        return result

    def write(self) -> None:
        _write_changes(_P, self.parts.values())
        _write_changes(_M, self.messages.values())
        _write_changes(_R, self.receipts)


def _write_changes(table, rows: Iterable[_Row]) -> None:
    """UPDATE … WHERE id = ? as one executemany per set of changed columns (and guard, for kept
    rows: see OwnedRows). A guarded row that no longer matches raises StaleRows."""
    changed = [row for row in rows if row.changes]
    shapes: dict[tuple, list[dict]] = {}
    for row in changed:
        guard = row.__dict__.get("guard")
        params = {"b_id": row.id, **row.changes}
        if guard:
            params.update({f"g_{column}": value for column, value in guard.items()})
        shapes.setdefault((tuple(sorted(row.changes)), tuple(guard or ())), []).append(params)
    for (columns, guard), params in shapes.items():
        if bulk.update_many(_conn(), table, columns, params, guard=guard) != len(params) and guard:
            raise StaleRows(table.name)
    for row in changed:
        guard = row.__dict__.get("guard")
        if guard:
            guard.update({column: row.changes[column] for column in guard if column in row.changes})
        row.changes.clear()


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
                   lease: timedelta, owned: OwnedRows | None = None) -> list[OutgoingPart]:
    """Claim up to `limit` queued messages for this bind and return their unsent parts.

    The claim is one UPDATE whose WHERE repeats `status = 'queued'`: two workers racing for
    the same rows cannot both win (SQLite serialises writers; PostgreSQL skips locked rows).
    Campaigns with a throughput cap or a budget are claimed after, each within its allowance.
    Consent and quiet hours are checked here, at the last moment before sending (DESIGN #7).
    The rows of the messages going out are kept in `owned`, for recording their responses.
    """
    if limit <= 0:
        return []
    claimed = _MessageRow.all_from(_conn().execute(_main_claim(), {
        "p_bind": settings.bind_id, "p_now": now, "p_limit": limit, "p_worker": worker_id, "p_expires": now + lease}))
    if len(claimed) < limit:
        claimed += _claim_metered(settings, worker_id, limit - len(claimed), now, lease)
    if not claimed:
        db.session.commit()
        return []
    claimed.sort(key=lambda r: (r.priority, r.id))  # RETURNING promises no order
    work = _Working()
    # Parts are created by a claim, in the transaction that raised `attempts` to at least 1, and
    # `attempts` never goes down but for a deferral undoing its own claim's rise. So a message at
    # its first attempt has no parts to load (the unique (message_id, part_no) would refuse a
    # second set if that ever stopped being true).
    messages = work.adopt(claimed, partless={m.id for m in claimed if m.attempts == 1})
    suppressed = suppressed_message_ids([m.id for m in messages])
    deferred = _outside_send_window(messages, now)
    new_parts: list[dict] = []
    encoded = {}
    for message in messages:
        if message.id in suppressed:
            _finish(message, lc.SKIPPED, suppressed[message.id], now)
            continue
        if message.id in deferred:
            _defer(message, *deferred[message.id], now)
            continue
        encoded[message.id] = _encode(message, settings)
        if not message.parts:  # first attempt: its part rows are created now (DESIGN #1)
            bodies = encoded[message.id][1]
            new_parts.extend({"message_id": message.id, "part_no": n, "parts_total": len(bodies),
                              "status": lc.PENDING, "bind_id": settings.bind_id}
                             for n in range(1, len(bodies) + 1))
    if new_parts:
        ids = bulk.insert_returning_ids(_conn(), _P, _NEW_PART_COLUMNS, new_parts)
        for values, part_id in zip(new_parts, ids):
            part = work.parts[part_id] = _Row({"id": part_id, "smsc_message_id": None, "smsc_id_key": None, **values})
            work.messages[part.message_id].parts.append(part)
    outgoing: list[OutgoingPart] = []
    for message in messages:
        if message.id in encoded:
            outgoing.extend(_outgoing_parts(message, settings, *encoded[message.id]))
    work.write()
    _commit()
    if owned is not None:
        for message in messages:
            if message.id in encoded:
                owned.keep(message)
    return outgoing


_NEW_PART_COLUMNS = ("message_id", "part_no", "parts_total", "status", "bind_id")


@lru_cache(maxsize=1)
def _main_claim():
    """The claim of every message not in a separately claimed campaign, built once: it runs
    several times a second per bind. Parameters: p_bind, p_now, p_limit, p_worker, p_expires (not
    named after columns of the table it updates, which SQLAlchemy reserves)."""
    from dashboard.services.campaigns import separately_claimed_campaign_ids
    now = bindparam("p_now")
    due = (select(_M.c.id)
           .where(_M.c.status == lc.QUEUED, _M.c.bind_id == bindparam("p_bind"),
                  or_(_M.c.next_attempt_at.is_(None), _M.c.next_attempt_at <= now),
                  or_(_M.c.campaign_id.is_(None), _M.c.campaign_id.not_in(separately_claimed_campaign_ids())))
           .order_by(_M.c.priority, _M.c.id)
           .limit(bindparam("p_limit"))
           .with_for_update(skip_locked=True)  # dropped by SQLAlchemy on SQLite, where writes serialise
           # Materialised: PostgreSQL may otherwise run a LIMIT … SKIP LOCKED subquery once per outer
           # row and claim more than `limit` (2 of limit 1 in tests/services/test_claims.py).
           .cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
    return (update(_M)
            .where(_M.c.id.in_(select(due.c.id)), unindexed(_M.c.status) == lc.QUEUED)
            .values(status=lc.SUBMITTING, claimed_by=bindparam("p_worker"), claim_expires_at=bindparam("p_expires"),
                    submitting_at=now, attempts=_M.c.attempts + 1, reason=None)
            .returning(*_MESSAGE_COLUMNS, *_CLAIM_COLUMNS))


def _due(settings: BindSettings, now: datetime):
    return select(Message.id).where(Message.status == lc.QUEUED, Message.bind_id == settings.bind_id,
                                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))


def _claim(ids, worker_id: str, now: datetime, lease: timedelta) -> list[_MessageRow]:
    return _MessageRow.all_from(_conn().execute(
        update(_M)
        .where(_M.c.id.in_(ids), unindexed(_M.c.status) == lc.QUEUED)
        .values(status=lc.SUBMITTING, claimed_by=worker_id, claim_expires_at=now + lease,
                submitting_at=now, attempts=_M.c.attempts + 1, reason=None)
        .returning(*_MESSAGE_COLUMNS, *_CLAIM_COLUMNS)))


def _claim_metered(settings: BindSettings, worker_id: str, room: int, now: datetime,
                   lease: timedelta) -> list:
    """Claim for campaigns with a throughput cap or a budget, within what each may send now.

    The allowance lives in the campaign row (a token bucket and the cost committed so far), read
    under a row lock in the claim's transaction, so the cap and the budget hold across every bind
    and every worker, on SQLite and PostgreSQL alike. A campaign whose next message would pass its
    budget pauses itself, saying why; nothing is dropped (DESIGN #8).
    """
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.status.in_(("launching", "running")),
                               or_(Campaign.throughput_cap.is_not(None), Campaign.budget.is_not(None)))
        .order_by(Campaign.priority, Campaign.id).with_for_update()
        .execution_options(populate_existing=True)).all()
    claimed: list = []
    for campaign in campaigns:
        if room - len(claimed) <= 0:
            break
        allowance = room - len(claimed)
        if campaign.throughput_cap is not None:
            campaign.cap_tokens = refill_tokens(campaign.cap_tokens, campaign.cap_refilled_at, now,
                                                campaign.throughput_cap)
            campaign.cap_refilled_at = now
            allowance = min(allowance, int(campaign.cap_tokens))
        if allowance <= 0:
            continue
        candidates = db.session.execute(
            select(Message.id, Message.segments, Message.price_per_segment, Message.attempts)
            .where(Message.id.in_(_due(settings, now).where(Message.campaign_id == campaign.id).scalar_subquery()))
            .order_by(Message.priority, Message.id).limit(allowance)
            .with_for_update(skip_locked=True)).all()
        chosen, cost, over_budget = [], Decimal("0"), False
        for message_id, segments, price, attempts in candidates:
            # A message is paid for once, at its first claim; a retry does not spend the budget again.
            extra = (price or Decimal("0")) * segments if attempts == 0 else Decimal("0")
            if campaign.budget is not None and campaign.committed_cost + cost + extra > campaign.budget:
                over_budget = True
                break
            chosen.append(message_id)
            cost += extra
        rows = _claim(chosen, worker_id, now, lease) if chosen else []
        claimed += rows
        if campaign.throughput_cap is not None:
            campaign.cap_tokens -= len(rows)
        campaign.committed_cost += cost
        if over_budget and not rows:
            campaign.status = "paused"
            campaign.status_reason = (f"budget reached: {campaign.committed_cost:.4f} of {campaign.budget:.4f} "
                                      f"committed; raise the budget to go on")
    return claimed


def refill_tokens(tokens: float, refilled_at: datetime | None, now: datetime, rate: float) -> float:
    """A bucket of at most one second's worth, starting empty so a launch does not burst."""
    if refilled_at is None:
        return 0.0
    elapsed = max(0.0, (now - refilled_at).total_seconds())
    return min(max(1.0, rate), tokens + elapsed * rate)


def _outside_send_window(messages: Sequence[_MessageRow], now: datetime) -> dict[int, tuple[datetime, str]]:
    """Claimed messages whose recipient is in quiet hours now: when to try again, and why."""
    campaign_ids = {m.campaign_id for m in messages if m.campaign_id is not None}
    if not campaign_ids:
        return {}
    windows = {row.id: (SendWindow.from_columns(row.window_start, row.window_end, row.window_days), row.time_zone)
               for row in db.session.execute(
                   select(Campaign.id, Campaign.window_start, Campaign.window_end, Campaign.window_days,
                          Campaign.time_zone)
                   .where(Campaign.id.in_(campaign_ids), Campaign.window_start.is_not(None)))}
    deferred = {}
    for message in messages:
        if message.campaign_id not in windows:
            continue
        window, campaign_zone = windows[message.campaign_id]
        zones = tuple(z for z in (message.recipient_tz or "").split(",") if z) or (campaign_zone,)
        opens = window.next_open(now, zones)
        if opens > now:
            deferred[message.id] = (opens, f"quiet hours ({window.describe()}, {' / '.join(zones)})")
    return deferred


def _defer(message: _MessageRow, until: datetime, why: str, now: datetime) -> None:
    """Quiet hours: back to the queue until the window opens. Not an attempt, and not paid for."""
    message.attempts -= 1
    if message.attempts == 0 and message.campaign_id is not None and message.price_per_segment:
        db.session.execute(update(Campaign).where(Campaign.id == message.campaign_id, Campaign.budget.is_not(None))
                           .values(committed_cost=Campaign.committed_cost
                                   - message.price_per_segment * message.segments))
    _requeue_if_idle(message, now, f"{why}: waits until {until:%Y-%m-%d %H:%M} UTC", None)
    message.next_attempt_at = until


# What a claim needs beyond the working columns, to build submit_sm without another query.
_CLAIM_COLUMNS = (_M.c.destination, _M.c.source, _M.c.source_ton, _M.c.source_npi, _M.c.text,
                  _M.c.priority, _M.c.udh_ref, _M.c.campaign_id, _M.c.recipient_tz)


def _encode(message: _MessageRow, settings: BindSettings):
    encoded = _encode_cached(message.text, message.udh_ref, settings.concat_mode, settings.default_data_coding)
    bodies: list[bytes] = list(encoded.parts) if encoded.payload is None else [b""]
    return encoded, bodies


@lru_cache(maxsize=1024)
def _encode_cached(text: str, ref: int, concat: str, data_coding: int):
    # A campaign sends one text to many numbers: encoding it once per reference is enough.
    return encode_message(text, ref=ref, concat=concat, gsm_data_coding=data_coding)


def _outgoing_parts(message: _MessageRow, settings: BindSettings, encoded, bodies: list[bytes]) -> list[OutgoingPart]:
    result = []
    for part in message.parts:
        if part.status != lc.PENDING:
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


def suppressed_message_ids(message_ids: Iterable[int]) -> dict[int, str]:
    """Messages whose recipient has opted out, globally, from the campaign's list, or from the
    brand of the message's sender. One statement, built once: it runs on every claim."""
    ids = list(message_ids)
    if not ids:
        return {}
    found: dict[int, str] = {}
    rows = db.session.execute(_suppression(), {"p_ids": ids}).all()
    for message_id, rank, brand in sorted(rows, key=lambda row: row[1]):
        found.setdefault(message_id, _SUPPRESSION_REASONS[rank].format(brand=brand))
    return found


@lru_cache(maxsize=1)
def _suppression():
    # An answer to HELP goes out whatever the number's consent (Message.purpose).
    wanted = and_(Message.id.in_(bindparam("p_ids", expanding=True)),
                  or_(Message.purpose.is_(None), Message.purpose != HELP_REPLY))
    global_rows = (select(Message.id, literal(0).label("rank"), literal("").label("brand"))
                   .join(Contact, Contact.phone == Message.destination)
                   .where(wanted, Contact.global_opt_out.is_(True)))
    list_rows = (select(Message.id, literal(1), literal(""))
                 .join(Campaign, Campaign.id == Message.campaign_id)
                 .join(ListMembership, and_(ListMembership.list_id == Campaign.list_id,
                                            ListMembership.contact_id == Message.contact_id))
                 .where(wanted, ListMembership.subscribed.is_(False)))
    # Brand-scoped opt-outs (OPT_OUT_SCOPE = "brand"): the sender's brand, whatever the setting is
    # now, so that switching the setting back never resumes sending to someone who said STOP.
    brand_rows = (select(Message.id, literal(2), SenderId.brand)
                  .join(SenderId, SenderId.value == Message.source)
                  .join(Contact, Contact.phone == Message.destination)
                  .join(BrandOptOut, and_(BrandOptOut.contact_id == Contact.id, BrandOptOut.brand == SenderId.brand))
                  .where(wanted, BrandOptOut.opted_out.is_(True)))
    return union_all(global_rows, list_rows, brand_rows)


_SUPPRESSION_REASONS = ("opted out (all messages)", "opted out of the list", "opted out of {brand}")


def mark_parts_submitting(assignments: Sequence[tuple[OutgoingPart, int]], session_id: str,
                          now: datetime, submit_fields: Callable[[OutgoingPart], dict],
                          owned: OwnedRows | None = None) -> None:
    """Record each part as being submitted, with its session and sequence number, and commit —
    before the bytes leave (DESIGN #1). A crash after this leaves the part visibly uncertain."""
    bulk.update_many(_conn(), _P, ("status", "session_id", "sequence_number", "submitting_at"), [
        {"b_id": part.part_id, "status": lc.SUBMITTING, "session_id": session_id, "sequence_number": seq,
         "submitting_at": now} for part, seq in assignments])
    for part, seq in assignments:
        _event_row(part.message_id, "submit_sm", {"sequence": seq, "session": session_id, **submit_fields(part)},
                   now, part.part_no)
    try:
        _commit()
    except BaseException:
        if owned is not None:
            owned.clear()
        raise
    if owned is not None:
        for part, _ in assignments:
            kept = owned.parts.get(part.part_id)
            if kept is not None:
                kept.__dict__["status"] = kept.guard["status"] = lc.SUBMITTING


def halted_message_ids(message_ids: Iterable[int]) -> set[int]:
    """Of these messages, those whose campaign was paused or cancelled since they were claimed."""
    from dashboard.services.campaigns import halted_campaign_ids
    return set(db.session.scalars(select(Message.id).where(Message.id.in_(list(message_ids)),
                                                           Message.campaign_id.in_(halted_campaign_ids()))))


def release_unsent(parts: Iterable[OutgoingPart], now: datetime, reason: str) -> None:
    """Claimed but never written (shutdown, link lost before sending): back to the queue, as is."""
    work = _Working()
    for message in work.load_messages(_M.c.id.in_({p.message_id for p in parts})):
        if message.status == lc.SUBMITTING:
            _requeue_if_idle(message, now, reason, delay=None)
    work.write()
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
    settled: set[int] = field(default_factory=set)  # messages this call took out of the sender's hands


def record_outcomes(settings: BindSettings, results: Sequence[SubmitResult],
                    receipts: Sequence[InboundReceipt], inbound: Sequence[InboundMO], now: datetime,
                    retry_base: float = 2.0, match_held: bool = True,
                    owned: OwnedRows | None = None, waiting: Collection[int] = ()) -> RecordOutcome:
    """Write a batch of submit responses, receipts and MOs in one transaction, then commit.
    The caller sends the deliver_sm_resps only after this returns (DESIGN #3).

    `match_held=False` skips looking for receipts that came before their response, for a caller
    that knows none of its bind's are held; any it misses the reconcile job matches.
    `owned` are the caller's kept rows (OwnedRows): used instead of reading them again, and
    dropped, with the transaction redone from the database, if any of them went stale.
    `waiting` are messages with parts still waiting in the caller to be sent (a slow bind spreads
    a long message's parts over seconds): they are not put back in the queue meanwhile. The
    caller drops the waiting parts of messages in `RecordOutcome.settled` (e.g. one failed part)."""
    if owned:
        try:
            return _record_outcomes(settings, results, receipts, inbound, now, retry_base, match_held, owned,
                                    waiting)
        except StaleRows:
            _rollback()
        except BaseException:
            owned.clear()
            _rollback()
            raise
    return _record_outcomes(settings, results, receipts, inbound, now, retry_base, match_held, None, waiting)


def _rollback() -> None:
    db.session.rollback()
    db.session.info.pop("pending_events", None)  # the timeline rows of the undone transaction


def _record_outcomes(settings: BindSettings, results: Sequence[SubmitResult],
                     receipts: Sequence[InboundReceipt], inbound: Sequence[InboundMO], now: datetime,
                     retry_base: float, match_held: bool, owned: OwnedRows | None,
                     waiting: Collection[int]) -> RecordOutcome:
    outcome = RecordOutcome()
    work = _Working(owned)
    parts = work.load_parts(r.part_id for r in results)
    newly_submitted: list[_Row] = []
    for result in results:
        part = parts.get(result.part_id)
        if part is None or part.status != lc.SUBMITTING:
            continue  # a late response for a part already settled: nothing moves backwards
        if _apply_submit_result(settings, work.messages[part.message_id], part, result, now, outcome):
            newly_submitted.append(part)
    if match_held:
        _match_held_receipts(settings, newly_submitted, work, now)
    _store_receipts(settings, receipts, now, outcome, work, newly_submitted)
    for mo in inbound:
        db.session.add(InboundMessage(bind_id=settings.bind_id, source=mo.source, destination=mo.destination,
                                      text=mo.text, raw=mo.raw, received_at=now))
    for message in work.messages.values():
        was = message.status
        _settle(message, settings, now, retry_base, waiting=message.id in waiting)
        if was == lc.SUBMITTING and message.status != lc.SUBMITTING:
            outcome.settled.add(message.id)
    try:
        work.write()
    except StaleRows:
        owned.clear()
        raise
    _commit()
    if owned:
        owned.forget(outcome.settled)
    return outcome


def _apply_submit_result(settings: BindSettings, message: _MessageRow, part: _Row,
                         result: SubmitResult, now: datetime, outcome: RecordOutcome) -> bool:
    """Apply one submit_sm_resp (or its absence). True when the part was newly accepted."""
    if result.command_status is None:
        # No answer: the SMSC may or may not have it. Retry under a visible mark (DESIGN #1).
        part.status = lc.PENDING
        if not message.possible_duplicate:
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
        part.currency = message.currency
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
                    outcome: RecordOutcome, work: _Working, fresh: Sequence[_Row]) -> None:
    """Keep every receipt, matched first so that each is one INSERT with its outcome in it.
    `fresh` are the parts accepted in this same batch, whose SMSC ids are not written yet."""
    if not receipts:
        return
    mode = _receipt_key_mode(settings)
    rows = [_Row({"id": None, "bind_id": settings.bind_id, "smsc_message_id": r.smsc_message_id,
                  "id_key": normalise_message_id(r.smsc_message_id, mode), "stat": r.stat, "err": r.err,
                  "raw": r.raw, "received_at": now, "part_id": None, "matched_at": None, "duplicate": False})
            for r in receipts]
    by_key = _match_parts(settings, rows, work, fresh)
    details: list[dict | None] = []
    for row in rows:
        part = by_key.get(row.id_key)
        if part is None:
            outcome.unmatched_receipts += 1
            details.append(None)
            continue  # held: matched when the submit_sm_resp lands, or by the reconcile job
        details.append(_apply_receipt(row, part, work.messages[part.message_id], now))
        outcome.matched_receipts += 1
    columns = ("bind_id", "smsc_message_id", "id_key", "stat", "err", "raw", "received_at", "part_id",
               "matched_at", "duplicate")
    ids = bulk.insert_returning_ids(_conn(), _R, columns, [row.__dict__ for row in rows])
    for detail, receipt_id in zip(details, ids):
        if detail is not None:
            detail["receipt_id"] = receipt_id  # its timeline row is still in the buffer, written at commit


def _match_parts(settings: BindSettings, rows: Sequence[_Row], work: _Working,
                 fresh: Sequence[_Row] = ()) -> dict[str, _Row]:
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


def _parts_by_key(bind_id: int, keys: set[str], work: _Working, fresh_keys: dict[str, _Row]) -> dict[str, _Row]:
    found = {key: fresh_keys[key] for key in keys if key in fresh_keys}
    rest = keys - found.keys()
    if not rest:
        return found
    stored = _conn().execute(select(_P.c.id, _P.c.smsc_id_key).where(
        _P.c.bind_id == bind_id, _P.c.smsc_id_key.in_(rest))).all()
    parts = work.load_parts(part_id for part_id, _ in stored)
    for part_id, key in stored:
        part = parts.get(part_id)
        if part is not None and part.smsc_id_key == key:  # not re-keyed in this transaction
            found[key] = part
    return found


def _apply_receipt(row: _Row, part: _Row, message: _MessageRow, now: datetime) -> dict:
    """Match the receipt to its part and move the part forward if it can. Returns the timeline detail."""
    row.part_id = part.id
    row.matched_at = now
    detail = _event(message, "deliver_sm", {"receipt_id": row.id, "stat": row.stat, "err": row.err, **row.raw},
                    now, part.part_no)
    new_state = _RECEIPT_STATES.get(row.stat or "")
    if new_state is None or not lc.moves_forward(part.status, new_state):
        if part.status in lc.PART_FINAL:
            row.duplicate = True
        return detail
    part.status = new_state
    part.receipt_stat = row.stat
    part.receipt_err = row.err
    part.done_at = now
    return detail


_RECEIPT_STATES = {"DELIVRD": lc.DELIVERED, "UNDELIV": lc.UNDELIVERABLE, "EXPIRED": lc.EXPIRED,
                   "REJECTD": lc.REJECTED, "DELETED": lc.FAILED, "UNKNOWN": lc.FAILED}


def _match_held_receipts(settings: BindSettings, parts: Sequence[_Row], work: _Working, now: datetime) -> None:
    """Receipts that came before their submit_sm_resp wait in the table; pick them up now."""
    if not parts:
        return
    keys_for: dict[str, _Row] = {}
    for part in parts:
        keys = {part.smsc_id_key}
        if settings.message_id_format == "auto":
            keys |= message_id_candidates(part.smsc_message_id or "")
        for key in keys:
            keys_for.setdefault(key, part)
    held = _Row.all_from(_conn().execute(select(*_RECEIPT_COLUMNS).where(
        _R.c.bind_id == settings.bind_id, _R.c.id_key.in_(keys_for), _R.c.part_id.is_(None)).order_by(_R.c.id)))
    work.receipts.extend(held)
    for row in held:
        part = keys_for[row.id_key]
        _apply_receipt(row, part, work.messages[part.message_id], now)


def _settle(message: _MessageRow, settings: BindSettings, now: datetime, retry_base: float,
            waiting: bool = False) -> None:
    """After its parts changed: derive the message's state, or put it back in the queue — unless
    `waiting`: its other parts are still to be sent by the runner holding them."""
    states = [p.status for p in message.parts]
    if lc.FAILED in states and lc.PENDING in states:
        # One part was refused for good: the rest cannot make a whole message.
        for part in message.parts:
            if part.status == lc.PENDING:
                part.status = lc.FAILED
                part.done_at = now
        states = [p.status for p in message.parts]
    if lc.SUBMITTING in states or (waiting and lc.PENDING in states):
        return  # more responses to come, or more parts to send first
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
        if message.submitted_at is None and any(p.smsc_message_id for p in message.parts):
            # Response and receipt recorded together: it was submitted on the way to this state.
            message.submitted_at = now
        _finish(message, derived, message.reason if derived != lc.DELIVERED else None, now)
    elif lc.moves_forward(message.status, derived):
        message.status = derived
        message.submitted_at = message.submitted_at or now
        message.claimed_by = None
        message.claim_expires_at = None
        _event(message, "status", {"status": derived}, now)


def _requeue_if_idle(message: _MessageRow, now: datetime, reason: str, delay: float | None) -> None:
    message.status = lc.QUEUED
    message.claimed_by = None
    message.claim_expires_at = None
    message.reason = reason
    message.next_attempt_at = now + timedelta(seconds=delay) if delay else None
    _event(message, "requeued", {"reason": reason, "retry_in_s": delay}, now)


def _finish(message: _MessageRow, state: str, reason: str | None, now: datetime) -> None:
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
    work = _Working()
    stale = work.load_messages(and_(_M.c.status == lc.SUBMITTING, _M.c.claim_expires_at < now))
    for message in stale:
        uncertain = [p for p in message.parts if p.status == lc.SUBMITTING]
        for part in uncertain:
            part.status = lc.PENDING
        if uncertain:
            message.possible_duplicate = True
        _requeue_if_idle(message, now, f"claim by {message.claimed_by} expired"
                         + (f"; {len(uncertain)} part(s) may have been sent" if uncertain else ""), None)
    work.write()
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
    work = _Working()
    held = _Row.all_from(_conn().execute(select(*_RECEIPT_COLUMNS).where(
        _R.c.part_id.is_(None), _R.c.received_at >= now - hold)))
    work.receipts.extend(held)
    by_bind: dict[int, list[_Row]] = {}
    for row in held:
        by_bind.setdefault(row.bind_id, []).append(row)
    matched = 0
    for bind_id, rows in by_bind.items():
        parts = _match_parts(settings_for(bind_id), rows, work)
        for row in rows:
            part = parts.get(row.id_key)
            if part is not None:
                _apply_receipt(row, part, work.messages[part.message_id], now)
                matched += 1
    for message in work.messages.values():
        if message.status not in lc.FINAL:
            _settle(message, settings_for(message.bind_id), now, 2.0)
    work.write()
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
