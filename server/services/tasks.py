"""Tasks: the queue the web app, Gmail and Outlook show, and what working a task does."""
from __future__ import annotations

from datetime import date, datetime
from email.utils import make_msgid
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import nh3
from sqlalchemy import Date, Integer, Select, and_, bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from server.errors import Conflict, Invalid, NotFound
from server.models import Campaign, Email, Enrollment, EnrollmentStep, Mailbox, Person, Task, User
from server.services import events
from server.services.engine import finish_current_step

DUE_FILTERS = ("overdue", "today", "upcoming", "all")
STATUSES = ("open", "completed", "skipped", "all")


def today_for(user: User, now: datetime) -> date:
    return now.astimezone(ZoneInfo(user.timezone)).date()


def list_tasks(session: Session, user: User, *, status: str = "open", due: str = "all", now: datetime,
               limit: int = 200, offset: int = 0, task_id: int | None = None) -> list[dict[str, Any]]:
    """The caller's own tasks (everyone's for an admin asking with ``mine=False`` is not
    offered: the queue is personal). Tasks of a paused enrollment are held back."""
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", "status")
    if due not in DUE_FILTERS:
        raise Invalid(f"due must be one of {', '.join(DUE_FILTERS)}", "due")
    today = today_for(user, now)
    params: dict[str, Any] = {"user_id": user.id, "limit": limit, "offset": offset, "status": status,
                              "today": today, "task_id": task_id}
    # Core rather than ORM execution: plain rows, without the ORM result machinery.
    rows = session.connection().execute(_task_query(status != "all", due, task_id is not None), params)
    result = []
    for (tid, ttype, title, tstatus, due_date, priority, notes, to, subject, body, quoted, irt, refs, thread,
         enrollment_id, pid, pemail, first, last, company, cid, cname) in rows:
        email = None
        if ttype == "email":
            email = {"to": [to or pemail], "subject": subject, "body_html": body, "quoted_html": quoted,
                     "thread": ({"in_reply_to": irt, "references": refs, "provider_thread_id": thread}
                                if irt else None)}
        result.append({
            "id": tid, "type": ttype, "title": title, "status": tstatus, "due_date": due_date.isoformat(),
            "overdue": tstatus == "open" and due_date < today, "priority": priority, "notes": notes,
            "enrollment_id": enrollment_id,
            "person": {"id": pid, "email": pemail, "first_name": first, "last_name": last, "company": company},
            "campaign": {"id": cid, "name": cname} if cid is not None else None,
            "email": email,
        })
    return result


@lru_cache(maxsize=None)
def _task_query(by_status: bool, due: str, by_id: bool) -> Select:
    """The task-list statement for one combination of filters, built once with bound
    parameters: GET /tasks is the hottest read, and building the statement cost as much as
    running it."""
    query = (
        select(Task.id, Task.type, Task.title, Task.status, Task.due_date, Task.priority, Task.notes,
               Task.email_to, Task.email_subject, Task.email_body_html, Task.email_quoted_html, Task.in_reply_to,
               Task.references, Task.provider_thread_id, Task.enrollment_id,
               Person.id, Person.email, Person.first_name, Person.last_name, Person.company,
               Campaign.id, Campaign.name)
        .join(Person, Person.id == Task.person_id)
        .outerjoin(Campaign, Campaign.id == Task.campaign_id)
        .outerjoin(Enrollment, Enrollment.id == Task.enrollment_id)
        .where(Task.user_id == bindparam("user_id"))
        .order_by(Task.due_date, case((Task.priority == "high", 0), else_=1), Task.id)
        .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
    )
    if by_id:
        query = query.where(Task.id == bindparam("task_id"))
    else:
        query = query.where(or_(Enrollment.id.is_(None), Enrollment.state != "paused"))
    if by_status:
        query = query.where(Task.status == bindparam("status"))
    today = bindparam("today", type_=Date)
    if due == "overdue":
        query = query.where(Task.due_date < today)
    elif due == "today":
        query = query.where(Task.due_date == today)
    elif due == "upcoming":
        query = query.where(Task.due_date > today)
    return query


def own_task(session: Session, user: User, task_id: int) -> Task:
    """The rep's own task; another rep's is 404 (admins may act on any)."""
    task = session.get(Task, task_id)
    if task is None or (task.user_id != user.id and not user.is_admin):
        raise NotFound(f"task {task_id} not found", "task_id")
    return task


def task_dict(session: Session, task: Task, user: User, now: datetime) -> dict[str, Any]:
    return list_tasks(session, session.get(User, task.user_id), status="all", now=now, task_id=task.id)[0]


def _open_and_workable(session: Session, task: Task) -> Enrollment | None:
    if task.status != "open":
        raise Conflict(f"task {task.id} is already {task.status}", "status")
    enrollment = session.get(Enrollment, task.enrollment_id) if task.enrollment_id else None
    if enrollment is not None and enrollment.state == "paused":
        raise Conflict("the enrollment is paused; resume it to work this task", "enrollment_id")
    return enrollment


def _close(session: Session, user: User, task: Task, status: str, now: datetime, advance: bool = True) -> None:
    enrollment = _open_and_workable(session, task)
    task.status, task.completed_at = status, now
    events.record(session, "task_completed" if status == "completed" else "task_skipped", at=now,
                  user_id=task.user_id, person_id=task.person_id, campaign_id=task.campaign_id,
                  step_id=task.step_id, enrollment_id=task.enrollment_id, data={"task_id": task.id})
    if advance and enrollment is not None and enrollment.current_step_id == task.step_id:
        finish_current_step(session, enrollment, done_at=now, now=now,
                            status="done" if status == "completed" else "skipped")


def complete_task(session: Session, user: User, task_id: int, *, now: datetime) -> dict[str, Any]:
    task = own_task(session, user, task_id)
    _close(session, user, task, "completed", now)
    session.flush()
    return task_dict(session, task, user, now)


def skip_task(session: Session, user: User, task_id: int, *, now: datetime) -> dict[str, Any]:
    task = own_task(session, user, task_id)
    _close(session, user, task, "skipped", now)
    session.flush()
    return task_dict(session, task, user, now)


def reschedule_task(session: Session, user: User, task_id: int, *, due_date: date,
                    now: datetime) -> dict[str, Any]:
    """Move an open task to another day. The day is the task owner's: "today" is judged in
    their zone, so a task cannot be moved into their past. Guarded by ``status = 'open'`` in
    the UPDATE itself, so a task completed meanwhile (another tab, Gmail, Outlook) is a 409."""
    task = own_task(session, user, task_id)
    if task.status != "open":
        raise _not_open(task)
    owner = session.get(User, task.user_id)
    today = today_for(owner, now)
    if due_date < today:
        raise Invalid(f"due_date is in the past; pick {today.isoformat()} or later", "due_date")
    moved = session.execute(update(Task).where(Task.id == task.id, Task.status == "open")
                            .values(due_date=due_date).execution_options(synchronize_session=False)).rowcount
    session.refresh(task)
    if not moved:
        raise _not_open(task)
    if task.enrollment_id and task.step_id:
        # The enrollment's record of the step follows, so a pause and resume keeps the new day.
        session.execute(update(EnrollmentStep).where(
            EnrollmentStep.enrollment_id == task.enrollment_id, EnrollmentStep.step_id == task.step_id,
            EnrollmentStep.status == "current").values(date=due_date))
    return task_dict(session, task, user, now)


def _not_open(task: Task) -> Conflict:
    return Conflict(f"only open tasks can be rescheduled; task {task.id} is already {task.status}", "status")


def send_task(session: Session, user: User, task_id: int, *, now: datetime, subject: str | None = None,
              body_html: str | None = None, send_at: datetime | None = None) -> dict[str, Any]:
    """Record the rep's (possibly edited) email as scheduled for the dispatcher and complete
    the task. The enrollment moves on when the email is actually sent, like any email step."""
    task = own_task(session, user, task_id)
    if task.type != "email":
        raise Invalid("only email tasks can be sent", "task_id")
    _open_and_workable(session, task)
    if send_at is not None and send_at.tzinfo is None:
        raise Invalid("send_at needs a UTC offset", "send_at")
    enrollment = session.get(Enrollment, task.enrollment_id) if task.enrollment_id else None
    mailbox = session.get(Mailbox, enrollment.mailbox_id) if enrollment and enrollment.mailbox_id else None
    if mailbox is None:
        mailbox = session.scalars(select(Mailbox).where(Mailbox.user_id == task.user_id)).first()
    if mailbox is None:
        raise Invalid("connect a mailbox before sending email tasks", "mailbox_id")
    # The rep's edit is the final text, not a template: keep braces as typed, only fold it onto
    # one line so no header can be injected.
    final_subject = " ".join(subject.split()) if subject is not None else task.email_subject
    if subject is not None and not final_subject:
        raise Invalid("the subject cannot be empty", "subject")
    edited = nh3.clean(body_html) if body_html is not None else task.email_body_html
    email = email_for_task(session, task, mailbox, subject=final_subject, body_html=edited,
                           due_at=max(send_at or now, now), now=now)
    _close(session, user, task, "completed", now, advance=False)
    session.flush()
    return {"task": task_dict(session, task, user, now), "email_id": email.id, "due_at": email.due_at.isoformat()}


def email_for_task(session: Session, task: Task, mailbox: Mailbox, *, subject: str, body_html: str,
                   due_at: datetime, now: datetime, status: str = "scheduled", **overrides: Any) -> Email:
    """The Email row for an email task, linked to its enrollment step: one place for what a
    worked email task records, whether Stepline sends it (send_task) or the rep's own mail
    client did (client_sends), so reporting and follow-up threading see the same thing."""
    quoted = task.email_quoted_html
    body = body_html + (("<br>" + quoted) if quoted else "")
    campaign_body = (task.email_body_html or "") + (("<br>" + quoted) if quoted else "")
    email = Email(user_id=task.user_id, mailbox_id=mailbox.id, person_id=task.person_id,
                  enrollment_id=task.enrollment_id, step_id=task.step_id, task_id=task.id,
                  to_addr=task.email_to or task.person.email, subject=subject, body_html=body,
                  campaign_subject=task.email_subject, campaign_body_html=campaign_body,
                  follow_up=bool(task.in_reply_to), status=status, due_at=due_at,
                  message_id=make_msgid(domain=mailbox.address.rsplit("@", 1)[-1]),
                  in_reply_to=task.in_reply_to, references=task.references,
                  provider_thread_id=task.provider_thread_id, attempts=0, created_at=now)
    for name, value in overrides.items():  # what a client send already knows: its Message-ID, thread...
        setattr(email, name, value)
    session.add(email)
    session.flush()
    if task.enrollment_id and task.step_id:
        row = session.execute(select(EnrollmentStep).where(
            and_(EnrollmentStep.enrollment_id == task.enrollment_id, EnrollmentStep.step_id == task.step_id))
        ).scalar_one_or_none()
        if row is not None:
            row.email_id, row.due_at = email.id, email.due_at
    return email


def complete_sent_elsewhere(session: Session, task: Task, *, now: datetime) -> None:
    """Complete an email task the rep sent from their own mail client, without advancing the
    enrollment: the caller advances it from the email's send time, not from when we noticed."""
    _close(session, session.get(User, task.user_id), task, "completed", now, advance=False)


def record_draft(session: Session, user: User, task_id: int, *, provider: str, draft_id: str,
                 thread_id: str | None) -> None:
    """Remember a draft made from the task in Gmail/Outlook, so its sending completes the task."""
    task = own_task(session, user, task_id)
    task.draft_provider, task.draft_id, task.draft_thread_id = provider, draft_id, thread_id
