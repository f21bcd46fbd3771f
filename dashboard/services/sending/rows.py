"""What the phases of the sender share: a bind's settings, the working rows of one transaction,
the message timeline, and the two state changes every phase makes (back to the queue, finished).

The sender's hot path reads rows with Core into plain objects, changes them in Python (the state
rules are dashboard.sms.lifecycle's, the same for every caller) and writes each table's changes
back with one executemany per set of changed columns. The ORM's unit of work did the same with
several times the CPU per row (docs/performance.md).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, DeliveryReceipt, Message, MessageEvent, MessagePart, WebhookEvent
from dashboard.services import bulk, webhook_events
from dashboard.sms import lifecycle as lc

M = Message.__table__
P = MessagePart.__table__
R = DeliveryReceipt.__table__
MESSAGE_COLUMNS = (M.c.id, M.c.status, M.c.reason, M.c.attempts, M.c.created_at, M.c.segments,
                   M.c.price_per_segment, M.c.currency, M.c.event_seq, M.c.submitted_at, M.c.bind_id,
                   M.c.claimed_by, M.c.possible_duplicate, M.c.webhook_seq, M.c.destination, M.c.source,
                   # What its webhook events say (webhook_events.outbox_row): NULL but for API messages.
                   M.c.api_key_id, M.c.callback_url, M.c.client_ref, M.c.error_code, M.c.error_name)
PART_COLUMNS = (P.c.id, P.c.message_id, P.c.part_no, P.c.parts_total, P.c.status,
                P.c.smsc_message_id, P.c.smsc_id_key, P.c.bind_id, P.c.receipt_stat, P.c.receipt_err,
                P.c.error_name)
RECEIPT_COLUMNS = (R.c.id, R.c.bind_id, R.c.smsc_message_id, R.c.id_key, R.c.stat, R.c.err,
                   R.c.raw, R.c.part_id)


@dataclass(frozen=True)
class BindSettings:
    """What a bind's configuration says about the messages it carries."""
    bind_id: int
    concat_mode: str = "udh"
    default_data_coding: int = 0
    max_attempts: int = 5
    message_id_format: str = "auto"
    validity: timedelta = timedelta(hours=48)

    @classmethod
    def from_bind(cls, bind: Bind, validity: timedelta) -> BindSettings:
        return cls(bind_id=bind.id, concat_mode=bind.concat_mode, default_data_coding=bind.default_data_coding,
                   max_attempts=bind.max_attempts, message_id_format=bind.message_id_format, validity=validity)

    @classmethod
    def for_bind_id(cls, bind_id: int | None, validity: timedelta) -> BindSettings:
        bind = db.session.get(Bind, bind_id) if bind_id else None
        return cls.from_bind(bind, validity) if bind is not None else cls(bind_id=bind_id or 0, validity=validity)


# ----------------------------------------------------------------------------- the timeline

# State changes carry the per-message sequence number that webhooks send (docs/architecture.md #5);
# protocol events are ordered by their own id and time.
SEQUENCED_EVENTS = frozenset({"queued", "status", "requeued"})
_EVENT_COLUMNS = ("message_id", "part_no", "kind", "detail", "at")


def event(message, kind: str, detail: dict, now: datetime, part_no: int | None = None) -> dict:
    """Append to the message's timeline (a Message or a MessageRow). Returns the detail written.
    A state change of an API message whose receiver has heard of every change before it is
    staged for its webhook here too (webhook_events: in the same transaction, from the rows in
    hand); otherwise the webhook job's collect reads it back from the timeline, in order."""
    if kind in SEQUENCED_EVENTS:
        caught_up = message.webhook_seq is not None and message.webhook_seq == (message.event_seq or 0)
        message.event_seq = (message.event_seq or 0) + 1
        detail = sequenced(detail, message.event_seq)
        if caught_up:
            message.webhook_seq = message.event_seq
            kind_of = webhook_events.event_type(kind, detail)
            if kind_of is not None and message.callback_url is not None:
                # Parts only for an event that reports them: on an ORM Message they are a query.
                parts = message.parts if webhook_events.ends_message(kind_of) else None
                stage_webhook(webhook_events.outbox_row(message, kind_of, message.event_seq, detail, now, now,
                                                        parts))
    event_row(message.id, kind, detail, now, part_no)
    return detail


def stage_webhook(row: dict) -> None:
    """Buffer an outbox row (webhook_events.outbox_row); commit() writes it with the timeline."""
    db.session.info.setdefault("pending_webhooks", []).append(row)


def sequenced(detail: dict, seq: int) -> dict:
    """A state change's timeline detail with its sequence number, as webhooks read it back."""
    return {"seq": seq, **detail}


def event_row(message_id: int, kind: str, detail: dict, now: datetime, part_no: int | None = None) -> None:
    """Buffer a timeline row; commit() writes the buffer in one executemany. The sender writes
    several rows per message, and one ORM insert each was most of its time."""
    db.session.info.setdefault("pending_events", []).append(
        {"message_id": message_id, "part_no": part_no, "kind": kind, "detail": detail, "at": now})


def write_timeline() -> None:
    """Write the buffered timeline rows and staged webhook events now (commit() does, if nothing
    did before it)."""
    rows = db.session.info.pop("pending_events", None)
    if rows:
        bulk.insert_many(conn(), MessageEvent.__table__, _EVENT_COLUMNS, rows)
    staged = db.session.info.pop("pending_webhooks", None)
    if staged:
        bulk.insert_many(conn(), WebhookEvent.__table__, webhook_events.OUTBOX_COLUMNS, staged)


def commit() -> None:
    """Write the buffered timeline rows, check the guarded writes (StaleRows, see OwnedRows) and
    commit. After a pipeline of writes (bulk.pipeline), whose end waited for every answer, the
    checks wait for nothing: the transaction's writes cost that one round trip and the COMMIT's."""
    write_timeline()
    for count, expected, table_name in db.session.info.pop("pending_checks", ()):
        if count.value() != expected:
            raise StaleRows(table_name)
    db.session.commit()


def rollback() -> None:
    db.session.rollback()
    db.session.info.pop("pending_events", None)  # the timeline rows of the undone transaction
    db.session.info.pop("pending_webhooks", None)
    db.session.info.pop("pending_checks", None)


def conn():
    return db.session.connection()


# ----------------------------------------------------------------------------- working rows

class Row:
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


class MessageRow(Row):
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
    these rows are dropped, and it is done again from freshly read rows (record.record_outcomes).
    """

    def __init__(self) -> None:
        self.messages: dict[int, MessageRow] = {}
        self.parts: dict[int, Row] = {}

    def __len__(self) -> int:
        return len(self.messages)

    def keep(self, message: MessageRow) -> None:
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

    def mark_submitting(self, part_ids: Iterable[int], status: str) -> None:
        """After the parts were committed as submitting: the kept rows say so too."""
        for part_id in part_ids:
            kept = self.parts.get(part_id)
            if kept is not None:
                kept.__dict__["status"] = kept.guard["status"] = status

    def clear(self) -> None:
        self.messages.clear()
        self.parts.clear()


class StaleRows(Exception):
    """A guarded write found its row changed by someone else since it was read."""


class Working:
    """The messages, parts and receipts one transaction reads and changes, each loaded once."""

    def __init__(self, owned: OwnedRows | None = None) -> None:
        self.messages: dict[int, MessageRow] = {}
        self.parts: dict[int, Row] = {}
        self.receipts: list[Row] = []
        self.owned = owned

    def load_parts(self, part_ids: Iterable[int]) -> dict[int, Row]:
        """Parts by id, with their messages and sibling parts: two queries, not two per part."""
        wanted = set(part_ids)
        missing = wanted - self.parts.keys()
        if missing and self.owned:
            kept = {self.owned.parts[i].message_id for i in missing if i in self.owned.parts}
            self._take_owned(kept)
            missing = wanted - self.parts.keys()
        if missing:
            self.load_messages(M.c.id.in_(select(P.c.message_id).where(P.c.id.in_(missing))))
        return {i: self.parts[i] for i in wanted if i in self.parts}

    def _take_owned(self, message_ids: Iterable[int]) -> None:
        for message_id in message_ids:
            if message_id not in self.messages:
                message = self.messages[message_id] = self.owned.messages[message_id]
                for part in message.parts:
                    self.parts[part.id] = part

    def load_messages(self, where) -> list[MessageRow]:
        """Messages matching `where` (and all of their parts); already loaded ones are kept as they are."""
        rows = MessageRow.all_from(conn().execute(select(*MESSAGE_COLUMNS).where(where)))
        return self.adopt(rows)

    def adopt(self, rows: Iterable[MessageRow], partless: Collection[int] = ()) -> list[MessageRow]:
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
            for part in Row.all_from(conn().execute(select(*PART_COLUMNS).where(P.c.message_id.in_(new))
                                                    .order_by(P.c.message_id, P.c.part_no))):
                if part.id not in self.parts:
                    self.parts[part.id] = part
                    self.messages[part.message_id].parts.append(part)
        return result

    def write(self) -> None:
        _write_changes(P, self.parts.values())
        _write_changes(M, self.messages.values())
        _write_changes(R, self.receipts)


def _write_changes(table, rows: Iterable[Row]) -> None:
    """UPDATE … WHERE id = ? as one executemany per set of changed columns (and guard, for kept
    rows: see OwnedRows). A guarded row that no longer matches makes commit() raise StaleRows:
    the count is checked there, so that in a pipeline the updates do not wait for it."""
    changed = [row for row in rows if row.changes]
    shapes: dict[tuple, list[dict]] = {}
    for row in changed:
        guard = row.__dict__.get("guard")
        params = {"b_id": row.id, **row.changes}
        if guard:
            params.update({f"g_{column}": value for column, value in guard.items()})
        shapes.setdefault((tuple(sorted(row.changes)), tuple(guard or ())), []).append(params)
    for (columns, guard), params in shapes.items():
        count = bulk.update_many_counted(conn(), table, columns, params, guard=guard)
        if guard:
            db.session.info.setdefault("pending_checks", []).append((count, len(params), table.name))
    for row in changed:
        guard = row.__dict__.get("guard")
        if guard:
            guard.update({column: row.changes[column] for column in guard if column in row.changes})
        row.changes.clear()


# ----------------------------------------------------------------------------- the two common moves

def requeue(message: MessageRow, now: datetime, reason: str, delay: float | None) -> None:
    """Back to the queue, to be claimed again (at once, or after `delay` seconds)."""
    message.status = lc.QUEUED
    message.claimed_by = None
    message.claim_expires_at = None
    message.reason = reason
    message.next_attempt_at = now + timedelta(seconds=delay) if delay else None
    event(message, "requeued", {"reason": reason, "retry_in_s": delay}, now)


def finish(message: MessageRow, state: str, reason: str | None, now: datetime) -> None:
    """A final state (or `submitted`, which waits only for receipts): out of the sender's hands."""
    message.status = state
    message.reason = reason
    message.done_at = now
    message.claimed_by = None
    message.claim_expires_at = None
    if state == lc.SUBMITTED:
        message.submitted_at = now
    event(message, "status", {"status": state, "reason": reason}, now)
