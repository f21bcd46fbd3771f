"""Webhooks: status changes of API messages and inbound MOs, POSTed as signed JSON by the worker
(docs/api.md, "Webhooks"). Most events are staged in the outbox (`webhook_event`) by whoever
makes the change, in its transaction (dashboard.services.webhook_events). Two steps, both run by
one scheduler job:

  collect   turns what nobody staged into events in the outbox (MOs; a message's changes once
            its receiver is behind), in the transaction that records how far it got. Where to
            start is a state kept on each row, not a cursor
            over ids: a message is due while its timeline's sequence number (`event_seq`, written
            by the sender in the same transaction as the timeline rows) is past `webhook_seq`, and
            an MO while `webhook_done` is false. A cursor over ids would skip a row whose
            transaction got its id first and committed last — several sender workers on
            PostgreSQL do exactly that.
  deliver   POSTs each (key, URL)'s pending events in id order, up to WEBHOOK_BATCH_SIZE per POST,
            and marks them delivered only after a 2xx. A failing receiver holds back its later
            events (so they arrive in order per message) and is retried with exponential back-off
            for WEBHOOK_RETRY_HOURS. A crash between the POST and the mark sends the same events
            again, with the same ids: delivery is at least once, never out of order.

Each event carries the message's timeline sequence number (`seq`, docs/architecture.md #5) and the
time it happened, so a receiver never moves a status backwards. The HTTP client is httpx with a
connection pool and time-outs on every phase; requests to different receivers go out in parallel
threads, while this module's database work stays on the job's thread.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
from sqlalchemy import func, select, update

from dashboard.extensions import db
from dashboard.models import (
    ApiKey,
    InboundMessage,
    Message,
    MessageEvent,
    MessagePart,
    WebhookAttempt,
    WebhookEvent,
)
from dashboard.models.types import unindexed
from dashboard.services import audit, bulk
from dashboard.services.api_keys import webhook_secret
from dashboard.services.sending.rows import SEQUENCED_EVENTS
from dashboard.services.webhook_events import (
    DELIVERED,
    FAILED,
    OUTBOX_COLUMNS,
    PENDING,
    ends_message,
    event_type,
    outbox_row,
)
from dashboard.settings import setting
from dashboard.sms.backoff import backoff_delay

M, E, P, W = Message.__table__, MessageEvent.__table__, MessagePart.__table__, WebhookEvent.__table__
SIGNATURE_HEADER = "Switchboard-Signature"
COLLECT_BATCH = 2000
PARALLEL_RECEIVERS = 8
BATCHES_PER_ROUND = 20  # POSTs to one receiver per round, one after the other


# ----------------------------------------------------------------------------- collect


# What a round just collected, as it will be posted: (api key id, url) → [(event id, envelope)], in id order.
Fresh = dict[tuple[int, str], list[tuple[int, dict]]]


def collect(now: datetime) -> int:
    """Turn new timeline events of API messages, and new MOs, into outbox events; commit.
    Returns how many events were written."""
    return _collect(now)[0]


def _collect(now: datetime) -> tuple[int, Fresh]:
    """collect(), and the events it wrote, as they will be sent: the round that collected them
    posts them without reading them back (deliver's `fresh`).

    Everything is read and prepared first, then written in three statements and committed: on
    SQLite the writes hold the database's one write lock, and the sender waits while they do
    (docs/performance.md, "HTTP API")."""
    events, progress = _plan_messages(now)
    mos, inbound = _plan_inbound(now)
    events += inbound
    if not events and not progress and not mos:
        return 0, {}
    conn = db.session.connection()
    ids = bulk.insert_returning_ids(conn, W, OUTBOX_COLUMNS, events)
    # Guarded by what was read: were another collector to run at once, one of the two undoes all.
    taken = bulk.update_many(conn, M, ("webhook_seq",), progress, guard=("webhook_seq",))
    if mos:
        taken += conn.execute(
            update(InboundMessage.__table__)
            .where(InboundMessage.id.in_(mos), InboundMessage.webhook_done.is_(False))
            .values(webhook_done=True)
        ).rowcount
    if taken != len(progress) + len(mos):
        db.session.rollback()
        return 0, {}
    db.session.commit()
    fresh: Fresh = {}
    for event_id, event in zip(ids, events):
        fresh.setdefault((event["api_key_id"], event["url"]), []).append((event_id, _envelope(
            event_id, event["type"], event["occurred_at"], event["seq"], event["payload"])))
    return len(events), fresh


def _plan_messages(now: datetime) -> tuple[list[dict], list[dict]]:
    """The new events of API messages whose timeline moved, and each message's new webhook_seq."""
    conn = db.session.connection()
    due = conn.execute(
        select(
            M.c.id,
            M.c.webhook_seq,
            M.c.callback_url,
            M.c.api_key_id,
            M.c.client_ref,
            M.c.destination,
            M.c.source,
            M.c.segments,
            M.c.error_code,
            M.c.error_name,
        )
        .where(M.c.webhook_seq.is_not(None), M.c.event_seq > M.c.webhook_seq)
        .order_by(M.c.id)
        .limit(COLLECT_BATCH)
    ).all()
    if not due:
        return [], []
    timeline: dict[int, list] = {}
    # Only the rows past what was turned into events already: a message is due up to three times
    # (accepted, sent, delivered), and reading its whole timeline each time decoded twice the JSON.
    for message_id, kind, detail, at in conn.execute(
        select(E.c.message_id, E.c.kind, E.c.detail, E.c.at)
        .join(M, M.c.id == E.c.message_id)
        .where(
            E.c.message_id.in_([row.id for row in due]),
            E.c.kind.in_(SEQUENCED_EVENTS),
            E.c.detail["seq"].as_integer() > M.c.webhook_seq,
        )
    ).all():
        timeline.setdefault(message_id, []).append((detail.get("seq", 0), kind, detail, at))
    finals = {
        row.id
        for row in due
        for seq, kind, detail, _ in timeline.get(row.id, ())
        if seq > row.webhook_seq and ends_message(event_type(kind, detail))
    }
    parts = _parts(finals)
    events, progress = [], []
    for row in due:
        new = sorted(e for e in timeline.get(row.id, ()) if e[0] > row.webhook_seq)
        if not new:
            continue  # its timeline rows are not visible yet: the next run sees them
        # callback_url was fixed when it was queued: all of its events go to one receiver.
        for seq, kind, detail, at in new:
            kind_of = event_type(kind, detail)
            if kind_of is not None and row.callback_url is not None:
                events.append(outbox_row(row, kind_of, seq, detail, at, now, parts.get(row.id)))
        progress.append(
            {"b_id": row.id, "webhook_seq": new[-1][0], "g_webhook_seq": row.webhook_seq}
        )
    return events, progress


def _parts(message_ids: set[int]) -> dict[int, list]:
    """The parts of the messages whose events end them, for their outcomes. Plain rows:
    thousands a run."""
    if not message_ids:
        return {}
    found: dict[int, list] = {}
    for part in db.session.execute(
        select(P.c.message_id, P.c.part_no, P.c.status, P.c.smsc_message_id, P.c.receipt_stat,
               P.c.receipt_err, P.c.error_name)
        .where(P.c.message_id.in_(message_ids))
    ).all():
        found.setdefault(part.message_id, []).append(part)
    return found


def _plan_inbound(now: datetime) -> tuple[list[int], list[dict]]:
    """The ids of new MOs, and their events: one per key that asked for inbound messages."""
    mos = db.session.scalars(
        select(InboundMessage)
        .where(InboundMessage.webhook_done.is_(False))
        .order_by(InboundMessage.id)
        .limit(COLLECT_BATCH)
    ).all()
    if not mos:
        return [], []
    receivers = db.session.execute(
        select(ApiKey.id, ApiKey.webhook_url).where(
            ApiKey.inbound_webhooks.is_(True),
            ApiKey.webhook_url.is_not(None),
            ApiKey.revoked_at.is_(None),
        )
    ).all()
    events = [
        {
            "api_key_id": key_id,
            "url": url,
            "type": "inbound.received",
            "message_id": None,
            "inbound_message_id": mo.id,
            "seq": None,
            "occurred_at": mo.received_at,
            "created_at": now,
            "status": PENDING,
            "attempts": 0,
            "payload": {
                "inbound_id": mo.id,
                "from": mo.source,
                "to": mo.destination,
                "text": mo.text,
                "received_at": iso_time(mo.received_at),
            },
        }
        for mo in mos
        for key_id, url in receivers
    ]
    return [mo.id for mo in mos], events


# ----------------------------------------------------------------------------- deliver


@dataclass(frozen=True)
class Batch:
    """The next POST to one receiver: its events' ids in order, their body, how often the first
    was tried."""

    api_key_id: int
    url: str
    event_ids: list[int]
    envelopes: list[dict]
    attempts: list[int]  # how often each event was tried before

    @property
    def head_attempts(self) -> int:
        return self.attempts[0]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def envelope(event) -> dict:
    """One event as a receiver reads it (a WebhookEvent, or a row with its columns)."""
    return _envelope(event.id, event.type, event.occurred_at, event.seq, event.payload)


def _envelope(event_id: int, kind: str, occurred_at: datetime, seq: int | None, payload: dict) -> dict:
    return {"id": f"evt_{event_id}", "type": kind, "created_at": iso_time(occurred_at), "seq": seq, "data": payload}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header: HMAC-SHA256 of "<timestamp>.<body>" under the key's webhook secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def due_batches(now: datetime, limit_receivers: int = 64, fresh: Fresh | None = None) -> list[list[Batch]]:
    """For every receiver whose oldest pending event is due, its next POSTs in order (up to
    BATCHES_PER_ROUND of WEBHOOK_BATCH_SIZE events each). A receiver whose oldest pending event
    is the first this round collected has nothing older waiting: its POSTs are all of `fresh`,
    as collected, not read back."""
    heads = db.session.execute(
        select(W.c.api_key_id, W.c.url, func.min(W.c.id))
        .where(W.c.status == PENDING)
        .group_by(W.c.api_key_id, W.c.url)
    ).all()
    if not heads:
        return []
    ready = {
        head_id
        for head_id, next_at in db.session.execute(
            select(W.c.id, W.c.next_attempt_at).where(W.c.id.in_([h[2] for h in heads]))
        )
        if next_at is None or next_at <= now
    }
    size = setting("WEBHOOK_BATCH_SIZE")
    queues = []
    for key_id, url, head_id in heads:
        if head_id not in ready or len(queues) >= limit_receivers:
            continue
        just_collected = (fresh or {}).get((key_id, url))
        if just_collected and just_collected[0][0] == head_id:
            # All of them: what one collect wrote is bounded by COLLECT_BATCH already, and a
            # remainder left pending would put the receiver on the read-back path from then on.
            pending = [(event_id, body, 0) for event_id, body in just_collected]
        else:
            # Plain rows, not ORM objects: a busy receiver gets thousands of events a second.
            pending = [(e.id, envelope(e), e.attempts) for e in db.session.execute(
                select(W.c.id, W.c.type, W.c.occurred_at, W.c.seq, W.c.payload, W.c.attempts)
                .where(W.c.api_key_id == key_id, W.c.url == url, W.c.status == PENDING)
                .order_by(W.c.id)
                .limit(size * BATCHES_PER_ROUND)
            )]
        # Each POST: its events' ids, bodies and tries so far.
        queues.append([
            Batch(key_id, url, [item[0] for item in chunk], [item[1] for item in chunk], [item[2] for item in chunk])
            for chunk in (pending[i : i + size] for i in range(0, len(pending), size))
        ])
    return queues


_client_lock = threading.Lock()
_clients: dict[float, httpx.Client] = {}


def client(timeout: float) -> httpx.Client:
    """One pooled client per process (and time-out), kept across runs: receivers keep their
    connections open between POSTs."""
    with _client_lock:
        if timeout not in _clients:
            _clients[timeout] = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                limits=httpx.Limits(
                    max_connections=PARALLEL_RECEIVERS * 2,
                    max_keepalive_connections=PARALLEL_RECEIVERS,
                ),
                headers={
                    "User-Agent": "Switchboard-Webhooks/1",
                    "Content-Type": "application/json",
                },
                follow_redirects=False,
            )
        return _clients[timeout]


def post(http: httpx.Client, url: str, body: bytes, signature: str) -> Outcome:
    started = time.perf_counter()
    try:
        response = http.post(url, content=body, headers={SIGNATURE_HEADER: signature})
    except httpx.HTTPError as exc:
        return Outcome(
            None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"[:500]
        )
    error = (
        None
        if 200 <= response.status_code < 300
        else f"HTTP {response.status_code}: {response.text[:200]}"
    )
    return Outcome(response.status_code, (time.perf_counter() - started) * 1000, error)


def deliver(now: datetime, http: httpx.Client | None = None, fresh: Fresh | None = None) -> int:
    """One round: each due receiver's POSTs go out one after the other, stopping at its first
    failure (what follows waits for it: order per receiver); receivers are served in parallel.
    Each outcome is recorded; commit. Returns how many events were delivered."""
    queues = due_batches(now, fresh=fresh)
    if not queues:
        return 0
    http = http or client(setting("WEBHOOK_TIMEOUT_SECONDS"))
    secrets_by_key = {
        key.id: webhook_secret(key)
        for key in db.session.scalars(
            select(ApiKey).where(ApiKey.id.in_({queue[0].api_key_id for queue in queues}))
        )
    }
    timestamp = int(now.timestamp())
    db.session.commit()  # no transaction stays open while receivers answer

    def post_in_order(queue: list[Batch]) -> list[tuple[Batch, Outcome]]:
        done = []
        for batch in queue:
            body = orjson.dumps({"events": batch.envelopes})
            outcome = post(
                http, batch.url, body, sign(secrets_by_key[batch.api_key_id], timestamp, body)
            )
            done.append((batch, outcome))
            if not outcome.ok:
                break
        return done

    with ThreadPoolExecutor(max_workers=min(PARALLEL_RECEIVERS, len(queues))) as pool:
        results = list(pool.map(post_in_order, queues))
    delivered = _record([outcome for done in results for outcome in done], now)
    db.session.commit()
    return delivered


# What a delivered event's row becomes; `attempts` is the event's count so far plus this one.
_DELIVERED_COLUMNS = ("status", "delivered_at", "next_attempt_at", "attempts", "last_attempt_at",
                      "last_status_code", "last_latency_ms", "last_error")
_ATTEMPT_COLUMNS = ("url", "event_ids", "at", "status_code", "latency_ms", "error")


def _record(done: list[tuple[Batch, Outcome]], now: datetime) -> int:
    """Write each POST's attempt and its events' new state; the caller commits. Returns how many
    events were delivered. Every row is prepared before the first write, and the writes are one
    statement per table: on SQLite this transaction holds the database's one write lock, and the
    sender waits while it does (docs/performance.md, "HTTP API")."""
    delivered = [
        {"b_id": event_id, "g_status": PENDING, "status": DELIVERED, "delivered_at": now,
         "next_attempt_at": None, "attempts": tried + 1, "last_attempt_at": now,
         "last_status_code": outcome.status_code, "last_latency_ms": round(outcome.latency_ms, 1),
         "last_error": None}
        for batch, outcome in done if outcome.ok
        for event_id, tried in zip(batch.event_ids, batch.attempts)
    ]
    attempts = [{"url": batch.url, "event_ids": batch.event_ids, "at": now, "status_code": outcome.status_code,
                 "latency_ms": round(outcome.latency_ms, 1), "error": outcome.error} for batch, outcome in done]
    conn = db.session.connection()
    # Guarded by the status read: an event a redeliver or another round moved is left as it is.
    bulk.update_many(conn, W, _DELIVERED_COLUMNS, delivered, guard=("status",))
    for batch, outcome in done:
        if not outcome.ok:
            _record_failure(batch, outcome, now)
    bulk.insert_many(conn, WebhookAttempt.__table__, _ATTEMPT_COLUMNS, attempts)
    return len(delivered)


def _record_failure(batch: Batch, outcome: Outcome, now: datetime) -> None:
    """A POST that failed: its events wait for their next try, or fail after the retry period."""
    common = {
        "attempts": WebhookEvent.attempts + 1,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_latency_ms": round(outcome.latency_ms, 1),
        "last_error": outcome.error,
    }
    # The status without its index: found by id, re-checked (models.types.unindexed says why).
    pending = (WebhookEvent.id.in_(batch.event_ids), unindexed(WebhookEvent.status) == PENDING)
    give_up_before = now - timedelta(hours=setting("WEBHOOK_RETRY_HOURS"))
    retry_at = now + timedelta(
        seconds=backoff_delay(
            batch.head_attempts + 1,
            base=setting("WEBHOOK_RETRY_BASE_SECONDS"),
            cap=setting("WEBHOOK_RETRY_MAX_SECONDS"),
        )
    )
    db.session.execute(
        update(WebhookEvent)
        .where(*pending, WebhookEvent.created_at < give_up_before)
        .values(status=FAILED, next_attempt_at=None, **common)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(WebhookEvent)
        .where(*pending)
        .values(next_attempt_at=retry_at, **common)
        .execution_options(synchronize_session=False)
    )


def run(now_fn, budget_seconds: float = 2.0) -> int:
    """The scheduler job: collect and deliver until nothing is due or the budget is spent."""
    deadline = time.monotonic() + budget_seconds
    delivered = 0
    while True:
        now = now_fn()
        collected, fresh = _collect(now)
        sent = deliver(now, fresh=fresh)
        delivered += sent
        if (not collected and not sent) or time.monotonic() > deadline:
            return delivered


# ----------------------------------------------------------------------------- the console


def redeliver(event: WebhookEvent, now: datetime) -> None:
    """Send this event again, as soon as its receiver is reachable (an ops action, audited)."""
    event.status = PENDING
    event.next_attempt_at = None
    event.delivered_at = None
    audit.record(
        "webhook_redeliver",
        target=event,
        now=now,
        detail=f"event evt_{event.id} to {event.url[:200]}",
    )
    db.session.commit()


def attempts_of(event: WebhookEvent) -> list[WebhookAttempt]:
    """The POSTs that carried this event, newest first."""
    candidates = db.session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.url == event.url, WebhookAttempt.at >= event.created_at)
        .order_by(WebhookAttempt.id.desc())
        .limit(500)
    )
    return [a for a in candidates if event.id in a.event_ids]


def event_counts() -> dict[str, int]:
    return dict(
        db.session.execute(
            select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
        ).all()
    )


def iso_time(value: datetime) -> str:
    """RFC 3339 in UTC, as the API writes every time ("2026-11-30T22:15:03.120000Z")."""
    return value.isoformat().replace("+00:00", "Z")
