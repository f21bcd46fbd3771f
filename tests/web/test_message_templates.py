"""Template pages: create, edit, archive, delete, and the editor's live preview partial."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Contact, MessageTemplate
from dashboard.models.types import utcnow
from dashboard.services.message_templates import create_template


@pytest.fixture
def ops(client, auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    return client


def make_template(name="Welcome", body="Hi {{ first_name }}", kind="marketing"):
    template, _ = create_template(name=name, body=body, kind=kind, created_by_id=None, now=utcnow())
    return template


def test_an_ops_user_creates_a_template_and_lands_in_its_editor(ops):
    response = ops.post("/templates/new", data={"name": "Welcome", "kind": "marketing",
                                                "body": 'Hi {{ first_name | default("there") }}'})
    template = db.session.scalar(select(MessageTemplate))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/templates/{template.id}/edit"
    assert (template.name, template.kind, template.body) == ("Welcome", "marketing",
                                                              'Hi {{ first_name | default("there") }}')
    page = ops.get("/templates/").data.decode()
    assert 'data-template="Welcome"' in page


def test_a_template_with_a_syntax_error_is_not_saved_and_says_why(ops):
    response = ops.post("/templates/new", data={"name": "Broken", "kind": "marketing", "body": "Hi {{ first_name"})
    assert response.status_code == 400
    assert "not closed" in response.data.decode()
    assert db.session.scalar(select(MessageTemplate)) is None


def test_a_sandbox_escape_is_refused_at_save_time(ops):
    response = ops.post("/templates/new", data={"name": "Evil", "kind": "marketing",
                                                "body": "{{ ''.__class__.__mro__ }}"})
    assert response.status_code == 400
    assert "not allowed" in response.data.decode()


def test_an_unknown_placeholder_saves_with_a_warning(ops):
    response = ops.post("/templates/new", data={"name": "Typo", "kind": "marketing", "body": "Hi {{ frist_name }}"},
                        follow_redirects=True)
    page = response.data.decode()
    assert response.status_code == 200
    assert "Saved with a warning" in page and "frist_name" in page
    assert db.session.scalar(select(MessageTemplate.name)) == "Typo"


def test_a_custom_field_seen_in_the_contacts_is_not_a_warning(ops, make_list):
    make_list(["+12025550101"])
    db.session.scalar(select(Contact)).fields = {"Loyalty Tier": "gold"}
    db.session.commit()
    page = ops.post("/templates/new", data={"name": "Tier", "kind": "marketing", "body": "{{ loyalty_tier }}"},
                    follow_redirects=True).data.decode()
    assert "Saved with a warning" not in page


def test_two_templates_cannot_share_a_name(ops):
    make_template("Welcome")
    response = ops.post("/templates/new", data={"name": "Welcome", "kind": "marketing", "body": "x"})
    assert response.status_code == 400
    assert "already exists" in response.data.decode()


def test_editing_changes_the_body_and_kind(ops):
    template = make_template()
    response = ops.post(f"/templates/{template.id}/edit", data={"name": "Welcome", "kind": "transactional",
                                                                "body": "Code {{ code }}"})
    assert response.status_code == 302
    db.session.refresh(template)
    assert (template.kind, template.body) == ("transactional", "Code {{ code }}")


def test_the_editor_shows_the_saved_body(ops):
    template = make_template(body="Hello {{ name }}")
    page = ops.get(f"/templates/{template.id}/edit").data.decode()
    assert "Hello {{ name }}</textarea>" in page
    assert 'hx-post="/templates/preview"' in page and 'hx-trigger="input delay:200ms, load"' in page


def test_archiving_hides_a_template_until_unarchived(ops):
    template = make_template()
    ops.post(f"/templates/{template.id}/archive")
    assert 'data-template="Welcome"' not in ops.get("/templates/").data.decode()
    assert 'data-template="Welcome"' in ops.get("/templates/?archived=1").data.decode()
    ops.post(f"/templates/{template.id}/unarchive")
    assert 'data-template="Welcome"' in ops.get("/templates/").data.decode()


def test_an_unused_template_can_be_deleted(ops):
    template = make_template()
    response = ops.post(f"/templates/{template.id}/delete", follow_redirects=True)
    assert "deleted" in response.data.decode()
    assert db.session.scalar(select(MessageTemplate)) is None


def test_a_compliance_reviewer_cannot_write_templates(client, auth, make_user):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    assert client.post("/templates/new", data={"name": "x", "kind": "marketing", "body": "x"}).status_code == 403
    assert client.post("/templates/preview", data={"body": "x"}).status_code == 403


def preview(client, **params):
    return client.post("/templates/preview", data={"kind": "marketing", **params},
                       headers={"HX-Request": "true"}).data.decode()


def test_the_preview_renders_for_the_first_contact_of_a_list_with_the_footer(ops, make_list):
    contact_list = make_list(["+12025550101", "+12025550102"], name="VIPs")
    first = db.session.scalar(select(Contact).where(Contact.phone == "+12025550101"))
    first.name, first.fields = "Ada Lovelace", {"city": "Paris"}
    db.session.commit()
    page = preview(ops, body="Hi {{ first_name }} in {{ city }}", sample_list=contact_list.id)
    assert page.strip().startswith("<section id=\"template-preview\"")
    assert "Hi Ada in Paris\nReply STOP to opt out</blockquote>" in page
    assert "first contact of “VIPs”" in page and "opt-out footer added" in page


def test_the_preview_uses_a_typed_sample_and_its_default(ops):
    page = preview(ops, body='Hi {{ first_name | default("there") }}', kind="transactional", sample_name="",
                   sample_phone="+442071838750")
    assert "Hi there</blockquote>" in page and "footer" not in page


def test_the_counter_counts_the_rendered_text_with_its_footer(ops):
    # 150 characters as typed: one part; with "Reply STOP to opt out" on a new line, two.
    page = preview(ops, body="a" * 150, sample_phone="+12025550101")
    assert 'data-encoding="gsm7"' in page and 'data-parts="2"' in page
    assert "the template as typed: 1 part, GSM-7" in page


def test_a_long_name_adds_parts_the_template_alone_does_not_show(ops):
    body = "x" * 140 + " {{ name }}"
    page = preview(ops, body=body, kind="transactional", sample_name="Bartholomew Featherstonehaugh")
    assert 'data-parts="2"' in page


def test_an_emoji_in_the_template_switches_the_preview_to_ucs2_and_names_it(ops):
    page = preview(ops, body="Party time 🎉", kind="transactional")
    assert 'data-encoding="ucs2"' in page and "<code>🎉</code>" in page


def test_a_curly_apostrophe_in_a_contacts_name_is_named_with_its_lookalike(ops):
    page = preview(ops, body="Hi {{ name }}", kind="transactional", sample_name="D’Arcy")
    assert 'data-encoding="ucs2"' in page and "<code>’</code> → <code>&#39;</code>" in page


def test_the_preview_shows_syntax_errors_and_warnings_as_you_type(ops):
    assert "data-template-error" in preview(ops, body="Hi {{ first_name")
    page = preview(ops, body="Hi {{ nmae }}")
    assert "data-template-warning" in page and "nmae" in page


def test_the_preview_escapes_what_it_shows(ops):
    page = preview(ops, body="<b>{{ name }}</b>", kind="transactional", sample_name="<script>")
    assert "&lt;b&gt;&lt;script&gt;&lt;/b&gt;" in page and "<script>" not in page


def test_a_huge_power_in_the_live_preview_answers_at_once_with_an_error(ops):
    import time
    started = time.perf_counter()
    response = ops.post("/templates/preview", data={"body": "{{ (((10**100)**100)**100)**10 }}"})
    assert time.perf_counter() - started < 1.0  # it held the GIL for 12 s
    assert response.status_code == 200
    assert "too large" in response.data.decode()
