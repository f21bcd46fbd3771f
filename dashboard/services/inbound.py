"""Inbound (MO) messages: stored with the receipts of the same turn (before any of them is
acknowledged), then claimed one by one and acted on: keywords become consent events at once, with
the MO as evidence; HELP is answered; YES completes a double opt-in."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import Contact, InboundMessage
from dashboard.models.message import HELP_REPLY
from dashboard.services import consent, signup
from dashboard.services.contacts import contact_for
from dashboard.services.senders import sender_for_address
from dashboard.services.sending.enqueue import EnqueueError, enqueue
from dashboard.settings import setting
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
    def from_settings(cls) -> KeywordSettings:
        return cls(opt_out=kw.parse_vocabulary(setting("OPT_OUT_KEYWORDS")),
                   opt_in=kw.parse_vocabulary(setting("OPT_IN_KEYWORDS")),
                   confirm=kw.parse_vocabulary(setting("CONFIRM_KEYWORDS")),
                   help=kw.parse_vocabulary(setting("HELP_KEYWORDS")), scope=setting("OPT_OUT_SCOPE"))

    def match(self, text: str) -> str | None:
        return kw.match_keyword(text, stop_words=self.opt_out, start_words=self.opt_in, confirm_words=self.confirm,
                                help_words=self.help)


@dataclass(frozen=True)
class InboundMO:
    """An MO as the bind's loop read it from a deliver_sm (or data_sm)."""
    source: str
    destination: str
    text: str
    raw: dict


def store(bind_id: int, mos: Sequence[InboundMO], now: datetime) -> None:
    """Keep these MOs, in the caller's transaction: it commits before any deliver_sm_resp goes
    back, so an MO is never acknowledged unkept (docs/architecture.md #3)."""
    db.session.add_all(InboundMessage(bind_id=bind_id, source=mo.source, destination=mo.destination, text=mo.text,
                                      raw=mo.raw, received_at=now) for mo in mos)


def act_on_keywords(now: datetime, help_text: str | None = None, settings: KeywordSettings | None = None) -> int:
    """Handle every MO not yet looked at; returns how many this call handled.

    Each MO is claimed before it is acted on, in the transaction that acts on it: its keyword is
    set by a conditional UPDATE (`WHERE keyword IS NULL`), so when two bind runners (or workers)
    look at the same MO, one wins and the other finds it taken and does nothing. A HELP is
    answered once, a STOP recorded once.

    STOP/START: with OPT_OUT_SCOPE "global" (the default, the conservative reading of TCPA/CTIA
    and most regulators) a STOP to any of our numbers stops everything we send to that person;
    with "brand", a STOP written to a sender that has a brand stops that brand's senders only
    (a sender without a brand, or an unknown destination, still means everything). START undoes
    a STOP of the same scope. YES completes a pending double opt-in, and does nothing otherwise.
    HELP is answered with `help_text` (default: the HELP_TEXT setting), from the number the person
    wrote to, ahead of bulk traffic."""
    settings = settings or KeywordSettings.from_settings()
    help_text = setting("HELP_TEXT") if help_text is None else help_text
    query = select(InboundMessage).where(InboundMessage.keyword.is_(None)).order_by(InboundMessage.id)
    handled = 0
    for mo in db.session.scalars(query).all():
        keyword = settings.match(mo.text)
        if not _claim(mo, keyword or ""):
            db.session.rollback()
            continue  # another runner took it first and acts on it
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
        db.session.commit()  # the claim and what it did, together
        handled += 1
    return handled


def _claim(mo: InboundMessage, keyword: str) -> bool:
    """Take this MO for handling, in the current transaction; False when someone else has."""
    taken = db.session.execute(update(InboundMessage).where(InboundMessage.id == mo.id,
                                                            InboundMessage.keyword.is_(None))
                               .values(keyword=keyword).execution_options(synchronize_session=False)).rowcount
    return taken == 1


def _brand_scope(mo: InboundMessage, settings: KeywordSettings) -> str | None:
    if settings.scope != BRAND:
        return None
    sender = sender_for_address(mo.destination)
    return sender.brand if sender is not None and sender.brand else None


def _reply(mo: InboundMessage, text: str, now: datetime) -> None:
    try:
        enqueue(destinations=[from_smpp_address(mo.source)], text=text,
                source=mo.destination, now=now, priority=10, purpose=HELP_REPLY)
    except EnqueueError:
        pass  # an unreachable sender (not a valid number) gets no reply; the MO itself stays stored


def _contact_for(source: str, now: datetime) -> Contact | None:
    try:
        phone = normalise(from_smpp_address(source))
    except InvalidNumber:
        return None
    # An opt-out from a number we do not know yet must still stick when it is imported later.
    return contact_for(phone, now)
