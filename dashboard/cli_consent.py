"""`flask --app app consent …`: the consent ledger from the command line."""
from __future__ import annotations

import click

from dashboard.cli_errors import OneLineGroup

consent_group = OneLineGroup("consent", help="The consent ledger.")


@consent_group.command("verify")
def consent_verify() -> None:
    """Recompute the hash chain; exit 1 naming the first broken event."""
    from dashboard.services.consent import verify_chain
    report = verify_chain()
    if not report.intact:
        raise click.ClickException(report.summary())
    click.echo(report.summary())
