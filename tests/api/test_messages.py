"""POST /messages and /messages/batch, reading messages back, idempotency, each refusal's own
problem type, and the key: scopes, rate limit, revocation, and the wall between API and console."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import Message, MessageTemplate
from dashboard.models.types import utcnow
from dashboard.services import api_keys
from dashboard.services.sending import enqueue
from tests.api.conftest import Api
from tests.conftest import approved_sender, make_config, numbers

SEND = {"to": "+12025550101", "from": "Switchboard", "text": "Your code is ready"}


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def _problem(response) -> str:
    assert response.mimetype == "application/problem+json", response.data
    return response.get_json()["type"].rsplit("/", 1)[1]


def test_the_same_idempotency_key_twice_creates_one_message_and_another_body_is_a_conflict(
    api, sender
):
    first = api.post("/messages", json=SEND, headers={"Idempotency-Key": "order-1"})
    again = api.post("/messages", json=SEND, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert _count() == 1
    other = api.post(
        "/messages", json={**SEND, "text": "another"}, headers={"Idempotency-Key": "order-1"}
    )
    assert other.status_code == 409 and _problem(other) == "idempotency-key-reused"
    assert _count() == 1


def test_an_idempotent_batch_is_queued_once(api, sender):
    batch = {"messages": [{**SEND, "to": number} for number in numbers(3)]}
    first = api.post("/messages/batch", json=batch, headers={"Idempotency-Key": "b-1"})
    assert (
        api.post("/messages/batch", json=batch, headers={"Idempotency-Key": "b-1"}).get_json()
        == first.get_json()
    )
    assert _count() == 3


def test_an_opted_out_recipient_gets_its_problem_type_and_nothing_is_sent(api, sender):
    contact = api.post("/contacts", json={"phone": "+12025550101"}).get_json()
    api.post(f"/contacts/{contact['id']}/opt-out", json={"evidence": "asked us on the phone"})
    refused = api.post("/messages", json=SEND)
    assert refused.status_code == 422 and _problem(refused) == "recipient-opted-out"
    assert refused.get_json()["errors"] == [
        {"field": "to", "detail": "+12025550101: opted out of all messages"}
    ]
    batch = api.post("/messages/batch", json={"messages": [{**SEND, "to": "+12025550102"}, SEND]})
    assert _problem(batch) == "batch-refused"
    assert batch.get_json()["errors"][0]["index"] == 1
    assert batch.get_json()["errors"][0]["type"].endswith("/recipient-opted-out")
    assert _count() == 0


@pytest.mark.parametrize(
    ("change", "status", "problem", "field"),
    [
        ({"to": "12345"}, 422, "invalid-number", "to"),
        ({"from": "Nobody"}, 422, "unknown-sender", "from"),
        ({"to": "+33612345678"}, 422, "sender-not-approved", "from"),
        ({"text": "x" * 39_200}, 422, "text-too-long", "text"),
        ({"text": ""}, 422, "empty-text", "text"),
        ({"text": None}, 422, "validation-error", "body"),
        ({"to": 12025550101}, 422, "validation-error", "to"),
        ({"priority": "urgent"}, 422, "validation-error", "priority"),
        ({"callback_url": "ftp://example.com"}, 422, "validation-error", "callback_url"),
        ({"surprise": 1}, 422, "validation-error", "surprise"),
        ({"template_id": 999}, 422, "validation-error", "body"),
        ({"text": None, "template_id": 999}, 422, "unknown-template", "template_id"),
        ({"schedule_at": "2026-01-01T10:00:00"}, 422, "validation-error", "schedule_at"),
    ],
)
def test_each_kind_of_bad_message_gets_its_own_problem_type_and_field(
    api, sender, change, status, problem, field
):
    body = {key: value for key, value in {**SEND, **change}.items() if value is not None}
    response = api.post("/messages", json=body)
    assert (response.status_code, _problem(response)) == (status, problem)
    assert field in {error["field"] for error in response.get_json()["errors"]}
    assert _count() == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b"", b'{"to": "\\ud800"}'])
def test_a_malformed_body_is_a_400_problem_not_an_error(api, sender, raw):
    response = api.post("/messages", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and _problem(response) == "malformed-body"


def test_a_batch_is_accepted_whole_in_one_transaction_or_refused_whole_with_each_item_named(
    api, sender
):
    good = [{**SEND, "to": number, "client_ref": f"c{i}"} for i, number in enumerate(numbers(4))]
    bad = good[:1] + [{**SEND, "to": "1"}, {**SEND, "from": "Nobody"}] + good[1:]
    refused = api.post("/messages/batch", json={"messages": bad})
    assert refused.status_code == 422
    assert [
        (e["index"], e["field"], e["type"].rsplit("/", 1)[1]) for e in refused.get_json()["errors"]
    ] == [(1, "messages[1].to", "invalid-number"), (2, "messages[2].from", "unknown-sender")]
    assert _count() == 0
    accepted = api.post("/messages/batch", json={"messages": good})
    assert accepted.status_code == 201 and accepted.get_json()["count"] == 4
    assert [m["client_ref"] for m in accepted.get_json()["data"]] == ["c0", "c1", "c2", "c3"]
    assert _count() == 4


def test_a_message_is_read_back_and_found_by_its_filters_a_page_at_a_time(api, sender):
    for i, number in enumerate(numbers(5)):
        api.post("/messages", json={**SEND, "to": number, "client_ref": f"ref-{i % 2}"})
    page = api.get("/messages", query_string={"limit": 2}).get_json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = api.get(
        "/messages", query_string={"limit": 10, "cursor": page["next_cursor"]}
    ).get_json()
    assert [m["id"] for m in page["data"] + rest["data"]] == [5, 4, 3, 2, 1] and rest[
        "next_cursor"
    ] is None
    assert {m["id"] for m in api.get("/messages?client_ref=ref-1").get_json()["data"]} == {2, 4}
    assert [
        m["id"] for m in api.get("/messages", query_string={"to": numbers(1)[0]}).get_json()["data"]
    ] == [1]
    assert api.get("/messages?status=delivered").get_json()["data"] == []
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert api.get("/messages", query_string={"created_after": later}).get_json()["data"] == []
    assert _problem(api.get("/messages?limit=1000")) == "validation-error"
    assert _problem(api.get("/messages?created_after=yesterday")) == "validation-error"
    assert api.get("/messages/999").status_code == 404


def test_a_template_renders_with_params_and_the_footer_its_kind_needs(api, sender):
    template = MessageTemplate(
        name="promo", body="Hi {{ first_name }}, {{ deal }}", kind="marketing", created_at=utcnow()
    )
    db.session.add(template)
    db.session.commit()
    response = api.post(
        "/messages",
        json={
            "to": "+12025550101",
            "from": "Switchboard",
            "template_id": template.id,
            "params": {"first_name": "Ann", "deal": "20% off"},
        },
    )
    assert response.get_json()["text"] == "Hi Ann, 20% off\nReply STOP to opt out"


def test_a_key_may_refuse_the_same_text_to_the_same_number_within_its_window(
    client, make_key, sender
):
    api = Api(client, make_key(duplicate_window_minutes=10).token)
    assert api.post("/messages", json=SEND).status_code == 201
    again = api.post("/messages", json=SEND)
    assert again.status_code == 409 and _problem(again) == "duplicate-message"
    assert api.post("/messages", json={**SEND, "text": "something else"}).status_code == 201


def test_a_message_past_its_validity_period_expires_unsent_and_a_scheduled_one_waits(api, sender):
    sent = api.post("/messages", json={**SEND, "validity_period": 60}).get_json()
    later = (utcnow() + timedelta(hours=1)).isoformat()
    scheduled = api.post(
        "/messages", json={**SEND, "to": "+12025550102", "schedule_at": later}
    ).get_json()
    assert scheduled["scheduled_at"] is not None
    assert enqueue.expire_overdue(utcnow() + timedelta(seconds=61)) == 1
    enqueue.commit()
    shown = api.get(f"/messages/{sent['id']}").get_json()
    assert shown["status"] == "expired" and "validity period" in shown["reason"]
    assert api.get(f"/messages/{scheduled['id']}").get_json()["status"] == "queued"


def test_without_a_valid_key_the_api_answers_401_and_a_revoked_key_opens_nothing(
    client, make_key, sender
):
    assert _problem(client.get("/api/v1/messages")) == "unauthorized"
    assert (
        client.get("/api/v1/messages", headers={"Authorization": "Bearer sb_nope_nope"}).status_code
        == 401
    )
    new = make_key()
    api = Api(client, new.token)
    assert api.get("/messages").status_code == 200
    assert Api(client, new.token + "x").get("/messages").status_code == 401
    api_keys.revoke_key(new.key, utcnow())
    assert api.get("/messages").status_code == 401


def test_a_key_without_the_scope_gets_403(client, make_key, sender):
    api = Api(client, make_key(scopes=("read",)).token)
    assert api.get("/messages").status_code == 200
    refused = api.post("/messages", json=SEND)
    assert refused.status_code == 403 and _problem(refused) == "insufficient-scope"


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(client, make_key, sender):
    api = Api(client, make_key(rate_limit="3 per minute").token)
    answers = [api.get("/messages") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert (
        _problem(answers[-1]) == "rate-limited"
        and 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    )


def test_a_console_session_opens_no_api_and_an_api_key_opens_no_console(
    client, auth, make_user, make_key, sender
):
    make_user()
    auth.login()
    assert client.get("/api/v1/messages").status_code == 401  # logged in to the console, no key
    auth.logout()
    token = make_key().token
    page = client.get("/messages/", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


def test_the_api_needs_no_csrf_token_where_the_console_does(database_url):
    app = create_app(make_config(database_url, WTF_CSRF_ENABLED=True))
    with app.app_context():
        approved_sender()
        token = api_keys.create_key(
            api_keys.KeySettings(name="app", scopes=("send",)), created_by_id=None, now=utcnow()
        ).token
        client = app.test_client()
        assert (
            client.post(
                "/api/v1/messages", json=SEND, headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 201
        )
        assert (
            client.post("/login", data={"email": "a@example.com", "password": "x"}).status_code
            == 400
        )
        db.session.remove()
        db.engine.dispose()


def test_an_unknown_endpoint_or_method_is_a_problem_not_an_html_page(api):
    missing = api.get("/nowhere")
    assert missing.status_code == 404 and _problem(missing) == "not-found"
    wrong = api.client.delete("/api/v1/messages")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert api.get("/messages/99999999999999999999").status_code == 404
    assert api.client.get("/api/v1/problems/recipient-opted-out").get_json()["status"] == 422


def test_an_opt_out_of_one_brand_refuses_that_brands_senders_only(api, sender):
    from dashboard.models import SenderId

    approved_sender("AcmeShop").brand = "Acme"
    db.session.commit()
    contact = api.post("/contacts", json={"phone": "+12025550101"}).get_json()
    api.post(f"/contacts/{contact['id']}/opt-out", json={"evidence": "web form", "brand": "Acme"})
    refused = api.post("/messages", json={**SEND, "from": "AcmeShop"})
    assert _problem(refused) == "recipient-opted-out" and "Acme" in refused.get_json()["detail"]
    assert api.post("/messages", json=SEND).status_code == 201  # a sender of no brand
    assert db.session.scalar(select(SenderId.brand).where(SenderId.value == "AcmeShop")) == "Acme"
