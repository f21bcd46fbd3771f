"""Leases on both databases: one holder at a time, taken over once expired with a new epoch, and
a holder that lost its lease fenced off from claiming and from marking parts as submitting."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Bind, Message, MessagePart
from dashboard.models.types import utcnow
from dashboard.services import leases
from dashboard.services.routing import RouteChoice
from dashboard.services.sending.claim import claim_messages, mark_parts_submitting
from dashboard.services.sending.enqueue import insert_messages, message_values
from dashboard.services.sending.rows import BindSettings
from dashboard.sms.encoding import analyse

TTL = timedelta(seconds=15)
CLAIM = timedelta(seconds=30)


def test_a_lease_has_one_holder_until_it_expires_and_a_takeover_raises_its_epoch(database_app):
    now = utcnow()
    first = leases.acquire("bind:1", "w1", now, TTL)
    assert first is not None and first.epoch == 1
    assert leases.acquire("bind:1", "w2", now + timedelta(seconds=5), TTL) is None
    assert leases.renew(first, now + timedelta(seconds=10), TTL) is not None  # held until now + 25 s
    assert leases.acquire("bind:1", "w2", now + timedelta(seconds=20), TTL) is None
    taken = leases.acquire("bind:1", "w2", now + timedelta(seconds=26), TTL)
    assert taken is not None and taken.epoch == 2
    # The first holder wakes up: its lease is gone, whatever its own clock says.
    assert leases.renew(first, now + timedelta(seconds=27), TTL) is None


def test_a_released_lease_is_taken_at_once(database_app):
    now = utcnow()
    leases.release(leases.acquire("leader", "w1", now, TTL))
    assert leases.acquire("leader", "w2", now + timedelta(seconds=1), TTL).epoch == 2


def test_renewing_ones_own_lease_keeps_its_epoch(database_app):
    now = utcnow()
    lease = leases.acquire("bind:7", "w1", now, TTL)
    again = leases.acquire("bind:7", "w1", now + timedelta(seconds=1), TTL)
    assert again.epoch == lease.epoch


def _queue(n: int) -> BindSettings:
    bind = Bind(name="b", host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.commit()
    text = "code 1234"
    insert_messages([message_values(destination=f"+1415555{i:04d}", text=text, info=analyse(text),
                                    source="S", ton=5, npi=0, route=RouteChoice(bind.id, None, None),
                                    priority=100, now=utcnow(), udh_ref=i) for i in range(n)])
    db.session.commit()
    return BindSettings(bind_id=bind.id)


def test_a_worker_that_lost_its_bind_lease_claims_nothing(database_app):
    settings = _queue(10)
    now = utcnow()
    stale = leases.acquire(leases.bind_lease(settings.bind_id), "w1", now, TTL)
    leases.acquire(leases.bind_lease(settings.bind_id), "w2", now + TTL + timedelta(seconds=1), TTL)
    later = now + TTL + timedelta(seconds=2)
    assert claim_messages(settings, "w1", 10, later, CLAIM, bind_lease=stale) == []
    fresh = leases.acquire(leases.bind_lease(settings.bind_id), "w2", later, TTL)
    assert len(claim_messages(settings, "w2", 10, later, CLAIM, bind_lease=fresh)) == 10


def test_a_worker_that_lost_its_lease_after_claiming_cannot_mark_parts_as_submitting(database_app):
    settings = _queue(3)
    now = utcnow()
    lease = leases.acquire(leases.bind_lease(settings.bind_id), "w1", now, TTL)
    parts = claim_messages(settings, "w1", 3, now, CLAIM, bind_lease=lease)
    assert len(parts) == 3
    # It stalls past its lease; another worker takes the bind.
    leases.acquire(leases.bind_lease(settings.bind_id), "w2", now + TTL + timedelta(seconds=1), TTL)
    with pytest.raises(leases.LeaseLost):
        mark_parts_submitting([(part, n) for n, part in enumerate(parts, 1)], "s1",
                              now + TTL + timedelta(seconds=2), bind_lease=lease)
    assert db.session.scalar(select(func.count()).select_from(MessagePart)
                             .where(MessagePart.status == "submitting")) == 0
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.status == "submitting")) == 3
