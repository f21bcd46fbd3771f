"""What each recipient's message says is decided at launch: rendered for them, with the opt-out
footer where their country requires it — also when the body has no placeholders and the launch
reuses one rendering per country."""
from __future__ import annotations

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message, SenderRegistration
from dashboard.models.types import utcnow
from dashboard.services import campaigns

US = ["+12025550101", "+12025550102", "+12025550103"]
DE = ["+4915112345601", "+4915112345602"]


def _texts(app, make_list, sender, body: str) -> dict[str, str]:
    sender.registrations.append(SenderRegistration(country="DE", status="approved", notes="test"))
    db.session.commit()
    contact_list = make_list(US[:2] + DE + US[2:])
    campaign = campaigns.create_campaign(name="Weekly", list_id=contact_list.id, sender_id_id=sender.id, text=body,
                                         scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    while campaigns.launch_due(utcnow()):
        pass
    return dict(db.session.execute(select(Message.destination, Message.text)
                                   .where(Message.campaign_id == campaign.id)).all())


def test_a_plain_body_gets_the_footer_only_where_the_country_requires_it(app, make_list, sender):
    footer = app.config["OPT_OUT_FOOTER"]
    texts = _texts(app, make_list, sender, "News")
    assert {texts[n] for n in US} == {f"News\n{footer}"}
    assert {texts[n] for n in DE} == {"News"}


def test_a_body_with_placeholders_is_rendered_per_recipient(app, make_list, sender):
    texts = _texts(app, make_list, sender, "For {{ phone }}")
    assert all(texts[n].startswith(f"For {n}") for n in US + DE)
    assert all(texts[n].endswith(app.config["OPT_OUT_FOOTER"]) for n in US)
