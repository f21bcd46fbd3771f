"""POST /messages, POST /messages/batch, GET /messages/{id}, GET /messages, GET /inbound.

Sending goes through dashboard.services.sending.enqueue like every other sender: its rules (text,
parts, number, sender and its approvals, the key's geo permissions, opt-outs, duplicates) refuse
a message, each with its own problem type; this module only turns the request into Outgoing
items and the rows into JSON."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from dashboard.api import schemas as s
from dashboard.api.core import operation
from dashboard.api.problems import Problem, type_uri
from dashboard.extensions import db
from dashboard.models import ApiKey, InboundMessage, Message
from dashboard.models.campaign import KINDS
from dashboard.models.types import utcnow
from dashboard.services import message_templates, search
from dashboard.services.sending import enqueue
from dashboard.sms.numbers import InvalidNumber, normalise, normalise_with_country
from dashboard.sms.templating import TemplateError

MAX_SCHEDULE_AHEAD = timedelta(days=7)


def policy(key: ApiKey) -> enqueue.Policy:
    """What sending through this key adds to the rules every message obeys."""
    window = key.duplicate_window_minutes
    return enqueue.Policy(
        default_region=current_app.config["DEFAULT_REGION"],
        api_key_id=key.id,
        allowed_countries=key.country_set,
        refuse_opted_out=True,
        duplicate_window=timedelta(minutes=window) if window else None,
        default_callback=key.webhook_url,
        shared_routes=True,
    )


def enqueue_problem(exc: enqueue.EnqueueError, batch: bool = False) -> Problem:
    """A refusal of enqueue as problem+json: its own type for one message; for a batch, every
    refused item with its index, field and type."""
    if isinstance(exc, enqueue.Refused) and (batch or len(exc.errors) != 1):
        return Problem(
            "batch-refused",
            exc.detail,
            errors=[
                {
                    "index": e.index,
                    "field": f"messages[{e.index}].{e.field}"
                    if e.field
                    else f"messages[{e.index}]",
                    "type": type_uri(e.problem),
                    "detail": e.detail,
                }
                for e in exc.errors[:1000]
            ],
        )
    error = exc.errors[0] if isinstance(exc, enqueue.Refused) else exc
    return Problem(
        error.problem, error.detail, errors=[{"field": error.field, "detail": error.detail}]
    )


def _outgoing(item: s.SendMessage, now: datetime, region: str) -> enqueue.Outgoing:
    """Raises Problem for what only the API knows: templates and times."""
    text = item.text
    if item.template_id is not None:
        template = message_templates.active_template(item.template_id)
        if template is None:
            raise Problem(
                "unknown-template",
                f"no active template {item.template_id}",
                errors=[{"field": "template_id", "detail": "no such active template"}],
            )
        try:
            country = normalise_with_country(item.to, region)[1]
        except InvalidNumber:
            country = None  # enqueue refuses the number, with its own problem type
        try:
            text = message_templates.render_message(
                template.body,
                {k: v for k, v in (item.params or {}).items()},
                kind=template.kind,
                country=country,
            )
        except TemplateError as exc:
            raise Problem(
                "template-error", str(exc), errors=[{"field": "params", "detail": str(exc)}]
            ) from None
    if item.schedule_at is not None and item.schedule_at > now + MAX_SCHEDULE_AHEAD:
        raise Problem(
            "validation-error",
            "schedule_at is at most 7 days ahead",
            errors=[{"field": "schedule_at", "detail": "at most 7 days ahead"}],
        )
    start = max(item.schedule_at or now, now)
    return enqueue.Outgoing(
        to=item.to,
        text=text or "",
        source=item.from_,
        priority=KINDS[item.priority],
        client_ref=item.client_ref,
        callback_url=item.callback_url,
        send_at=item.schedule_at,
        valid_until=start + timedelta(seconds=item.validity_period)
        if item.validity_period
        else None,
    )


@operation(
    "POST",
    "/messages",
    summary="Send a message",
    scope="send",
    tag="Messages",
    idempotent=True,
    body=s.SendMessage,
    responses={201: s.MessageOut},
    problems=(409, 422),
)
def send_message(key: ApiKey, body: s.SendMessage):
    """Queue one message. It is checked at once (number, sender and its approvals, the key's geo
    permissions, opt-outs, duplicates) and refused with the problem type that says why; accepted,
    it is 201 with status `queued`, and its status webhooks follow."""
    now = utcnow()
    rules = policy(key)
    try:
        checked = enqueue.check([_outgoing(body, now, rules.default_region)], rules, now)
    except enqueue.EnqueueError as exc:
        raise enqueue_problem(exc) from None
    [row] = enqueue.insert(checked, rules, now)
    return 201, _queued_out(row)


@operation(
    "POST",
    "/messages/batch",
    summary="Send up to 10,000 messages at once",
    scope="send",
    tag="Messages",
    idempotent=True,
    body=s.SendBatch,
    responses={201: s.BatchAccepted},
    problems=(409, 422),
)
def send_batch(key: ApiKey, body: s.SendBatch):
    """All accepted in one transaction, or refused whole: a `batch-refused` problem lists each
    refused item by index with its own problem type, and nothing is queued."""
    now = utcnow()
    rules = policy(key)
    items, errors = [], []
    for index, item in enumerate(body.messages):
        try:
            items.append(_outgoing(item, now, rules.default_region))
        except Problem as problem:
            errors.append(
                {
                    "index": index,
                    "field": f"messages[{index}].{(problem.errors or [{}])[0].get('field')}",
                    "type": type_uri(problem.type.slug),
                    "detail": problem.detail,
                }
            )
    if errors:
        raise Problem(
            "batch-refused",
            f"{len(errors)} message(s) refused; nothing was queued",
            errors=errors[:1000],
        )
    try:
        checked = enqueue.check(items, rules, now)
    except enqueue.EnqueueError as exc:
        raise enqueue_problem(exc, batch=True) from None
    rows = enqueue.insert(checked, rules, now)
    return 201, {
        "count": len(rows),
        "data": [
            {
                "id": row["id"],
                "to": row["destination"],
                "client_ref": row["client_ref"],
                "status": row["status"],
                "encoding": row["encoding"],
                "segments": row["segments"],
            }
            for row in rows
        ],
    }


@operation(
    "GET",
    "/messages/<anyint:message_id>",
    summary="A message, its parts and receipts",
    scope="read",
    tag="Messages",
    responses={200: s.MessageOut},
    problems=(404,),
)
def get_message(key: ApiKey, message_id: int):
    """Status, parts with their SMSC ids and receipts, encoding, segments, price, timestamps, and
    the error with its SMPP status name."""
    found = _load([message_id])
    if not found:
        raise Problem("not-found", f"no message {message_id}")
    return 200, messages_out(found)[0]


@operation(
    "GET",
    "/messages",
    summary="Find messages",
    scope="read",
    tag="Messages",
    query=s.ListMessages,
    responses={200: s.MessageList},
)
def list_messages(key: ApiKey, query: s.ListMessages):
    """Newest first, a page at a time: pass `next_cursor` back as `cursor`."""
    conditions = []
    if query.status:
        conditions.append(Message.status == query.status)
    if query.created_after:
        conditions.append(Message.created_at >= query.created_after)
    if query.created_before:
        conditions.append(Message.created_at < query.created_before)
    if query.client_ref:
        conditions.append(Message.client_ref == query.client_ref)
    if query.to:
        try:
            conditions.append(
                Message.destination == normalise(query.to, current_app.config["DEFAULT_REGION"])
            )
        except InvalidNumber as exc:
            raise Problem(
                "invalid-number",
                f"{query.to}: {exc}",
                errors=[{"field": "query.to", "detail": str(exc)}],
            )
    rows, next_cursor = page_of(Message, conditions, query.cursor, query.limit)
    messages = _load([m.id for m in rows])
    return 200, {"data": messages_out(messages), "next_cursor": next_cursor}


@operation(
    "GET",
    "/inbound",
    summary="Inbound messages (MOs)",
    scope="read",
    tag="Inbound",
    query=s.Page,
    responses={200: s.InboundList},
)
def list_inbound(key: ApiKey, query: s.Page):
    """Messages people sent to your numbers, newest first, a page at a time."""
    rows, next_cursor = page_of(InboundMessage, [], query.cursor, query.limit)
    return 200, {
        "data": [
            {
                "id": mo.id,
                "from": mo.source,
                "to": mo.destination,
                "text": mo.text,
                "keyword": mo.keyword or None,
                "received_at": mo.received_at,
            }
            for mo in rows
        ],
        "next_cursor": next_cursor,
    }


def page_of(model, conditions: list, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Newest first from the cursor (an id, opaque to clients); the next cursor when there is
    more."""
    query = select(model).where(*conditions)
    if cursor is not None and int(cursor) <= s.MAX_ID:  # beyond it, every id is older
        query = query.where(model.id < int(cursor))
    rows = list(db.session.scalars(query.order_by(model.id.desc()).limit(limit + 1)))
    return rows[:limit], str(rows[limit - 1].id) if len(rows) > limit else None


def _load(ids: list[int]) -> list[Message]:
    if not ids:
        return []
    found = {
        m.id: m
        for m in db.session.scalars(
            select(Message).where(Message.id.in_(ids)).options(selectinload(Message.parts))
        )
    }
    return [found[i] for i in ids if i in found]


def _price(amount: Decimal | None, currency: str | None) -> dict:
    return {"amount": None if amount is None else str(amount), "currency": currency}


def _queued_out(row: dict) -> dict:
    """A message just queued, from the columns written: nothing to read back."""
    return {
        "id": row["id"],
        "status": row["status"],
        "to": row["destination"],
        "from": row["source"],
        "text": row["text"],
        "client_ref": row["client_ref"],
        "callback_url": row["callback_url"],
        "priority": row["priority"],
        "encoding": row["encoding"],
        "segments": row["segments"],
        "price_per_segment": _price(row["price_per_segment"], row["currency"]),
        "cost": _price(Decimal(0), row["currency"]),
        "reason": row["reason"],
        "error": None,
        "campaign_id": None,
        "created_at": row["created_at"],
        "scheduled_at": row["next_attempt_at"],
        "valid_until": row["valid_until"],
        "submitted_at": None,
        "done_at": None,
        "parts": [],
    }


def messages_out(messages: list[Message]) -> list[dict]:
    """Messages as the API shows them, with what their sent parts cost (one query for all)."""
    costs = search.message_costs([m.id for m in messages])
    return [_message_out(m, costs.get(m.id)) for m in messages]


def _message_out(m: Message, cost: search.MessageCost | None) -> dict:
    return {
        "id": m.id,
        "status": m.status,
        "to": m.destination,
        "from": m.source,
        "text": m.text,
        "client_ref": m.client_ref,
        "callback_url": m.callback_url,
        "priority": m.priority,
        "encoding": m.encoding,
        "segments": m.segments,
        "price_per_segment": _price(m.price_per_segment, m.currency),
        "cost": _price(cost.amount if cost else Decimal(0), cost.currency if cost else m.currency),
        "reason": m.reason,
        "error": {"code": m.error_code, "name": m.error_name} if m.error_name else None,
        "campaign_id": m.campaign_id,
        "created_at": m.created_at,
        "scheduled_at": m.next_attempt_at if m.status == "queued" else None,
        "valid_until": m.valid_until,
        "submitted_at": m.submitted_at,
        "done_at": m.done_at,
        "parts": [
            {
                "part": p.part_no,
                "status": p.status,
                "smsc_message_id": p.smsc_message_id,
                "receipt": {"stat": p.receipt_stat, "err": p.receipt_err}
                if p.receipt_stat
                else None,
                "error": p.error_name,
                "price": _price(p.price, p.currency) if p.price is not None else None,
                "submitted_at": p.submitted_at,
                "done_at": p.done_at,
            }
            for p in m.parts
        ],
    }
