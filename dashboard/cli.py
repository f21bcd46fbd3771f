"""`flask --app app …` commands: ops automate, so the CLI does what the first screens do.

Each command fails with a one-line reason and a non-zero exit on bad input (click.ClickException).
"""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from sqlalchemy import select

from dashboard.cli_consent import consent_group
from dashboard.cli_errors import OneLineCommand, OneLineGroup
from dashboard.cli_postgres import postgres_group
from dashboard.cli_routes import route_group
from dashboard.cli_security import as_cli_user, secrets_group, user_group
from dashboard.cli_senders import sender_group
from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Message
from dashboard.models.types import MAX_ID, utcnow
from dashboard.sms.numbers import InvalidNumber, numbers_from_lines


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(bind_group)
    app.cli.add_command(send_command)
    app.cli.add_command(message_group)
    app.cli.add_command(status_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(webhooks_command)
    app.cli.add_command(simulator_command)
    app.cli.add_command(demo_seed_command)
    app.cli.add_command(consent_group)
    app.cli.add_command(postgres_group)
    app.cli.add_command(user_group)
    app.cli.add_command(secrets_group)
    app.cli.add_command(route_group)
    app.cli.add_command(sender_group)


@click.command("create-user", cls=OneLineCommand)
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "ops", "compliance"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@as_cli_user
def create_user_command(email: str, role: str, password_stdin: bool) -> None:
    """Create a console user."""
    from dashboard.services.users import UserError, create_user
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(email, role, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.email}")


bind_group = OneLineGroup("bind", help="Carrier SMPP binds.")


@bind_group.command("add")
@click.argument("name")
@click.option("--host", required=True)
@click.option("--port", type=click.IntRange(1, 65535), required=True)
@click.option("--system-id", required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the bind password from standard input.")
@click.option("--mode", type=click.Choice(["trx", "tx", "rx", "tx+rx"]), default="trx", show_default=True)
@click.option("--tps", type=float, default=50.0, show_default=True, help="Parts per second, above 0.")
@click.option("--window", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--system-type", default="")
@click.option("--tls", is_flag=True, help="SMPP over TLS.")
@click.option("--disabled", is_flag=True)
@as_cli_user
def bind_add(name, host, port, system_id, password_stdin, mode, tps, window, system_type, tls, disabled) -> None:
    """Add a bind. The password is read from stdin so it never lands in shell history."""
    from dashboard.services.binds import BindError, create_bind
    password = sys.stdin.readline().rstrip("\n")
    try:
        bind = create_bind(name=name, host=host, port=port, system_id=system_id, password=password, mode=mode,
                           tps=tps, window=window, system_type=system_type, use_tls=tls, enabled=not disabled)
    except BindError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"bind {bind.id} {bind.name} → {bind.host}:{bind.port} ({bind.mode}, {bind.tps:g} tps, window {bind.window})")


@bind_group.command("list")
def bind_list() -> None:
    """One line per bind with its live state."""
    from dashboard.services.binds import list_binds
    binds = list_binds()
    if not binds:
        click.echo("no binds")
    for bind in binds:
        status = bind.status or BindStatus(state="unknown")
        error = f"  last error: {status.last_error}" if status.last_error else ""
        click.echo(f"{bind.id}\t{bind.name}\t{bind.host}:{bind.port}\t{bind.system_id}\t{bind.mode}\t"
                   f"{'enabled' if bind.enabled else 'disabled'}\t{status.state}{error}")


@bind_group.command("remove")
@click.argument("name")
@as_cli_user
def bind_remove(name: str) -> None:
    """Delete a bind (refused while messages are in flight on it: disable it first). The messages it
    carried keep its name."""
    from dashboard.services.binds import BindError, delete_bind
    bind = db.session.scalar(select(Bind).where(Bind.name == name, Bind.deleted_at.is_(None)))
    if bind is None:
        raise click.ClickException(f"no bind named {name!r}")
    try:
        delete_bind(bind, utcnow())
    except BindError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted bind {name}")


@click.command("send", cls=OneLineCommand)
@click.option("--to", "to", multiple=True, help="Destination number; repeat for several.")
@click.option("--to-file", type=click.File("r"), help="A file with one number per line.")
@click.option("--text", required=True)
@click.option("--from", "source", default=None, help="Sender ID (default: the first approved one).")
def send_command(to, to_file, text, source) -> None:
    """Queue messages through the normal path; prints one message id per line."""
    from dashboard.services.senders import approved_senders
    from dashboard.services.sending.enqueue import EnqueueError, enqueue
    numbers = list(to)
    if to_file is not None:
        try:
            numbers += numbers_from_lines(to_file, current_app.config["DEFAULT_REGION"])
        except InvalidNumber as exc:
            raise click.ClickException(f"{to_file.name} {exc.reason}") from None
        except UnicodeDecodeError:
            raise click.ClickException(f"{to_file.name}: not a text file of numbers") from None
    if not numbers:
        raise click.ClickException("give at least one --to NUMBER or --to-file FILE")
    if source is None:
        approved = approved_senders()
        if not approved:
            raise click.ClickException("no sender ID configured; pass --from")
        source = approved[0].value
    try:
        messages = enqueue(destinations=numbers, text=text, source=source, now=utcnow(),
                           default_region=current_app.config["DEFAULT_REGION"])
    except EnqueueError as exc:
        raise click.ClickException(str(exc)) from None
    for message in messages:
        click.echo(message.id)


message_group = OneLineGroup("message", help="Inspect messages.")


@message_group.command("show")
@click.argument("message_id", type=int)
def message_show(message_id: int) -> None:
    """Status, parts and timeline of one message."""
    if not 1 <= message_id <= MAX_ID:
        raise click.ClickException(f"no message {message_id}: ids run from 1 to {MAX_ID}")
    message = db.session.get(Message, message_id)
    if message is None:
        raise click.ClickException(f"no message {message_id}")
    click.echo(f"message {message.id}: {message.status}"
               + (f" ({message.reason})" if message.reason else "")
               + (" [possible duplicate]" if message.possible_duplicate else ""))
    click.echo(f"  to {message.destination} from {message.source}, {message.encoding}, "
               f"{message.segments} segment(s), attempts {message.attempts}")
    for part in message.parts:
        click.echo(f"  part {part.part_no}/{part.parts_total}: {part.status} smsc_id={part.smsc_message_id or '-'}"
                   + (f" error={part.error_name}" if part.error_name else "")
                   + (f" receipt={part.receipt_stat}" if part.receipt_stat else ""))
    for event in message.events:
        part = f" part {event.part_no}" if event.part_no else ""
        click.echo(f"  {event.at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f" {event.kind}{part} {event.detail}")


@click.command("status", cls=OneLineCommand)
def status_command() -> None:
    """Message counts by status (`STATUS COUNT` lines), the possible duplicates, then each bind's
    state and which worker drives it."""
    from dashboard.services.reports import possible_duplicates, status_counts
    from dashboard.sms.lifecycle import MESSAGE_STATES
    counts = status_counts()
    for state in MESSAGE_STATES:
        click.echo(f"{state} {counts.get(state, 0)}")
    click.echo(f"possible_duplicates {possible_duplicates()}")
    from dashboard.services.binds import list_binds
    for bind in list_binds():
        status = bind.status or BindStatus(state="unknown")
        click.echo(f"bind {bind.name} {status.state}"
                   + (f" in_flight={status.in_flight} tps={status.current_tps:g}" if status.state == "bound" else "")
                   + (f" worker={status.worker_id}" if status.worker_id else "")
                   + (f" error={status.last_error}" if status.last_error else ""))


@click.command("worker", cls=OneLineCommand)
@click.option("--webhooks-in-process", is_flag=True,
              help="Deliver webhooks from a job in this process instead of a child process of its own.")
def worker_command(webhooks_in_process: bool) -> None:
    """Run the sender: scheduler jobs, one SMPP session per bind it holds, and a child process that
    delivers webhooks. On PostgreSQL, as many as you like (docs/scaling.md)."""
    import logging

    from flask.cli import ScriptInfo

    from dashboard.worker.scheduler import Worker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script = click.get_current_context().find_object(ScriptInfo)
    Worker(current_app._get_current_object(), webhook_process=not webhooks_in_process,
           app_import_path=script.app_import_path if script else None).run_forever()


@click.command("webhooks", cls=OneLineCommand)
@click.option("--owner", default=None, help="Who holds the deliverer's lease (default: host:pid/webhooks).")
@click.option("--parent", type=int, default=None, help="Stop when this process (the worker) is gone.")
def webhooks_command(owner: str | None, parent: int | None) -> None:
    """Deliver webhooks (started by `flask worker`; one deliverer at a time holds the lease)."""
    import logging

    from dashboard.worker.scheduler import default_worker_id
    from dashboard.worker.webhook_process import deliver_forever
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    deliver_forever(current_app._get_current_object(), owner or f"{default_worker_id()}/webhooks", parent)


@click.command("simulator", cls=OneLineCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=2775, show_default=True)
@click.option("--account", "accounts", multiple=True, help="SYSTEM_ID:PASSWORD; repeat for several.")
@click.option("--receipt-delay", type=float, default=0.5, show_default=True)
@click.option("--undeliverable-pattern", "undeliverable", multiple=True,
              help="Regex on the destination; matching numbers get UNDELIV receipts.")
@click.option("--throttle-tps", type=float, default=None)
@click.option("--throttle-ratio", type=float, default=0.0)
@click.option("--message-id-format", type=click.Choice(["hex", "dec", "uuid"]), default="hex")
def simulator_command(host, port, accounts, receipt_delay, undeliverable, throttle_tps, throttle_ratio,
                      message_id_format) -> None:
    """Run the built-in SMSC simulator."""
    from dashboard.simulator import OutcomeRule, Simulator, SimulatorConfig
    parsed = {}
    for account in accounts or ("switchboard:secret",):
        system_id, sep, password = account.partition(":")
        if not sep:
            raise click.ClickException(f"--account must be SYSTEM_ID:PASSWORD, not {account!r}")
        parsed[system_id] = password
    config = SimulatorConfig(host=host, port=port, accounts=parsed, receipt_delay=receipt_delay,
                             outcomes=[OutcomeRule(p, "UNDELIV") for p in undeliverable],
                             max_tps=throttle_tps, throttle_ratio=throttle_ratio,
                             message_id_format=message_id_format)
    simulator = Simulator(config)
    click.echo(f"SMSC simulator listening on {host}:{port} (accounts: {', '.join(parsed)})")
    simulator.serve_forever()


@click.command("demo-seed", cls=OneLineCommand)
def demo_seed_command() -> None:
    """Create the demo data (admin, bind to the simulator, sender ID, an opt-in list)."""
    from dashboard.demo import seed_demo
    seed_demo(current_app._get_current_object(), announce=click.echo)
