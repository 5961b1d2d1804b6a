"""The storage side of the pixel and click endpoints, written for speed.

Why raw SQL here and nowhere else: these two endpoints take one request per open and per
click of every email sent, often in bursts when a campaign goes out (image proxies fetch at
delivery). Building SQLAlchemy expressions per request cost about as much as the database
work itself, so the two statements are plain SQL strings run on a pooled DBAPI connection:
one primary-key SELECT and one INSERT, values converted exactly as the ORM's column types
(UtcDateTime, JSON) store them, so the ORM reads these rows like any other.

On SQLite, writes of one process are serialized by a lock: a writer waiting on SQLite's
busy handler sleeps in steps of up to 100 ms, which would ruin the tail latency.
"""
from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

_SELECT = ("SELECT e.user_id, e.person_id, e.step_id, e.enrollment_id, e.sent_at, n.campaign_id{links} "
           "FROM emails e LEFT JOIN enrollments n ON n.id = e.enrollment_id WHERE e.id = {p}")
_BODY = "SELECT body_html FROM emails WHERE id = {p}"
_INSERT = ("INSERT INTO events (type, at, user_id, person_id, campaign_id, step_id, enrollment_id, email_id, data) "
           "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {json})")


@dataclass(frozen=True, slots=True)
class EmailRow:
    user_id: int
    person_id: int
    step_id: int | None
    enrollment_id: int | None
    sent_at: datetime | None
    campaign_id: int | None
    links: list[str] | None = None


class TrackingStore:
    def __init__(self, engine: Engine) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        # PostgreSQL: a small pool of its own in autocommit, where the one INSERT commits by
        # itself (no BEGIN/COMMIT round trips) and does not wait for the WAL flush: if the
        # server crashed in the next fraction of a second, that one open could be lost, never
        # the database's consistency. The ORM's pool keeps the normal synchronous commits.
        self.engine = engine if self.sqlite else create_engine(
            engine.url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=20, pool_recycle=1800,
            connect_args={"options": "-c synchronous_commit=off"})
        p = "?" if self.sqlite else "%s"
        self._select = _SELECT.format(links="", p=p)
        self._select_links = _SELECT.format(links=", e.tracked_links", p=p)
        self._body = _BODY.format(p=p)
        self._insert = _INSERT.format(p=p, json=p if self.sqlite else "CAST(%s AS JSON)")
        self._write_lock = threading.Lock() if self.sqlite else None

    def _instant_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    def _instant_in(self, value: datetime) -> Any:
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def _email_row(self, cursor: Any, email_id: int, with_links: bool) -> EmailRow | None:
        cursor.execute(self._select_links if with_links else self._select, (email_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        links = None
        if with_links and row[6] is not None:
            links = json.loads(row[6]) if isinstance(row[6], (str, bytes)) else row[6]
        return EmailRow(row[0], row[1], row[2], row[3], self._instant_out(row[4]), row[5], links)

    def email_body(self, email_id: int) -> str:
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(self._body, (email_id,))
            row = cursor.fetchone()
            if self.sqlite:
                conn.rollback()
        finally:
            conn.close()
        return row[0] if row else ""

    def hit(self, email_id: int, *, with_links: bool, decide: Callable[[EmailRow], tuple[str, datetime, dict] | None]
            ) -> EmailRow | None:
        """Read the email and, when ``decide`` returns (type, at, data), insert that event, on one
        pooled connection. Returns the email's row, None when there is no such email."""
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            row = self._email_row(cursor, email_id, with_links)
            event = decide(row) if row is not None else None
            if event is None:
                if self.sqlite:
                    conn.rollback()
                return row
            type_, at, data = event
            params = (type_, self._instant_in(at), row.user_id, row.person_id, row.campaign_id, row.step_id,
                      row.enrollment_id, email_id, json.dumps(data))
            if self._write_lock is not None:
                conn.rollback()  # end the read transaction before queueing for the write
                with self._write_lock:
                    cursor.execute(self._insert, params)
                    conn.commit()
            else:
                cursor.execute(self._insert, params)
            return row
        finally:
            conn.close()


_create_lock = threading.Lock()


def tracking_store(app: Flask) -> TrackingStore:
    """One store per app (and so per engine); its own pool is closed with the app."""
    store = app.extensions.get("stepline_tracking_store")
    if store is None:
        with _create_lock:
            store = app.extensions.get("stepline_tracking_store")
            if store is None:
                store = TrackingStore(app.extensions["stepline_engine"])
                if store.engine is not app.extensions["stepline_engine"]:
                    weakref.finalize(app, store.engine.dispose)
                app.extensions["stepline_tracking_store"] = store
    return store
