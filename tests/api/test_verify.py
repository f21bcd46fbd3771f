"""One-time codes: the priority lane past a queued campaign, hashed codes, attempts limited per
code, number and key, and the fraud guard (geo permissions, velocity per number range, alert)."""

from __future__ import annotations

import re
import time

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, FraudAlert, Message, Verification
from dashboard.models.campaign import KINDS
from dashboard.models.types import utcnow
from dashboard.services.campaigns import create_campaign
from dashboard.services.routing import Router
from dashboard.services.sending.enqueue import insert_messages, message_values
from dashboard.sms.encoding import analyse
from tests.api.conftest import Api
from tests.conftest import approved_sender, wait_for

CAMPAIGN_SIZE = 20_000


def _code_sent_to(simulator, number: str) -> str | None:
    for record in list(simulator.submits):
        if record.destination_addr == number.lstrip("+"):
            return re.search(r"\d{6}", record.text).group(0)
    return None


def _queue_campaign(contact_list, sender) -> None:
    campaign = create_campaign(
        name="Black Friday",
        list_id=contact_list.id,
        sender_id_id=sender.id,
        text="Sale!",
        scheduled_at=utcnow(),
        created_by_id=None,
        now=utcnow(),
    )
    db.session.execute(
        db.update(Campaign).where(Campaign.id == campaign.id).values(status="running")
    )
    info, route, now = analyse("Sale! 50% off today"), Router().choose("+14155550000"), utcnow()
    insert_messages(
        [
            message_values(
                destination=f"+1415{i:07d}",
                text="Sale! 50% off today",
                info=info,
                source=sender.value,
                ton=5,
                npi=0,
                route=route,
                priority=KINDS["marketing"],
                now=now,
                campaign_id=campaign.id,
            )
            for i in range(CAMPAIGN_SIZE)
        ]
    )
    db.session.commit()


def test_a_code_sent_while_a_20000_message_campaign_is_queued_reaches_the_smsc_within_a_second(
    app, api, make_list, simulator, make_bind, worker
):
    sender = approved_sender()
    make_bind(simulator, tps=500, window=20)
    _queue_campaign(make_list(["+12025550199"]), sender)
    worker()
    wait_for(lambda: simulator.submit_count() >= 100, message="the campaign under way")
    started = time.monotonic()
    response = api.post("/verify", json={"to": "+12025550101", "from": "Switchboard"})
    assert response.status_code == 201, response.get_json()
    code = wait_for(
        lambda: _code_sent_to(simulator, "+12025550101"),
        timeout=5,
        interval=0.01,
        message="the code at the SMSC",
    )
    assert time.monotonic() - started < 1.0
    db.session.expire_all()
    queued = db.session.scalar(
        select(func.count()).select_from(Message).where(Message.status == "queued")
    )
    assert queued > CAMPAIGN_SIZE - 2000  # it overtook the campaign rather than waiting for it
    assert (
        api.post("/verify/check", json={"to": "+12025550101", "code": code}).get_json()["status"]
        == "approved"
    )


def test_the_right_code_is_approved_once_and_only_its_hash_is_kept(app, api, sender, monkeypatch):
    response = api.post(
        "/verify",
        json={
            "to": "+12025550101",
            "from": "Switchboard",
            "code_length": 8,
            "template": "Acme code: {{ code }}",
        },
    )
    assert response.status_code == 201
    verification = db.session.get(Verification, response.get_json()["id"])
    message = db.session.get(Message, verification.message_id)
    code = re.search(r"\d{8}", message.text).group(0)
    assert message.priority == 1 and message.valid_until == verification.expires_at
    assert code not in verification.code_hash and len(verification.code_hash) == 64
    assert api.post(
        "/verify/check", json={"to": "+12025550101", "code": "00000000"}
    ).get_json() == {"status": "denied", "verification_id": verification.id, "attempts_left": 4}
    assert (
        api.post("/verify/check", json={"to": "(202) 555-0101", "code": code}).get_json()["status"]
        == "approved"
    )
    assert (
        api.post("/verify/check", json={"to": "+12025550101", "code": code}).get_json()["status"]
        == "denied"
    )
    db.session.expire_all()
    assert (
        db.session.get(Message, verification.message_id).text == "Acme code: ********"
    )  # used: masked


def test_a_code_is_spent_after_the_allowed_wrong_tries(app, api, sender):
    app.config["VERIFY_MAX_ATTEMPTS"] = 2
    api.post("/verify", json={"to": "+12025550101", "from": "Switchboard"})
    code = re.search(r"\d{6}", db.session.scalar(select(Message.text))).group(0)
    assert (
        api.post("/verify/check", json={"to": "+12025550101", "code": "000000"}).get_json()[
            "attempts_left"
        ]
        == 1
    )
    api.post("/verify/check", json={"to": "+12025550101", "code": "000001"})
    assert (
        api.post("/verify/check", json={"to": "+12025550101", "code": code}).get_json()["status"]
        == "denied"
    )


def test_wrong_checks_are_limited_per_number_and_per_key(app, client, make_key, sender):
    app.config.update(VERIFY_FAILED_CHECKS_PER_NUMBER=3, VERIFY_FAILED_CHECKS_PER_KEY=5)
    api = Api(client, make_key().token)
    for _ in range(3):
        api.post("/verify/check", json={"to": "+12025550101", "code": "123456"})
    refused = api.post("/verify/check", json={"to": "+12025550101", "code": "123456"})
    assert (
        refused.status_code == 429
        and refused.get_json()["type"] == "/api/v1/problems/too-many-attempts"
    )
    api.post("/verify/check", json={"to": "+12025550102", "code": "123456"})
    api.post("/verify/check", json={"to": "+12025550103", "code": "123456"})
    by_key = api.post("/verify/check", json={"to": "+12025550104", "code": "123456"})
    assert by_key.status_code == 429 and "API key" in by_key.get_json()["detail"]


def test_codes_to_one_number_are_limited_per_hour(app, api, sender):
    app.config["VERIFY_SENDS_PER_NUMBER"] = 2
    for _ in range(2):
        assert (
            api.post("/verify", json={"to": "+12025550101", "from": "Switchboard"}).status_code
            == 201
        )
    refused = api.post("/verify", json={"to": "+12025550101", "from": "Switchboard"})
    assert (
        refused.status_code == 429
        and refused.get_json()["type"] == "/api/v1/problems/verify-rate-limited"
    )
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2


def test_a_burst_of_codes_to_one_number_range_is_stopped_and_raises_one_alert(
    app, api, client, auth, make_user, sender
):
    app.config.update(VERIFY_PREFIX_LIMIT=5, VERIFY_PREFIX_DIGITS=8)
    answers = [
        api.post("/verify", json={"to": f"+1202555{n:04d}", "from": "Switchboard"}).status_code
        for n in range(100, 112)
    ]
    assert answers == [201] * 5 + [429] * 7
    assert (
        api.post("/verify", json={"to": "+13125550100", "from": "Switchboard"}).status_code == 201
    )  # other range
    [alert] = db.session.scalars(select(FraudAlert)).all()
    assert alert.prefix == "12025550" and alert.kind == "verify_velocity"
    assert (
        db.session.scalar(select(func.count()).select_from(Message)) == 6
    )  # the burst sent nothing more
    make_user()
    auth.login()
    assert 'data-alert="12025550"' in client.get("/api-keys/").data.decode()


def test_a_key_limited_to_some_countries_cannot_send_codes_elsewhere(app, client, make_key):
    approved_sender(countries=("US", "FR"))
    api = Api(client, make_key(allowed_countries="US").token)
    refused = api.post("/verify", json={"to": "+33612345678", "from": "Switchboard"})
    assert refused.status_code == 403
    assert refused.get_json()["type"] == "/api/v1/problems/country-not-allowed"
    assert (
        api.post("/verify", json={"to": "+12025550101", "from": "Switchboard"}).status_code == 201
    )
