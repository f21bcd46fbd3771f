"""The opt-out rule: who must not be sent a message, and why. Written once, as SQL, and used by
the sender's claim (at the last moment before a part goes, docs/architecture.md #7) and by the dry
run and the estimate, so that what they predict is what the send does.

A recipient is suppressed when they opted out of everything we send, or out of the campaign's
list, or out of the sending brand (OPT_OUT_SCOPE = "brand", docs/consent.md). The brand is the
sender's brand whatever the setting is now, so switching the setting back never resumes sending to
someone who said STOP. The answer to a HELP is exempt: carriers' rules (CTIA) want it answered
whatever the number's consent.

The ledger is the record of why (dashboard.services.consent); these columns are its projections.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import String, and_, bindparam, case, exists, literal, null, or_, select
from sqlalchemy.orm import aliased

from dashboard.extensions import db
from dashboard.models import BrandOptOut, Campaign, Contact, ListMembership, Message, SenderId
from dashboard.models.message import HELP_REPLY

GLOBAL, LIST, BRAND = 0, 1, 2
_REASONS = {GLOBAL: "opted out of all messages", LIST: "opted out of the list", BRAND: "opted out of {brand}"}


def reason(rank: int | None, brand: str | None = None) -> str | None:
    """The reason a suppressed recipient is skipped, as the message and the dry run say it."""
    return None if rank is None else _REASONS[rank].format(brand=brand or "the brand")


def suppression_rank(phone, contact_id, list_id, brand):
    """A SQL expression: GLOBAL, LIST or BRAND when the recipient (`phone`, their `contact_id` on
    the list `list_id`, sent to by `brand`) must not be sent to, the first that applies; else NULL.
    Each argument is a column or an expression of the query it is used in; the tables the rule
    reads are aliased, so that a query over contacts or memberships itself uses it unchanged."""
    contact, membership, brand_opt_out = aliased(Contact), aliased(ListMembership), aliased(BrandOptOut)
    opted_out_everywhere = exists().where(contact.phone == phone, contact.global_opt_out.is_(True))
    left_the_list = exists().where(membership.list_id == list_id, membership.contact_id == contact_id,
                                   membership.subscribed.is_(False))
    left_the_brand = exists().where(brand_opt_out.contact_id == contact.id, contact.phone == phone,
                                    brand_opt_out.brand == brand, brand_opt_out.opted_out.is_(True))
    # A recipient outside any list, or a sender without a brand, skips that lookup altogether: most
    # messages of the API and the CLI are both, and this runs on every claim.
    return case((opted_out_everywhere, literal(GLOBAL)),
                (and_(list_id.is_not(None), contact_id.is_not(None), left_the_list), literal(LIST)),
                (and_(brand.is_not(None), left_the_brand), literal(BRAND)), else_=null())


def audience(list_id):
    """The WHERE conditions of a list's audience as launched: subscribed members who have not opted
    out of everything (brand opt-outs are skipped, with their reason, when the part is claimed)."""
    return (ListMembership.list_id == list_id, ListMembership.subscribed.is_(True),
            Contact.global_opt_out.is_(False))


def suppressed_messages(message_ids: Iterable[int]) -> dict[int, str]:
    """Of these queued messages, those whose recipient must not be sent to now, with the reason.
    One statement, built once: it runs on every claim."""
    ids = list(message_ids)
    if not ids:
        return {}
    # On the connection, not the ORM session: plain rows, without the ORM's loading machinery.
    rows = db.session.connection().execute(_messages_statement(), {"p_ids": ids}).all()
    return {message_id: reason(rank, brand) for message_id, rank, brand in rows if rank is not None}


@lru_cache(maxsize=1)
def _messages_statement():
    return (select(Message.id, suppression_rank(Message.destination, Message.contact_id, Campaign.list_id,
                                                SenderId.brand), SenderId.brand)
            .select_from(Message)
            .outerjoin(Campaign, Campaign.id == Message.campaign_id)
            .outerjoin(SenderId, SenderId.value == Message.source)
            .where(Message.id.in_(bindparam("p_ids", expanding=True)),
                   or_(Message.purpose.is_(None), Message.purpose != HELP_REPLY)))


def suppressed_numbers(phones: Iterable[str], brand: str | None) -> dict[str, str]:
    """Of these E.164 numbers, those that must not be sent to by a sender of `brand` outside any
    list, with the reason: the question the API asks when it accepts a message, so that an
    opted-out recipient is refused at once (the claim asks again when the part goes, #7)."""
    wanted = list(dict.fromkeys(phones))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 5000):  # within every database's limit of bound parameters
        rows = db.session.connection().execute(_numbers_statement(), {
            "p_phones": wanted[start:start + 5000], "p_brand": brand or None}).all()
        found.update({phone: reason(r, brand) for phone, r in rows if r is not None})
    return found


@lru_cache(maxsize=1)
def _numbers_statement():
    # Built once: the API asks on every message it accepts.
    return (select(Contact.phone, suppression_rank(Contact.phone, null(), null(), bindparam("p_brand", type_=String)))
            .where(Contact.phone.in_(bindparam("p_phones", expanding=True))))


def list_recipients(list_id: int, brand: str | None):
    """Every member of a list with why they would be skipped (None: they would be sent to), as
    (phone, name, fields, country, reason rank), streamed in contact order: the dry run's input."""
    return db.session.execute(
        select(Contact.phone, Contact.name, Contact.fields, Contact.country,
               suppression_rank(Contact.phone, Contact.id, literal(list_id), literal(brand)))
        .join(ListMembership, and_(ListMembership.contact_id == Contact.id, ListMembership.list_id == list_id))
        .order_by(Contact.id).execution_options(yield_per=5000))
