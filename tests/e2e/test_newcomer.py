"""A newcomer's first ten minutes on the seeded demo, in a real browser at 1280 px: logs in, reads
reports with costs in a currency, prices a route and sees a campaign's estimate change, finds a
message by its number and reads its timeline. Every page is photographed and must fit the window."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WIDTH = 1280


def _look(page, output_dir, name: str) -> None:
    """Screenshot the page, and fail if anything on it is wider than the window."""
    page.screenshot(path=output_dir / f"{name}.png", full_page=True)
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert widths[2] == WIDTH
    assert max(widths[:2]) <= WIDTH, f"{name}: the page is {max(widths[:2])} px wide at {WIDTH} px"


def test_a_newcomer_finds_reports_prices_a_route_and_follows_a_message(
    page, demo_console, output_dir
):
    base = demo_console.url
    demo_console.log_in(page)
    # The overview: the seeded week, costs in the routes' currency, both binds bound by the sender.
    week = page.locator("#daily-traffic")
    expect(week.locator("tbody tr")).to_have_count(7)
    expect(week.locator("[data-cost]").first).to_contain_text("USD")
    expect(page.locator("[data-bind-state=bound]")).to_have_count(2, timeout=15_000)
    expect(page.locator("[data-sender=stopped]")).to_have_count(0)
    _look(page, output_dir, "01-overview")

    # Campaigns → the first one's report: non-empty, priced in USD.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    expect(page.locator("a[aria-current=page]")).to_have_text("Campaigns")
    _look(page, output_dir, "02-campaigns")
    page.get_by_role("link", name="Spring sale").click()
    _look(page, output_dir, "03-campaign")
    page.get_by_role("button", name="Report", exact=True).click()
    expect(page.locator("[data-figure=total]")).not_to_have_text("0")
    expect(page.locator("[data-figure=cost]")).to_have_text(re.compile(r"^[\d,]+\.\d{4,6} USD$"))
    expect(page.locator("tr[data-row=US] [data-cost]")).to_contain_text("USD")
    expect(page.locator("tr[data-failure]").first).to_be_visible()
    _look(page, output_dir, "04-report")

    # A new campaign to the Canadian and Australian list: its estimate at today's prices.
    page.goto(f"{base}/campaigns/new")
    page.fill("input[name=name]", "Sydney weekend")
    page.select_option("select[name=list_id]", label="Canada & Australia")
    page.fill("textarea[name=text]", "Doors open at 9 this Saturday")
    expect(page.locator("#segment-info [data-parts]")).to_have_text("1 part")
    _look(page, output_dir, "05-new-campaign")
    page.get_by_role("button", name="Save draft").click()
    estimate = page.locator("[data-total-cost]")
    expect(estimate).to_have_text("1.7900 USD")  # 30 AU × 0.0450 + 40 CA × 0.0110
    _look(page, output_dir, "06-draft-with-estimate")
    campaign_url = page.url

    # Routes & prices, from the estimate: a cheaper route for Australian mobiles (primary bind).
    page.locator("#estimate-panel").get_by_role("link", name="Routes & prices").click()
    page.locator("#add-route summary").click()
    page.fill("input[name=destination]", "+61 491")
    page.select_option("select[name=bind_id]", label="Simulator")
    page.fill("input[name=price]", "0.0390")
    page.get_by_role("button", name="Add route").click()
    expect(page.locator("tbody[data-prefix='61491']")).to_contain_text("0.0390 USD")
    page.fill("input[name=number]", "+61 491 570 156")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("[data-answer-price]")).to_have_text("0.0390 USD")
    _look(page, output_dir, "07-routes")

    page.goto(campaign_url)
    expect(estimate).to_have_text("1.6100 USD")  # the Australians now at 0.0390
    expect(page.locator("#estimate-panel")).to_contain_text("+61 491 (AU) → Simulator")

    # Messages: one number's messages, found without the number ever reaching the address bar.
    page.get_by_role("link", name="Messages", exact=True).click()
    number = (
        page.locator("#message-list tbody tr").first.locator("td").nth(2).locator("a").inner_text()
    )
    page.fill("input[name=number]", number)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/messages/\?search=[\w-]+$"))
    assert number.lstrip("+") not in page.url
    rows = page.locator("#message-list tbody tr")
    expect(rows.first).to_be_visible()
    for cell in rows.locator("td:nth-child(3) a").all_inner_texts():
        assert cell == number
    _look(page, output_dir, "08-messages-by-number")

    # Its timeline: one readable line per event, the raw fields one click away.
    rows.first.locator("td").first.locator("a").click()
    timeline = page.locator("#timeline")
    expect(timeline.locator("li[data-event=submit_sm_resp]").first).to_contain_text(
        "Accepted by the SMSC"
    )
    expect(timeline.locator("li[data-event=deliver_sm]").first).to_contain_text("Receipt")
    raw = timeline.locator("li[data-event=deliver_sm] details").first
    expect(raw.locator("pre")).not_to_be_visible()
    raw.locator("summary").click()
    expect(raw.locator("pre")).to_contain_text('"stat":')
    _look(page, output_dir, "09-message-timeline")

    # The rest of a first look: binds as ops would read them, and the lists.
    for name, path in (("10-binds", "/binds/"), ("11-lists", "/lists/1")):
        page.goto(f"{base}{path}")
        _look(page, output_dir, name)
