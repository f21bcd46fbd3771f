"""Each role reaches only what it should: every route of app.url_map, for anonymous, compliance,
ops and admin, against one table of expectations (docs/roles.md).

Adding a route? Add one line to ROUTES below: its (endpoint, method), a sample URL (placeholders
in braces are filled from the `objects` fixture), the roles that may use it ("public" for no
login) and, for GETs, the status an allowed role gets. `test_every_route_has_an_expectation`
fails until you do, and `test_the_table_agrees_with_each_views_declared_roles` fails when the
table and the view's @roles_required disagree, so neither can drift alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from dashboard.models import Role

ADMIN, OPS, COMPLIANCE = "admin", "ops", "compliance"
ALL = (ADMIN, OPS, COMPLIANCE)
STAFF = (ADMIN, OPS)
REVIEWERS = (ADMIN, COMPLIANCE)
PUBLIC = "public"
MACHINE = "machine"  # no login: a bearer token or an allowed address (dashboard/web/metrics.py)
# The HTTP API: its views declare "api" instead of console roles. A console session opens none of
# them: without a bearer key they answer 401 (`ok`), and the two open ones (the OpenAPI document,
# the problem types) answer to anyone.
API = "api"


@dataclass(frozen=True)
class Expect:
    url: str
    roles: tuple[str, ...] | str
    ok: int = 200  # what an allowed role gets for a GET (POSTs are posted empty: anything but 401/403/5xx)


ROUTES: dict[tuple[str, str], Expect] = {
    ("auth.login", "GET"): Expect("/login", PUBLIC),
    ("auth.login", "POST"): Expect("/login", PUBLIC),
    ("auth.logout", "POST"): Expect("/logout", ALL),
    ("signup.join", "GET"): Expect("/join/{token}", PUBLIC),
    ("signup.join", "POST"): Expect("/join/{token}", PUBLIC),
    ("home.index", "GET"): Expect("/", ALL),
    ("home.stats", "GET"): Expect("/stats", ALL),
    ("home.sender_banner", "GET"): Expect("/sender-status", ALL),
    # Ops read the binds' live state and the price list; only admins change them (docs/roles.md).
    ("binds.index", "GET"): Expect("/binds/", STAFF),
    ("binds.states", "GET"): Expect("/binds/states", STAFF),
    ("binds.new", "GET"): Expect("/binds/new", (ADMIN,)),
    ("binds.new", "POST"): Expect("/binds/new", (ADMIN,)),
    ("binds.show", "GET"): Expect("/binds/{bind}", STAFF),
    ("binds.state", "GET"): Expect("/binds/{bind}/state", STAFF),
    ("binds.edit", "GET"): Expect("/binds/{bind}/edit", (ADMIN,)),
    ("binds.edit", "POST"): Expect("/binds/{bind}/edit", (ADMIN,)),
    ("binds.delete", "POST"): Expect("/binds/{bind}/delete", (ADMIN,)),
    ("routes.index", "GET"): Expect("/routes/", STAFF),
    ("routes.create", "POST"): Expect("/routes/", (ADMIN,)),
    ("routes.test", "POST"): Expect("/routes/test", STAFF),
    ("routes.edit", "GET"): Expect("/routes/{route}/edit", (ADMIN,)),
    ("routes.edit", "POST"): Expect("/routes/{route}/edit", (ADMIN,)),
    ("routes.delete", "POST"): Expect("/routes/{route}/delete", (ADMIN,)),
    ("users.index", "GET"): Expect("/users/", (ADMIN,)),
    ("users.index", "POST"): Expect("/users/", (ADMIN,)),
    ("users.change", "POST"): Expect("/users/{user}", (ADMIN,)),
    ("audit.index", "GET"): Expect("/audit/", REVIEWERS),
    ("audit.export", "POST"): Expect("/audit/export.csv", REVIEWERS),
    ("contacts.lists", "GET"): Expect("/lists/", STAFF),
    ("contacts.lists", "POST"): Expect("/lists/", STAFF),
    ("contacts.show_list", "GET"): Expect("/lists/{list}", STAFF),
    ("contacts.show_list", "POST"): Expect("/lists/{list}", STAFF),
    ("contacts.search_list", "POST"): Expect("/lists/{list}/search", STAFF),
    ("contacts.opt_out", "POST"): Expect("/lists/{list}/contacts/{contact}/opt-out", STAFF),
    ("contacts.remove", "POST"): Expect("/lists/{list}/contacts/{contact}/remove", STAFF),
    ("contacts.signup_settings", "POST"): Expect("/lists/{list}/signup", STAFF),
    ("contacts.senders", "GET"): Expect("/senders/", STAFF),
    ("contacts.senders", "POST"): Expect("/senders/", STAFF),
    ("contacts.sender", "GET"): Expect("/senders/{sender}", STAFF),
    ("contacts.save_registration", "POST"): Expect("/senders/{sender}/registrations", STAFF),
    ("contacts.sender_brand", "POST"): Expect("/senders/{sender}/brand", STAFF),
    ("imports.upload", "GET"): Expect("/lists/{list}/import", STAFF),
    ("imports.upload", "POST"): Expect("/lists/{list}/import", STAFF),
    ("imports.show", "GET"): Expect("/imports/{import}", STAFF),
    ("imports.show", "POST"): Expect("/imports/{import}", STAFF),
    ("imports.progress", "GET"): Expect("/imports/{import}/progress", STAFF),
    ("imports.issues_csv", "POST"): Expect("/imports/{import}/issues.csv", STAFF),
    ("campaigns.index", "GET"): Expect("/campaigns/", STAFF),
    ("campaigns.new", "GET"): Expect("/campaigns/new", STAFF),
    ("campaigns.new", "POST"): Expect("/campaigns/new", STAFF),
    ("campaigns.segments", "GET"): Expect("/campaigns/segments?text=Hi", STAFF),
    ("campaigns.show", "GET"): Expect("/campaigns/{campaign}", STAFF),
    ("campaigns.progress", "GET"): Expect("/campaigns/{campaign}/progress", STAFF),
    ("campaigns.estimate", "GET"): Expect("/campaigns/{campaign}/estimate", STAFF),
    ("campaigns.dry_run", "GET"): Expect("/campaigns/{campaign}/dry-run", STAFF),
    ("campaigns.dry_run_csv", "POST"): Expect("/campaigns/{campaign}/dry-run.csv", STAFF),
    ("campaigns.submit", "POST"): Expect("/campaigns/{campaign}/submit", STAFF),
    ("campaigns.approve", "POST"): Expect("/campaigns/{campaign}/approve", STAFF),
    ("campaigns.reject", "POST"): Expect("/campaigns/{campaign}/reject", STAFF),
    ("campaigns.test_send", "POST"): Expect("/campaigns/{campaign}/test-send", STAFF),
    ("campaigns.limits", "POST"): Expect("/campaigns/{campaign}/limits", STAFF),
    ("campaigns.control", "POST"): Expect("/campaigns/{campaign}/pause", STAFF),
    # Compliance reads reports and may take the audited export; it operates nothing (docs/roles.md).
    ("reports.report", "GET"): Expect("/campaigns/{campaign}/report", ALL),
    ("reports.messages_csv", "POST"): Expect("/campaigns/{campaign}/messages.csv", ALL),
    ("messages.index", "GET"): Expect("/messages/", STAFF),
    ("messages.index", "POST"): Expect("/messages/", STAFF),
    ("messages.show", "GET"): Expect("/messages/{message}", STAFF),
    ("consent.index", "GET"): Expect("/consent/", REVIEWERS),
    ("consent.index", "POST"): Expect("/consent/", REVIEWERS),
    ("consent.contact", "GET"): Expect("/consent/contacts/{contact}", ALL),
    ("consent.export", "POST"): Expect("/consent/export.csv", REVIEWERS),
    ("consent.verify", "POST"): Expect("/consent/verify", REVIEWERS),
    ("message_templates.index", "GET"): Expect("/templates/", STAFF),
    ("message_templates.new", "GET"): Expect("/templates/new", STAFF),
    ("message_templates.new", "POST"): Expect("/templates/new", STAFF),
    ("message_templates.edit", "GET"): Expect("/templates/{template}/edit", STAFF),
    ("message_templates.edit", "POST"): Expect("/templates/{template}/edit", STAFF),
    ("message_templates.preview", "POST"): Expect("/templates/preview", STAFF),
    ("message_templates.archive", "POST"): Expect("/templates/{template}/archive", STAFF),
    ("message_templates.delete", "POST"): Expect("/templates/{template}/delete", STAFF),
    # Charts: the overview's for everyone, a bind's for staff (checked inside: one route, three scopes),
    # a campaign's for everyone who reads its report (docs/roles.md).
    ("charts.panel", "GET"): Expect("/charts/all?range=1h", ALL),
    ("charts.chart", "GET"): Expect("/charts/campaign-{campaign}/delivery", ALL),
    ("alerts.index", "GET"): Expect("/alerts/", ALL),
    ("alerts.banner", "GET"): Expect("/alerts/banner", ALL),
    ("alerts.acknowledge", "POST"): Expect("/alerts/1/acknowledge", STAFF),
    ("alerts.create_rule", "POST"): Expect("/alerts/rules", (ADMIN,)),
    ("alerts.edit_rule", "GET"): Expect("/alerts/rules/{rule}", (ADMIN,)),
    ("alerts.edit_rule", "POST"): Expect("/alerts/rules/{rule}", (ADMIN,)),
    ("alerts.delete_rule", "POST"): Expect("/alerts/rules/{rule}/delete", (ADMIN,)),
    ("alerts.set_budget", "POST"): Expect("/alerts/budgets", (ADMIN,)),
    ("alerts.set_target", "POST"): Expect("/alerts/targets", (ADMIN,)),
    # Scrapers have no session: a token or an allowed address (the test client is 127.0.0.1).
    ("metrics.metrics", "GET"): Expect("/metrics", MACHINE),
    # API keys are an admin's; the delivery log is for those who run messages; the API page for all.
    ("api_keys.index", "GET"): Expect("/api-keys/", (ADMIN,)),
    ("api_keys.index", "POST"): Expect("/api-keys/", (ADMIN,)),
    ("api_keys.edit", "GET"): Expect("/api-keys/{api_key}", (ADMIN,)),
    ("api_keys.edit", "POST"): Expect("/api-keys/{api_key}", (ADMIN,)),
    ("api_keys.webhook_secret", "POST"): Expect("/api-keys/{api_key}/webhook-secret", (ADMIN,)),
    ("api_keys.revoke", "POST"): Expect("/api-keys/{api_key}/revoke", (ADMIN,)),
    ("webhooks.index", "GET"): Expect("/webhooks/", STAFF),
    ("webhooks.show", "GET"): Expect("/webhooks/{webhook_event}", STAFF),
    ("webhooks.redeliver", "POST"): Expect("/webhooks/{webhook_event}/redeliver", STAFF),
    ("api_docs.index", "GET"): Expect("/api-docs/", ALL),
    ("api.send_message", "POST"): Expect("/api/v1/messages", API, 401),
    ("api.send_batch", "POST"): Expect("/api/v1/messages/batch", API, 401),
    ("api.get_message", "GET"): Expect("/api/v1/messages/{message}", API, 401),
    ("api.list_messages", "GET"): Expect("/api/v1/messages", API, 401),
    ("api.list_inbound", "GET"): Expect("/api/v1/inbound", API, 401),
    ("api.save_contact", "POST"): Expect("/api/v1/contacts", API, 401),
    ("api.lookup_contact", "POST"): Expect("/api/v1/contacts/lookup", API, 401),
    ("api.get_contact", "GET"): Expect("/api/v1/contacts/{contact}", API, 401),
    ("api.update_contact", "PATCH"): Expect("/api/v1/contacts/{contact}", API, 401),
    ("api.opt_in", "POST"): Expect("/api/v1/contacts/{contact}/opt-in", API, 401),
    ("api.opt_out", "POST"): Expect("/api/v1/contacts/{contact}/opt-out", API, 401),
    ("api.consent_proof", "GET"): Expect("/api/v1/contacts/{contact}/consent", API, 401),
    ("api.list_campaigns", "GET"): Expect("/api/v1/campaigns", API, 401),
    ("api.get_campaign", "GET"): Expect("/api/v1/campaigns/{campaign}", API, 401),
    ("api.start_verification", "POST"): Expect("/api/v1/verify", API, 401),
    ("api.check_verification", "POST"): Expect("/api/v1/verify/check", API, 401),
    ("api.openapi", "GET"): Expect("/api/v1/openapi.json", API, 200),
    ("api.problem_type", "GET"): Expect("/api/v1/problems/invalid-number", API, 200),
    **{("api.unknown", method): Expect("/api/v1/no-such-thing", API, 404)
       for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
}
# Last in each walk: it ends the session the rest of the walk needs.
LAST = ("auth.logout", "POST")


def _routes(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_an_expectation(app):
    missing = sorted(_routes(app) - set(ROUTES))
    assert not missing, f"add these routes to ROUTES in tests/web/test_access.py (see its docstring): {missing}"
    assert not sorted(set(ROUTES) - _routes(app)), "ROUTES names routes that no longer exist"


def test_the_table_agrees_with_each_views_declared_roles(app):
    for (endpoint, _method), expect in ROUTES.items():
        declared = getattr(app.view_functions[endpoint], "allowed_roles", None)
        wanted = expect.roles if expect.roles in (PUBLIC, MACHINE, API) else frozenset(expect.roles)
        assert declared == wanted, f"{endpoint}: the view declares {declared}, the table {wanted}"


def test_only_the_login_and_sign_up_pages_are_public(app):
    public = sorted(rule.endpoint for rule in app.url_map.iter_rules()
                    if getattr(app.view_functions[rule.endpoint], "allowed_roles", None) == PUBLIC)
    assert set(public) == {"auth.login", "signup.join"}


@pytest.fixture
def objects(app, make_bind, make_list, sender, simulator, runner, make_user):
    from dashboard.extensions import db
    from dashboard.models import ContactImport, ContactList, WebhookEvent
    from dashboard.models.types import utcnow
    from dashboard.services import api_keys, signup
    from dashboard.services.campaigns import create_campaign
    from dashboard.services.message_templates import create_template
    from dashboard.services.routing import create_route
    bind = make_bind(simulator)
    route = create_route(destination="US", bind_id=bind.id, price="0.0075", currency="USD")
    contact_list = make_list(["+12025550101"])
    signup.configure(contact_list, enabled=True, sender_id=sender.id)
    campaign = create_campaign(name="c", list_id=contact_list.id, sender_id_id=sender.id, text="hi",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    result = runner.invoke(args=["send", "--to", "+12025550102", "--text", "hello"])
    from dashboard.services.alerts import RuleSettings, create_rule
    rule = create_rule(RuleSettings(name="r", kind="delivery_rate", threshold=90), utcnow())
    template, _ = create_template(name="t", body="Hi {{ first_name }}", kind="marketing", created_by_id=None,
                                  now=utcnow())
    other = make_user("other@example.com", "ops")
    key = api_keys.create_key(api_keys.KeySettings(name="app", scopes=("send",)), created_by_id=None, now=utcnow())
    message_id = int(result.output.split()[0])
    event = WebhookEvent(api_key_id=key.key.id, url="http://127.0.0.1:9/hook", type="message.accepted",
                         message_id=message_id, seq=1, payload={}, occurred_at=utcnow(), created_at=utcnow())
    db.session.add(event)
    imp = ContactImport(list_id=contact_list.id, user_id=other.id, uploaded_by=other.email, filename="a.csv",
                        stored_name="missing.csv", size=1, sha256="0" * 64, header=["phone"], has_header=True,
                        mapping={"phone": 0}, source="import", evidence="e", created_at=utcnow(), status="done")
    db.session.add(imp)
    db.session.commit()
    contact_id = db.session.get(ContactList, contact_list.id).memberships[0].contact_id
    return {"bind": bind.id, "route": route.id, "list": contact_list.id, "campaign": campaign.id, "sender": sender.id,
            "message": int(result.output.split()[0]), "template": template.id, "user": other.id,
            "import": imp.id, "contact": contact_id, "token": contact_list.signup_token, "rule": rule.id,
            "api_key": key.key.id, "webhook_event": event.id}


@pytest.mark.parametrize("role", ["anonymous", COMPLIANCE, OPS, ADMIN])
def test_each_route_answers_each_role_as_the_table_says(client, auth, make_user, objects, role):
    if role != "anonymous":
        make_user(f"{role}@example.com", role)
        auth.login(f"{role}@example.com")
    failures = []
    for key in sorted(ROUTES, key=lambda k: k == LAST):
        (_endpoint, method), expect = key, ROUTES[key]
        url = expect.url.format(**objects)
        response = client.open(url, method=method, data={} if method != "GET" else None)
        status = response.status_code
        if expect.roles == API:
            ok = status == expect.ok and (status == 200 or response.mimetype == "application/problem+json")
        elif expect.roles == PUBLIC:
            ok = status < 500 and status not in (401, 403)
        elif expect.roles == MACHINE:
            ok = status == expect.ok
        elif role == "anonymous":
            ok = status == 302 and response.headers["Location"].startswith("/login")
        elif role not in expect.roles:
            ok = status == 403
        elif method == "GET":
            ok = status == expect.ok
        else:
            ok = status < 500 and status not in (401, 403)
        if not ok:
            failures.append(f"{role} {method} {url}: {status}")
    assert failures == []


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
                                 "/consent/contacts/999"])
def test_an_unknown_object_is_a_404_not_an_error(client, auth, make_user, url):
    make_user()
    auth.login()
    assert client.get(url).status_code == 404
