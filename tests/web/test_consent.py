"""Compliance pages: search, proof of consent per number, streamed exports, chain check, audit."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from dashboard.extensions import db
from dashboard.models import AuditLog, Contact, ContactList
from dashboard.models.types import utcnow
from dashboard.services import compliance, consent
from dashboard.services.contacts import add_contact
from dashboard.web import consent as consent_views
from tests.conftest import drop_ledger_triggers, numbers

ROLES = ("admin", "ops", "compliance")
EXPORT_ROWS = AuditLog.action.in_(("consent_export", "export_finished"))
# (method, URL) → the roles that may use it; everyone else gets 403 (docs/roles.md).
MATRIX = {
    ("GET", "/consent/"): ("admin", "compliance"),
    ("POST", "/consent/"): ("admin", "compliance"),
    ("GET", "/consent/contacts/1"): ("admin", "ops", "compliance"),
    ("POST", "/consent/export.csv"): ("admin", "compliance"),
    ("POST", "/consent/export.json"): ("admin", "compliance"),
    ("POST", "/consent/verify"): ("admin", "compliance"),
    ("GET", "/audit/"): ("admin", "compliance"),
}


def login(make_user, auth, role: str = "compliance") -> None:
    make_user(f"{role}@example.com", role)
    auth.login(f"{role}@example.com")


def tamper(sql: str) -> None:
    """An attacker with database access: drop the triggers, then rewrite history."""
    drop_ledger_triggers()
    db.session.execute(text(sql))
    db.session.commit()


def opt_out(phone: str, when: datetime | None = None, list_id: int | None = None) -> None:
    contact = db.session.scalar(select(Contact).where(Contact.phone == phone))
    consent.record(contact, consent.OPT_OUT, source="keyword", evidence=f"SMS 'STOP' from {phone}",
                   actor="mo:1", now=when or utcnow(), list_id=list_id)
    db.session.commit()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_use_only_its_consent_routes(client, auth, make_user, make_list, role):
    make_list(["+12025550101"])
    login(make_user, auth, role)
    for (method, url), allowed in MATRIX.items():
        status = client.open(url, method=method).status_code
        expected = 200 if role in allowed else 403
        assert status == expected, f"{role} {method} {url}: {status}, expected {expected}"


def test_anonymous_users_are_sent_to_login_from_every_consent_route(client, make_list):
    make_list(["+12025550101"])
    for method, url in MATRIX:
        response = client.open(url, method=method)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login")


def test_an_ops_user_cannot_export_even_with_filters(client, auth, make_user, make_list):
    make_list(["+12025550101"])
    login(make_user, auth, "ops")
    assert client.post("/consent/export.csv", data={"phone": "+12025550101"}).status_code == 403
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "consent_export")) is None


def test_the_consent_link_shows_for_compliance_and_admin_only(client, auth, make_user):
    make_user("compliance@example.com", "compliance")
    make_user("ops@example.com", "ops")
    auth.login("compliance@example.com")
    assert b'href="/consent/"' in client.get("/").data
    auth.logout()
    auth.login("ops@example.com")
    assert b'href="/consent/"' not in client.get("/").data


def test_a_list_page_links_each_number_to_its_consent_history(client, auth, make_user, make_list):
    contact_list = make_list(["+12025550101"])
    login(make_user, auth, "ops")
    page = client.get(f"/lists/{contact_list.id}").data
    assert b'href="/consent/contacts/1"' in page and b"/consent/numbers/" not in page


def test_search_by_number_finds_only_that_numbers_events(client, auth, make_user, make_list):
    make_list(["+12025550101", "+12025550102"])
    opt_out("+12025550102")
    login(make_user, auth)
    response = client.post("/consent/", data={"phone": "(202) 555-0102"})
    assert response.status_code == 200
    page = response.data.decode()
    assert page.count("<td><a href=\"/consent/contacts/2\">") == 2
    assert "+12025550101" not in page


def test_search_by_list_excludes_global_events(client, auth, make_user, make_list):
    customers = make_list(["+12025550101"], name="Customers")
    make_list(["+12025550102"], name="Staff")
    opt_out("+12025550101")
    login(make_user, auth)
    page = client.post("/consent/", data={"scope": customers.id}).data.decode()
    assert "+12025550101" in page and "+12025550102" not in page and "opt out" not in page
    page = client.post("/consent/", data={"scope": "global"}).data.decode()
    assert "opt out" in page and "opt in" not in page


def test_search_by_date_range_includes_both_end_days(client, auth, make_user, make_list):
    make_list(["+12025550101"])
    for day in (1, 2, 3, 4):
        opt_out("+12025550101", datetime(2026, 3, day, 23, 59, tzinfo=timezone.utc))
    login(make_user, auth)
    page = client.post("/consent/", data={"since": "2026-03-02", "until": "2026-03-03"}).data.decode()
    assert "2026-03-02 23:59" in page and "2026-03-03 23:59" in page
    assert "2026-03-01" not in page and "2026-03-04" not in page


def test_search_results_are_paginated_newest_first(client, auth, make_user, make_list, monkeypatch):
    monkeypatch.setattr(consent_views, "PAGE_SIZE", 2)
    make_list(numbers(5))
    login(make_user, auth)
    first = client.get("/consent/").data.decode()
    assert "<td>5</td>" in first and "<td>4</td>" in first and "<td>3</td>" not in first
    assert 'name="page" value="2"' in first
    last = client.post("/consent/", data={"page": 3}).data.decode()
    assert "<td>1</td>" in last and "Older" not in last


def test_an_invalid_number_in_the_search_is_refused_with_the_reason(client, auth, make_user):
    login(make_user, auth)
    response = client.post("/consent/", data={"phone": "12345"})
    assert response.status_code == 400
    assert b"too short" in response.data


def test_a_date_range_that_ends_before_it_starts_is_refused(client, auth, make_user):
    login(make_user, auth)
    response = client.post("/consent/", data={"since": "2026-03-05", "until": "2026-03-01"})
    assert response.status_code == 400
    assert b"The end date is before the start date." in response.data


def test_the_proof_page_shows_every_event_with_its_evidence_and_hashes(client, auth, make_user, make_list):
    make_list(["+12025550101"], name="Customers")
    opt_out("+12025550101")
    login(make_user, auth)
    response = client.get("/consent/contacts/1")
    assert response.status_code == 200
    page = response.data.decode()
    events = compliance.history("+12025550101")
    assert len(events) == 2
    for row in events:
        assert row.event.hash in page and row.event.prev_hash in page
    assert "test fixture" in page and "SMS &#39;STOP&#39; from +12025550101" in page
    assert "Customers" in page and "global" in page and "mo:1" in page
    assert "each event matches its hash and links to the one before it" in page


def test_the_proof_page_flags_an_event_altered_in_sql(client, auth, make_user, make_list):
    make_list(["+12025550101", "+12025550102"])
    tamper("UPDATE consent_event SET evidence = 'forged' WHERE id = 1")
    login(make_user, auth)
    page = client.get("/consent/contacts/1").data.decode()
    assert "1 event(s) fail their check" in page
    assert "content does not match its hash" in page


def test_the_proof_page_of_an_unknown_number_is_404(client, auth, make_user):
    login(make_user, auth)
    assert client.get("/consent/contacts/999").status_code == 404
    assert client.get(f"/consent/contacts/{2**64}").status_code == 404


def test_the_csv_export_streams_the_filtered_events_with_hash_columns(client, auth, make_user, make_list):
    make_list(["+12025550101", "+12025550102"])
    opt_out("+12025550102")
    login(make_user, auth)
    response = client.post("/consent/export.csv", data={"phone": "+12025550102"})
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="consent-events-')
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [(r["phone"], r["kind"]) for r in rows] == [("+12025550102", "opt_in"), ("+12025550102", "opt_out")]
    assert list(rows[0]) == list(compliance.EXPORT_COLUMNS)
    stored = compliance.history("+12025550102")
    assert [(r["prev_hash"], r["hash"]) for r in rows] == [(h.event.prev_hash, h.event.hash) for h in stored]


def test_every_export_is_recorded_in_the_audit_log(client, auth, make_user, make_list):
    contact_list = make_list(numbers(3))
    login(make_user, auth)
    client.post("/consent/export.json", data={"scope": contact_list.id, "since": "2026-01-01"}).get_data()
    entry, finished = db.session.scalars(select(AuditLog).where(EXPORT_ROWS).order_by(AuditLog.id)).all()
    assert (entry.actor, entry.action, entry.format, entry.ip) == (
        "compliance@example.com", "consent_export", "json", "127.0.0.1")
    assert (finished.action, finished.target_id, finished.row_count) == ("export_finished", entry.id, 3)
    assert entry.filters == {"scope": str(contact_list.id), "since": "2026-01-01"}
    page = client.get("/audit/").data.decode()
    assert "consent export" in page and f"scope={contact_list.id}" in page


def test_an_export_the_client_abandons_stays_logged_without_a_row_count(client, auth, make_user, make_list):
    make_list(numbers(2))
    login(make_user, auth)
    response = client.post("/consent/export.csv")
    response.close()  # never read
    [entry] = db.session.scalars(select(AuditLog).where(EXPORT_ROWS)).all()
    assert entry.action == "consent_export" and entry.row_count is None
    assert "incomplete" in client.get("/audit/").data.decode()


def test_a_reviewer_can_verify_the_json_export_offline(client, auth, make_user, make_list):
    make_list(numbers(3))
    opt_out(numbers(3)[1])
    login(make_user, auth)
    document = json.loads(client.post("/consent/export.json").data)
    assert document["count"] == 4 and len(document["events"]) == 4
    prev = "0" * 64
    for event in document["events"]:  # exactly what docs/consent.md tells a reviewer to do
        content = {k: event[k] for k in ("contact_id", "phone", "list_id", "kind", "source", "evidence",
                                         "inbound_message_id", "actor", "created_at")}
        payload = json.dumps(content | {"v": 1, "prev_hash": prev}, sort_keys=True, separators=(",", ":"))
        assert event["prev_hash"] == prev
        assert hashlib.sha256(payload.encode()).hexdigest() == event["hash"]
        prev = event["hash"]


def test_a_large_export_is_streamed_in_batches(client, auth, make_user, make_list, monkeypatch):
    monkeypatch.setattr(compliance, "EXPORT_BATCH", 7)
    monkeypatch.setattr(compliance, "CHUNK_ROWS", 10)
    contact_list = make_list([], name="Big")
    for number in numbers(45):
        add_contact(contact_list, number, evidence="bulk", actor="t", now=utcnow(), commit=False)
    db.session.commit()
    login(make_user, auth)
    response = client.post("/consent/export.csv")
    chunks = list(response.response)
    assert len(chunks) == 5  # header + 45 rows in chunks of 10
    assert sum(chunk.count(b"\r\n") for chunk in chunks) == 46
    assert db.session.scalar(select(AuditLog.row_count).where(AuditLog.action == "export_finished")) == 45


def test_an_unknown_export_format_is_404(client, auth, make_user):
    login(make_user, auth)
    assert client.post("/consent/export.xml").status_code == 404


def test_the_verify_button_reports_an_intact_chain_as_a_fragment(client, auth, make_user, make_list):
    make_list(numbers(3))
    login(make_user, auth)
    response = client.post("/consent/verify", headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = response.data.decode()
    assert page.startswith('<div id="chain-status"') and "Chain intact: 3 event(s) verified." in page
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "consent_verify"))
    assert (entry.action, entry.row_count) == ("consent_verify", 3)
    assert entry.detail.startswith("chain intact: 3 events")


def test_the_verify_button_names_the_first_broken_event(client, auth, make_user, make_list):
    make_list(numbers(4))
    tamper("UPDATE consent_event SET actor = 'someone else' WHERE id = 2")
    login(make_user, auth)
    response = client.post("/consent/verify")
    assert response.status_code == 200
    page = response.data.decode()
    assert "<h1>Consent chain check</h1>" in page
    assert "Chain broken at event 2: content does not match its hash" in page


def test_the_verify_button_needs_a_csrf_token(app, client, auth, make_user):
    login(make_user, auth)
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/consent/verify")
    assert response.status_code == 400
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "consent_verify")) is None


def test_the_index_offers_exports_of_the_current_filter(client, auth, make_user, make_list):
    contact_list = make_list(numbers(1))
    login(make_user, auth)
    page = client.post("/consent/", data={"scope": contact_list.id, "since": "2026-01-01"}).data.decode()
    assert 'action="/consent/export.csv"' in page
    assert f'name="scope" value="{contact_list.id}"' in page and 'name="since" value="2026-01-01"' in page
    assert db.session.get(ContactList, contact_list.id)


def test_dates_are_compared_in_utc(make_list):
    make_list(["+12025550101"])
    late = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC on the 2nd
    opt_out("+12025550101", late)
    rows, _ = compliance.search(compliance.ConsentFilter(since=late.date() + timedelta(days=1),
                                                         until=late.date() + timedelta(days=1)), 1, 10)
    assert [event.kind for event, _name in rows] == ["opt_out"]
