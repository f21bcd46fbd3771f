"""`flask --app app sender …`: sender IDs and where they are approved, as on the Sender IDs page."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from dashboard.cli_errors import OneLineGroup
from dashboard.cli_security import as_cli_user
from dashboard.extensions import db
from dashboard.models import SenderId
from dashboard.models.types import utcnow

sender_group = OneLineGroup("sender", help="Sender IDs: who messages come from.")


@sender_group.command("add")
@click.argument("value")
@click.option(
    "--kind",
    type=click.Choice(["alphanumeric", "short_code", "long_code"]),
    default="alphanumeric",
    show_default=True,
)
@click.option(
    "--brand", default="", help="With OPT_OUT_SCOPE = brand, a STOP to it stops this brand only."
)
@click.option(
    "--approved-in",
    "countries",
    multiple=True,
    metavar="COUNTRY",
    help="A country (ISO code) where it is registered and approved; repeat for several.",
)
@as_cli_user
def sender_add(value: str, kind: str, brand: str, countries: tuple[str, ...]) -> None:
    """Add a sender ID, validated for its kind, with its approved countries."""
    from dashboard.services.contacts import ContactError, create_sender_id
    from dashboard.services.senders import SenderError, save_registration

    try:
        sender = create_sender_id(value, kind, current_app.config["DEFAULT_REGION"], brand=brand)
    except ContactError as exc:
        raise click.ClickException(str(exc)) from None
    for country in countries:
        try:
            save_registration(
                sender, country, "approved", now=utcnow(), notes="added from the command line"
            )
        except SenderError as exc:
            db.session.rollback()
            raise click.ClickException(
                f"{sender.value} was added, but not approved in {country}: {exc}"
            ) from None
    approved = (
        ", ".join(r.country for r in sender.registrations if r.status == "approved")
        or "no country yet"
    )
    click.echo(f"sender {sender.id} {sender.value} ({sender.kind}), approved in {approved}")


@sender_group.command("list")
def sender_list() -> None:
    """One line per sender ID with its approved countries."""
    senders = db.session.scalars(select(SenderId).order_by(SenderId.value)).all()
    if not senders:
        click.echo("no sender IDs")
    for sender in senders:
        approved = (
            ",".join(r.country for r in sender.registrations if r.status == "approved") or "-"
        )
        click.echo(f"{sender.id}\t{sender.value}\t{sender.kind}\t{sender.status}\t{approved}")
