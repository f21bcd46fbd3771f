"""The bind runner keeps the rows of what it has claimed, so that recording a response needs no
reload (sending.rows.OwnedRows). Kept rows can go stale; these tests show that a stale row is never
written over what another process did, and that kept rows record exactly what fresh ones do."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from dashboard.extensions import db
from dashboard.models import Bind, DeliveryReceipt, Message, MessageEvent, MessagePart
from dashboard.models.types import utcnow
from dashboard.services.sending import record
from dashboard.services.sending.claim import claim_messages, mark_parts_submitting
from dashboard.services.sending.housekeeping import reap_expired_claims
from dashboard.services.sending.record import InboundReceipt, SubmitResult, record_outcomes
from dashboard.services.sending.rows import BindSettings, OwnedRows

LEASE = timedelta(seconds=30)


def _queue(texts: list[str]) -> BindSettings:
    bind = Bind(name="b", host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.commit()
    now = utcnow()
    db.session.execute(Message.__table__.insert(), [
        dict(destination=f"+1415555{i:04d}", source="S", source_ton=5, source_npi=0, text=text, encoding="gsm7",
             segments=1, priority=100, status="queued", bind_id=bind.id, udh_ref=i, created_at=now, attempts=0,
             event_seq=0, possible_duplicate=False) for i, text in enumerate(texts)])
    db.session.commit()
    return BindSettings(bind_id=bind.id)


def _send(settings: BindSettings, owned: OwnedRows | None, limit: int = 10):
    now = utcnow()
    parts = claim_messages(settings, "w1", limit, now, LEASE, owned)
    mark_parts_submitting([(part, n) for n, part in enumerate(parts, start=1)], "session-1", now, owned)
    return parts


def test_a_kept_row_that_went_stale_is_not_written_over(database_app):
    settings = _queue(["hello"])
    owned = OwnedRows()
    [part] = _send(settings, owned)
    assert len(owned) == 1

    # The runner stalls past its lease; the reaper hands the message back to the queue.
    reap_expired_claims(utcnow() + LEASE + timedelta(seconds=1))

    # Then the late response arrives. The kept rows still say "submitting": trusting them would
    # mark the message submitted while the queue holds it for a retry.
    record_outcomes(settings, [SubmitResult(part_id=part.part_id, command_status=0, smsc_message_id="abc")],
                    [], [], utcnow(), owned=owned)

    db.session.expire_all()
    message = db.session.get(Message, part.message_id)
    stored = db.session.get(MessagePart, part.part_id)
    assert (message.status, message.possible_duplicate) == ("queued", True)
    assert (stored.status, stored.smsc_message_id) == ("pending", None)
    assert len(owned) == 0  # dropped, to be read afresh
    assert "pending_events" not in db.session.info  # the undone transaction's timeline went with it


def test_kept_rows_record_what_fresh_rows_record(database_app):
    settings = _queue(["one", "two"])
    owned = OwnedRows()
    with_kept, = _send(settings, owned, limit=1)
    without, = _send(settings, None, limit=1)
    now = utcnow()
    for part, kept, smsc_id in ((with_kept, owned, "a1"), (without, None, "b2")):
        record_outcomes(settings, [SubmitResult(part_id=part.part_id, command_status=0, smsc_message_id=smsc_id)],
                        [InboundReceipt(smsc_message_id=smsc_id, stat="DELIVRD", err="000", status="delivered",
                                        raw={})], [], now, owned=kept)
    assert len(owned) == 0  # settled: no longer the runner's

    def state(part):
        message = db.session.get(Message, part.message_id)
        stored = db.session.get(MessagePart, part.part_id)
        events = db.session.scalars(select(MessageEvent.kind).where(MessageEvent.message_id == part.message_id)
                                    .order_by(MessageEvent.id)).all()
        return (message.status, message.event_seq, message.claimed_by, message.submitted_at is not None,
                message.done_at, stored.status, stored.receipt_stat, stored.price, events)

    db.session.expire_all()
    assert state(with_kept) == state(without)
    status, _, _, has_submitted_at, *_ = state(with_kept)
    # Response and receipt in one batch: it still says when it was submitted.
    assert (status, has_submitted_at) == ("delivered", True)


def test_a_failure_while_recording_drops_the_kept_rows(database_app, monkeypatch):
    settings = _queue(["hello"])
    owned = OwnedRows()
    [part] = _send(settings, owned)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(record, "settle", broken)
    try:
        record_outcomes(settings, [SubmitResult(part_id=part.part_id, command_status=0, smsc_message_id="x")],
                        [], [], utcnow(), owned=owned)
    except RuntimeError:
        pass
    # The kept rows were changed in memory before the failure: they must not be trusted again.
    assert len(owned) == 0


def test_on_postgresql_a_batch_s_writes_go_out_in_one_pipeline(database_app):
    """On PostgreSQL each statement waits a round trip for its answer; the sender's writes do not
    need theirs, so claim, submit and record each send theirs in one pipeline and wait once
    (docs/scaling.md, "Round trips"). The claim itself (it returns rows) waits, as it must."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite answers in-process: there is no round trip to save")
    from psycopg import pq

    settings = _queue(["one", "two"])
    owned = OwnedRows()
    writes: list[tuple[str, bool]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        if words[0] in ("INSERT", "UPDATE"):
            table = words[2] if words[0] == "INSERT" else words[1]
            writes.append((table, conn.connection.driver_connection.pgconn.pipeline_status == pq.PipelineStatus.ON))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        parts = _send(settings, owned)
        record_outcomes(settings, [SubmitResult(part_id=p.part_id, command_status=0, smsc_message_id=f"id{n}")
                                   for n, p in enumerate(parts)],
                        [InboundReceipt(smsc_message_id="id0", stat="DELIVRD", err="000", status="delivered", raw={})],
                        [], utcnow(), owned=owned)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert {t.name for t in (Message.__table__, MessagePart.__table__, MessageEvent.__table__, DeliveryReceipt.__table__)
            } <= {table for table, _ in writes}
    assert [table for table, piped in writes if not piped] == []
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Message.status))) == ["delivered", "submitted"]
