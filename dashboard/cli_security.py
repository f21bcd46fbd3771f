"""`flask --app app user …` and `secrets …`: user administration and key rotation from the shell.

Every change is audited as "cli:<the operating-system user>" (docs/security.md).
"""

from __future__ import annotations

import functools
import getpass
import sys

import click
from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import select

from dashboard.cli_errors import OneLineGroup
from dashboard import crypto
from dashboard.extensions import db
from dashboard.models import ApiKey, Bind, User
from dashboard.services import audit
from dashboard.services import users as user_service

user_group = OneLineGroup("user", help="Console users: list, deactivate, reactivate, role, password.")
secrets_group = OneLineGroup("secrets", help="Keys of the secrets stored encrypted (bind passwords).")
# Every encrypted column: a rotation re-encrypts them all (add webhook secrets here when they come).
ENCRYPTED_COLUMNS = ((Bind, "password_encrypted"), (ApiKey, "webhook_secret_encrypted"))


def as_cli_user(command):
    """Audit rows written by the command name the shell user who ran it."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        audit.act_as(audit.Actor(None, f"cli:{getpass.getuser()}"))
        return command(*args, **kwargs)

    return run


def _user(email: str) -> User:
    user = user_service.find(email)
    if user is None:
        raise click.ClickException(f"no user {email}")
    return user


@user_group.command("list")
def user_list() -> None:
    """One line per user: email, role, active, locked."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        locked = f"\tlocked until {user.locked_until:%Y-%m-%d %H:%M}" if user.locked_until else ""
        click.echo(f"{user.email}\t{user.role}\t{'active' if user.active else 'inactive'}{locked}")


def _change(action, message: str):
    try:
        action()
    except user_service.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(message)


@user_group.command("deactivate")
@click.argument("email")
@as_cli_user
def user_deactivate(email: str) -> None:
    """Deactivate a user; their sessions end at once."""
    user = _user(email)
    _change(lambda: user_service.set_active(user, False), f"deactivated {user.email}")


@user_group.command("reactivate")
@click.argument("email")
@as_cli_user
def user_reactivate(email: str) -> None:
    user = _user(email)
    _change(lambda: user_service.set_active(user, True), f"reactivated {user.email}")


@user_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["admin", "ops", "compliance"]))
@as_cli_user
def user_set_role(email: str, role: str) -> None:
    """Change a user's role; their sessions end at once."""
    user = _user(email)
    _change(lambda: user_service.set_role(user, role), f"{user.email} is now {role}")


@user_group.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@as_cli_user
def user_reset_password(email: str, password_stdin: bool) -> None:
    """Set a new password (and unlock); the user's sessions end at once."""
    user = _user(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _change(lambda: user_service.reset_password(user, password), f"password of {user.email} reset")


@secrets_group.command("rotate")
@as_cli_user
def secrets_rotate() -> None:
    """Add a new encryption key, re-encrypt every stored secret with it, then drop the old keys.

    The key file is written twice: first with the new key in front of the old ones (so a crash
    at any point leaves every stored secret readable), then, once the database has committed,
    with the new key alone."""
    path = crypto.key_file(current_app.config, current_app.instance_path)
    old_keys = list(current_app.config["ENCRYPTION_KEYS"])
    new_key = Fernet.generate_key().decode()
    crypto.write_keys(path, [new_key, *old_keys])
    current_app.config["ENCRYPTION_KEYS"] = [new_key, *old_keys]
    count = 0
    try:
        for model, column in ENCRYPTED_COLUMNS:
            for row in db.session.scalars(select(model).where(getattr(model, column).is_not(None))):
                setattr(row, column, crypto.reencrypt(current_app.config, getattr(row, column)))
                count += 1
    except crypto.SecretUnreadable as exc:
        db.session.rollback()
        raise click.ClickException(
            f"{exc}; nothing was re-encrypted, the old keys are kept"
        ) from None
    audit.record(
        "secrets_rotate", row_count=count, detail=f"{count} secret(s) re-encrypted under a new key"
    )
    db.session.commit()
    crypto.write_keys(path, [new_key])
    current_app.config["ENCRYPTION_KEYS"] = [new_key]
    click.echo(f"rotated: {count} secret(s) re-encrypted; {path} holds the new key only")
