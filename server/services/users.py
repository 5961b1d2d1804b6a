"""Users, API tokens and passwords."""
from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from server.errors import Conflict, Invalid
from server.models import ApiToken, User

ROLES = ("admin", "rep")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_zone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def create_user(session: Session, email: str, *, role: str, timezone: str, name: str = "",
                now: datetime) -> User:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", "role")
    if not valid_zone(timezone):
        raise Invalid(f"unknown time zone '{timezone}' (use an IANA name like America/New_York)", "timezone")
    email = email.strip().lower()
    if find_by_email(session, email):
        raise Conflict(f"a user with email {email} already exists", "email")
    user = User(email=email, role=role, timezone=timezone, name=name or email.split("@")[0], created_at=now)
    session.add(user)
    session.flush()
    return user


def create_token(session: Session, user: User, *, now: datetime, name: str = "") -> str:
    """A new random token; only its digest is stored, so it is shown once."""
    token = "stp_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), name=name, created_at=now))
    session.flush()
    return token


_USER_BY_TOKEN = select(User).join(ApiToken, ApiToken.user_id == User.id).where(
    ApiToken.token_hash == bindparam("token_hash"))


def user_for_token(session: Session, token: str) -> User | None:
    """Every API request runs this: one prebuilt statement loading only the user."""
    return session.execute(_USER_BY_TOKEN, {"token_hash": hash_token(token)}).scalar_one_or_none()


def find_by_email(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(func.lower(User.email) == email.strip().lower())).scalar_one_or_none()


def set_password(user: User, password: str) -> None:
    if len(password) < 8:
        raise Invalid("a password needs at least 8 characters", "password")
    user.password_hash = generate_password_hash(password)


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def check_password(user: User | None, password: str) -> bool:
    """Always hashes once, even for an unknown email or a user without a password, so the
    response time does not tell whether an account exists."""
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)
