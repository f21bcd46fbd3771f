from __future__ import annotations

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Role, User
from dashboard.models.types import utcnow


class UserError(ValueError):
    pass


def create_user(email: str, role: str, password: str) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise UserError(f"{email!r} is not an email address")
    try:
        role = Role(role).value
    except ValueError:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if len(password) < 10:
        raise UserError("password must be at least 10 characters")
    if db.session.scalar(select(User).where(func.lower(User.email) == email)):
        raise UserError(f"a user {email} already exists")
    user = User(email=email, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.active or not user.check_password(password):
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user
