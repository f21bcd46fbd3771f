"""`flask --app app postgres start|stop|status`: a PostgreSQL of one's own on 127.0.0.1 for trying
several sender workers (docs/scaling.md), from the machine's initdb and pg_ctl."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask import current_app

from dashboard.cli_errors import OneLineGroup
from dashboard.local_postgres import LocalPostgres, PostgresUnavailable

postgres_group = OneLineGroup("postgres", help="A local PostgreSQL for several sender workers.")
DATABASE = "switchboard"


def _cluster() -> LocalPostgres:
    # As root the server runs as the postgres user, who cannot enter the owner-only instance folder.
    directory = (Path(tempfile.gettempdir()) / "switchboard-postgres" if os.geteuid() == 0
                 else Path(current_app.instance_path) / "postgres")
    try:
        return LocalPostgres(directory, current_app.config["LOCAL_POSTGRES_PORT"])
    except PostgresUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@postgres_group.command("start")
def postgres_start() -> None:
    """Create (once) and start the cluster and its `switchboard` database; print the setting that
    points the console, the workers and `flask db upgrade` at it."""
    cluster = _cluster().start()
    url = cluster.create_database(DATABASE, exist_ok=True)
    click.echo(f"PostgreSQL on 127.0.0.1:{cluster.port} (data in {cluster.data})")
    click.echo(f"export SWITCHBOARD_DATABASE_URL={url}")


@postgres_group.command("stop")
def postgres_stop() -> None:
    """Stop the cluster (its data stays for the next start)."""
    _cluster().stop()
    click.echo("PostgreSQL stopped")


@postgres_group.command("status")
def postgres_status() -> None:
    cluster = _cluster()
    click.echo(f"running on 127.0.0.1:{cluster.port}" if cluster.running else "not running")
