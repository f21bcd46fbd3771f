"""The charts in a real browser: the overview's delivery-rate chart moves while a campaign runs,
without a reload; the home, bind and campaign pages as an operator sees them (screenshots in
test-output/), none of them tripping the Content-Security-Policy."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, ContactList, SenderId
from dashboard.models.types import utcnow
from dashboard.services.campaigns import create_campaign

pytestmark = pytest.mark.browser


def test_the_home_delivery_chart_changes_while_a_campaign_runs_without_a_reload(page, live_console, output_dir):
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    live_console.log_in(page)
    chart = page.locator("#chart-all-delivery")
    expect(chart).to_have_attribute("data-points", "0")  # nothing sent yet: the empty state
    expect(chart).to_contain_text("No messages were sent or ended at all in the last 24 h")
    page.evaluate("window.stillTheSamePage = true")  # gone if the page were reloaded

    contact_list = db.session.scalar(select(ContactList).where(ContactList.name == "Browser customers"))
    sender = db.session.scalar(select(SenderId))
    campaign = create_campaign(name="Live chart", list_id=contact_list.id, sender_id_id=sender.id,
                               text="Watch the chart move", scheduled_at=utcnow(), created_by_id=None, now=utcnow())

    # The chart polls itself every 10 s; the rollup job runs every second with the test's worker.
    expect(chart.locator("img")).to_be_visible(timeout=30_000)
    expect(chart).to_have_attribute("data-delivered", re.compile(r"^[1-9]\d*$"))
    expect(chart).to_have_attribute("data-delivered", "11", timeout=30_000)  # 12 sent, one ends in 7
    expect(chart).to_have_attribute("data-failed", "1")
    expect(chart.locator("figcaption")).to_contain_text("91.7 % delivered of 12 messages with an outcome")
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("#kpi-delivered")).to_have_text("11", timeout=10_000)
    page.screenshot(path=str(output_dir / "home.png"), full_page=True)

    bind = db.session.scalar(select(Bind))
    page.goto(f"{live_console.url}/binds/{bind.id}")
    expect(page.locator("#bind-health [data-health=sent]")).to_contain_text("12 messages")
    expect(page.locator(f"#chart-bind-{bind.id}-throughput img")).to_be_visible()
    page.screenshot(path=str(output_dir / "bind.png"), full_page=True)

    page.goto(f"{live_console.url}/campaigns/{campaign.id}")
    expect(page.locator(f"#charts-campaign-{campaign.id}")).to_have_attribute("data-range", "run")
    expect(page.locator(f"#chart-campaign-{campaign.id}-failures img")).to_be_visible()
    page.screenshot(path=str(output_dir / "campaign.png"), full_page=True)

    page.locator(f"#charts-campaign-{campaign.id} button[data-range='7d']").click()
    expect(page.locator(f"#charts-campaign-{campaign.id}")).to_have_attribute("data-range", "7d")
    page.goto(f"{live_console.url}/alerts/")
    page.wait_for_load_state("networkidle")
    assert violations == []
