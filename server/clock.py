"""The one place Stepline reads the time.

Scheduling rules are only testable if time can be moved forward without sleeping, so every
service asks the app's clock (``get_clock().now()``) instead of calling ``datetime.now``.
Tests install a :class:`FrozenClock` and advance it.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Real time, always aware and in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that only moves when told to; shared safely between threads."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(timezone.utc)

    def advance(self, **kwargs: float) -> datetime:
        with self._lock:
            self._now += timedelta(**kwargs)
            return self._now


_default: Clock = SystemClock()


def get_clock() -> Clock:
    """The Flask app's clock when inside an app context, the system clock otherwise."""
    try:
        from flask import current_app

        return current_app.extensions.get("stepline_clock", _default)
    except RuntimeError:
        return _default
