"""Opt-out keywords and their scope: global (the default) or per brand, enforced at send time."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import (BrandOptOut, ConsentEvent, Contact, InboundMessage, Message, SenderId,
                              SenderRegistration)
from dashboard.models.types import utcnow
from dashboard.services import consent, inbound
from dashboard.services.campaigns import create_campaign
from dashboard.services.sending.enqueue import enqueue
from dashboard.services.suppression import suppressed_messages
from tests.conftest import numbers, wait_for


@pytest.fixture
def brands(app):
    """Two approved senders of two brands."""
    made = {}
    for value, brand in (("AcmeShop", "Acme"), ("BetaNews", "Beta")):
        made[brand] = SenderId(value=value, kind="alphanumeric", status="approved", brand=brand,
                               registrations=[SenderRegistration(country="US", status="approved")])
        db.session.add(made[brand])
    db.session.commit()
    return made


def mo(source: str, text: str, destination: str) -> InboundMessage:
    message = InboundMessage(source=source.lstrip("+"), destination=destination, text=text, received_at=utcnow())
    db.session.add(message)
    db.session.commit()
    return message


def contact(phone: str) -> Contact:
    return db.session.scalar(select(Contact).where(Contact.phone == phone))


def test_a_brand_scoped_stop_suppresses_that_brands_campaign_at_send_time_but_not_another_brands(
        app, simulator, make_bind, make_list, brands, worker):
    app.config["OPT_OUT_SCOPE"] = "brand"
    make_bind(simulator)
    audience = numbers(3)
    contact_list = make_list(audience)
    worker()
    wait_for(lambda: simulator.bound_sessions(), message="bound")
    simulator.inject_mo(source=audience[0].lstrip("+"), destination="AcmeShop", text="Stop please")
    event = wait_for(lambda: db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "opt_out")),
                     message="opt-out recorded")
    assert event.evidence.startswith("[scope: brand Acme] SMS 'Stop please'") and event.list_id is None
    assert not contact(audience[0]).global_opt_out

    # Campaigns built after the STOP still hold a message for that number (the audience query
    # knows nothing of brands): it is the send-time check that must skip it.
    acme = create_campaign(name="acme", list_id=contact_list.id, sender_id_id=brands["Acme"].id, text="Acme sale",
                           scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    beta = create_campaign(name="beta", list_id=contact_list.id, sender_id_id=brands["Beta"].id, text="Beta news",
                           scheduled_at=utcnow(), created_by_id=None, now=utcnow())

    def final():
        db.session.expire_all()
        rows = db.session.scalars(select(Message).where(Message.campaign_id.in_((acme.id, beta.id)))).all()
        return len(rows) == 6 and all(m.status in ("delivered", "skipped") for m in rows) and rows
    rows = wait_for(final, timeout=30, message="both campaigns sent")
    skipped = [(m.campaign_id, m.destination, m.reason) for m in rows if m.status == "skipped"]
    assert skipped == [(acme.id, audience[0], "opted out of Acme")]
    sent = {(s.source_addr, s.destination_addr) for s in simulator.submits}
    assert ("BetaNews", audience[0].lstrip("+")) in sent
    assert ("AcmeShop", audience[0].lstrip("+")) not in sent
    assert consent.verify_chain().intact


def test_a_global_stop_still_suppresses_every_sender(app, make_list, brands):
    [number] = numbers(1)
    make_list([number])
    mo(number, "STOP", destination="AcmeShop")
    inbound.act_on_keywords(utcnow())
    assert contact(number).global_opt_out
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "opt_out"))
    assert event.evidence.endswith("(scope: all messages)")
    ids = [m.id for m in enqueue(destinations=[number], text="x", source="AcmeShop", now=utcnow())
           + enqueue(destinations=[number], text="y", source="BetaNews", now=utcnow())]
    assert set(suppressed_messages(ids).values()) == {"opted out of all messages"}


def test_in_brand_scope_a_stop_to_a_sender_without_a_brand_is_global(app, make_list, sender):
    app.config["OPT_OUT_SCOPE"] = "brand"
    [number] = numbers(1)
    make_list([number])
    mo(number, "Arrêt", destination=sender.value)
    inbound.act_on_keywords(utcnow())
    assert contact(number).global_opt_out


@pytest.mark.parametrize("scope", ["global", "brand"])
def test_start_and_unstop_re_subscribe_with_the_mo_as_evidence(app, make_list, brands, scope):
    app.config["OPT_OUT_SCOPE"] = scope
    [number] = numbers(1)
    make_list([number])
    mo(number, "STOP ALL", destination="AcmeShop")
    inbound.act_on_keywords(utcnow())
    [message] = enqueue(destinations=[number], text="x", source="AcmeShop", now=utcnow())
    assert message.id in suppressed_messages([message.id])
    reply = mo(number, "unstop" if scope == "brand" else "Start", destination="AcmeShop")
    inbound.act_on_keywords(utcnow())
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "opt_in", ConsentEvent.source == "keyword"))
    assert event.inbound_message_id == reply.id and reply.text in event.evidence
    assert suppressed_messages([message.id]) == {}
    assert not contact(number).global_opt_out
    if scope == "brand":
        assert db.session.scalar(select(BrandOptOut.opted_out)) is False
    assert consent.verify_chain().intact


def test_the_configured_keyword_list_is_honoured(app, make_list, sender):
    app.config["OPT_OUT_KEYWORDS"] = "BASTA, Genug"
    first, second, third = numbers(3)
    make_list([first, second, third])
    mo(first, "basta!", destination=sender.value)
    mo(second, "STOP", destination=sender.value)
    mo(third, "genug jetzt", destination=sender.value)
    inbound.act_on_keywords(utcnow())
    assert [contact(n).global_opt_out for n in (first, second, third)] == [True, False, True]


def test_a_brand_opt_out_survives_switching_the_scope_back_to_global(app, make_list, brands):
    app.config["OPT_OUT_SCOPE"] = "brand"
    [number] = numbers(1)
    make_list([number])
    mo(number, "stop", destination="AcmeShop")
    inbound.act_on_keywords(utcnow())
    app.config["OPT_OUT_SCOPE"] = "global"
    [message] = enqueue(destinations=[number], text="x", source="AcmeShop", now=utcnow())
    assert suppressed_messages([message.id]) == {message.id: "opted out of Acme"}


def test_an_unknown_scope_stops_start_up(db_path):
    from dashboard import create_app
    from dashboard.config import ConfigError
    from tests.conftest import make_config
    with pytest.raises(ConfigError, match="OPT_OUT_SCOPE must be one of global, brand"):
        create_app(make_config(db_path, OPT_OUT_SCOPE="per-brand"))
