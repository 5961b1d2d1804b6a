"""How many web sign-ins may fail before Stepline stops trying passwords for a while.

Why the database and not process memory: the app runs as several gunicorn workers (and
several hosts), and a limit kept per process would multiply by their number. Each attempt is
first recorded as a ``sign_in_failures`` row and committed, *then* counted, and only then is
the password checked: two workers racing can never both slip under the limit (at worst both
are refused). A successful sign-in deletes its own rows and the account's earlier failures; a
refused attempt deletes its rows too, so hammering a locked account does not extend the lock.

Keys are SHA-256 digests of ``account:<email>`` and ``ip:<address>``: the table says how often
something failed, never which emails were tried (people type passwords into the email field).
The window slides: a key is locked while it has ``max`` failures younger than ``window``, so the
lock lifts when its oldest counted failure turns ``window`` old.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.models import SignInFailure


@dataclass(frozen=True)
class Limits:
    max_failures: int  # per account (email)
    ip_max_failures: int  # per client IP, across all emails
    window: timedelta


@dataclass(frozen=True)
class Attempt:
    """A sign-in in progress: its reserved rows and, if refused, how long until it may retry."""

    account_key: str | None
    row_ids: tuple[int, ...]
    retry_after: int | None  # seconds; None = go ahead and check the password


def limits_from_config(config: Mapping[str, Any]) -> Limits:
    return Limits(max_failures=int(config["SIGNIN_MAX_FAILURES"]),
                  ip_max_failures=int(config["SIGNIN_IP_MAX_FAILURES"]),
                  window=timedelta(seconds=int(config["SIGNIN_WINDOW_SECONDS"])))


def account_key(email: str) -> str:
    """The key of an account: the same for ``Rep@Example.com `` and ``rep@example.com``."""
    return _digest("account:" + email.strip().lower())


def ip_key(address: str) -> str:
    return _digest("ip:" + address)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def begin_attempt(session: Session, *, email: str, remote_addr: str | None, limits: Limits,
                  now: datetime) -> Attempt:
    """Reserve this attempt (committed), prune expired rows, and say whether it is allowed.

    When refused, the reservation is removed again and ``retry_after`` is set."""
    caps: dict[str, int] = {}
    acct = account_key(email) if email.strip() else None
    if acct is not None:
        caps[acct] = limits.max_failures
    if remote_addr:
        caps[ip_key(remote_addr)] = limits.ip_max_failures
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - limits.window))
    rows = [SignInFailure(key=key, at=now) for key in caps]
    session.add_all(rows)
    session.commit()
    own = tuple(row.id for row in rows)
    wait = _seconds_until_unlocked(session, caps, own, limits.window, now)
    if wait is None:
        return Attempt(account_key=acct, row_ids=own, retry_after=None)
    _delete_rows(session, own)
    return Attempt(account_key=acct, row_ids=(), retry_after=wait)


def _seconds_until_unlocked(session: Session, caps: dict[str, int], own: tuple[int, ...], window: timedelta,
                            now: datetime) -> int | None:
    """None when every key has fewer than its cap of other failures in the window."""
    if not caps:
        return None
    rows = session.execute(
        select(SignInFailure.key, SignInFailure.at)
        .where(SignInFailure.key.in_(list(caps)), SignInFailure.at > now - window, SignInFailure.id.not_in(own))
        .order_by(SignInFailure.at)).all()
    longest: float | None = None
    for key, cap in caps.items():
        times = [at for k, at in rows if k == key]
        if len(times) >= cap:
            # The lock lifts once enough of the oldest failures age out to leave cap - 1.
            wait = (times[len(times) - cap] + window - now).total_seconds()
            longest = wait if longest is None else max(longest, wait)
    return None if longest is None else max(1, math.ceil(longest))


def succeeded(session: Session, attempt: Attempt) -> None:
    """The password was right: forget this attempt and the account's failures (not the IP's,
    or one valid account would let an attacker reset the IP's count)."""
    _delete_rows(session, attempt.row_ids, commit=False)
    if attempt.account_key is not None:
        session.execute(delete(SignInFailure).where(SignInFailure.key == attempt.account_key))
    session.commit()


def clear_account(session: Session, email: str) -> None:
    """An admin set a new password: the account may sign in again at once (caller commits)."""
    session.execute(delete(SignInFailure).where(SignInFailure.key == account_key(email)))


def _delete_rows(session: Session, ids: tuple[int, ...], *, commit: bool = True) -> None:
    if ids:
        session.execute(delete(SignInFailure).where(SignInFailure.id.in_(ids)))
    if commit:
        session.commit()


def wait_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many sign-in attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}."
