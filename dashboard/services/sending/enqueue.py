"""Phase one: a message is recorded, routed and priced, and queued. Everything that sends (the
CLI, campaign launch, HELP replies, sign-up confirmations, test sends) comes through here, so a
message is refused for the same reasons whoever asks, before anything is written."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message, SenderId
from dashboard.models.message import HELP_REPLY
from dashboard.services import senders
from dashboard.services.bulk import on_conflict_do_nothing
from dashboard.services.routing import RouteChoice, Router
from dashboard.services.sending.rows import commit, event
from dashboard.sms import lifecycle as lc
from dashboard.sms.encoding import MAX_SEGMENTS, SegmentInfo, analyse
from dashboard.sms.numbers import InvalidNumber, destination_country, normalise
from dashboard.sms.sender_ids import guess_kind, source_addressing


class EnqueueError(ValueError):
    """Why nothing was queued; fit to show to the person or program that asked."""


def enqueue(*, destinations: Sequence[str], text: str, source: str, now: datetime,
            default_region: str = "US", priority: int = 100, purpose: str | None = None) -> list[Message]:
    """Queue one message per destination through the normal path, and commit.

    All of it is checked first and one problem refuses the whole request, naming it, so nothing
    half-queues: an empty text, a text longer than one message can be (255 parts), an invalid
    number, a sender that is not one of ours or not approved for a destination's country. A
    HELP reply goes from whichever of our numbers the person wrote to, registered or not."""
    if not text:
        raise EnqueueError("message text is empty")
    if not source:
        raise EnqueueError("a sender (--from) is required")
    numbers = []
    for raw in destinations:
        try:
            numbers.append(normalise(raw, default_region))
        except InvalidNumber as exc:
            raise EnqueueError(f"{raw}: {exc}") from None
    if not numbers:
        raise EnqueueError("no destination given")
    info = analyse(text)
    if info.segments > MAX_SEGMENTS:
        raise EnqueueError(f"the text needs {info.segments} parts; one message can have at most {MAX_SEGMENTS}")
    sender = db.session.scalar(select(SenderId).where(SenderId.value == source))
    if purpose != HELP_REPLY:
        if sender is None:
            raise EnqueueError(f"{source!r} is not a sender ID of ours: add it under Sender IDs first")
        problems = senders.sending_problems(sender, {destination_country(n) for n in numbers})
        if problems:
            raise EnqueueError("; ".join(problems))
    ton, npi = source_addressing(sender.kind if sender else guess_kind(source))
    router = Router()
    messages = [Message(**message_values(destination=number, text=text, info=info, source=source, ton=ton,
                                         npi=npi, route=router.choose(number), priority=priority, now=now),
                        purpose=purpose)
                for number in numbers]
    db.session.add_all(messages)
    db.session.flush()
    for message in messages:
        message.udh_ref = message.id % 256
        event(message, "queued", {"bind_id": message.bind_id, "route_id": message.route_id,
                                  "segments": message.segments, "encoding": message.encoding}, now)
    commit()
    return messages


def message_values(*, destination: str, text: str, info: SegmentInfo, source: str, ton: int, npi: int,
                   route: RouteChoice, priority: int, now: datetime, **columns) -> dict:
    """The columns of one queued message: its route and price as the router chose them now, which
    stay the price it is reported at (costs are facts at send time, docs/architecture.md #10)."""
    return dict(destination=destination, source=source, source_ton=ton, source_npi=npi, text=text,
                encoding=info.encoding, segments=info.segments, priority=priority, status=lc.QUEUED,
                bind_id=route.bind_id, route_id=route.route_id, price_per_segment=route.price_per_segment,
                currency=route.currency, reason=route.reason, created_at=now, attempts=0, event_seq=0, possible_duplicate=False,
                **columns)


def insert_messages(rows: Sequence[dict]) -> None:
    """Queue many messages at once, built with `message_values`, in the caller's transaction."""
    db.session.execute(Message.__table__.insert(), list(rows))


def insert_unless_present(rows: Sequence[dict], *unique_columns: str) -> None:
    """Queue many messages at once (a campaign launch batch). A row whose `unique_columns` are taken
    already (a retried batch, a racing launcher) is skipped by the database, not by a check in
    Python: launch is idempotent (docs/architecture.md #8)."""
    db.session.execute(on_conflict_do_nothing(Message.__table__, *unique_columns), list(rows))
