"""Every command-line error is one line and a non-zero exit, whatever raised it.

Click answers a usage mistake (a missing option, a file that does not exist, an unknown
subcommand) with the usage, a hint and the error on three lines, and a database that was never
created ends in a traceback. Scripts and people both read the last line first: make it the only
one.
"""

from __future__ import annotations

from typing import Any

import click
from click.exceptions import NoArgsIsHelpError
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, ProgrammingError


def _one_line(exc: click.UsageError, ctx: click.Context | None) -> click.ClickException:
    where = f"{ctx.command_path}: " if ctx is not None else ""
    return click.ClickException(f"{where}{exc.format_message()} (see --help)")


def _database_error(exc: OperationalError | ProgrammingError) -> click.ClickException:
    reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "unknown error"
    return click.ClickException(
        f"database error: {reason} (is it created? run `flask --app app db upgrade`)"
    )


class _OneLineParsing:
    """Usage mistakes found while parsing the command line, as one line."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:
            raise  # no arguments at all: the help is the answer
        except click.UsageError as exc:
            raise _one_line(exc, exc.ctx) from None


class OneLineCommand(_OneLineParsing, click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc, exc.ctx or ctx) from None
        except (OperationalError, ProgrammingError) as exc:
            raise _database_error(exc) from None


class OneLineGroup(_OneLineParsing, AppGroup):
    """An AppGroup whose commands (and itself) answer errors in one line."""

    command_class = OneLineCommand

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise _one_line(exc, ctx) from None
