"""What a receiver is told when an API message moves: which status change is which webhook event,
and what the event says (docs/api.md, "Webhooks"). Written once, here, for the two places that
turn status changes into outbox rows:

  - where the change is made, in the same transaction: the sender (dashboard.services.sending.rows
    .event) and the API's enqueue stage the event as they append the timeline row and advance the
    message's `webhook_seq` with it — the rows they need are in their hands already;
  - the webhook job's collect (dashboard.services.webhooks), for any change nobody staged, read
    back from the timeline: a message is due while its `event_seq` is past its `webhook_seq`.

Staging where the change is made is what keeps the webhooks cheap: reading every message and its
new timeline rows back, once for `accepted` and once more for `sent` and `delivered`, cost the
webhook job about 70 µs of CPU per event, more than the sender spent on the message
(docs/performance.md, "HTTP API").

This module knows no other service: the sender's modules and the webhook job both import it.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dashboard.sms import lifecycle as lc

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ACCEPTED, SENT = "message.accepted", "message.sent"
# A status change → the event type a receiver subscribes to (docs/api.md lists them).
_TYPES = {
    lc.QUEUED: ACCEPTED,
    lc.SUBMITTED: SENT,
    lc.DELIVERED: "message.delivered",
}
# The columns of an outbox row (webhook_event), as `outbox_row` fills them.
OUTBOX_COLUMNS = (
    "api_key_id",
    "url",
    "type",
    "message_id",
    "inbound_message_id",
    "seq",
    "payload",
    "occurred_at",
    "created_at",
    "status",
    "attempts",
)


def event_type(kind: str, detail: dict) -> str | None:
    """The webhook type of one timeline event, or None for what receivers are not told (a retry
    puts a message back in the queue: its status did not change for them)."""
    if kind == "queued":
        return _TYPES[lc.QUEUED]
    if kind != "status":
        return None
    status = detail.get("status")
    return _TYPES.get(status) or ("message.failed" if status in lc.FINAL else None)


def ends_message(kind_of: str | None) -> bool:
    """Whether an event of this type carries the outcome of each part (it ends the message)."""
    return kind_of not in (None, ACCEPTED, SENT)


def outbox_row(message, kind_of: str, seq: int, detail: dict, at: datetime, now: datetime,
               parts: Iterable | None = None) -> dict:
    """The outbox row of one event of an API message. `message` has the message's columns as
    attributes (a MessageRow of the sender, a row of the webhook job's query, or a dict's
    namespace); `parts`, for an event that ends the message, its parts (rows with part_no, status,
    smsc_message_id, receipt_stat, receipt_err, error_name)."""
    data = {
        "message_id": message.id,
        "client_ref": message.client_ref,
        "to": message.destination,
        "from": message.source,
        "status": detail.get("status", lc.QUEUED),
        "segments": message.segments,
    }
    if kind_of == "message.failed":
        data["reason"] = detail.get("reason")
        data["error"] = (
            {"code": message.error_code, "name": message.error_name} if message.error_name else None
        )
    if parts and ends_message(kind_of):
        data["parts"] = [part_outcome(part) for part in sorted(parts, key=lambda p: p.part_no)]
    return {
        "api_key_id": message.api_key_id,
        "url": message.callback_url,
        "type": kind_of,
        "message_id": message.id,
        "inbound_message_id": None,
        "seq": seq,
        "payload": data,
        "occurred_at": at,
        "created_at": now,
        "status": PENDING,
        "attempts": 0,
    }


def part_outcome(part) -> dict:
    """One part's outcome as an event that ends its message tells it: a long message's parts can
    end differently (docs/architecture.md #4)."""
    return {
        "part": part.part_no,
        "status": part.status,
        "smsc_message_id": part.smsc_message_id,
        "receipt_stat": part.receipt_stat,
        "receipt_err": part.receipt_err,
        "error": part.error_name,
    }
