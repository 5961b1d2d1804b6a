"""CRM sync through an outbox (Salesforce).

Why an outbox: every write to the CRM is first a row in ``crm_outbox``, committed in
Stepline's own database; the worker delivers rows later. A CRM outage or a slow CRM therefore
never blocks sending, and nothing is lost: a failed row is retried with exponential backoff
(30 s, 1 min, 2 min... capped at 1 h) for up to MAX_ATTEMPTS; an error that retrying cannot
fix (a field the org does not have, a malformed value) stops at ``failed`` with Salesforce's
reason, listed for admins by ``GET /api/v1/crm/outbox?status=failed`` and retried from there.

Why a reconciler instead of hooks: :func:`collect` compares Stepline's email tasks and sent
emails with ``crm_records`` (what has been queued for the CRM) and queues what is new or
changed. The engine, the dispatcher and the task API need no CRM code, and a change made
while the CRM sync was off is still picked up.

Status both ways: a Stepline task that is open is "Not Started" in Salesforce, completed (or
skipped) is "Completed"; a Salesforce Task completed by the rep in Salesforce completes the
Stepline task (and so advances the enrollment), via :func:`pull_statuses`. Reopening a
completed task in Salesforce does not reopen it in Stepline (a step that is done stays done).

Owner: a created Task is owned by the rep's Salesforce User when one is found by email
(:mod:`server.services.crm_owners`), else by the integration user; an owner Salesforce refuses
is forgotten and the Task created again without it, so a stale mapping never fails a row.

Delivery is at least once: a worker that dies between Salesforce's answer and the commit
sends that one write again on its next pass.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import Flask
from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from server.models import Campaign, CrmOutbox, CrmRecord, Email, Enrollment, Person, Step, Task, User

log = logging.getLogger("stepline.crm")

MAX_ATTEMPTS = 15
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=5)
BATCH = 100
_PLACEHOLDER = re.compile(r"\{\{\s*(activity_subject|sales_campaign_name|sales_campaign_day|sales_campaign_step)\s*\}\}")

ClientFactory = Callable[[], Any]


def crm_enabled(config: Any = None) -> bool:
    """Salesforce sync is on when its username and consumer key are configured."""
    if config is None:
        try:
            from flask import current_app

            config = current_app.config
        except RuntimeError:
            return False
    return bool(config.get("SALESFORCE_USERNAME") and config.get("SALESFORCE_CONSUMER_KEY"))


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, now: datetime) -> CrmOutbox:
    row = CrmOutbox(kind=kind, payload=payload, status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(row)
    return row


def enqueue_opt_out(session: Session, email: str, opted_out: bool, *, now: datetime, config: Any = None) -> None:
    """Queue the person's email opt-out for the CRM (nothing when no CRM is configured)."""
    if crm_enabled(config):
        enqueue(session, "opt_out", {"email": email, "opted_out": opted_out}, now=now)


def render_subject(template: str, values: dict[str, Any]) -> str:
    """The Task subject: the configured template over the four placeholders, on one line,
    cut to Salesforce's 255 characters."""
    text = _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "") or ""), template or "{{activity_subject}}")
    return " ".join(text.split())[:255]


def _campaign_values(session: Session, step_id: int | None, enrollment_id: int | None) -> dict[str, Any]:
    if step_id is None:
        return {"sales_campaign_name": "", "sales_campaign_day": "", "sales_campaign_step": ""}
    step = session.get(Step, step_id)
    campaign = session.get(Campaign, step.campaign_id) if step else None
    number = ""
    if campaign is not None:
        ordered = sorted(campaign.steps, key=lambda s: (s.day, s.position))
        number = next((i + 1 for i, s in enumerate(ordered) if s.id == step_id), "")
    return {"sales_campaign_name": campaign.name if campaign else "", "sales_campaign_day": step.day if step else "",
            "sales_campaign_step": number}


def _task_fields(session: Session, config: Any, task: Task) -> dict[str, Any]:
    values = {"activity_subject": task.email_subject or task.title} | _campaign_values(
        session, task.step_id, task.enrollment_id)
    return {"Subject": render_subject(config.get("SALESFORCE_TASK_SUBJECT", ""), values),
            "Status": "Not Started" if task.status == "open" else "Completed",
            "Priority": "High" if task.priority == "high" else "Normal",
            "ActivityDate": task.due_date.isoformat(), "TaskSubtype": "Email", "Type": "Email",
            "Description": (task.notes or "")[:32000]}


def _email_fields(session: Session, config: Any, email: Email) -> dict[str, Any]:
    from server.adapters.mail import html_to_text

    values = {"activity_subject": email.subject} | _campaign_values(session, email.step_id, email.enrollment_id)
    return {"Subject": render_subject(config.get("SALESFORCE_TASK_SUBJECT", ""), values), "Status": "Completed",
            "Priority": "Normal", "ActivityDate": (email.sent_at or email.due_at).date().isoformat(),
            "TaskSubtype": "Email", "Type": "Email",
            "Description": f"To: {email.to_addr}\nSubject: {email.subject}\n\n{html_to_text(email.body_html)}"[:32000]}


def collect(session: Session, now: datetime, config: Any) -> int:
    """Queue Task creates for new email tasks and sent emails, and status updates for tasks
    whose status changed since last queued. Returns how many rows were queued."""
    queued = 0
    new_tasks = session.scalars(
        select(Task).outerjoin(CrmRecord, and_(CrmRecord.local_kind == "task", CrmRecord.local_id == Task.id))
        .where(Task.type == "email", CrmRecord.id.is_(None)).order_by(Task.id).limit(BATCH))
    for task in new_tasks:
        person = session.get(Person, task.person_id)
        session.add(CrmRecord(local_kind="task", local_id=task.id, local_status=task.status, created_at=now))
        enqueue(session, "task_create", {"local_kind": "task", "local_id": task.id, "who_email": person.email,
                                         "user_id": task.user_id, "fields": _task_fields(session, config, task)},
                now=now)
        queued += 1
    new_emails = session.scalars(
        select(Email).outerjoin(CrmRecord, and_(CrmRecord.local_kind == "email", CrmRecord.local_id == Email.id))
        .where(Email.status == "sent", CrmRecord.id.is_(None)).order_by(Email.id).limit(BATCH))
    for email in new_emails:
        session.add(CrmRecord(local_kind="email", local_id=email.id, local_status="sent", created_at=now))
        enqueue(session, "task_create", {"local_kind": "email", "local_id": email.id, "who_email": email.to_addr,
                                         "user_id": email.user_id, "fields": _email_fields(session, config, email)},
                now=now)
        queued += 1
    changed = session.execute(
        select(CrmRecord, Task.status).join(Task, and_(CrmRecord.local_kind == "task", CrmRecord.local_id == Task.id))
        .where(CrmRecord.local_status != Task.status).limit(BATCH)).all()
    for record, status in changed:
        record.local_status = status
        enqueue(session, "task_status", {"local_kind": "task", "local_id": record.local_id, "status": status},
                now=now)
        queued += 1
    return queued


def _backoff(attempts: int) -> timedelta:
    return min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)


def _deliver(session: Session, client: Any, row: CrmOutbox, now: datetime) -> None:
    """One write. Raises whatever the client raises."""
    from server.adapters import salesforce

    payload = row.payload
    if row.kind == "opt_out":
        salesforce.set_opted_out(client, payload["email"], bool(payload["opted_out"]))
        return
    record = session.scalars(select(CrmRecord).where(CrmRecord.local_kind == payload["local_kind"],
                                                     CrmRecord.local_id == payload["local_id"])).one_or_none()
    if row.kind == "task_create":
        fields = dict(payload["fields"])
        who = salesforce.find_person(client, payload["who_email"]) if payload.get("who_email") else []
        if who:
            fields["WhoId"] = who[0][1]
        remote_id = _create_owned_task(session, client, fields, payload.get("user_id"), now)
        if record is not None:
            record.remote_id, record.remote_status, record.synced_at = remote_id, fields.get("Status"), now
        return
    if row.kind == "task_status":
        if record is None or record.remote_id is None:
            raise _NotReady("the Salesforce Task is not created yet")
        status = salesforce.STATUS_TO_SALESFORCE.get(payload["status"], "Not Started")
        if record.remote_status != status:
            salesforce.update_task(client, record.remote_id, {"Status": status})
        record.remote_status, record.synced_at = status, now
        return
    raise ValueError(f"unknown outbox kind {row.kind!r}")


def _create_owned_task(session: Session, client: Any, fields: dict[str, Any], user_id: int | None,
                       now: datetime) -> str:
    """Create the Task owned by the rep's Salesforce User when there is one. If Salesforce
    refuses that owner, the mapping is forgotten and the Task is created once more without
    OwnerId (the integration user owns it): a stale mapping never fails a row."""
    from server.adapters import salesforce
    from server.services.crm_owners import forget_owner, owner_for

    owner = owner_for(session, client, user_id, now)
    if owner is None:
        return salesforce.create_task(client, fields)
    try:
        return salesforce.create_task(client, fields | {"OwnerId": owner})
    except Exception as exc:
        if not salesforce.owner_refused(exc):
            raise
    forget_owner(session, user_id, now)
    return salesforce.create_task(client, fields)


class _NotReady(Exception):
    """A write that depends on an earlier one (its create) still pending: wait, no attempt used."""


def _claim(session: Session, row_id: int, now: datetime) -> bool:
    """Two workers never send one row at once: the claim moves its next attempt past a lease."""
    result = session.execute(update(CrmOutbox).where(CrmOutbox.id == row_id, CrmOutbox.status == "pending",
                                                     CrmOutbox.next_attempt_at <= now)
                             .values(next_attempt_at=now + CLAIM_LEASE))
    session.commit()
    return result.rowcount == 1


def process_outbox(session: Session, now: datetime, client_factory: ClientFactory, *, limit: int = BATCH
                   ) -> dict[str, int]:
    """Deliver the due outbox rows, oldest first; returns counts by outcome.

    ``client_factory()`` returns a freshly signed-in client; it is called once per pass when
    there is work, and again once after an expired session. A retryable failure (outage, rate
    limit) stops the pass: the rows after it wait for the next pass without using attempts."""
    counts = {"done": 0, "retry": 0, "failed": 0, "waiting": 0}
    ids = list(session.scalars(select(CrmOutbox.id).where(CrmOutbox.status == "pending",
                                                          CrmOutbox.next_attempt_at <= now)
                               .order_by(CrmOutbox.id).limit(limit)))
    client = None
    for row_id in ids:
        if not _claim(session, row_id, now):
            continue
        row = session.get(CrmOutbox, row_id)
        outcome, client, reason = _attempt(session, row, now, client, client_factory)
        if outcome == "done":
            row.status, row.done_at, row.last_error = "done", now, None
        elif outcome == "waiting":
            row.next_attempt_at, row.last_error = now + BASE_DELAY, reason
        elif outcome == "failed":
            row.attempts += 1
            row.status, row.last_error = "failed", reason
            log.warning("CRM write %s failed for good: %s", row.id, reason)
        else:
            row.attempts += 1
            row.last_error = reason
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            else:
                row.next_attempt_at = now + _backoff(row.attempts)
        counts[outcome] += 1
        session.commit()
        if outcome == "retry":
            log.info("CRM unavailable, retrying later: %s", reason)
            break
    return counts


def _attempt(session: Session, row: CrmOutbox, now: datetime, client: Any, client_factory: ClientFactory
             ) -> tuple[str, Any, str | None]:
    """(outcome, the client to use next, reason): done | waiting | retry | failed."""
    from server.adapters.salesforce import classify

    for sign_in in (client is None, True):
        try:
            if sign_in:
                client = None
                client = client_factory()
            _deliver(session, client, row, now)
            return "done", client, None
        except _NotReady as exc:
            session.rollback()
            return "waiting", client, str(exc)
        except Exception as exc:  # noqa: BLE001 - every failure is sorted, none may escape the worker
            session.rollback()
            failure = classify(exc)
            if failure.action == "reauth" and not sign_in:
                continue
            return ("failed" if failure.action == "fail" else "retry"), client, failure.reason
    return "retry", None, "the Salesforce session expired again right after signing in"


def pull_statuses(session: Session, now: datetime, client_factory: ClientFactory) -> int:
    """Complete the Stepline tasks whose Salesforce Task was completed; returns how many.
    Signs in (``client_factory()``) only when some synced task is still open."""
    from server.adapters import salesforce
    from server.services.tasks import complete_task

    open_records = session.execute(
        select(CrmRecord, Task).join(Task, and_(CrmRecord.local_kind == "task", CrmRecord.local_id == Task.id))
        .where(Task.status == "open", CrmRecord.remote_id.is_not(None)).limit(1000)).all()
    if not open_records:
        return 0
    statuses = salesforce.task_statuses(client_factory(), [r.remote_id for r, _ in open_records])
    completed = 0
    for record, task in open_records:
        status = statuses.get(record.remote_id)
        if status != "Completed":
            continue
        owner = session.get(User, task.user_id)
        enrollment = session.get(Enrollment, task.enrollment_id) if task.enrollment_id else None
        if enrollment is not None and enrollment.state == "paused":
            continue  # a paused enrollment's task cannot be worked; it syncs after the resume
        complete_task(session, owner, task.id, now=now)
        record.local_status, record.remote_status, record.synced_at = "completed", status, now
        session.commit()
        completed += 1
    return completed


PULL_EVERY = timedelta(seconds=60)


def run_pass(app: Flask, client_factory: ClientFactory | None = None) -> dict[str, int]:
    """The worker's CRM step: queue what changed, deliver the outbox, and (once a minute)
    pull task statuses back. Does nothing when Salesforce is not configured; never raises
    for a CRM failure, so the worker's sending goes on whatever Salesforce does."""
    from server.clock import get_clock

    if not crm_enabled(app.config):
        return {}
    from server.adapters.salesforce import classify, connect

    made: list[Any] = []

    def factory() -> Any:
        """The client kept from an earlier pass first (one sign-in serves many passes), a fresh
        sign-in after that (called again only when Salesforce said the session expired)."""
        cached = app.extensions.pop("stepline_crm_client", None)
        client = cached if cached is not None and not made else (client_factory or (lambda: connect(app.config)))()
        made.append(client)
        app.extensions["stepline_crm_client"] = client
        return client

    with app.app_context():
        now = get_clock().now()
        with app.extensions["stepline_sessions"]() as session:
            queued = collect(session, now, app.config)
            session.commit()
            counts = process_outbox(session, now, factory)
            counts["queued"] = queued
            last_pull = app.extensions.get("stepline_crm_pulled_at")
            if counts["retry"] == 0 and (last_pull is None or now - last_pull >= PULL_EVERY):
                try:
                    counts["pulled"] = pull_statuses(session, now, lambda: made[-1] if made else factory())
                    app.extensions["stepline_crm_pulled_at"] = now
                except Exception as exc:  # noqa: BLE001 - the next pass tries again
                    session.rollback()
                    log.warning("reading Salesforce task statuses failed: %s", classify(exc).reason)
            return counts


def outbox_dict(row: CrmOutbox) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at.isoformat(), "last_error": row.last_error,
            "created_at": row.created_at.isoformat(), "done_at": row.done_at.isoformat() if row.done_at else None,
            "payload": {k: v for k, v in row.payload.items() if k != "fields"}}


def list_outbox(session: Session, status: str | None, limit: int = 200) -> list[CrmOutbox]:
    query = select(CrmOutbox).order_by(CrmOutbox.id.desc()).limit(limit)
    if status:
        query = query.where(CrmOutbox.status == status)
    return list(session.scalars(query))


def retry_row(session: Session, row: CrmOutbox, now: datetime) -> None:
    """An admin's retry (after fixing the org or the config): a fresh set of attempts."""
    from server.errors import Conflict

    if row.status == "done":
        raise Conflict("this CRM write is already done", "status")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
