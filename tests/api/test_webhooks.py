"""Webhooks against the live app, the worker and the simulator: signed with the documented check,
in order per message with its timeline sequence, every event once a receiver is back, nothing lost
or reordered when the job dies mid-batch, MOs too, and the delivery log's redeliver button."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from dashboard.api import examples
from dashboard.extensions import db
from dashboard.models import InboundMessage, Message, WebhookAttempt, WebhookEvent
from dashboard.models.types import utcnow
from dashboard.services import webhooks
from tests.conftest import approved_sender, wait_for

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_check():
    """The signature check exactly as docs/api.md and the console's API page show it."""
    assert examples.VERIFY_SNIPPET in DOCS.read_text()
    namespace: dict = {}
    exec(examples.VERIFY_SNIPPET, namespace)  # noqa: S102 (the snippet is ours, and the point is to run it)
    return namespace["verify_signature"]


def _send(api, to: str, **extra) -> int:
    response = api.post(
        "/messages",
        json={"to": to, "from": "Switchboard", "text": "Your parcel is on its way", **extra},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_a_message_sent_by_the_api_ends_delivered_and_its_signed_webhooks_arrive_in_order(
    app, client, make_key, receiver, simulator, make_bind, worker
):
    approved_sender()
    make_bind(simulator)
    new = make_key(webhook_url=receiver.url)
    from tests.api.conftest import Api

    api = Api(client, new.token)
    message_id = _send(api, "+12025550101", client_ref="order-7")
    worker()
    wait_for(
        lambda: any(e["type"] == "message.delivered" for e in receiver.events()),
        message="delivered webhook",
    )

    verify_signature = documented_check()
    for headers, body in receiver.posts:
        assert verify_signature(new.webhook_secret, headers["Switchboard-Signature"], body)
        assert not verify_signature("whsec_someone_else", headers["Switchboard-Signature"], body)
        assert not verify_signature(
            new.webhook_secret, headers["Switchboard-Signature"], body + b" "
        )
    events = [e for e in receiver.events() if e["data"]["message_id"] == message_id]
    assert [e["type"] for e in events] == ["message.accepted", "message.sent", "message.delivered"]
    assert [e["seq"] for e in events] == sorted(
        {e["seq"] for e in events}
    )  # increasing, none twice
    assert all(
        e["data"]["client_ref"] == "order-7" and re.fullmatch(r"evt_\d+", e["id"]) for e in events
    )
    assert events[-1]["data"]["parts"][0]["receipt_stat"] == "DELIVRD"

    shown = api.get(f"/messages/{message_id}").get_json()
    assert shown["status"] == "delivered" and shown["parts"][0]["receipt"]["stat"] == "DELIVRD"
    assert shown["parts"][0]["smsc_message_id"] == events[-1]["data"]["parts"][0]["smsc_message_id"]


def test_each_event_is_staged_in_the_transaction_that_makes_the_change_not_read_back_later(
    app, client, make_key, receiver, simulator, make_bind, worker
):
    """The API's enqueue stages `accepted`, the sender `sent` and `delivered`, each with its
    timeline row: with the webhook job held off (another holds its lease), the outbox still has
    all three, in order, and nothing is left for the job's collect to read back."""
    from dashboard.models import Message
    from dashboard.services import leases
    from dashboard.worker.webhook_process import WEBHOOKS_LEASE
    from tests.api.conftest import Api

    approved_sender()
    make_bind(simulator)
    assert leases.acquire(WEBHOOKS_LEASE, "the test", utcnow(), timedelta(minutes=5)) is not None
    api = Api(client, make_key(webhook_url=receiver.url).token)
    message_id = _send(api, "+12025550101", client_ref="order-8")
    worker()
    wait_for(lambda: db.session.scalar(select(Message.status).where(Message.id == message_id)) == "delivered"
             or db.session.commit(), message="delivered")
    staged = db.session.execute(
        select(WebhookEvent.type, WebhookEvent.seq, WebhookEvent.status, WebhookEvent.payload)
        .where(WebhookEvent.message_id == message_id).order_by(WebhookEvent.id)).all()
    assert [(kind, seq, status) for kind, seq, status, _ in staged] == [
        ("message.accepted", 1, "pending"), ("message.sent", 2, "pending"), ("message.delivered", 3, "pending")]
    assert staged[-1].payload["parts"][0]["receipt_stat"] == "DELIVRD"
    assert staged[-1].payload["client_ref"] == "order-8"
    message = db.session.get(Message, message_id)
    assert message.webhook_seq == message.event_seq == 3
    assert webhooks.collect(utcnow()) == 0  # nothing left to read back from the timeline
    assert receiver.posts == []


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back_in_order(
    app, client, make_key, receiver, simulator, make_bind, worker
):
    app.config.update(WEBHOOK_RETRY_BASE_SECONDS=0.2, WEBHOOK_RETRY_MAX_SECONDS=0.5)
    approved_sender()
    make_bind(simulator)
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    receiver.status = 503
    ids = [_send(api, f"+1202555010{n}") for n in range(1, 6)]
    worker()
    wait_for(
        lambda: (
            db.session.scalar(select(Message.status).where(Message.id == ids[-1])) == "delivered"
            and not db.session.expire_all()
        ),
        message="messages delivered while the receiver is down",
    )
    wait_for(lambda: receiver.refused >= 3, message="retries against the receiver that is down")
    assert receiver.events() == []
    receiver.status = 200
    wait_for(
        lambda: sum(e["type"] == "message.delivered" for e in receiver.events()) == 5,
        timeout=20,
        message="every delivered event once the receiver is back",
    )
    for message_id in ids:
        mine = [e for e in receiver.events() if e["data"]["message_id"] == message_id]
        assert [e["type"] for e in mine] == [
            "message.accepted",
            "message.sent",
            "message.delivered",
        ]
        assert [e["seq"] for e in mine] == sorted(e["seq"] for e in mine)

    def accepted():
        db.session.expire_all()
        return db.session.scalars(
            select(WebhookEvent).where(WebhookEvent.type == "message.accepted")
        ).all()

    wait_for(
        lambda: all(e.status == "delivered" for e in accepted()), message="the outcome recorded"
    )
    assert [(e.status, e.attempts >= 2, e.last_status_code) for e in accepted()] == [
        ("delivered", True, 200)
    ] * 5


class _Crash(Exception):
    pass


def test_the_webhook_job_dying_after_a_post_loses_nothing_and_keeps_the_order(
    app, client, make_key, receiver, monkeypatch
):
    approved_sender()
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    ids = [_send(api, f"+1202555010{n}") for n in range(1, 4)]
    app.config["WEBHOOK_BATCH_SIZE"] = 2
    now = utcnow()
    webhooks.collect(now)
    real_record = webhooks._record

    def record_then_die(done, when):
        raise _Crash("worker killed after the POST, before recording it")

    monkeypatch.setattr(webhooks, "_record", record_then_die)
    with pytest.raises(_Crash):
        webhooks.deliver(now)
    db.session.rollback()
    monkeypatch.setattr(webhooks, "_record", real_record)
    first = [e["id"] for e in receiver.events()]
    assert (
        len(receiver.posts) == 2 and len(first) == 3
    )  # the POSTs went out; their outcome was never written
    while webhooks.deliver(utcnow()):
        pass
    again = [e["id"] for e in receiver.events()][3:]
    assert again == first  # the same events again, with the same ids, in the same order
    assert [e["data"]["message_id"] for e in receiver.events()[3:]] == ids
    assert db.session.scalar(select(WebhookEvent.status).distinct()) == "delivered"


def test_an_inbound_message_is_posted_to_keys_that_asked_for_them(app, make_key, receiver):
    make_key("replies", webhook_url=receiver.url, inbound_webhooks=True)
    make_key("quiet", webhook_url=receiver.url + "/other")
    db.session.add(
        InboundMessage(
            bind_id=None,
            source="12025550101",
            destination="Switchboard",
            text="Thanks!",
            received_at=utcnow(),
        )
    )
    db.session.commit()
    webhooks.collect(utcnow())
    webhooks.deliver(utcnow())
    [event] = receiver.events()
    assert event["type"] == "inbound.received" and event["data"]["text"] == "Thanks!"
    assert db.session.scalar(select(InboundMessage.webhook_done))


def test_events_are_given_up_after_the_retry_period_and_the_next_ones_go(
    app, client, make_key, receiver
):
    approved_sender()
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    _send(api, "+12025550101")
    start = utcnow()
    webhooks.collect(start)
    receiver.status = 500
    webhooks.deliver(start)
    [event] = db.session.scalars(select(WebhookEvent)).all()
    assert (
        event.status == "pending"
        and event.last_status_code == 500
        and event.next_attempt_at > start
    )
    later = start + timedelta(hours=app.config["WEBHOOK_RETRY_HOURS"], minutes=1)
    webhooks.deliver(later)
    db.session.refresh(event)
    assert event.status == "failed" and event.attempts == 2
    _send(api, "+12025550102")
    webhooks.collect(later)
    receiver.status = 200
    assert webhooks.deliver(later) == 1


def test_the_delivery_log_shows_attempts_and_redelivers_an_event(
    app, client, auth, make_user, make_key, receiver
):
    approved_sender()
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    _send(api, "+12025550101")
    webhooks.collect(utcnow())
    webhooks.deliver(utcnow())
    [event] = db.session.scalars(select(WebhookEvent)).all()
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    page = client.get("/webhooks/").data.decode()
    assert f'data-event="{event.id}"' in page and "message.accepted" in page and "200" in page
    detail = client.get(f"/webhooks/{event.id}").data.decode()
    assert "Attempts" in detail and "ms</td>" in detail
    response = client.post(f"/webhooks/{event.id}/redeliver")
    assert response.status_code == 303
    webhooks.deliver(utcnow())
    assert [e["id"] for e in receiver.events()] == [f"evt_{event.id}", f"evt_{event.id}"]
    assert (
        db.session.scalar(select(WebhookAttempt.id).order_by(WebhookAttempt.id.desc()).limit(1))
        == 2
    )


def test_a_failed_message_says_so_with_its_reason_error_and_parts(
    app, client, make_key, receiver, make_simulator, make_bind, worker
):
    from dashboard.simulator.config import OutcomeRule

    simulator = make_simulator(
        outcomes=[
            OutcomeRule(pattern="0107$", stat="UNDELIV"),
            OutcomeRule(pattern="0108$", submit_status=0x0B),
        ]
    )
    approved_sender()
    make_bind(simulator)
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    undelivered, refused = _send(api, "+12025550107"), _send(api, "+12025550108")
    worker()
    wait_for(
        lambda: sum(e["type"] == "message.failed" for e in receiver.events()) == 2,
        message="two failed webhooks",
    )
    failed = {
        e["data"]["message_id"]: e["data"]
        for e in receiver.events()
        if e["type"] == "message.failed"
    }
    assert failed[undelivered]["status"] == "undeliverable" and failed[undelivered]["reason"]
    assert failed[undelivered]["parts"][0]["receipt_stat"] == "UNDELIV"
    assert failed[refused]["status"] == "failed"
    assert failed[refused]["error"] == {"code": 0x0B, "name": "ESME_RINVDSTADR"}


def test_a_round_posts_what_it_collected_without_reading_it_back_and_as_read_back_later(
    app, client, make_key, receiver
):
    """The events a round collects go out from memory (the outbox is not read back for them), and
    they are the very events the outbox holds: a redelivery, read back, posts the same JSON."""
    approved_sender()
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    ids = [_send(api, f"+1202555010{n}") for n in range(1, 3)]
    # As if nobody had staged their events (webhook_events): the job's collect writes them.
    db.session.execute(WebhookEvent.__table__.delete())
    db.session.execute(Message.__table__.update().values(webhook_seq=0))
    db.session.commit()
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert webhooks.run(utcnow, budget_seconds=0) == 2
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if s.lstrip().startswith("SELECT") and "webhook_event.payload" in s]
    first = receiver.events()
    assert [e["data"]["message_id"] for e in first] == ids

    for outbox_event in db.session.scalars(select(WebhookEvent)):
        outbox_event.status = "pending"
    db.session.commit()
    webhooks.deliver(utcnow())  # nothing collected this time: read back from the outbox
    assert receiver.events()[2:] == first


def test_a_receiver_with_older_events_waiting_gets_them_before_the_round_s_new_ones(
    app, client, make_key, receiver
):
    approved_sender()
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    older = _send(api, "+12025550101")
    receiver.status = 500
    webhooks.run(utcnow, budget_seconds=0)
    assert db.session.scalar(select(WebhookEvent.status)) == "pending"
    receiver.status = 200
    newer = _send(api, "+12025550102")
    later = utcnow() + timedelta(hours=1)  # past the older event's back-off
    webhooks.run(lambda: later, budget_seconds=0)
    delivered = [e["data"]["message_id"] for e in receiver.events()]
    assert delivered[-2:] == [older, newer]


def test_a_round_reads_and_prepares_everything_before_its_first_write(app, client, make_key, receiver):
    """On SQLite a transaction holds the database's one write lock from its first write to its
    commit, and the sender waits for it: the webhook job's collect and its record of the POSTs
    each read first and then write, one statement per table (docs/performance.md, "HTTP API")."""
    approved_sender()
    from tests.api.conftest import Api

    api = Api(client, make_key(webhook_url=receiver.url).token)
    for n in range(1, 4):
        _send(api, f"+1202555010{n}")
    app.config["WEBHOOK_BATCH_SIZE"] = 1  # three POSTs in the round
    transactions: list[list[str]] = [[]]

    def seen(conn, cursor, statement, *args):
        transactions[-1].append(" ".join(statement.split())[:40].upper())

    def committed(conn):
        transactions.append([])

    event.listen(db.engine, "before_cursor_execute", seen)
    event.listen(db.engine, "commit", committed)
    try:
        assert webhooks.run(utcnow, budget_seconds=0) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        event.remove(db.engine, "commit", committed)
    assert len(receiver.posts) == 3
    writes = ("INSERT", "UPDATE", "DELETE")
    for statements in transactions:
        first_write = next((i for i, s in enumerate(statements) if s.startswith(writes)), len(statements))
        assert not [s for s in statements[first_write:] if s.startswith("SELECT") and "NEXTVAL" not in s], statements
    recorded = next(t for t in transactions if any(s.startswith("INSERT INTO WEBHOOK_ATTEMPT") for s in t))
    assert [s.split(" SET ")[0].split(" (")[0] for s in recorded if s.startswith(writes)] == [
        "UPDATE WEBHOOK_EVENT", "INSERT INTO WEBHOOK_ATTEMPT"]
    assert db.session.scalar(select(db.func.count()).select_from(WebhookAttempt)) == 3
    assert set(db.session.scalars(select(WebhookEvent.attempts))) == {1}
