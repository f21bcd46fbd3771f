"""Console users: creation, sign-in with lockout, and the admin's changes (deactivate, reactivate,
role, password reset), each audited and each ending the user's sessions where it must."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.extensions import db
from dashboard.models import Role, User
from dashboard.models.types import utcnow
from dashboard.services import audit

MIN_PASSWORD = 10
# Checked when the email matches no user, so that an unknown address costs the same password
# hash as a known one: the answer's timing does not tell who has an account.
_DUMMY_HASH = generate_password_hash("switchboard: no such user")


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class LockoutPolicy:
    failures: int = 10
    minutes: int = 15

    @classmethod
    def from_config(cls, config) -> "LockoutPolicy":
        return cls(config["LOGIN_LOCKOUT_FAILURES"], config["LOGIN_LOCKOUT_MINUTES"])


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or not email.isprintable() or len(email) > 254:
        raise UserError(f"{email!r} is not an email address")
    return email


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    if "\x00" in password:
        raise UserError("the password contains a NUL character")


def _role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}") from None


def create_user(email: str, role: str, password: str) -> User:
    email, role = _clean_email(email), _role(role)
    _check_password(password)
    if find(email):
        raise UserError(f"a user {email} already exists")
    user = User(email=email, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user_create", target=user, changes={"email": [None, email], "role": [None, role]})
    db.session.commit()
    return user


def find(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def authenticate(email: str, password: str, now: datetime | None = None,
                 policy: LockoutPolicy = LockoutPolicy()) -> User | None:
    """The user, when the password is right and the account active and not locked. Every answer
    costs one password hash (a dummy one for an unknown address). Failures are counted in the
    database; LOCKOUT failures in a row lock the account for a while (an audited event), which
    holds across every web process."""
    now = now or utcnow()
    user = find(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    correct = user.check_password(password)
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not correct or not user.active:
        _count_failure(user, now, policy)
        return None
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    db.session.commit()
    return user


def _count_failure(user: User, now: datetime, policy: LockoutPolicy) -> None:
    user.failed_logins += 1
    if user.failed_logins >= policy.failures:
        user.locked_until, user.failed_logins = now + timedelta(minutes=policy.minutes), 0
        audit.record("user_locked", target=user, now=now,
                     detail=f"{policy.failures} failed sign-ins in a row: locked for {policy.minutes} min")
    db.session.commit()


def is_locked(email: str, now: datetime | None = None) -> bool:
    user = find(email)
    return bool(user and user.locked_until and user.locked_until > (now or utcnow()))


def log_out(user: User) -> None:
    """Logout ends the session on the server: the cookie, replayed, no longer signs anyone in."""
    user.end_sessions()
    audit.record("user_logout", target=user)
    db.session.commit()


def _last_active_admin(user: User) -> bool:
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id))
    return user.role == Role.ADMIN.value and user.active and not others


def set_active(user: User, active: bool, *, by: User | None = None) -> None:
    """Deactivate (every session ends at once) or reactivate a user."""
    if user.active == active:
        return
    if not active and by is not None and by.id == user.id:
        raise UserError("you cannot deactivate yourself")
    if not active and _last_active_admin(user):
        raise UserError("this is the last active admin: make another admin first")
    user.active = active
    user.locked_until, user.failed_logins = None, 0
    user.end_sessions()
    audit.record("user_activate" if active else "user_deactivate", target=user,
                 changes={"active": [not active, active]})
    db.session.commit()


def set_role(user: User, role: str, *, by: User | None = None) -> None:
    role = _role(role)
    if role == user.role:
        return
    if by is not None and by.id == user.id:
        raise UserError("you cannot change your own role")
    if _last_active_admin(user):
        raise UserError("this is the last active admin: make another admin first")
    old, user.role = user.role, role
    user.end_sessions()  # pages open with the old role's rights must not keep them
    audit.record("user_role", target=user, changes={"role": [old, role]})
    db.session.commit()


def reset_password(user: User, password: str) -> None:
    _check_password(password)
    user.set_password(password)
    user.locked_until, user.failed_logins = None, 0
    user.end_sessions()
    audit.record("user_password_reset", target=user, changes={"password": [audit.MASK, audit.MASK]})
    db.session.commit()
