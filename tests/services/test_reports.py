"""Campaign reports from a real campaign: simulator over TCP, the worker, SQLite; then the CSV."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from dashboard.extensions import db
from dashboard.models import SenderRegistration, AuditLog, Campaign, Contact, Message, Route
from dashboard.models.types import utcnow
from dashboard.services import reports
from dashboard.services.campaigns import create_campaign
from dashboard.services.reports import campaign_report
from dashboard.simulator import OutcomeRule
from dashboard.sms.money import MoneyTotals
from tests.conftest import numbers, wait_for

US = numbers(10)  # +12025550100 … 0109
EU = ["+447400123456", "+4915112345678", "+4915112345671"]
TEXT = "Autumn sale: " + "x" * 150  # 163 GSM-7 characters: two parts each

# The receipt's stat and err, with what they mean: the reason an undelivered message shows.
UNDELIVERED_REASON = "UNDELIV, err 001: the network could not deliver it (GSM MAP error 1: unknown subscriber?)"


@pytest.fixture
def finished_campaign(app, make_simulator, make_bind, make_list, sender, worker):
    """13 recipients over two carriers: at the US SMSC numbers ending in 7 come back UNDELIV and
    those ending in 3 are refused at submit (ESME_RINVDSTADR); the EU SMSC delivers everything."""
    us_sim = make_simulator(outcomes=[OutcomeRule(r"7$", "UNDELIV"), OutcomeRule(r"3$", submit_status=0x0B)])
    eu_sim = make_simulator()
    us, eu = make_bind(us_sim, name="us-carrier"), make_bind(eu_sim, name="eu-carrier")
    db.session.add_all([Route(prefix="1", bind_id=us.id, price_per_segment=Decimal("0.0100")),
                        Route(prefix="44", bind_id=eu.id, price_per_segment=Decimal("0.0300")),
                        Route(prefix="49", bind_id=eu.id, price_per_segment=Decimal("0.0200"))])
    sender.registrations += [SenderRegistration(country=c, status="approved") for c in ("DE", "GB")]
    db.session.commit()
    contact_list = make_list(US + EU)
    campaign = create_campaign(name="Autumn", list_id=contact_list.id, sender_id_id=sender.id, text=TEXT,
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    worker()

    def completed():
        db.session.expire_all()
        return db.session.get(Campaign, campaign.id).status == "completed"
    wait_for(completed, timeout=30, message="campaign completed")
    return campaign


def test_the_report_counts_rates_failures_countries_carriers_and_cost_exactly(finished_campaign):
    report = campaign_report(finished_campaign)

    assert report.by_status == {"delivered": 11, "undeliverable": 1, "failed": 1}
    assert (report.total, report.delivered, report.failed, report.with_outcome) == (13, 11, 2, 13)
    assert report.delivered_pct == 84.6
    assert report.segments == 26  # 13 messages × 2 parts
    assert report.parts_submitted == 24  # the refused message's parts were never accepted
    # 9 accepted US messages × 2 × 0.01 + 1 GB × 2 × 0.03 + 2 DE × 2 × 0.02
    assert report.cost == MoneyTotals([("USD", Decimal("0.3200"))])

    assert [(f.status, f.error, f.reason, f.count) for f in report.failures] == [
        ("failed", "ESME_RINVDSTADR", "refused by the SMSC: ESME_RINVDSTADR", 1),
        ("undeliverable", "UNDELIV err 001", UNDELIVERED_REASON, 1)]
    assert [(b.label, b.messages, b.delivered, b.failed, b.parts, b.cost.amount("USD"))
            for b in report.by_country] == [
        ("US", 10, 8, 2, 18, Decimal("0.18")), ("DE", 2, 2, 0, 4, Decimal("0.08")),
        ("GB", 1, 1, 0, 2, Decimal("0.06"))]
    assert [(b.label, b.messages, b.delivered, b.parts, b.cost.amount("USD"))
            for b in report.by_carrier] == [
        ("us-carrier", 10, 8, 18, Decimal("0.18")), ("eu-carrier", 3, 3, 6, Decimal("0.14"))]
    assert report.by_country[0].delivered_pct == 80.0

    t = report.timings
    assert t.first_submitted <= t.last_submitted <= t.last_done
    # 0 when a response and its receipt came in one read (one transaction, one timestamp): a busy machine.
    assert 0 <= t.avg_seconds_to_delivery <= t.max_seconds_to_delivery < 30


def test_the_csv_has_one_exact_row_per_message(client, auth, make_user, finished_campaign):
    make_user()
    auth.login()
    response = client.post(f"/campaigns/{finished_campaign.id}/messages.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == list(reports.EXPORT_COLUMNS)

    messages = {m.destination: m for m in db.session.scalars(select(Message).where(
        Message.campaign_id == finished_campaign.id))}
    assert [r["message_id"] for r in rows] == [str(m.id) for m in sorted(messages.values(), key=lambda m: m.id)]
    by_number = {r["destination"]: r for r in rows}
    assert set(by_number) == set(US + EU)

    def picked(number):
        r = by_number[number]
        return (r["country"], r["status"], r["reason"], r["error"], r["bind"], r["parts"], r["price"],
                r["currency"], r["possible_duplicate"])
    assert picked("+12025550100") == ("US", "delivered", "", "", "us-carrier", "2", "0.020000", "USD",
                                      "no")
    assert picked("+12025550107") == ("US", "undeliverable", UNDELIVERED_REASON, "UNDELIV err 001", "us-carrier",
                                      "2", "0.020000", "USD", "no")
    assert picked("+12025550103") == ("US", "failed", "refused by the SMSC: ESME_RINVDSTADR", "ESME_RINVDSTADR",
                                      "us-carrier", "2", "", "", "no")
    assert picked("+447400123456") == ("GB", "delivered", "", "", "eu-carrier", "2", "0.060000", "USD",
                                       "no")
    assert picked("+4915112345678")[:2] == ("DE", "delivered")
    delivered = messages["+12025550100"]
    assert by_number["+12025550100"]["submitted_at"] == delivered.submitted_at.isoformat().replace("+00:00", "Z")
    assert by_number["+12025550100"]["done_at"] == delivered.done_at.isoformat().replace("+00:00", "Z")
    assert by_number["+12025550103"]["submitted_at"] == ""

    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "campaign_export"))
    assert (entry.actor, entry.action, entry.format, entry.filters, entry.target_id) == (
        "admin@example.com", "campaign_export", "csv", {"campaign": str(finished_campaign.id)}, finished_campaign.id)
    finished = db.session.scalar(select(AuditLog).where(AuditLog.action == "export_finished"))
    assert (finished.target_id, finished.row_count) == (entry.id, 13)


def test_the_report_page_shows_the_figures(client, auth, make_user, finished_campaign):
    make_user()
    auth.login()
    page = client.get(f"/campaigns/{finished_campaign.id}/report").data.decode()
    assert '<strong data-figure="delivered-pct">84.6 %</strong>' in page
    assert '<strong data-figure="cost">0.3200 USD</strong>' in page
    assert ('<tr data-row="US"><td>US</td><td class="num">10</td><td class="num">8</td>'
            '<td class="num">2</td>') in page
    assert '<tr data-failure="UNDELIV err 001">' in page
    assert f'action="/campaigns/{finished_campaign.id}/messages.csv"' in page


@pytest.fixture
def big_campaign(app, make_list, sender):
    """3,000 finished messages written straight to the tables (no SMSC needed to test streaming)."""
    contact_list = make_list([], name="Big")
    campaign = create_campaign(name="Big", list_id=contact_list.id, sender_id_id=sender.id, text="hi",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    now = utcnow()
    db.session.execute(insert(Contact), [{"phone": f"+1202555{i:04d}", "name": "", "fields": {},
                                          "global_opt_out": False, "created_at": now} for i in range(3000)])
    contact_ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
    db.session.execute(insert(Message), [
        {"campaign_id": campaign.id, "contact_id": cid, "destination": f"+1202555{i:04d}", "source": "Switchboard",
         "text": "hi", "encoding": "gsm7", "segments": 1, "status": "delivered", "created_at": now,
         "priority": 100, "udh_ref": 0, "attempts": 1, "possible_duplicate": False, "event_seq": 0}
        for i, cid in enumerate(contact_ids)])
    db.session.commit()
    return campaign


def test_a_large_export_streams_in_chunks_from_a_generator(client, auth, make_user, big_campaign):
    make_user()
    auth.login()
    response = client.post(f"/campaigns/{big_campaign.id}/messages.csv")
    assert response.is_streamed
    chunks = iter(response.response)
    first = next(chunks)
    # The first 500 lines are out while the export is still running: nothing waited for all rows.
    assert first.count(b"\r\n") == reports.CHUNK_ROWS
    finished = select(AuditLog.row_count).where(AuditLog.action == "export_finished")
    assert db.session.scalar(finished) is None
    rest = list(chunks)
    assert len(rest) == 6  # 3,001 lines in chunks of 500
    assert sum(chunk.count(b"\r\n") for chunk in [first, *rest]) == 3001
    db.session.expire_all()
    assert db.session.scalar(finished) == 3000


def test_the_export_reads_the_database_in_batches(app, big_campaign, monkeypatch):
    """yield_per: the rows arrive EXPORT_BATCH at a time, not as one list of the whole campaign."""
    from sqlalchemy import event
    monkeypatch.setattr(reports, "EXPORT_BATCH", 250)
    contexts = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if "FROM message" in statement and "message.possible_duplicate" in statement:
            contexts.append(context)
    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        rows = reports._export_rows(big_campaign.id)
        assert next(rows)["destination"] == "+12025550000"
        assert [c.execution_options.get("yield_per") for c in contexts] == [250]
        assert sum(1 for _ in rows) == 2999
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)


def test_a_campaign_without_messages_has_an_empty_report(app, make_list, sender):
    contact_list = make_list(["+12025550101"])
    campaign = create_campaign(name="Later", list_id=contact_list.id, sender_id_id=sender.id, text="hi",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    report = campaign_report(campaign)
    assert (report.total, report.delivered_pct, report.cost, report.by_country) == (
        0, None, MoneyTotals(), [])
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
