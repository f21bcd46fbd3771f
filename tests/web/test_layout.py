"""What every page carries: grouped navigation with the current page marked, the sender banner,
error pages in the console's looks, the favicon; and the users form's safe default."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from dashboard.models.types import utcnow
from dashboard.services import workers


@pytest.fixture
def admin(client, auth, make_user):
    make_user()
    auth.login()
    return client


def test_the_navigation_is_grouped_by_what_people_do_and_marks_the_current_page(admin):
    page = admin.get("/campaigns/").data.decode()
    groups = re.findall(r'<p class="nav-group">([^<]+)</p>', page)
    assert groups == ["Send", "Audience", "Observe", "Compliance", "Developers", "Admin"]
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', page) == ["/campaigns/"]
    # A page under a link marks that link: sender pages live beside the lists, but have their own.
    assert 'href="/senders/" aria-current="page"' in admin.get("/senders/").data.decode()
    assert 'href="/lists/" aria-current="page"' in admin.get("/lists/").data.decode()
    assert 'href="/" aria-current="page"' in admin.get("/").data.decode()


def test_compliance_sees_only_its_groups(client, auth, make_user):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    page = client.get("/").data.decode()
    assert re.findall(r'<p class="nav-group">([^<]+)</p>', page) == ["Compliance", "Developers"]
    assert 'href="/campaigns/"' not in page


def test_the_banner_shows_when_the_heartbeat_is_older_than_its_limit_and_goes_when_it_is_back(
    app, admin
):
    assert 'data-sender="stopped"' in admin.get("/").data.decode()  # never ran
    assert "none has run yet" in admin.get("/sender-status").data.decode()

    workers.beat("w:1", "w", 1, utcnow())
    assert 'data-sender="stopped"' not in admin.get("/").data.decode()
    assert 'data-sender="stopped"' not in admin.get("/sender-status").data.decode()

    limit = app.config["SENDER_STALE_SECONDS"]
    last = utcnow() - timedelta(seconds=limit + 5)
    workers.beat("w:1", "w", 1, last)
    page = admin.get("/messages/").data.decode()
    assert 'data-sender="stopped"' in page
    assert f'No sender is running</strong> since <time datetime="{last.isoformat()}">' in page
    assert (
        'hx-get="/sender-status" hx-trigger="every 10s"' in page
    )  # a page left open finds out by itself

    workers.beat("w:1", "w", 1, utcnow())
    assert 'data-sender="stopped"' not in admin.get("/sender-status").data.decode()


def test_an_unknown_page_is_a_styled_404(admin):
    response = admin.get("/no/such/page")
    page = response.data.decode()
    assert response.status_code == 404
    assert '<p class="error-code">404</p>' in page and "Back to the overview" in page
    assert 'class="sidebar"' in page  # the console around it


def test_an_error_is_a_styled_500_that_needs_no_database(app, client, auth, make_user):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaput")

    boom.allowed_roles = "public"

    make_user()
    auth.login()
    response = client.get("/boom")
    page = response.data.decode()
    assert response.status_code == 500
    assert '<p class="error-code">500</p>' in page and "Something went wrong on our side" in page
    assert "kaput" not in page and "Traceback" not in page


def test_every_page_has_the_favicon(client):
    page = client.get("/login").data.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    with client.get("/static/favicon.svg") as response:
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_a_new_user_gets_the_least_powerful_role_unless_told_otherwise(admin):
    page = admin.get("/users/").data.decode()
    assert re.search(r'<option selected value="compliance">', page) or re.search(
        r'<option[^>]*value="compliance"[^>]*selected', page
    )
    # The new-user form comes first; each existing user's row has its own role choice after it.
    assert re.findall(r'<option[^>]*value="(\w+)"', page)[:3] == ["compliance", "ops", "admin"]


def test_no_page_carries_an_inline_style_or_event_handler(admin):
    for url in (
        "/",
        "/campaigns/",
        "/campaigns/new",
        "/messages/",
        "/routes/",
        "/binds/",
        "/lists/",
        "/users/",
    ):
        page = admin.get(url).data.decode()
        assert not re.search(r'\sstyle="', page), url
        assert not re.search(r'\son[a-z]+="', page), url
