"""Phase one: a message is recorded, routed and priced, and queued. Everything that sends (the
HTTP API, the CLI, campaign launch, HELP replies, sign-up confirmations, test sends, one-time
codes) comes through here, so a message is refused for the same reasons whoever asks, before
anything is written.

The rules of what may be queued live here once: `check` applies them to every item of a request
and names each refusal with a typed error (the API maps each type to its own problem type,
the CLI prints its sentence); `insert` writes what passed in the caller's transaction, many rows
per statement (a batch of 10,000 is one request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import Message, MessagePart
from dashboard.models.message import HELP_REPLY, LAUNCH_KEY, LAUNCH_KEY_WHERE
from dashboard.services import bulk, senders, suppression, webhook_events
from dashboard.services.bulk import on_conflict_do_nothing
from dashboard.services.routing import RouteChoice, Router, shared_router
from dashboard.services.sending.rows import commit, event_row, sequenced, stage_webhook
from dashboard.sms import lifecycle as lc
from dashboard.sms.encoding import MAX_SEGMENTS, SegmentInfo, analyse
from dashboard.sms.numbers import InvalidNumber, normalise_with_country
from dashboard.sms.sender_ids import guess_kind, source_addressing

M = Message.__table__


class EnqueueError(ValueError):
    """Why nothing was queued; fit to show to the person or program that asked. `problem` names
    the kind of refusal (the API's problem type), `field` the input it is about, `index` the item
    of a batch."""

    problem = "invalid-message"
    field: str | None = None

    def __init__(
        self, detail: str, *, index: int | None = None, country: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.index = index
        self.country = country


class EmptyText(EnqueueError):
    problem, field = "empty-text", "text"


class TextTooLong(EnqueueError):
    problem, field = "text-too-long", "text"


class MissingSender(EnqueueError):
    problem, field = "missing-sender", "from"


class NoDestination(EnqueueError):
    problem, field = "invalid-number", "to"


class InvalidDestination(EnqueueError):
    problem, field = "invalid-number", "to"


class UnknownSender(EnqueueError):
    problem, field = "unknown-sender", "from"


class SenderNotApproved(EnqueueError):
    problem, field = "sender-not-approved", "from"


class CountryNotAllowed(EnqueueError):
    problem, field = "country-not-allowed", "to"


class RecipientOptedOut(EnqueueError):
    problem, field = "recipient-opted-out", "to"


class DuplicateMessage(EnqueueError):
    problem, field = "duplicate-message", "text"


class Refused(EnqueueError):
    """Some items of a request may not be queued: each one's error, in item order. Nothing was."""

    problem = "batch-refused"

    def __init__(self, errors: Sequence[EnqueueError]) -> None:
        super().__init__(f"{len(errors)} message(s) refused; nothing was queued")
        self.errors = list(errors)


@dataclass(frozen=True)
class Outgoing:
    """One message someone asks us to send."""

    to: str
    text: str
    source: str
    priority: int = 100
    client_ref: str | None = None
    callback_url: str | None = None
    send_at: datetime | None = None  # not before (a schedule); None: at once
    valid_until: datetime | None = None  # not sent by then: expired


@dataclass(frozen=True)
class Policy:
    """Who asks, and the rules that come with them beyond the ones every message obeys."""

    default_region: str = "US"
    purpose: str | None = None  # HELP_REPLY: from whichever of our numbers was written to
    api_key_id: int | None = None
    allowed_countries: frozenset[str] = frozenset()  # geo permissions of an API key; empty: any
    refuse_opted_out: bool = False  # refuse now what the claim would skip (the API answers at once)
    duplicate_window: timedelta | None = None  # same key, destination and text within it: refused
    # Where status webhooks go when an item names no callback_url (an API key's URL). Fixed on the
    # message when it is queued, so that all of its events go to one receiver, in order.
    default_callback: str | None = None
    shared_routes: bool = False  # routes read at most a second ago will do (routing.shared_router)


@dataclass
class Checked:
    """What `check` found out about one item, for `insert`."""

    item: Outgoing
    index: int
    destination: str
    info: SegmentInfo
    ton: int
    npi: int


def enqueue(
    *,
    destinations: Sequence[str],
    text: str,
    source: str,
    now: datetime,
    default_region: str = "US",
    priority: int = 100,
    purpose: str | None = None,
) -> list[Message]:
    """Queue one message per destination through the normal path, and commit.

    All of it is checked first and one problem refuses the whole request, naming it, so nothing
    half-queues: an empty text, a text longer than one message can be (255 parts), an invalid
    number, a sender that is not one of ours or not approved for a destination's country. A
    HELP reply goes from whichever of our numbers the person wrote to, registered or not."""
    if not destinations:
        raise NoDestination("no destination given")
    items = [Outgoing(to=raw, text=text, source=source, priority=priority) for raw in destinations]
    try:
        checked = check(items, Policy(default_region=default_region, purpose=purpose), now)
    except Refused as refused:
        raise _first(refused.errors) from None
    ids = [
        row["id"]
        for row in insert(checked, Policy(default_region=default_region, purpose=purpose), now)
    ]
    commit()
    return list(db.session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)))


def _first(errors: Sequence[EnqueueError]) -> EnqueueError:
    """The one error a single request reports: the first item's, or, when senders are the
    problem, every country the sender is missing in (one sentence, as the console shows it)."""
    first = errors[0]
    if isinstance(first, SenderNotApproved):
        problems = {e.country or "": e.detail for e in errors if isinstance(e, SenderNotApproved)}
        return SenderNotApproved("; ".join(problems[c] for c in sorted(problems)))
    return first


def check(items: Sequence[Outgoing], policy: Policy, now: datetime) -> list[Checked]:
    """Apply every rule of what may be queued to every item; Refused names each item refused.
    Reads the database (senders, opt-outs, recent messages of the key), writes nothing."""
    errors: list[EnqueueError] = []
    checked: list[Checked] = []
    senders_by_value = senders.for_sending(item.source for item in items if item.source)
    analyses: dict[str, SegmentInfo] = {}
    approvals: dict[tuple[str, str | None], list[str]] = {}
    for index, item in enumerate(items):
        try:
            checked.append(_check_one(item, index, policy, senders_by_value, analyses, approvals))
        except EnqueueError as exc:
            exc.index = index
            errors.append(exc)
    errors += _recipient_problems(checked, policy, senders_by_value, now)
    if errors:
        raise Refused(sorted(errors, key=lambda e: e.index or 0))
    return checked


def _check_one(
    item: Outgoing,
    index: int,
    policy: Policy,
    senders_by_value: dict[str, senders.SenderForSending],
    analyses: dict[str, SegmentInfo],
    approvals: dict,
) -> Checked:
    if not item.text:
        raise EmptyText("message text is empty")
    info = analyses.get(item.text)
    if info is None:
        info = analyses[item.text] = analyse(item.text)
    if info.segments > MAX_SEGMENTS:
        raise TextTooLong(
            f"the text needs {info.segments} parts; one message can have at most {MAX_SEGMENTS}"
        )
    if not item.source:
        raise MissingSender("a sender (--from) is required")
    try:
        destination, country = normalise_with_country(item.to, policy.default_region)
    except InvalidNumber as exc:
        raise InvalidDestination(f"{item.to}: {exc}") from None
    sender = senders_by_value.get(item.source)
    if policy.purpose != HELP_REPLY:
        if sender is None:
            raise UnknownSender(
                f"{item.source!r} is not a sender ID of ours: add it under Sender IDs first"
            )
        key = (sender.value, country)
        if key not in approvals:
            approvals[key] = senders.sending_problems(sender, [country])
        if approvals[key]:
            raise SenderNotApproved("; ".join(approvals[key]), country=country)
    if policy.allowed_countries and country not in policy.allowed_countries:
        raise CountryNotAllowed(
            f"{destination} is in {country or 'no known country'}, which this API key may "
            f"not send to (allowed: {', '.join(sorted(policy.allowed_countries))})",
            country=country,
        )
    ton, npi = source_addressing(sender.kind if sender else guess_kind(item.source))
    return Checked(item, index, destination, info, ton, npi)


def _recipient_problems(
    checked: list[Checked], policy: Policy, senders_by_value: dict[str, senders.SenderForSending], now: datetime
) -> list[EnqueueError]:
    """The rules that need the recipients of the whole request at once: opt-outs (the owner of
    that rule is dashboard.services.suppression) and the key's duplicate window."""
    problems: list[EnqueueError] = []
    refused: set[int] = set()
    if policy.refuse_opted_out and checked:
        by_brand: dict[str | None, list[Checked]] = {}
        for c in checked:
            sender = senders_by_value.get(c.item.source)
            by_brand.setdefault((sender.brand or None) if sender else None, []).append(c)
        for brand, group in by_brand.items():
            opted_out = suppression.suppressed_numbers((c.destination for c in group), brand)
            for c in group:
                if c.destination in opted_out:
                    problems.append(
                        RecipientOptedOut(
                            f"{c.destination}: {opted_out[c.destination]}", index=c.index
                        )
                    )
                    refused.add(id(c))
    if policy.duplicate_window and policy.api_key_id is not None:
        recent = _recent_texts(
            policy.api_key_id, {c.destination for c in checked}, now - policy.duplicate_window
        )
        for c in checked:
            if id(c) in refused:
                continue
            key = (c.destination, c.item.text)
            if key in recent:
                minutes = int(policy.duplicate_window.total_seconds() // 60)
                problems.append(
                    DuplicateMessage(
                        f"the same text went to {c.destination} within the last "
                        f"{minutes} minute(s)",
                        index=c.index,
                    )
                )
            recent.add(key)
    return problems


def _recent_texts(api_key_id: int, destinations: set[str], since: datetime) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    wanted = list(destinations)
    for start in range(0, len(wanted), 5000):
        found.update(
            db.session.execute(
                select(M.c.destination, M.c.text).where(
                    M.c.destination.in_(wanted[start : start + 5000]),
                    M.c.api_key_id == api_key_id,
                    M.c.created_at >= since,
                )
            ).all()
        )
    return found


_INSERT_COLUMNS = (
    "destination",
    "source",
    "source_ton",
    "source_npi",
    "text",
    "encoding",
    "segments",
    "priority",
    "status",
    "bind_id",
    "route_id",
    "price_per_segment",
    "currency",
    "reason",
    "created_at",
    "attempts",
    "event_seq",
    "possible_duplicate",
    "purpose",
    "udh_ref",
    "next_attempt_at",
    "api_key_id",
    "client_ref",
    "callback_url",
    "webhook_seq",
    "valid_until",
)


def insert(checked: Sequence[Checked], policy: Policy, now: datetime) -> list[dict]:
    """Queue what `check` passed, in the caller's transaction (rows.commit() writes the timeline
    with it). Returns the new messages' columns, with their ids, in item order."""
    router = shared_router(now) if policy.shared_routes else Router(now)
    rows = []
    for c in checked:
        item = c.item
        callback = item.callback_url or policy.default_callback
        row = message_values(
            destination=c.destination,
            text=item.text,
            info=c.info,
            source=item.source,
            ton=c.ton,
            npi=c.npi,
            route=router.choose(c.destination),
            priority=item.priority,
            now=now,
            event_seq=1,
            purpose=policy.purpose,
            udh_ref=0,
            api_key_id=policy.api_key_id,
            client_ref=item.client_ref,
            callback_url=callback,
            # Its `accepted` event is staged below, in this transaction: the receiver has heard
            # of its first state change (webhook_events).
            webhook_seq=1 if callback else None,
            valid_until=item.valid_until,
            next_attempt_at=item.send_at if item.send_at and item.send_at > now else None,
        )
        if row["next_attempt_at"] is not None and row["reason"] is None:
            row["reason"] = "scheduled"
        rows.append(row)
    ids = bulk.insert_returning_ids(db.session.connection(), M, _INSERT_COLUMNS, rows)
    # One concatenation reference per message, from its id: only long messages carry one.
    long_ones = [
        {"b_id": i, "udh_ref": i % 256} for i, row in zip(ids, rows) if row["segments"] > 1
    ]
    bulk.update_many(db.session.connection(), M, ("udh_ref",), long_ones)
    for message_id, row in zip(ids, rows):
        row["id"] = message_id
        detail = sequenced(
            {
                "bind_id": row["bind_id"],
                "route_id": row["route_id"],
                "segments": row["segments"],
                "encoding": row["encoding"],
            },
            1,
        )
        event_row(message_id, "queued", detail, now)
        if row["callback_url"] is not None:
            stage_webhook(webhook_events.outbox_row(
                SimpleNamespace(**row),
                webhook_events.ACCEPTED, 1, detail, now, now))
    return rows


def message_values(
    *,
    destination: str,
    text: str,
    info: SegmentInfo,
    source: str,
    ton: int,
    npi: int,
    route: RouteChoice,
    priority: int,
    now: datetime,
    **columns,
) -> dict:
    """The columns of one queued message: its route and price as the router chose them now, which
    stay the price it is reported at (costs are facts at send time, docs/architecture.md #10)."""
    return dict(
        destination=destination,
        source=source,
        source_ton=ton,
        source_npi=npi,
        text=text,
        encoding=info.encoding,
        segments=info.segments,
        priority=priority,
        status=lc.QUEUED,
        bind_id=route.bind_id,
        route_id=route.route_id,
        price_per_segment=route.price_per_segment,
        currency=route.currency,
        reason=route.reason,
        created_at=now,
        **{"attempts": 0, "event_seq": 0, "possible_duplicate": False, **columns},
    )


def insert_messages(rows: Sequence[dict]) -> None:
    """Queue many messages at once, built with `message_values`, in the caller's transaction."""
    db.session.execute(Message.__table__.insert(), list(rows))


def insert_unless_present(rows: Sequence[dict]) -> None:
    """Queue many messages of a campaign at once (a launch batch). A row whose campaign and contact
    have a message already (a retried batch, a racing launcher) is skipped by the database, not by
    a check in Python: launch is idempotent (docs/architecture.md #8)."""
    db.session.execute(on_conflict_do_nothing(Message.__table__, *LAUNCH_KEY, where=LAUNCH_KEY_WHERE), list(rows))


def expire_overdue(now: datetime) -> int:
    """Queued messages whose own validity period passed (an API message's `validity_period`, a
    one-time code's expiry) end as expired, with the reason: never sent late, never dropped
    silently (docs/architecture.md #6). A scheduler job; the caller commits."""
    overdue = (
        db.session.connection()
        .execute(
            select(M.c.id, M.c.event_seq)
            .where(M.c.valid_until.is_not(None), M.c.status == lc.QUEUED, M.c.valid_until <= now)
            .limit(5000)
        )
        .all()
    )
    reason = "its validity period passed before it could be sent"
    expired = []
    for message_id, seq in overdue:
        # Guarded by the state it was read in: a message claimed meanwhile goes on being sent.
        moved = db.session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == lc.QUEUED, Message.event_seq == seq)
            .values(
                status=lc.EXPIRED,
                reason=reason,
                done_at=now,
                event_seq=seq + 1,
                next_attempt_at=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            event_row(
                message_id,
                "status",
                sequenced({"status": lc.EXPIRED, "reason": reason}, seq + 1),
                now,
            )
            expired.append(message_id)
    if expired:  # parts a retry left unsent end with their message
        db.session.execute(
            update(MessagePart)
            .where(MessagePart.message_id.in_(expired), MessagePart.status == lc.PENDING)
            .values(status=lc.EXPIRED, done_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(expired)


__all__ = [
    "EnqueueError",
    "Outgoing",
    "Policy",
    "Refused",
    "check",
    "commit",
    "enqueue",
    "expire_overdue",
    "insert",
    "insert_messages",
    "insert_unless_present",
    "message_values",
]
