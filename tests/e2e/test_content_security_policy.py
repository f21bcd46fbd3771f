"""The console works under its Content-Security-Policy in a real browser (issue 11, build point 3):
no page trips the policy, and the two handlers that were inline now run through htmx."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.models.types import utcnow
from dashboard.services.message_templates import create_template

pytestmark = [pytest.mark.browser, pytest.mark.presentation]


def test_no_page_of_the_console_trips_the_content_security_policy(page, live_console):
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    live_console.log_in(page)
    for path in ("/", "/campaigns/new", "/templates/new", "/lists/", "/messages/", "/consent/", "/audit/",
                 "/users/", "/binds/"):
        page.goto(f"{live_console.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_console.url}/templates/new")
    page.fill("textarea[name=body]", "Hi {{ first_name }}")
    expect(page.locator("#template-preview")).to_contain_text("Hi")
    assert violations == []


def test_the_delete_confirmation_and_the_message_search_run_without_inline_handlers(page, live_console):
    create_template(name="Old", body="Bye", kind="marketing", created_by_id=None, now=utcnow())
    live_console.log_in(page)
    page.goto(f"{live_console.url}/templates/")
    page.once("dialog", lambda dialog: dialog.dismiss())  # cancelled: nothing deleted
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("link", name="Old")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Template “Old” deleted.")).to_be_visible()

    page.goto(f"{live_console.url}/messages/")
    page.select_option("select[name=status]", "queued")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/messages/\?status=queued$"))
