"""The campaign engine: what happens when a step becomes current, and when it is done.

Steps run strictly in order for each enrollment (SPEC §2). When step k is done (email sent,
task completed or skipped) step k+1 becomes current: :func:`start_steps` asks the pure
scheduling module for its date and send instant, then creates either its task or its
scheduled email. Later steps do not exist yet, so a late task shifts everything after it.

``start_steps`` works on many enrollments at once because a launch of 10,000 people makes
10,000 first steps current in one transaction; advancing one enrollment is the same call
with one item, so there is a single code path for both.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.utils import make_msgid
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Json
from sqlalchemy import JSON, Table, case, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from server.domain import schedule
from server.domain.templates import MissingMergeField, TemplateSyntaxProblem, render_template
from server.errors import Invalid
from server.models import Campaign, Email, Enrollment, EnrollmentStep, Event, Mailbox, Person, Step, Task, User
from server.services import events
from server.services.campaigns import calendar, step_rule

_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd)\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` without ever doubling the prefix."""
    return "Re: " + _RE_PREFIX.sub("", subject or "").strip()


def quote_html(previous: Email, sender_name: str, sender_address: str, zone: str) -> str:
    """The previous email quoted the way mail clients do, from the campaign's rendering."""
    sent = previous.sent_at.astimezone(ZoneInfo(zone)) if previous.sent_at else None
    when = sent.strftime("%a, %b %-d, %Y at %-I:%M %p") if sent else ""
    who = html.escape(f"{sender_name} <{sender_address}>")
    return (f'<div class="stepline-quote"><div>On {when}, {who} wrote:</div>'
            '<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">'
            f"{previous.campaign_body_html or previous.body_html}</blockquote></div>")


@dataclass
class Becoming:
    """One enrollment whose step ``index`` (in the ordered step list) becomes current."""

    enrollment_id: int
    user_id: int
    mailbox_id: int | None
    person: dict[str, Any]  # id, email, first_name, last_name, company, title, fields
    zone: str
    day1: date
    index: int
    prev_done_at: datetime | None = None
    sent_history: list[tuple[int, datetime]] = field(default_factory=list)
    previous_email: Email | None = None
    send_at: datetime | None = None
    step_times: dict[str, Any] = field(default_factory=dict)
    on_date: date | None = None


@dataclass
class Sender:
    name: str
    address: str
    domain: str

    @classmethod
    def of(cls, user: User, mailbox: Mailbox | None) -> "Sender":
        address = mailbox.address if mailbox else user.email
        name = (mailbox.display_name if mailbox and mailbox.display_name else user.name) or address
        return cls(name=name, address=address, domain=address.rsplit("@", 1)[-1] or "stepline.local")


def ordered_steps(campaign: Campaign, current: Step | None = None) -> list[Step]:
    """The campaign's live steps in order, plus a removed step an enrollment still stands on."""
    steps = list(campaign.steps)
    if current is not None and current.deleted_at is not None:
        steps.append(current)
        steps.sort(key=lambda s: (s.day, s.position, s.deleted_at is None))
    return steps


def overrides_for(send_at: datetime | None, step_times: dict[str, Any]) -> schedule.Overrides:
    """Launch choices as stored on the enrollment (step_times as "HH:MM" by step id)."""
    times = {key: time.fromisoformat(value) for key, value in (step_times or {}).items()}
    return schedule.Overrides(send_at=send_at, step_times=times)


def _content(step: Step) -> tuple[str, str]:
    if step.template_id is not None and step.template is not None:
        return step.template.subject, step.template.body_html
    return step.subject or "", step.body_html or ""


def _task_title(step: Step, person: dict[str, Any], subject: str | None) -> str:
    name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p) or person["email"]
    if step.title:
        return step.title
    return {
        "email": f"Email {name}: {subject}",
        "call": f"Call {name}",
        "inmail": f"LinkedIn InMail to {name}",
        "custom": f"Task for {name}",
    }[step.type]


def start_steps(session: Session, campaign: Campaign, steps: Sequence[Step], items: Sequence[Becoming], *,
                now: datetime, senders: dict[int | None, Sender], mark_current: bool = True) -> None:
    """Make ``steps[item.index]`` current for every item: schedule it, create its task or email.

    ``mark_current=False`` when the enrollments were just inserted already pointing at the
    step (a launch): rewriting 10,000 fresh rows only to set that column costs PostgreSQL a
    second copy of each."""
    rules = [step_rule(s) for s in steps]
    calendars: dict[str, schedule.Calendar] = {}
    scheduled_cache: dict[tuple, schedule.Scheduled] = {}
    es_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    email_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    task_for: list[int] = []  # index into es_rows for each task row
    email_for: list[int] = []

    for item in items:
        step = steps[item.index]
        cal = calendars.get(item.zone) or calendars.setdefault(item.zone, calendar(campaign, item.zone))
        overrides = overrides_for(item.send_at, item.step_times)
        key = None
        if item.prev_done_at is None and not item.sent_history and item.on_date is None:
            # Every first step of one launch in one zone has the same schedule.
            key = (item.zone, item.index, item.day1, item.send_at, tuple(sorted(item.step_times.items())))
        planned = scheduled_cache.get(key) if key else None
        if planned is None:
            planned = schedule.schedule_step(rules, item.index, cal, now=now, day1=item.day1,
                                             prev_done_at=item.prev_done_at, sent_history=item.sent_history,
                                             overrides=overrides, on_date=item.on_date)
            if key:
                scheduled_cache[key] = planned
        es_rows.append({"enrollment_id": item.enrollment_id, "step_id": step.id, "status": "current",
                        "date": planned.date, "due_at": planned.due_at, "became_current_at": now,
                        "done_at": None, "task_id": None, "email_id": None})
        sender = senders[item.mailbox_id]
        subject = body = quoted = None
        in_reply_to = references = thread_id = None
        if step.type == "email":
            subject_src, body_src = _content(step)
            try:
                subject, body = render_template(subject_src, body_src, item.person,
                                                {"name": sender.name, "email": sender.address})
            except MissingMergeField as exc:
                # Launch refuses such people up front; this is a template changed since then.
                raise Invalid(f"step day {step.day}, position {step.position} needs merge field '{exc.field}', "
                              f"which person {item.person['id']} lacks", exc.field) from exc
            except TemplateSyntaxProblem as exc:
                raise Invalid(f"step day {step.day}, position {step.position} cannot be rendered: {exc.message}",
                              f"steps[{item.index}]") from exc
            prev = item.previous_email
            if step.follow_up and prev is not None and prev.status == "sent" and prev.message_id:
                subject = reply_subject(prev.campaign_subject or prev.subject)
                in_reply_to = prev.message_id
                references = " ".join(filter(None, [prev.references, prev.message_id]))
                thread_id = prev.provider_thread_id
                quoted = quote_html(prev, sender.name, sender.address, item.zone)
        if rules[item.index].kind == "task":
            task_for.append(len(es_rows) - 1)
            task_rows.append({
                "user_id": item.user_id, "person_id": item.person["id"], "campaign_id": campaign.id,
                "enrollment_id": item.enrollment_id, "step_id": step.id, "type": step.type,
                "title": _task_title(step, item.person, subject)[:300], "status": "open",
                "due_date": planned.date, "priority": step.priority or "normal", "notes": step.notes,
                "email_to": item.person["email"] if step.type == "email" else None,
                "email_subject": subject, "email_body_html": body, "email_quoted_html": quoted,
                "in_reply_to": in_reply_to, "references": references, "provider_thread_id": thread_id,
                "created_at": now,
            })
            event_rows.append({"type": "task_created", "at": now, "user_id": item.user_id,
                               "person_id": item.person["id"], "campaign_id": campaign.id, "step_id": step.id,
                               "enrollment_id": item.enrollment_id,
                               "data": {"task_type": step.type, "due_date": planned.date.isoformat()}})
        else:
            full_body = body + (("<br>" + quoted) if quoted else "")
            email_for.append(len(es_rows) - 1)
            email_rows.append({
                "user_id": item.user_id, "mailbox_id": item.mailbox_id, "person_id": item.person["id"],
                "enrollment_id": item.enrollment_id, "step_id": step.id, "task_id": None,
                "to_addr": item.person["email"], "subject": subject, "body_html": full_body,
                "campaign_subject": subject, "campaign_body_html": full_body, "follow_up": step.follow_up,
                # A launch without send_at for a choose_at_launch step is refused, so an
                # automatic email always has its instant here.
                "status": "scheduled", "due_at": planned.due_at or now,
                "message_id": make_msgid(domain=sender.domain), "in_reply_to": in_reply_to,
                "references": references, "provider_thread_id": thread_id, "attempts": 0, "created_at": now,
            })

    # Core inserts that RETURN the enrollment id with each new id: one enrollment gets at most
    # one new row per call, so that pairs them up without asking for parameter order, which
    # SQLite can only honour by inserting row by row (10x slower for a 10,000-person launch).
    if task_rows:
        by_enrollment = bulk_insert(session, Task.__table__, task_rows, "enrollment_id")
        for es_index in task_for:
            es_rows[es_index]["task_id"] = by_enrollment[es_rows[es_index]["enrollment_id"]]
    if email_rows:
        by_enrollment = bulk_insert(session, Email.__table__, email_rows, "enrollment_id")
        for es_index in email_for:
            es_rows[es_index]["email_id"] = by_enrollment[es_rows[es_index]["enrollment_id"]]
    if es_rows:
        bulk_insert(session, EnrollmentStep.__table__, es_rows)
    if es_rows and mark_current:
        by_step: dict[int, list[int]] = {}
        for r in es_rows:
            by_step.setdefault(r["step_id"], []).append(r["enrollment_id"])
        enrollments = Enrollment.__table__
        for step_id, enrollment_ids in by_step.items():
            for start in range(0, len(enrollment_ids), 900):
                session.execute(update(enrollments).where(enrollments.c.id.in_(enrollment_ids[start:start + 900]))
                                .values(current_step_id=step_id))
    record_events(session, event_rows)


def record_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """``events.record_many`` for thousands of rows (a launch): same rows, bulk path."""
    if len(rows) < 100:
        events.record_many(session, rows)
        return
    for row in rows:
        row.setdefault("data", {})
        row.setdefault("email_id", None)
    bulk_insert(session, Event.__table__, rows)


# ------------------------------------------------------------------ bulk writes


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]], key: str | None = None) -> dict[Any, int]:
    """Insert many rows at once; with ``key``, return ``{row[key]: new id}``.

    Why not one INSERT ... RETURNING: on SQLite that is fine (batched), but on PostgreSQL the
    driver has to parse a multi-megabyte statement for 10,000 rows (seconds), so there the ids
    are taken from the table's sequence first and the rows are streamed with COPY, which is
    what PostgreSQL is fastest at. ``key`` must be unique among ``rows``.
    """
    if not rows:
        return {}
    if session.get_bind().dialect.name != "postgresql":
        if key is None:
            session.execute(insert(table), rows)
            return {}
        return {k: i for i, k in session.execute(insert(table).returning(table.c.id, table.c[key]), rows)}
    ids = session.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                          {"t": table.name, "n": len(rows)}).scalars().all()
    columns = ["id"] + [c for c in rows[0] if c != "id"]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    quoted = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for new_id, row in zip(ids, rows):
                copy.write_row([new_id] + [Json(row[c]) if c in json_columns and row[c] is not None else row[c]
                                           for c in columns[1:]])
    except psycopg.errors.IntegrityError as exc:
        # Same exception as the ORM path, so callers' race handling (savepoint, retry) works.
        raise IntegrityError(statement, None, exc) from exc
    return {row[key]: new_id for new_id, row in zip(ids, rows)} if key else {}


# ------------------------------------------------------------------ advancing one enrollment


def current_row(session: Session, enrollment: Enrollment) -> EnrollmentStep | None:
    if enrollment.current_step_id is None:
        return None
    return session.execute(select(EnrollmentStep).where(
        EnrollmentStep.enrollment_id == enrollment.id,
        EnrollmentStep.step_id == enrollment.current_step_id)).scalar_one_or_none()


def sent_histories(session: Session, enrollment_ids: Sequence[int]) -> dict[int, list[tuple[int, datetime]]]:
    """Each enrollment's sent emails as (step day, sent instant), oldest first: one query."""
    history: dict[int, list[tuple[int, datetime]]] = {i: [] for i in enrollment_ids}
    if not enrollment_ids:
        return history
    rows = session.execute(
        select(Email.enrollment_id, Step.day, Email.sent_at).join(Step, Step.id == Email.step_id)
        .where(Email.enrollment_id.in_(list(enrollment_ids)), Email.status == "sent", Email.sent_at.is_not(None))
        .order_by(Email.sent_at))
    for enrollment_id, day, sent_at in rows:
        history[enrollment_id].append((day, sent_at))
    return history


def sent_history(session: Session, enrollment_id: int) -> list[tuple[int, datetime]]:
    return sent_histories(session, [enrollment_id])[enrollment_id]


def becoming(session: Session, enrollment: Enrollment, index: int, *, prev_done_at: datetime | None,
             previous_step: Step | None, on_date: date | None = None) -> Becoming:
    """Everything the engine needs to make one enrollment's step ``index`` current."""
    from server.services.people import merge_data

    previous_email = None
    if previous_step is not None and previous_step.type == "email":
        previous_email = session.execute(select(Email).where(
            Email.enrollment_id == enrollment.id, Email.step_id == previous_step.id)).scalar_one_or_none()
    return _becoming(enrollment, merge_data(enrollment.person), index, prev_done_at=prev_done_at,
                     history=sent_history(session, enrollment.id), previous_email=previous_email, on_date=on_date)


def _becoming(enrollment: Enrollment, person: dict[str, Any], index: int, *, prev_done_at: datetime | None,
              history: list[tuple[int, datetime]], previous_email: Email | None,
              on_date: date | None = None) -> Becoming:
    return Becoming(enrollment_id=enrollment.id, user_id=enrollment.user_id, mailbox_id=enrollment.mailbox_id,
                    person=person | {"id": enrollment.person_id}, zone=enrollment.timezone, day1=enrollment.day1,
                    index=index, prev_done_at=prev_done_at, sent_history=history, previous_email=previous_email,
                    send_at=enrollment.send_at, step_times=enrollment.step_times or {}, on_date=on_date)


def senders_for(session: Session, user_id: int, mailbox_id: int | None) -> dict[int | None, Sender]:
    user = session.get(User, user_id)
    mailbox = session.get(Mailbox, mailbox_id) if mailbox_id else None
    return {mailbox_id: Sender.of(user, mailbox)}


def _close_rows(session: Session, rows: list[tuple[EnrollmentStep, datetime]], status: str) -> None:
    """Mark steps done (each at its own instant) in one statement; the loaded rows follow."""
    if not rows:
        return
    table = EnrollmentStep.__table__
    done_at = case({row.id: literal(at, type_=table.c.done_at.type) for row, at in rows}, value=table.c.id)
    session.execute(update(table).where(table.c.id.in_([row.id for row, _ in rows]))
                    .values(status=status, done_at=done_at))
    for row, at in rows:
        set_committed_value(row, "status", status)
        set_committed_value(row, "done_at", at)


def _finish_enrollments(session: Session, enrollments: list[Enrollment], now: datetime) -> None:
    """The last step is done: the enrollments are finished, with one "finished" event each."""
    if not enrollments:
        return
    table = Enrollment.__table__
    session.execute(update(table).where(table.c.id.in_([e.id for e in enrollments]))
                    .values(state="finished", current_step_id=None, ended_at=now))
    for enrollment in enrollments:
        for key, value in (("state", "finished"), ("current_step_id", None), ("ended_at", now)):
            set_committed_value(enrollment, key, value)
    events.record_many(session, [{"type": "finished", "at": now, "user_id": e.user_id, "person_id": e.person_id,
                                  "campaign_id": e.campaign_id, "enrollment_id": e.id} for e in enrollments])


def finish_current_step(session: Session, enrollment: Enrollment, *, done_at: datetime, now: datetime,
                        status: str = "done") -> None:
    """Step done (sent, completed or skipped): the next one becomes current at once."""
    finish_current_steps(session, [(enrollment, done_at)], now=now, status=status)


def finish_current_steps(session: Session, finished: Sequence[tuple[Enrollment, datetime]], *, now: datetime,
                         status: str = "done") -> None:
    """Each enrollment's current step is done (at its own instant): its next step becomes
    current at once, or the enrollment is finished after its last step.

    The next step's date counts from the local date on which this one was done, so
    lateness shifts every later step and nothing catches up (SPEC §2). Many enrollments at
    once because the dispatcher records a whole group of accepted emails in one transaction;
    a task completed by a rep is the same call with one item, so the rule lives here only."""
    from server.services.people import merge_data

    pending = [(e, at) for e, at in finished if e.current_step_id is not None]
    if not pending:
        return
    current_rows = {(r.enrollment_id, r.step_id): r for r in session.scalars(
        select(EnrollmentStep).where(EnrollmentStep.enrollment_id.in_([e.id for e, _ in pending]),
                                     EnrollmentStep.status == "current"))}
    advancing: list[tuple[Enrollment, datetime, list[Step], int]] = []
    done_rows: list[tuple[EnrollmentStep, datetime]] = []
    ended: list[Enrollment] = []
    for enrollment, done_at in pending:
        row = current_rows.get((enrollment.id, enrollment.current_step_id))
        if row is None:
            continue
        done_rows.append((row, done_at))
        if enrollment.state != "active":
            continue
        current = session.get(Step, row.step_id)
        steps = ordered_steps(enrollment.campaign, current)
        index = next(i for i, s in enumerate(steps) if s.id == current.id)
        if index + 1 < len(steps):
            advancing.append((enrollment, done_at, steps, index))
        else:
            ended.append(enrollment)
    _close_rows(session, done_rows, status)
    _finish_enrollments(session, ended, now)
    if not advancing:
        return
    session.flush()
    ids = [e.id for e, *_ in advancing]
    histories = sent_histories(session, ids)
    previous = {(m.enrollment_id, m.step_id): m for m in session.scalars(
        select(Email).where(Email.enrollment_id.in_(ids)).execution_options(populate_existing=True))}
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([e.person_id for e, *_ in advancing])))}
    # One engine call per campaign, step list and rep: the sender (the rep's own address when
    # there is no mailbox) and the steps are then the same for every item.
    groups: dict[tuple[int, tuple[int, ...], int], list[tuple[Enrollment, Becoming]]] = {}
    for enrollment, done_at, steps, index in advancing:
        previous_email = previous.get((enrollment.id, steps[index].id)) if steps[index].type == "email" else None
        item = _becoming(enrollment, merge_data(people[enrollment.person_id]), index + 1, prev_done_at=done_at,
                         history=histories[enrollment.id], previous_email=previous_email)
        key = (enrollment.campaign_id, tuple(s.id for s in steps), enrollment.user_id)
        groups.setdefault(key, []).append((enrollment, item))
    for members in groups.values():
        first = members[0][0]
        steps = next(s for e, _at, s, _i in advancing if e is first)
        senders: dict[int | None, Sender] = {}
        for enrollment, _item in members:
            if enrollment.mailbox_id not in senders:
                senders |= senders_for(session, enrollment.user_id, enrollment.mailbox_id)
        start_steps(session, first.campaign, steps, [item for _e, item in members], now=now, senders=senders)
        for enrollment, _item in members:
            session.expire(enrollment, ["current_step_id"])
