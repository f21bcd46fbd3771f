"""The console's looks that people notice first, checked in the browser at 1280 px: buttons as wide
as their text, the weekdays as one row of toggles, long unbroken text wrapping in place."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.presentation]

TRACKING_URL = (
    "https://links.example.com/t/" + "a1B2c3D4" * 40
)  # 348 characters, no break opportunity


def _page_width(page) -> int:
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )


def test_buttons_are_as_wide_as_their_text(page, live_console):
    live_console.log_in(page)
    page.goto(f"{live_console.url}/campaigns/new")
    form = page.locator("form:has(textarea[name=text])").bounding_box()
    for name in ("Schedule campaign", "Save draft"):
        button = page.get_by_role("button", name=name).bounding_box()
        assert button["width"] < 250 < form["width"], name
    page.goto(f"{live_console.url}/messages/")
    assert page.get_by_role("button", name="Search").bounding_box()["width"] < 150


def test_the_weekdays_are_one_row_of_toggles(page, live_console, output_dir):
    live_console.log_in(page)
    page.goto(f"{live_console.url}/campaigns/new")
    labels = page.locator("ul.toggles label")
    expect(labels).to_have_count(7)
    page.wait_for_load_state("networkidle")  # the layout as it settles, not mid-load on a busy machine
    tops = {round(labels.nth(i).bounding_box()["y"]) for i in range(7)}
    assert len(tops) == 1, tops
    saturday = page.locator("ul.toggles input[value='5']")
    assert saturday.is_checked()
    labels.nth(5).click()  # the label toggles its hidden checkbox
    assert not saturday.is_checked()
    page.locator("fieldset.day-toggles").screenshot(path=output_dir / "weekdays.png")


def test_a_long_tracking_url_wraps_instead_of_widening_the_page(page, live_console, output_dir):
    live_console.log_in(page)
    page.goto(f"{live_console.url}/campaigns/new")
    page.fill("input[name=name]", "Tracked")
    page.select_option("select[name=list_id]", label="Browser customers")
    page.fill("textarea[name=text]", f"Your parcel: {TRACKING_URL}")
    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
    expect(page.locator("#samples")).to_contain_text("a1B2c3D4")
    page.wait_for_load_state("networkidle")
    assert _page_width(page) <= 1280
    page.screenshot(path=output_dir / "long-url-campaign.png", full_page=True)
