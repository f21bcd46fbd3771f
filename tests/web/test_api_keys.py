"""The API keys page: a key and its webhook secret shown once and stored hashed and encrypted,
changes audited, revocation, bad settings re-rendered with their reason."""

from __future__ import annotations

import re

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import ApiKey, AuditLog
from dashboard.services import api_keys


def _admin(client, auth, make_user):
    make_user()
    auth.login()
    return client


FORM = {
    "name": "Shop",
    "scopes": ["send", "read"],
    "allowed_countries": "us, ca",
    "rate_limit": "20 per second",
    "duplicate_window_minutes": "5",
    "webhook_url": "https://shop.example/hooks",
}


def test_a_new_key_is_shown_once_stored_hashed_and_its_webhook_secret_encrypted(
    client, auth, make_user
):
    admin = _admin(client, auth, make_user)
    page = admin.post("/api-keys/", data=FORM).data.decode()
    token = re.search(r'value="(sb_[0-9a-f]{12}_[^"]+)" data-secret="api-key"', page).group(1)
    secret = re.search(r'value="(whsec_[^"]+)" data-secret="webhook-secret"', page).group(1)
    key = db.session.scalar(select(ApiKey))
    assert (key.scopes, key.allowed_countries, key.rate_limit, key.duplicate_window_minutes) == (
        "send,read",
        "CA,US",
        "20 per second",
        5,
    )
    stored = " ".join(str(value) for value in key.__dict__.values())
    assert token.split("_", 2)[2] not in stored and secret not in stored
    assert api_keys.webhook_secret(key) == secret
    assert token not in admin.get("/api-keys/").data.decode()  # never again
    assert (
        client.get("/api/v1/messages", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    db.session.refresh(key)
    assert key.last_used_at is not None  # shown on the page, to the minute
    audit = db.session.scalars(select(AuditLog).where(AuditLog.target_type == "api_key")).all()
    assert [row.action for row in audit] == ["api_key_create"] and "****" not in str(
        audit[0].changes
    )


def test_bad_settings_are_shown_on_the_form_and_nothing_is_created(client, auth, make_user):
    admin = _admin(client, auth, make_user)
    for change, reason in [
        ({"rate_limit": "lots"}, "is not a rate limit"),
        ({"allowed_countries": "XX"}, "is not a country code"),
        ({"webhook_url": "javascript:alert(1)"}, "is not an http(s) URL"),
        ({"scopes": []}, "choose at least one scope"),
    ]:
        response = admin.post("/api-keys/", data={**FORM, **change})
        assert response.status_code == 400 and reason in response.data.decode()
    assert db.session.scalar(select(ApiKey)) is None


def test_a_key_is_changed_and_revoked_with_both_in_the_audit_trail(client, auth, make_user):
    admin = _admin(client, auth, make_user)
    admin.post("/api-keys/", data=FORM)
    key = db.session.scalar(select(ApiKey))
    response = admin.post(
        f"/api-keys/{key.id}", data={**FORM, "scopes": ["read"], "inbound_webhooks": "y"}
    )
    assert response.status_code == 303
    db.session.refresh(key)
    assert key.scopes == "read" and key.inbound_webhooks
    admin.post(f"/api-keys/{key.id}/revoke")
    db.session.refresh(key)
    assert key.revoked_at is not None
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.target_type == "api_key")
    ).all()
    assert actions == ["api_key_create", "api_key_change", "api_key_revoke"]


def test_a_new_webhook_secret_is_shown_once_and_the_old_one_stops_signing(client, auth, make_user):
    admin = _admin(client, auth, make_user)
    first = re.search(
        r'value="(whsec_[^"]+)"', admin.post("/api-keys/", data=FORM).data.decode()
    ).group(1)
    key = db.session.scalar(select(ApiKey))
    page = admin.post(f"/api-keys/{key.id}/webhook-secret").data.decode()
    second = re.search(r'value="(whsec_[^"]+)"', page).group(1)
    db.session.refresh(key)
    assert second != first and api_keys.webhook_secret(key) == second


def test_rotating_the_encryption_keys_keeps_webhook_secrets_readable(
    app, runner, client, auth, make_user, tmp_path
):
    app.config["ENCRYPTION_KEY_FILE"] = str(tmp_path / "keys")
    admin = _admin(client, auth, make_user)
    secret = re.search(
        r'value="(whsec_[^"]+)"', admin.post("/api-keys/", data=FORM).data.decode()
    ).group(1)
    before = db.session.scalar(select(ApiKey.webhook_secret_encrypted))
    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    key = db.session.scalar(select(ApiKey))
    assert key.webhook_secret_encrypted != before and api_keys.webhook_secret(key) == secret


def test_the_api_page_shows_copy_paste_examples_and_every_problem_type(client, auth, make_user):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    page = client.get("/api-docs/").data.decode()
    assert 'data-example="curl-send"' in page and 'data-example="python-send"' in page
    assert "def verify_signature" in page and "/api/v1/problems/recipient-opted-out" in page
