"""Activity events: what the Live Feed, the person page and the stats read."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from server.models import Event, User

EVENT_TYPES = ("enrolled", "sent", "delivered", "opened", "clicked", "replied", "auto_replied", "bounced",
               "unsubscribed", "task_created", "task_completed", "task_skipped", "removed", "paused",
               "resumed", "failed", "finished")


def record(session: Session, type_: str, *, at: datetime, user_id: int | None, person_id: int | None = None,
           campaign_id: int | None = None, step_id: int | None = None, enrollment_id: int | None = None,
           email_id: int | None = None, data: dict[str, Any] | None = None) -> None:
    record_many(session, [dict(type=type_, at=at, user_id=user_id, person_id=person_id, campaign_id=campaign_id,
                               step_id=step_id, enrollment_id=enrollment_id, email_id=email_id, data=data or {})])


def record_many(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    for row in rows:
        row.setdefault("data", {})
        row.setdefault("email_id", None)
    if rows:
        session.execute(insert(Event.__table__), rows)  # Core: 10,000 launch events without ORM overhead


def event_dict(e: Event) -> dict[str, Any]:
    return {"id": e.id, "type": e.type, "at": e.at.isoformat(), "person_id": e.person_id,
            "campaign_id": e.campaign_id, "step_id": e.step_id, "enrollment_id": e.enrollment_id,
            "user_id": e.user_id, "data": e.data or {}}


def list_events(session: Session, user: User, *, since: datetime | None = None, after_id: int | None = None,
                limit: int = 500) -> list[Event]:
    """Oldest first; a rep sees their own, an admin sees all."""
    query = select(Event).order_by(Event.id).limit(limit)
    if not user.is_admin:
        query = query.where(Event.user_id == user.id)
    if since is not None:
        query = query.where(Event.at >= since)
    if after_id is not None:
        query = query.where(Event.id > after_id)
    return list(session.scalars(query))
