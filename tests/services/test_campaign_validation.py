"""What a campaign may be saved with (issue 11, defects 1 and 6): the body passes the template
editor's check, limits are finite numbers, and a change after approval needs approval again."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.models.types import utcnow
from dashboard.services import campaigns


def _create(contact_list, sender, **overrides):
    values = dict(
        name="Weekly",
        list_id=contact_list.id,
        sender_id_id=sender.id,
        text="News",
        scheduled_at=utcnow(),
        created_by_id=None,
        now=utcnow(),
    )
    values.update(overrides)
    return campaigns.create_campaign(**values)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("Hi {{ name", "not closed"),
        ("{{ ''.__class__.__mro__ }}", "not allowed"),
        ("{% for %}", "syntax error"),
        ("{% for x in name %}{{ x }}{% endfor %}", "{% for %} is not allowed"),
        ("{{ (((10**100)**100)**100)**10 }}", "too large"),
        ("{{ name|center(10000000) }}", "not allowed"),
    ],
)
def test_a_campaign_body_that_the_template_editor_refuses_cannot_be_saved(
    app, make_list, sender, body, reason
):
    contact_list = make_list(["+12025550101"])
    with pytest.raises(campaigns.CampaignError, match="the message cannot be used") as error:
        _create(contact_list, sender, text=body)
    assert reason in str(error.value)
    assert db.session.scalar(select(Campaign)) is None


def test_an_unknown_placeholder_is_only_a_warning_for_a_campaign_too(app, make_list, sender):
    contact_list = make_list(["+12025550101"])
    assert _create(contact_list, sender, text="Hi {{ frist_name }}").id
