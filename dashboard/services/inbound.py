"""Inbound (MO) messages: keywords become consent events at once, with the MO as evidence."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Contact, InboundMessage
from dashboard.models.message import HELP_REPLY
from dashboard.services import consent, signup
from dashboard.services.contacts import contact_for
from dashboard.services.senders import sender_for_address
from dashboard.sms import keywords as kw
from dashboard.sms.numbers import InvalidNumber, from_smpp_address, normalise

GLOBAL, BRAND = "global", "brand"


@dataclass(frozen=True)
class KeywordSettings:
    """The configured vocabularies and the opt-out scope (OPT_OUT_KEYWORDS … OPT_OUT_SCOPE)."""
    opt_out: tuple[str, ...] = kw.STOP_WORDS
    opt_in: tuple[str, ...] = kw.START_WORDS
    confirm: tuple[str, ...] = kw.CONFIRM_WORDS
    help: tuple[str, ...] = kw.HELP_WORDS
    scope: str = GLOBAL

    @classmethod
    def from_config(cls, config) -> "KeywordSettings":
        return cls(opt_out=kw.parse_vocabulary(config["OPT_OUT_KEYWORDS"]),
                   opt_in=kw.parse_vocabulary(config["OPT_IN_KEYWORDS"]),
                   confirm=kw.parse_vocabulary(config["CONFIRM_KEYWORDS"]),
                   help=kw.parse_vocabulary(config["HELP_KEYWORDS"]), scope=config["OPT_OUT_SCOPE"])

    def match(self, text: str) -> str | None:
        return kw.match_keyword(text, stop_words=self.opt_out, start_words=self.opt_in, confirm_words=self.confirm,
                                help_words=self.help)


def act_on_keywords(bind_id: int | None, now: datetime, help_text: str | None = None,
                    settings: KeywordSettings | None = None) -> int:
    """Handle every MO not yet looked at.

    STOP/START: with OPT_OUT_SCOPE "global" (the default, the conservative reading of TCPA/CTIA
    and most regulators) a STOP to any of our numbers stops everything we send to that person;
    with "brand", a STOP written to a sender that has a brand stops that brand's senders only
    (a sender without a brand, or an unknown destination, still means everything). START undoes
    a STOP of the same scope. YES completes a pending double opt-in, and does nothing otherwise.
    HELP is answered with `help_text`, from the number the person wrote to, ahead of bulk traffic."""
    settings = settings or KeywordSettings.from_config(current_app.config)
    query = select(InboundMessage).where(InboundMessage.keyword.is_(None)).order_by(InboundMessage.id)
    handled = 0
    for mo in db.session.scalars(query).all():
        keyword = settings.match(mo.text)
        mo.keyword = keyword or ""
        if keyword in (kw.STOP, kw.START):
            contact = _contact_for(mo.source, now)
            if contact is not None:
                brand = _brand_scope(mo, settings)  # when set, record() writes "[scope: brand …]" first
                evidence = f"SMS {mo.text!r} from {mo.source} to {mo.destination}"
                consent.record(contact, consent.OPT_OUT if keyword == kw.STOP else consent.OPT_IN,
                               source="keyword", brand=brand,
                               evidence=evidence if brand else f"{evidence} (scope: all messages)",
                               actor=f"mo:{mo.id}", now=now, inbound_message_id=mo.id)
        elif keyword == kw.CONFIRM:
            signup.confirm_from_mo(mo, now)
        elif keyword == kw.HELP and help_text and mo.destination:
            _reply(mo, help_text, now)
        handled += 1
    db.session.commit()
    return handled


def _brand_scope(mo: InboundMessage, settings: KeywordSettings) -> str | None:
    if settings.scope != BRAND:
        return None
    sender = sender_for_address(mo.destination)
    return sender.brand if sender is not None and sender.brand else None


def _reply(mo: InboundMessage, text: str, now: datetime) -> None:
    from dashboard.services.outbox import OutboxError, enqueue
    try:
        enqueue(destinations=[from_smpp_address(mo.source)], text=text,
                source=mo.destination, now=now, priority=10, purpose=HELP_REPLY)
    except OutboxError:
        pass  # an unreachable sender (not a valid number) gets no reply; the MO itself stays stored


def _contact_for(source: str, now: datetime) -> Contact | None:
    try:
        phone = normalise(from_smpp_address(source))
    except InvalidNumber:
        return None
    # An opt-out from a number we do not know yet must still stick when it is imported later.
    return contact_for(phone, now)
