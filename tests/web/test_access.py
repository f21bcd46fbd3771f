"""Each role sees only what it should: every route is declared, and the matrix is tested."""
from __future__ import annotations

import pytest

from dashboard.models import Role

ROLES = ("admin", "ops", "compliance")

# URL → the roles that may open it. Every GET page of the console is listed; the audit test
# below fails when a new view is added without a role declaration.
MATRIX = {
    "/": ROLES,
    "/stats": ROLES,
    "/sender-status": ROLES,
    # Ops read the binds' live state; only admins change binds (docs/roles.md).
    "/binds/": ("admin", "ops"),
    "/binds/states": ("admin", "ops"),
    "/binds/new": ("admin",),
    "/binds/{bind}": ("admin", "ops"),
    "/binds/{bind}/state": ("admin", "ops"),
    "/binds/{bind}/edit": ("admin",),
    "/routes/": ("admin", "ops"),
    "/routes/{route}/edit": ("admin",),
    "/users/": ("admin",),
    "/lists/": ("admin", "ops"),
    "/lists/{list}": ("admin", "ops"),
    "/senders/": ("admin", "ops"),
    "/senders/{sender}": ("admin", "ops"),
    "/campaigns/": ("admin", "ops"),
    "/campaigns/new": ("admin", "ops"),
    "/campaigns/{campaign}": ("admin", "ops"),
    "/campaigns/{campaign}/progress": ("admin", "ops"),
    "/campaigns/{campaign}/estimate": ("admin", "ops"),
    "/campaigns/{campaign}/dry-run": ("admin", "ops"),
    "/campaigns/{campaign}/dry-run.csv": ("admin", "ops"),
    "/messages/": ("admin", "ops"),
    "/messages/{message}": ("admin", "ops"),
    "/consent/": ("admin", "compliance"),
    "/consent/numbers/+12025550101": ROLES,
    "/consent/audit": ("admin", "compliance"),
    "/lists/{list}/import": ("admin", "ops"),
    "/templates/": ("admin", "ops"),
    "/templates/new": ("admin", "ops"),
    "/templates/{template}/edit": ("admin", "ops"),
    "/templates/preview?body=Hi": ("admin", "ops"),
    # Compliance reads reports and may take the audited export; it operates nothing (docs/roles.md).
    "/campaigns/{campaign}/report": ROLES,
    "/campaigns/{campaign}/messages.csv": ROLES,
}


def test_every_view_declares_who_may_use_it(app):
    undeclared = [rule.endpoint for rule in app.url_map.iter_rules()
                  if rule.endpoint != "static"
                  and not hasattr(app.view_functions[rule.endpoint], "allowed_roles")]
    assert undeclared == []


def test_only_the_login_and_sign_up_pages_are_public(app):
    public = sorted(rule.endpoint for rule in app.url_map.iter_rules()
                    if getattr(app.view_functions[rule.endpoint], "allowed_roles", None) == "public")
    assert public == ["auth.login", "signup.join"]


# POST-only routes: each role's answer (a redirect after doing it, or 403). Posted empty, so
# allowed roles only get as far as the form's validation.
POST_MATRIX = {
    "/routes/": ("admin",),
    "/routes/test": ("admin", "ops"),
    "/routes/{route}/edit": ("admin",),
    "/routes/{route}/delete": ("admin",),
    "/binds/{bind}/delete": ("admin",),
    "/messages/": ("admin", "ops"),
    "/lists/{list}/search": ("admin", "ops"),
    "/lists/{list}/contacts/{contact}/opt-out": ("admin", "ops"),
    "/lists/{list}/contacts/{contact}/remove": ("admin", "ops"),
    "/lists/{list}/signup": ("admin", "ops"),
    "/senders/{sender}/registrations": ("admin", "ops"),
    "/senders/{sender}/brand": ("admin", "ops"),
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_post_only_to_its_routes(client, auth, make_user, objects, role):
    make_user(f"{role}@example.com", role)
    auth.login(f"{role}@example.com")
    for template, allowed in POST_MATRIX.items():
        url = template.format(**objects)
        status = client.post(url, data={}).status_code
        assert (status != 403) == (role in allowed), f"{role} POST {url}: {status}"


def test_the_sign_up_page_is_open_to_anyone_once_enabled(client, objects):
    from dashboard.extensions import db
    from dashboard.models import ContactList
    from dashboard.services import signup
    contact_list = db.session.get(ContactList, objects["list"])
    assert client.get("/join/not-a-token").status_code == 404
    signup.configure(contact_list, enabled=True, sender_id=objects["sender"])
    assert client.get(f"/join/{contact_list.signup_token}").status_code == 200
    signup.configure(contact_list, enabled=False, sender_id=None)
    assert client.get(f"/join/{contact_list.signup_token}").status_code == 404


@pytest.fixture
def objects(app, make_bind, make_list, sender, simulator, runner):
    from dashboard.models.types import utcnow
    from dashboard.services.campaigns import create_campaign
    from dashboard.services.message_templates import create_template
    from dashboard.services.routing import create_route
    bind = make_bind(simulator)
    contact_list = make_list(["+12025550101"])
    campaign = create_campaign(name="c", list_id=contact_list.id, sender_id_id=sender.id, text="hi",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    result = runner.invoke(args=["send", "--to", "+12025550102", "--text", "hello"])
    template, _ = create_template(name="t", body="Hi {{ first_name }}", kind="marketing", created_by_id=None,
                                  now=utcnow())
    route = create_route(destination="+1", bind_id=bind.id, price="0.0075", currency="USD")
    contact = contact_list.memberships[0].contact
    return {"bind": bind.id, "list": contact_list.id, "campaign": campaign.id, "sender": sender.id,
            "message": int(result.output.split()[0]), "template": template.id, "route": route.id,
            "contact": contact.id}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_its_pages(client, auth, make_user, objects, role):
    make_user(f"{role}@example.com", role)
    auth.login(f"{role}@example.com")
    for template, allowed in MATRIX.items():
        url = template.format(**objects)
        status = client.get(url).status_code
        expected = 200 if role in allowed else 403
        assert status == expected, f"{role} GET {url}: {status}, expected {expected}"


def test_anonymous_users_are_sent_to_login_from_every_page(client, objects):
    for template in MATRIX:
        response = client.get(template.format(**objects))
        assert response.status_code == 302, template
        assert response.headers["Location"].startswith("/login")


def test_an_ops_user_gets_403_on_the_new_bind_page(client, auth, make_user):
    make_user("ops@example.com", Role.OPS.value)
    auth.login("ops@example.com")
    response = client.get("/binds/new")
    assert response.status_code == 403
    assert b"Not allowed" in response.data


def test_an_ops_user_cannot_create_a_bind_by_posting_directly(client, auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    response = client.post("/binds/new", data={"name": "x", "host": "h", "port": 1, "system_id": "s",
                                               "password": "p", "mode": "trx"})
    assert response.status_code == 403


def test_the_navigation_shows_admin_links_only_to_admins(client, auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    page = client.get("/").data
    assert b'href="/campaigns/"' in page and b'href="/binds/"' in page  # binds: read-only for ops
    assert b'href="/users/"' not in page


@pytest.mark.parametrize("url", ["/binds/999", "/binds/999/edit", "/routes/999/edit", "/campaigns/999",
                                 "/campaigns/999/progress",
                                 "/messages/999", "/templates/999/edit", "/campaigns/999/report",
                                 "/campaigns/999/messages.csv"])
def test_an_unknown_object_is_a_404_not_an_error(client, auth, make_user, url):
    make_user()
    auth.login()
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("action", ["submit", "approve", "reject", "test-send", "limits", "pause", "resume", "cancel"])
def test_a_compliance_user_cannot_act_on_campaigns_by_posting_directly(client, auth, make_user, objects, action):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    assert client.post(f"/campaigns/{objects['campaign']}/{action}").status_code == 403


@pytest.mark.parametrize("url", ["/templates/{template}/archive", "/templates/{template}/unarchive",
                                 "/templates/{template}/delete"])
def test_a_compliance_user_cannot_change_templates_by_posting_directly(client, auth, make_user, objects, url):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    assert client.post(url.format(**objects)).status_code == 403
