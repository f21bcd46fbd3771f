"""The webhook job's starting point is a state on each message, not a cursor over ids: on
PostgreSQL a sender transaction can take an event id first and commit after another one, and a
cursor past the later id would never see it."""

from __future__ import annotations

import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy import insert, select, update

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import Message, MessageEvent, WebhookEvent
from dashboard.models.types import utcnow
from dashboard.services import api_keys, webhooks
from dashboard.services.sending import enqueue
from tests.conftest import approved_sender, dispose_engine, make_config


@pytest.fixture
def pg_app(postgres, tmp_path):
    url = postgres.create_database(f"webhooks_{uuid.uuid4().hex[:8]}")
    app = create_app(make_config(tmp_path / "unused.db", DATABASE_URL=url))
    with app.app_context():
        upgrade()
        yield app
        dispose_engine()


def _api_messages(count: int) -> list[int]:
    approved_sender()
    key = api_keys.create_key(
        api_keys.KeySettings(name="app", scopes=("send",), webhook_url="http://127.0.0.1:9/h"),
        created_by_id=None,
        now=utcnow(),
    ).key
    policy = enqueue.Policy(api_key_id=key.id, default_callback="http://127.0.0.1:9/h")
    now = utcnow()
    items = [
        enqueue.Outgoing(to=f"+1202555010{n}", text="hi", source="Switchboard")
        for n in range(1, count + 1)
    ]
    ids = [row["id"] for row in enqueue.insert(enqueue.check(items, policy, now), policy, now)]
    enqueue.commit()
    return ids


def _status_change(connection, message_id: int) -> int:
    """What a sender's transaction writes: the timeline row, then the message's sequence number."""
    event_id = connection.execute(
        insert(MessageEvent.__table__)
        .values(
            message_id=message_id,
            kind="status",
            detail={"seq": 2, "status": "submitted"},
            at=utcnow(),
        )
        .returning(MessageEvent.id)
    ).scalar_one()
    connection.execute(
        update(Message.__table__)
        .where(Message.id == message_id)
        .values(event_seq=2, status="submitted")
    )
    return event_id


def test_a_status_change_committed_after_a_later_one_still_becomes_an_event(pg_app):
    first, second = _api_messages(2)
    webhooks.collect(utcnow())  # both accepted events
    slow, fast = db.engine.connect(), db.engine.connect()
    slow_tx, fast_tx = slow.begin(), fast.begin()
    early_id = _status_change(slow, first)  # takes its id first…
    late_id = _status_change(fast, second)
    fast_tx.commit()  # …but commits last
    assert early_id < late_id
    webhooks.collect(utcnow())
    seen = set(
        db.session.scalars(
            select(WebhookEvent.message_id).where(WebhookEvent.type == "message.sent")
        )
    )
    assert seen == {second}
    slow_tx.commit()
    slow.close()
    fast.close()
    webhooks.collect(utcnow())
    sent = db.session.scalars(
        select(WebhookEvent.message_id)
        .where(WebhookEvent.type == "message.sent")
        .order_by(WebhookEvent.id)
    ).all()
    assert sent == [second, first]  # a cursor past `late_id` would have skipped `first` for good


def test_collecting_twice_writes_each_event_once(database_app):
    ids = _api_messages(3)
    webhooks.collect(utcnow())
    webhooks.collect(utcnow())
    assert sorted(db.session.scalars(select(WebhookEvent.message_id))) == ids
