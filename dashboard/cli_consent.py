"""`flask --app app consent …`: the consent ledger from the command line."""
from __future__ import annotations

import click

from dashboard.cli_errors import OneLineGroup
from dashboard.services import consent

consent_group = OneLineGroup("consent", help="The consent ledger.")


@consent_group.command("verify")
def consent_verify() -> None:
    """Recompute the hash chain and check every projection against it; exit 1 naming the first
    broken event, or each contact whose projection disagrees with the ledger."""
    report = consent.verify_chain()
    if not report.intact:
        raise click.ClickException(report.summary())
    click.echo(report.summary())
    projections = consent.verify_projections()
    for mismatch in projections.mismatches:
        click.echo(f"mismatch: {mismatch}", err=True)
    if not projections.consistent:
        raise click.ClickException(projections.summary())
    click.echo(projections.summary())
