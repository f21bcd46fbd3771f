"""Issue 5's browser walk: a template with an emoji, a campaign made from it by one user and
approved by another (four eyes), then launched, paused, resumed and watched to completion."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.console_config(CAMPAIGN_APPROVAL_REQUIRED=True)]


def test_a_template_campaign_is_approved_by_a_second_user_paused_resumed_and_completed(
        page, live_console, make_user, output_dir):
    base = live_console.url
    make_user("approver@example.com", "ops", PASSWORD)
    audience = len(live_console.audience)

    # 1. The author writes a template; the live counter follows the emoji.
    live_console.log_in(page)
    page.goto(f"{base}/templates/new")
    page.fill("input[name=name]", "Launch party")
    page.select_option("select[name=kind]", "transactional")
    box = page.locator("textarea[name=body]")
    box.fill("Hi {{ first_name | default(\"there\") }}, the party starts at 9!")
    panel = page.locator("#template-preview")
    expect(panel.locator("[data-encoding]")).to_have_text("GSM-7")
    box.press("End")
    box.type(" 🎉")
    expect(panel.locator("[data-encoding]")).to_have_text("UCS-2 (Unicode)")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status")).to_have_text("Template “Launch party” saved.")

    # 2. A campaign from it, capped at 3 msgs/s so there is time to pause it, sent for approval.
    page.goto(f"{base}/campaigns/new")
    page.fill("input[name=name]", "Party night")
    page.select_option("select[name=list_id]", label="Browser customers")
    page.select_option("select[name=sender_id_id]", label="Switchboard")
    page.select_option("select[name=template_id]", label="Launch party")
    page.select_option("select[name=kind]", "transactional")
    page.fill("input[name=throughput_cap]", "3")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(base)}/campaigns/\d+$"))
    campaign_url = page.url
    approval = page.locator("#approval")
    expect(approval).to_contain_text("awaiting approval")
    expect(approval).to_contain_text("Another admin or ops user must approve it")
    expect(page.locator("#samples")).to_contain_text("the party starts at 9! 🎉")
    expect(page.locator("#estimate")).to_contain_text(f"{audience} recipients after suppression")
    page.get_by_role("button", name="Log out").click()

    # 3. A second user approves it; it launches by itself.
    live_console.log_in(page, "approver@example.com")
    page.goto(campaign_url)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("is now scheduled")
    page.screenshot(path=output_dir / "approved.png", full_page=True)

    # 4. Pause while it runs: nothing more is submitted; resume; it completes.
    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", re.compile("launching|running"), timeout=10_000)
    expect(progress.locator("[data-count=submitted]")).not_to_have_text("0", timeout=10_000)
    progress.get_by_role("button", name="Pause").click()
    expect(progress).to_have_attribute("data-status", "paused")
    page.wait_for_timeout(1500)  # let in-flight parts settle
    settled = progress.locator("[data-count=queued]").inner_text()
    assert int(settled) > 0, "paused before the end: some messages must still wait"
    page.wait_for_timeout(1500)
    expect(progress.locator("[data-count=queued]")).to_have_text(settled)
    progress.get_by_role("button", name="Resume").click()
    expect(progress).to_have_attribute("data-status", "completed", timeout=30_000)
    delivered = sum(not n.endswith("7") for n in live_console.audience)
    expect(progress.locator("[data-count=delivered]")).to_have_text(str(delivered))
    expect(progress.locator("[data-count=failed]")).to_have_text(str(audience - delivered))
    page.screenshot(path=output_dir / "completed.png", full_page=True)
