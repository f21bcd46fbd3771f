"""`flask --app app simulator`: run the SMSC simulator in the foreground.

A plain click command, so the simulator stays free of Flask; the app registers it.
"""

from __future__ import annotations

import re

import click

from dashboard.simulator.config import MESSAGE_ID_FORMATS, OutcomeRule, SimulatorConfig
from dashboard.simulator.server import Simulator


def _parse_account(value: str) -> tuple[str, str]:
    system_id, sep, password = value.partition(":")
    if not sep or not system_id:
        raise click.BadParameter(f"{value!r} is not SYSTEM_ID:PASSWORD", param_hint="--account")
    return system_id, password


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2775, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--account", "accounts", multiple=True, metavar="SYSTEM_ID:PASSWORD",
    help="An account that may bind (repeatable). Default: switchboard:secret.",
)
@click.option(
    "--receipt-delay", default=0.5, show_default=True, type=float,
    help="Seconds between submit_sm_resp and the delivery receipt.",
)
@click.option(
    "--undeliverable-pattern", "undeliverable", multiple=True, metavar="REGEX",
    help="Destinations matching this regex get an UNDELIV receipt (repeatable).",
)
@click.option(
    "--throttle-tps", type=float, default=None,
    help="Answer ESME_RTHROTTLED above this many submit_sm/s per account.",
)
@click.option(
    "--throttle-ratio", type=click.FloatRange(0, 1), default=0.0, show_default=True,
    help="Fraction of submit_sm answered ESME_RTHROTTLED at random.",
)
@click.option(
    "--message-id-format", type=click.Choice(MESSAGE_ID_FORMATS), default="hex",
    show_default=True,
)
def simulator_command(
    host: str,
    port: int,
    accounts: tuple[str, ...],
    receipt_delay: float,
    undeliverable: tuple[str, ...],
    throttle_tps: float | None,
    throttle_ratio: float,
    message_id_format: str,
) -> None:
    """Run the SMPP SMSC simulator until Ctrl-C."""
    config = SimulatorConfig(
        host=host,
        port=port,
        receipt_delay=receipt_delay,
        outcomes=[OutcomeRule(pattern, "UNDELIV") for pattern in undeliverable],
        max_tps=throttle_tps,
        throttle_ratio=throttle_ratio,
        message_id_format=message_id_format,
        keep_records=100_000,  # it may run for days: bound what it remembers
    )
    if accounts:
        config.accounts = dict(_parse_account(value) for value in accounts)
    try:
        simulator = Simulator(config).start()
    except (ValueError, re.error) as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:  # typically the port is taken
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    names = ", ".join(sorted(config.accounts))
    click.echo(f"SMSC simulator listening on {host}:{simulator.port} (accounts: {names})")
    simulator.serve_forever()


if __name__ == "__main__":
    simulator_command()
