"""Message templates: save with checks, archive, delete when unused, and the editor's live preview."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, Contact, ContactImport, ContactList, ListMembership, MessageTemplate
from dashboard.models.template import TEMPLATE_KINDS
from dashboard.services import audit
from dashboard.settings import setting
from dashboard.sms import templating
from dashboard.sms.encoding import SegmentInfo, analyse
from dashboard.sms.numbers import InvalidNumber, country_code, normalise

SAMPLE_PHONE = "+12025550123"
AUDITED = ("name", "kind", "body")
# How many contacts with custom fields are read to learn field names, besides the import mappings.
FIELD_SAMPLE = 500


class TemplateRefused(ValueError):
    """A template that cannot be saved (or deleted); the message is fit to show."""


def render_message(body: str, context: Mapping[str, Any], *, kind: str, country: str | None) -> str:
    """The text one recipient gets: `body` rendered in the sandbox, with the opt-out footer where
    their country and the message's kind require it (campaigns and the API alike). Raises
    templating.TemplateError."""
    text = templating.compile_template(body).render(context)
    return templating.with_opt_out_footer(text, sender_country_codes=[country] if country else [], kind=kind,
                                          config=footer_settings())


def footer_settings() -> dict:
    """The settings that decide the opt-out footer (dashboard.sms.templating.footer_required)."""
    return {name: setting(name) for name in templating.FOOTER_SETTINGS}


def active_template(template_id: int) -> MessageTemplate | None:
    """A template that may be sent from: it exists and is not archived."""
    template = db.session.get(MessageTemplate, template_id)
    return template if template is not None and not template.archived_at else None


def templates(include_archived: bool = False) -> list[MessageTemplate]:
    query = select(MessageTemplate).order_by(MessageTemplate.name)
    if not include_archived:
        query = query.where(MessageTemplate.archived_at.is_(None))
    return list(db.session.scalars(query))


def known_fields() -> list[str]:
    """Custom field names the contacts have, to tell typos from real fields when saving.

    Read from the import mappings (every imported column is listed there once) and a sample of
    contacts added by hand, not by scanning every contact's JSON: the lists can be huge.
    """
    names: set[str] = set()
    for mapping in db.session.scalars(select(ContactImport.mapping)):
        names.update((mapping or {}).get("fields") or {})
    sample = db.session.scalars(select(Contact.fields).order_by(Contact.id.desc()).limit(FIELD_SAMPLE))
    for fields in sample:
        names.update(fields or {})
    return sorted(names)


def check_body(body: str) -> templating.TemplateCheck:
    """The one check a message body passes before it is saved, as a template or as a campaign's
    text: syntax, allowed tags and filters, a sample render within the sandbox's bounds; unknown
    placeholders are warnings."""
    return templating.check(body, known_fields())


def _validate(name: str, body: str, kind: str, template_id: int | None) -> templating.TemplateCheck:
    if kind not in TEMPLATE_KINDS:
        raise TemplateRefused(f"kind must be one of {', '.join(TEMPLATE_KINDS)}")
    if not name.strip():
        raise TemplateRefused("a template needs a name")
    clash = db.session.scalar(select(MessageTemplate.id).where(MessageTemplate.name == name.strip()))
    if clash is not None and clash != template_id:
        raise TemplateRefused(f"a template named “{name.strip()}” already exists")
    result = check_body(body)
    if not result.ok:
        raise TemplateRefused(result.errors[0])
    return result


def create_template(*, name: str, body: str, kind: str, created_by_id: int | None,
                    now: datetime) -> tuple[MessageTemplate, templating.TemplateCheck]:
    """Save a new template; refuses syntax errors and sandbox violations, returns the warnings."""
    result = _validate(name, body, kind, None)
    template = MessageTemplate(name=name.strip(), body=body, kind=kind, created_by_id=created_by_id,
                               created_at=now, updated_at=now)
    db.session.add(template)
    db.session.flush()
    audit.record("template_create", target=template, now=now,
                 changes=audit.diff({}, audit.snapshot(template, AUDITED)))
    db.session.commit()
    return template, result


def update_template(template: MessageTemplate, *, name: str, body: str, kind: str,
                    now: datetime) -> templating.TemplateCheck:
    result = _validate(name, body, kind, template.id)
    before = audit.snapshot(template, AUDITED)
    template.name, template.body, template.kind, template.updated_at = name.strip(), body, kind, now
    changes = audit.diff(before, audit.snapshot(template, AUDITED))
    if changes:
        audit.record("template_update", target=template, now=now, changes=changes)
    db.session.commit()
    return result


def set_archived(template: MessageTemplate, archived: bool, now: datetime) -> None:
    template.archived_at = now if archived else None
    audit.record("template_archive" if archived else "template_unarchive", target=template, now=now)
    db.session.commit()


def usage_count(template: MessageTemplate) -> int:
    """Campaigns made from this template. They keep their own copy of the text they send, so this
    protects the link (and the history of where a text came from), not the text."""
    return db.session.scalar(select(func.count()).select_from(Campaign)
                             .where(Campaign.template_id == template.id)) or 0


def delete_template(template: MessageTemplate) -> None:
    """Delete a template no campaign uses; a used one can only be archived."""
    used = usage_count(template)
    if used:
        raise TemplateRefused(f"“{template.name}” is used by {used} campaign{'s' if used != 1 else ''}: "
                              "archive it instead")
    audit.record("template_delete", target=template, changes={"name": [template.name, None],
                                                             "body": [template.body, None]})
    db.session.delete(template)
    db.session.commit()


def sample_contexts(list_id: int | None, name: str, phone: str, default_region: str,
                    footer_countries: Collection[str] = ()) -> tuple[dict[str, Any], str]:
    """The preview's sample contact and a label for it: the first subscribed contact of a list —
    the first in one of `footer_countries` if the list has any there, since the footer makes their
    message the longest — or the name and number typed in the editor (the demo number when none
    is typed)."""
    if list_id:
        query = (select(Contact.name, Contact.phone, Contact.fields)
                 .join(ListMembership, ListMembership.contact_id == Contact.id)
                 .where(ListMembership.list_id == list_id, ListMembership.subscribed.is_(True)))
        row = None
        if footer_countries:
            row = db.session.execute(query.where(Contact.country.in_(footer_countries))
                                     .order_by(Contact.id).limit(1)).first()
        row = row or db.session.execute(query.order_by(Contact.id).limit(1)).first()
        list_name = db.session.scalar(select(ContactList.name).where(ContactList.id == list_id))
        if row is not None:
            return templating.contact_context(row.name, row.phone, row.fields), \
                f"{row.name or row.phone}, first contact of “{list_name}”"
    try:
        number = normalise(phone, default_region) if phone.strip() else SAMPLE_PHONE
    except InvalidNumber:
        number = SAMPLE_PHONE
    return templating.contact_context(name, number, {}), f"{name.strip() or 'a contact without a name'}, {number}"


@dataclass(frozen=True)
class Preview:
    """What the live editor shows: checks, the rendered text with its footer, and what it costs."""

    check: templating.TemplateCheck
    sample_label: str
    text: str | None  # None when the body does not render
    footer_added: bool
    rendered: SegmentInfo | None  # the text that goes out
    body: SegmentInfo  # the template as typed, placeholders and all


def preview(body: str, kind: str, context: Mapping[str, Any], sample_label: str,
            config: Mapping[str, Any]) -> Preview:
    """Render `body` for one sample contact as a campaign would send it, footer included.

    The footer follows the sample's country (its number's region), as it would per recipient.
    """
    result = check_body(body) if body.strip() else templating.TemplateCheck()
    text = None
    footer_added = False
    if result.ok:
        try:
            text = templating.render(body, context)
        except templating.TemplateError as exc:
            result = templating.TemplateCheck(errors=(str(exc),), warnings=result.warnings,
                                              variables=result.variables)
    if text is not None:
        try:
            countries = [country_code(str(context.get("phone", "")))]
        except InvalidNumber:
            countries = []
        with_footer = templating.with_opt_out_footer(text, sender_country_codes=countries, kind=kind,
                                                     config=config)
        footer_added, text = with_footer != text, with_footer
    return Preview(check=result, sample_label=sample_label, text=text, footer_added=footer_added,
                   rendered=analyse(text) if text is not None else None, body=analyse(body))
