"""The console in a real browser: log in, launch a campaign, watch it deliver without a reload."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_admin_logs_in_and_watches_a_new_campaign_deliver_live(page, live_console, output_dir):
    base = live_console.url
    expected_delivered = sum(not n.endswith("7") for n in live_console.audience)
    expected_failed = len(live_console.audience) - expected_delivered

    page.goto(f"{base}/login")
    page.screenshot(path=output_dir / "login.png")

    page.fill("input[name=email]", live_console.email)
    page.fill("input[name=password]", "not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")

    page.fill("input[name=email]", live_console.email)
    page.fill("input[name=password]", live_console.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.screenshot(path=output_dir / "home.png")

    page.goto(f"{base}/campaigns/new")
    page.fill("input[name=name]", "Browser launch")
    page.select_option("select[name=list_id]", label="Browser customers")
    page.select_option("select[name=sender_id_id]", label="Switchboard")
    page.fill("textarea[name=text]", "Doors open at 9: see you there")
    # By name: the navigation's "Log out" is a submit button too.
    page.get_by_role("button", name="Schedule campaign").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(base)}/campaigns/\d+$"))

    # From here on the page must update itself through htmx: a reload or navigation would lose
    # the marker and bump the count of main-frame navigations.
    navigations = []
    page.on("framenavigated",
            lambda frame: frame == page.main_frame and navigations.append(frame.url))
    page.evaluate("""window.__switchboardMarker = 'still here';
        window.__progressSwaps = 0;
        document.body.addEventListener('htmx:afterSwap', () => window.__progressSwaps++);""")

    progress = page.locator("#campaign-progress")
    # Receipts take 0.3 s at this SMSC, so the page always opens on a live campaign.
    assert progress.get_attribute("data-status") != "completed"
    expect(progress).to_have_attribute("data-status", "completed", timeout=20_000)
    expect(progress.locator("[data-count=delivered]")).to_have_text(str(expected_delivered))
    expect(progress.locator("[data-count=failed]")).to_have_text(str(expected_failed))

    assert page.evaluate("window.__switchboardMarker") == "still here"
    assert navigations == []
    assert page.evaluate("window.__progressSwaps") >= 1
    # The completed render carries no polling trigger.
    assert progress.get_attribute("hx-trigger") is None
    page.screenshot(path=output_dir / "campaign.png", full_page=True)


@pytest.mark.browser
def test_the_part_counter_changes_live_when_an_emoji_is_typed(page, live_console, output_dir):
    base = live_console.url
    live_console.log_in(page)
    page.goto(f"{base}/campaigns/new")

    box = page.locator("textarea[name=text]")
    box.fill("a" * 150)
    expect(page.locator("#segment-info [data-encoding]")).to_have_text("GSM-7")
    # Sent as 2 parts: the US recipients of this marketing text get the opt-out footer, counted too.
    expect(page.locator("#segment-info [data-parts]")).to_have_text("2 parts")
    expect(page.locator("#segment-info [data-footer]")).to_contain_text("without it, 1 part")
    page.select_option("select[name=kind]", "transactional")  # no footer: the counter follows
    expect(page.locator("#segment-info [data-parts]")).to_have_text("1 part")

    box.press("End")
    box.type("🎉")  # typed, key by key, as a person would
    expect(page.locator("#segment-info [data-encoding]")).to_have_text("UCS-2 (Unicode)")
    expect(page.locator("#segment-info [data-parts]")).to_have_text("3 parts")  # 152 UTF-16 units
    expect(page.locator("#segment-info [data-culprits]")).to_contain_text("🎉")
    page.screenshot(path=output_dir / "segment-counter.png")
