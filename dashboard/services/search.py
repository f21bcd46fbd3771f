"""Finding messages and campaigns: filters, and cursor pagination by id (newest first).

A cursor page costs the same on page 1 and page 10,000: it seeks the primary key from the last
id shown instead of counting past OFFSET rows, and a message inserted meanwhile shifts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select

from dashboard.extensions import db
from dashboard.models import Bind, Campaign, Message, MessagePart

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """One page of rows, newest first, and the cursors to its neighbours (None: no such page)."""

    rows: list[Any]
    newer_cursor: int | None  # pass as `after` for the page before this one
    older_cursor: int | None  # pass as `before` for the page after this one
    extra: dict[int, Any] = field(default_factory=dict)  # per-row facts read for this page only

    @property
    def summary(self) -> str:
        if not self.rows:
            return "nothing here"
        return f"{len(self.rows)} shown"


def cursor_page(
    query: Select,
    id_column,
    *,
    before: int | None,
    after: int | None,
    size: int = PAGE_SIZE,
    row_id=lambda row: row.id,
) -> Page:
    """`query` (without ORDER BY or LIMIT) cut to one page around the cursor."""
    if after is not None:
        rows = list(
            db.session.execute(
                query.where(id_column > after).order_by(id_column).limit(size + 1)
            ).all()
        )
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return Page(
            rows,
            row_id(rows[0]) if rows and more_newer else None,
            row_id(rows[-1]) if rows else None,
        )
    if before is not None:
        query = query.where(id_column < before)
    rows = list(db.session.execute(query.order_by(id_column.desc()).limit(size + 1)).all())
    more_older = len(rows) > size
    rows = rows[:size]
    newer = row_id(rows[0]) if rows and before is not None else None
    return Page(rows, newer, row_id(rows[-1]) if rows and more_older else None)


def like_escaped(text: str) -> str:
    """`text` for a LIKE pattern with "\\" as the escape: its own % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class MessageFilter:
    number: str | None = None  # E.164, exact
    since: date | None = None  # created on or after this UTC day
    until: date | None = None  # created on or before this UTC day
    campaign_id: int | None = None
    bind_id: int | None = None
    source: str | None = None
    status: str | None = None

    @property
    def active(self) -> bool:
        return any(value is not None for value in vars(self).values())


@dataclass(frozen=True)
class MessageCost:
    amount: Decimal
    currency: str | None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def search_messages(
    flt: MessageFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Messages matching every given filter, newest first, with each one's campaign and bind
    names and what its sent parts cost (read for the page's messages only)."""
    query = (
        select(Message, Campaign.name.label("campaign_name"), Bind.name.label("bind_name"))
        .outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .outerjoin(Bind, Bind.id == Message.bind_id)
    )
    if flt.number:
        query = query.where(Message.destination == flt.number)
    if flt.since:
        query = query.where(Message.created_at >= _day_start(flt.since))
    if flt.until:
        query = query.where(Message.created_at < _day_start(flt.until + timedelta(days=1)))
    if flt.campaign_id is not None:
        query = query.where(Message.campaign_id == flt.campaign_id)
    if flt.bind_id is not None:
        query = query.where(Message.bind_id == flt.bind_id)
    if flt.source:
        query = query.where(Message.source == flt.source)
    if flt.status:
        query = query.where(Message.status == flt.status)
    page = cursor_page(
        query, Message.id, before=before, after=after, size=size, row_id=lambda row: row[0].id
    )
    costs = message_costs([row[0].id for row in page.rows])
    return Page(page.rows, page.newer_cursor, page.older_cursor, costs)


def message_costs(message_ids: Sequence[int]) -> dict[int, MessageCost]:
    """What each message's accepted parts cost, at the prices recorded when they went."""
    if not message_ids:
        return {}
    rows = db.session.execute(
        select(MessagePart.message_id, func.sum(MessagePart.price), func.max(MessagePart.currency))
        .where(MessagePart.message_id.in_(message_ids), MessagePart.price.is_not(None))
        .group_by(MessagePart.message_id)
    ).all()
    return {
        message_id: MessageCost(Decimal(amount or 0), currency)
        for message_id, amount, currency in rows
    }


# ----------------------------------------------------------------------------- campaigns


def search_campaigns(
    *,
    text: str | None = None,
    status: str | None = None,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Campaigns whose name contains `text` (any case), in one status, newest first."""
    query = select(Campaign)
    if text:
        pattern = f"%{like_escaped(text.strip().lower())}%"
        query = query.where(func.lower(Campaign.name).like(pattern, escape="\\"))
    if status:
        query = query.where(Campaign.status == status)
    return cursor_page(
        query, Campaign.id, before=before, after=after, size=size, row_id=lambda row: row[0].id
    )
