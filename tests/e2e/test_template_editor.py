"""The template editor in a real browser: the live counter follows the rendered text as you type."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.presentation]


def test_typing_an_emoji_in_a_new_template_switches_the_counter_to_ucs2(page, live_console, output_dir):
    base = live_console.url
    live_console.log_in(page)

    page.get_by_role("link", name="Templates").click()
    page.get_by_role("button", name="New template").click()
    page.fill("input[name=name]", "Party")
    page.select_option("select[name=kind]", "transactional")
    page.select_option("select[name=sample_list]", label="Browser customers")

    panel = page.locator("#template-preview")
    box = page.locator("textarea[name=body]")
    box.fill("Hi {{ first_name | default(\"there\") }}! " + "a" * 130)
    expect(panel.locator("[data-rendered]")).to_have_text("Hi there! " + "a" * 130)
    expect(panel.locator("[data-encoding]")).to_have_text("GSM-7")
    expect(panel.locator("[data-parts]")).to_have_text("1 part")
    expect(panel.locator("[data-left]")).to_have_text("20 characters left in this part")

    box.press("End")
    box.type("🎉")  # key by key, as a person would
    expect(panel.locator("[data-encoding]")).to_have_text("UCS-2 (Unicode)")
    expect(panel.locator("[data-parts]")).to_have_text("3 parts")  # 140 + 2 UTF-16 units
    expect(panel.locator("[data-culprits]")).to_contain_text("🎉")
    page.screenshot(path=output_dir / "template-editor.png", full_page=True)

    page.get_by_role("button", name="Save template").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(base)}/templates/\d+/edit$"))
    expect(page.get_by_role("status")).to_have_text("Template “Party” saved.")
    # The saved editor renders its preview again on load.
    expect(page.locator("#template-preview [data-parts]")).to_have_text("3 parts")
