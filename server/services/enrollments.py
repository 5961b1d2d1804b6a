"""Enrollments: read, pause, resume, remove, and end (reply, bounce, unsubscribe)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.domain import schedule
from server.errors import Conflict, NotFound
from server.models import ACTIVE_STATES, Email, Enrollment, EnrollmentStep, Step, Task, User
from server.services import events
from server.services.campaigns import calendar, step_rule
from server.services.engine import becoming, current_row, ordered_steps, overrides_for

ENDED_STATES = ("finished", "replied", "bounced", "unsubscribed", "removed")


def visible_enrollment(session: Session, user: User, enrollment_id: int) -> Enrollment:
    """A rep's own enrollment, any for an admin; others' are 404, not 403, so ids leak nothing."""
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or (not user.is_admin and enrollment.user_id != user.id):
        raise NotFound(f"enrollment {enrollment_id} not found", "enrollment_id")
    return enrollment


def enrollment_dict(session: Session, e: Enrollment) -> dict[str, Any]:
    rows = {r.step_id: r for r in session.scalars(select(EnrollmentStep).where(EnrollmentStep.enrollment_id == e.id))}
    emails = {m.step_id: m for m in session.scalars(select(Email).where(Email.enrollment_id == e.id))}
    tasks = {t.step_id: t for t in session.scalars(select(Task).where(Task.enrollment_id == e.id))}
    listed = list(e.campaign.steps)
    listed += [session.get(Step, sid) for sid in rows if sid not in {s.id for s in listed}]
    listed.sort(key=lambda s: (s.day, s.position))
    steps = []
    for s in listed:
        row, email, task = rows.get(s.id), emails.get(s.id), tasks.get(s.id)
        if row is None:
            status = "pending"
        elif email is not None and row.status == "current":
            status = email.status
        elif task is not None and row.status == "current":
            status = task.status
        else:
            status = "sent" if email is not None and email.status == "sent" else row.status
        steps.append({"step_id": s.id, "day": s.day, "position": s.position, "type": s.type, "status": status,
                      "date": row.date.isoformat() if row else None,
                      "due_at": row.due_at.isoformat() if row and row.due_at else (
                          email.due_at.isoformat() if email else None),
                      "sent_at": email.sent_at.isoformat() if email and email.sent_at else None,
                      "task_id": task.id if task else None,
                      "email_id": email.id if email else None,
                      "message_id": email.message_id if email and email.status == "sent" else None})
    return {"id": e.id, "state": e.state, "success": e.success, "campaign_id": e.campaign_id,
            "person_id": e.person_id, "user_id": e.user_id, "mailbox_id": e.mailbox_id, "timezone": e.timezone,
            "current_step_id": e.current_step_id, "created_at": e.created_at.isoformat(), "steps": steps}


def _log(session: Session, e: Enrollment, type_: str, now: datetime, **data: Any) -> None:
    events.record(session, type_, at=now, user_id=e.user_id, person_id=e.person_id, campaign_id=e.campaign_id,
                  step_id=e.current_step_id, enrollment_id=e.id, data=data)


def pause(session: Session, e: Enrollment, *, now: datetime) -> None:
    """Hold the enrollment: its scheduled email waits, its open task cannot be worked."""
    if e.state != "active":
        raise Conflict(f"only an active enrollment can be paused; this one is {e.state}", "state")
    e.state, e.paused_at = "paused", now
    session.execute(update(Email).where(Email.enrollment_id == e.id, Email.status.in_(("scheduled", "pending")))
                    .values(status="paused"))
    _log(session, e, "paused", now)


def resume(session: Session, e: Enrollment, *, now: datetime) -> None:
    """Shift the current step by the paused days; nothing catches up (SPEC §2, issue 2)."""
    if e.state != "paused":
        raise Conflict(f"only a paused enrollment can be resumed; this one is {e.state}", "state")
    e.state = "active"
    row = current_row(session, e)
    if row is not None and row.status == "current" and e.paused_at is not None:
        cal = calendar(e.campaign, e.timezone)
        paused_days = (cal.local_date(now) - cal.local_date(e.paused_at)).days
        new_date = cal.roll_forward(row.date + timedelta(days=paused_days)) if paused_days > 0 else row.date
        current = session.get(Step, row.step_id)
        steps = ordered_steps(e.campaign, current)
        index = next(i for i, s in enumerate(steps) if s.id == current.id)
        previous = steps[index - 1] if index > 0 else None
        prev_row = None
        if previous is not None:
            prev_row = session.execute(select(EnrollmentStep).where(
                EnrollmentStep.enrollment_id == e.id, EnrollmentStep.step_id == previous.id)).scalar_one_or_none()
        item = becoming(session, e, index, prev_done_at=prev_row.done_at if prev_row else None,
                        previous_step=previous, on_date=new_date)
        explicit = None
        if index == 0 and e.send_at is not None:
            # The instant chosen at launch moves by the paused days too, at the same local time.
            chosen_day = cal.local_date(e.send_at)
            if paused_days > 0:
                chosen_day = cal.roll_forward(chosen_day + timedelta(days=paused_days))
            explicit = cal.at(chosen_day, cal.local_time(e.send_at))
        planned = schedule.schedule_step([step_rule(s) for s in steps], index, cal, now=now, day1=e.day1,
                                         prev_done_at=item.prev_done_at, sent_history=item.sent_history,
                                         overrides=overrides_for(explicit, e.step_times or {}), on_date=new_date)
        row.date, row.due_at = planned.date, planned.due_at
        if planned.due_at is not None:
            session.execute(update(Email).where(Email.enrollment_id == e.id, Email.step_id == row.step_id,
                                                Email.status == "paused")
                            .values(status="scheduled", due_at=planned.due_at))
        session.execute(update(Task).where(Task.enrollment_id == e.id, Task.step_id == row.step_id,
                                           Task.status == "open").values(due_date=planned.date))
    session.execute(update(Email).where(Email.enrollment_id == e.id, Email.status == "paused")
                    .values(status="scheduled"))
    e.paused_at = None
    _log(session, e, "resumed", now)


def end(session: Session, e: Enrollment, state: str, *, now: datetime, reason: str, success: bool = False) -> None:
    """End an enrollment: nothing more is sent and its open task goes away."""
    if e.state not in ACTIVE_STATES:
        return
    e.state, e.ended_at, e.success = state, now, success or e.success
    session.execute(update(Email).where(Email.enrollment_id == e.id,
                                        Email.status.in_(("scheduled", "pending", "paused")))
                    .values(status="cancelled", failure_reason=reason))
    session.execute(update(Task).where(Task.enrollment_id == e.id, Task.status == "open")
                    .values(status="skipped", completed_at=now))
    session.execute(update(EnrollmentStep).where(EnrollmentStep.enrollment_id == e.id,
                                                 EnrollmentStep.status == "current").values(status="cancelled"))


def remove(session: Session, e: Enrollment, *, now: datetime) -> None:
    if e.state not in ACTIVE_STATES:
        raise Conflict(f"this enrollment has already ended ({e.state})", "state")
    end(session, e, "removed", now=now, reason="removed from the campaign")
    _log(session, e, "removed", now)
