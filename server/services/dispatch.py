"""The dispatcher: claim due emails, check them, send them, record the result.

Exactly once is a property of the states, not of luck:

* **claim**: one statement moves a batch of due rows from ``scheduled``/``pending`` to
  ``sending`` and stamps them with this worker and the time. On PostgreSQL the batch is
  picked with ``FOR UPDATE SKIP LOCKED``, so workers never wait on each other nor take the
  same row; SQLite has one writer, so the same guarded UPDATE is atomic there too.
* **caps** are checked in that same transaction while holding the mailbox row lock, so two
  workers cannot both take the last slot of a mailbox's rolling-24-hour or per-minute cap;
  what does not fit goes to ``pending`` until the instant capacity returns (never dropped).
* **hand over**: emails go in chunks of up to 20: checked and built, then their claims are
  marked (committed) as handed over in one statement; then **send** each, then **mark sent**
  the accepted ones in one UPDATE guarded by ``status='sending' AND claimed_by=me``, in the
  same transaction as the engine's next steps. Few commits per email is what makes one worker
  fast; a worker killed in between leaves the chunk's rows handed over in ``sending``.
* **recovery** takes over ``sending`` rows whose claim is older than the lease. A claim that
  was never handed over goes back to the queue (nothing left the building). A handed-over one
  is reconciled: the provider is asked whether the message went out (Gmail: ``rfc822msgid:``
  search; Graph: ``internetMessageId`` filter). SMTP cannot answer, so the email becomes
  ``unknown`` for a human to check and retry; it is never resent blindly.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from flask import Flask
from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from server.adapters.mail import build_message
from server.adapters.providers import (
    ProviderError,
    ProviderResult,
    QuotaExceeded,
    RateLimited,
    Rejected,
    Transient,
    Uncertain,
    provider_for,
)
from server.clock import get_clock
from server.domain.templates import TemplateSyntaxProblem, missing_field
from server.models import Email, Enrollment, Mailbox, Person, Step, User
from server.services import events
from server.services.engine import Sender, finish_current_step, finish_current_steps

log = logging.getLogger("stepline.dispatch")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

UNKNOWN_REASON = "the worker stopped while sending; check the recipient's inbox, then retry"
DUE_STATES = ("scheduled", "pending")
DAY = timedelta(hours=24)
MINUTE = timedelta(minutes=1)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)


@dataclass
class Limits:
    lease: timedelta
    max_attempts: int
    daily_cap: int  # 0 = no cap
    minute_cap: int
    blocked_domains: frozenset[str]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Limits":
        blocked = frozenset(d.strip().lower().lstrip("@") for d in str(config.get("BLOCKED_DOMAINS") or "").split(",")
                            if d.strip())
        return cls(lease=timedelta(seconds=int(config.get("DISPATCH_LEASE_SECONDS") or 120)),
                   max_attempts=int(config.get("DISPATCH_MAX_ATTEMPTS") or 5),
                   daily_cap=int(config.get("MAILBOX_DAILY_CAP") or 0),
                   minute_cap=int(config.get("MAILBOX_MINUTE_CAP") or 0),
                   blocked_domains=blocked)


def _worker_id() -> str:
    """Recomputed after a fork so two processes never share an identity."""
    global WORKER_ID
    if f":{os.getpid()}:" not in WORKER_ID:
        WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return WORKER_ID


# ``claimed_by`` also records the phase of the claim: a batch is claimed as ``<worker>``, and
# just before one email is handed to the provider its claim becomes ``<worker>!`` (committed).
# A claim found stale without the mark was never attempted and simply goes back to the queue;
# only a marked one may have been accepted and needs reconciling.
HANDING_OVER = "!"


def _mine() -> tuple[str, str]:
    return _worker_id(), _worker_id() + HANDING_OVER


# ---------------------------------------------------------------------------- the pass


def run_pass(app: Flask, batch: int = 100, should_stop: Callable[[], bool] = lambda: False,
             threads: int | None = None) -> int:
    """Reconcile stale claims, then send everything due now; returns how many emails it handled.

    A claimed batch is shared by ``threads`` threads (DISPATCH_THREADS; 1 on SQLite, which has
    a single writer): most of an email's time is spent waiting for the database and the mail
    server, so one worker process keeps several in flight. Each email still belongs to
    exactly one thread, and every state change stays guarded by the claim."""
    # The CLI hands us ``current_app``, a context-local proxy that other threads cannot see.
    app = getattr(app, "_get_current_object", lambda: app)()
    with app.app_context():
        factory: sessionmaker[Session] = app.extensions["stepline_sessions"]
        limits = Limits.from_config(app.config)
        if threads is None:
            sqlite = app.extensions["stepline_engine"].dialect.name == "sqlite"
            threads = 1 if sqlite else max(1, int(app.config.get("DISPATCH_THREADS") or 4))
        handled = recover(app, factory, limits)
        while not should_stop():
            with factory() as session:
                ids, taken = claim(session, get_clock().now(), batch, limits)
            if not taken:
                break
            if not ids:  # the whole batch was over its mailboxes' caps and is now pending
                continue
            if threads <= 1 or len(ids) == 1:
                handled += _deliver_all(app, factory, ids, limits, should_stop)
                continue
            slices = [ids[i::threads] for i in range(threads) if ids[i::threads]]
            with ThreadPoolExecutor(max_workers=len(slices), thread_name_prefix="dispatch") as pool:
                handled += sum(pool.map(lambda part: _deliver_all(app, factory, part, limits, should_stop),
                                        slices))
        return handled


# Emails go through in chunks of up to CHUNK: their rows are read in one query, checked and
# built, handed over together (one commit), sent one by one, and the accepted ones recorded
# together (one transaction). Safe because the "handed over" mark is committed before any of
# them leaves: a worker killed after the provider accepted a message but before its chunk was
# recorded leaves that email handed over, which recovery marks unknown (SMTP) or reconciles
# with the provider (Gmail, Graph); it is never sent again. The price of a crash is at most
# one chunk per thread marked unknown instead of going back to the queue.
CHUNK = 20


@dataclass
class _Ready:
    """One checked email with its built message, waiting for its chunk's hand-over."""

    email: Email
    enrollment: Enrollment | None
    mailbox: Mailbox
    message: Any
    thread_id: str | None


@dataclass
class _Sent:
    """One accepted email waiting for its chunk's commit (plain values: no ORM refresh needed)."""

    email_id: int
    user_id: int
    person_id: int
    step_id: int | None
    enrollment_id: int | None
    subject: str
    message_id: str
    result: ProviderResult
    at: datetime


def _deliver_all(app: Flask, factory: sessionmaker[Session], ids: list[int], limits: Limits,
                 should_stop: Callable[[], bool]) -> int:
    """Deliver some claimed emails, chunk by chunk, with one session (steps, templates and
    campaigns are then read once), while the emails' own rows (person, enrollment, mailbox,
    user) are re-read fresh for each chunk: at most a fraction of a second old at the send."""
    handled = 0
    keep: list[Any] = []  # strong references: the session's identity map only holds weak ones
    with app.app_context(), factory() as session:
        for start in range(0, len(ids), CHUNK):
            if should_stop():
                _unclaim(factory, ids[start:])
                break
            chunk = ids[start:start + CHUNK]
            sent: list[_Sent] = []
            try:
                _deliver_chunk(app, session, chunk, limits, keep, sent)
            except Exception:  # noqa: BLE001 - one bad email must not stop the others
                log.exception("emails %s: delivery crashed; recovery will reconcile them", chunk)
                session.rollback()
            handled += len(chunk)
            _record_sent(session, sent)
    return handled


def _deliver_chunk(app: Flask, session: Session, ids: list[int], limits: Limits, keep: list[Any],
                   sent: list[_Sent]) -> None:
    """Check, build, hand over and send some claimed emails; accepted ones are appended to
    ``sent`` for the caller to record together, every other outcome is recorded here."""
    rows = _load(session, ids)
    now = get_clock().now()
    checked: list[tuple[Email, Enrollment | None, Mailbox, User]] = []
    for email_id in ids:
        row = rows.get(email_id)
        if row is None:
            continue
        email, person, user, enrollment, mailbox = row
        if email.status != "sending" or email.claimed_by not in _mine():
            continue
        if enrollment is not None and len(keep) < 1000:
            # The campaign (and, through it, its steps and templates) is then read once per batch.
            keep.append(enrollment.campaign)
            keep.extend(enrollment.campaign.steps)
        if enrollment is not None and enrollment.state == "paused":
            _release(session, email, status="paused", due_at=email.due_at, count_attempt=False)
            continue
        problem = presend_problem(session, email, person, enrollment, mailbox, limits)
        if problem:
            _fail(session, email, enrollment, problem, now)
            continue
        checked.append((email, enrollment, mailbox, user))
    # Built only once every check has run: a check that fails commits (or rolls back) on its
    # own, which must not lose the tracked links a build stores on an email.
    ready = [_Ready(email, enrollment, mailbox, build_message(email, mailbox, user, app.config, date=now),
                    email.provider_thread_id) for email, enrollment, mailbox, user in checked]
    if not ready:
        session.commit()
        return
    # The mark that exactly-once recovery relies on, committed before any of them is sent.
    # (It also commits the tracked links build_message stored on the emails.)
    handed = set(session.scalars(
        update(Email).where(Email.id.in_([r.email.id for r in ready]), Email.status == "sending",
                            Email.claimed_by.in_(_mine()))
        .values(claimed_by=_worker_id() + HANDING_OVER, claimed_at=now)
        .returning(Email.id).execution_options(synchronize_session=False)))
    session.commit()
    for item in ready:
        if item.email.id in handed:
            accepted = _send(app, session, item, limits, now)
            if accepted is not None:
                sent.append(accepted)


def _send(app: Flask, session: Session, item: _Ready, limits: Limits, now: datetime) -> _Sent | None:
    """Hand one email to its provider; an accepted one is returned, any other outcome recorded."""
    email, enrollment, mailbox = item.email, item.enrollment, item.mailbox
    try:
        result = provider_for(mailbox, app.config).send(item.message, mailbox, item.thread_id)
    except RateLimited as exc:
        _release(session, email, status="scheduled", due_at=now + exc.retry_after, count_attempt=False,
                 reason=f"rate limited by the provider, retrying: {exc.reason}")
    except Transient as exc:
        if email.attempts >= limits.max_attempts:
            _fail(session, email, enrollment, f"gave up after {email.attempts} attempts: {exc.reason}", now)
        else:
            delay = min(BACKOFF_BASE * (2 ** max(0, email.attempts - 1)), BACKOFF_MAX)
            _release(session, email, status="scheduled", due_at=now + delay, count_attempt=True,
                     reason=f"retrying: {exc.reason}")
    except QuotaExceeded as exc:
        used, oldest = _used(session, mailbox.id, now - DAY, exclude=[email.id])
        _release(session, email, status="pending", due_at=(oldest or now) + DAY, count_attempt=False,
                 reason=f"the mailbox's daily sending quota is used up: {exc.reason}")
    except Rejected as exc:
        _fail(session, email, enrollment, exc.reason, now)
    except Uncertain as exc:
        _uncertain(session, email, enrollment, mailbox, exc.reason, now)
    except Exception as exc:  # noqa: BLE001 - a bug must not lose track of a claimed email
        log.exception("unexpected error sending email %s", email.id)
        _uncertain(session, email, enrollment, mailbox, f"unexpected error: {exc}", now)
    else:
        return _Sent(email_id=email.id, user_id=email.user_id, person_id=email.person_id, step_id=email.step_id,
                     enrollment_id=email.enrollment_id, subject=email.subject, message_id=email.message_id,
                     result=result, at=get_clock().now())
    return None


def _unclaim(factory: sessionmaker[Session], ids: list[int]) -> None:
    """A stopping worker gives back the claimed emails it has not started."""
    with factory() as session:
        session.execute(update(Email).where(Email.id.in_(ids), Email.status == "sending",
                                            Email.claimed_by == _worker_id())
                        .values(status="scheduled", claimed_by=None, claimed_at=None, attempts=Email.attempts - 1))
        session.commit()


def next_due_at(app: Flask) -> datetime | None:
    """The earliest due instant of anything waiting to be sent (one indexed lookup)."""
    with app.extensions["stepline_sessions"]() as session:
        return session.scalar(select(func.min(Email.due_at)).where(Email.status.in_(DUE_STATES)))


# ---------------------------------------------------------------------------- claiming


def claim(session: Session, now: datetime, limit: int, limits: Limits) -> tuple[list[int], int]:
    """Move up to ``limit`` due emails to ``sending`` for this worker, within the caps; commits.
    Returns the ids to send now and how many due rows were taken (sent now or held)."""
    due = (select(Email.id).where(Email.status.in_(DUE_STATES), Email.due_at <= now)
           .order_by(Email.due_at, Email.id).limit(limit))
    if session.bind.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(Email).where(Email.id.in_(due.scalar_subquery()), Email.status.in_(DUE_STATES))
        .values(status="sending", claimed_by=_worker_id(), claimed_at=now, attempts=Email.attempts + 1)
        .returning(Email.id, Email.mailbox_id, Email.due_at)
        .execution_options(synchronize_session=False)).all()
    claimed = sorted(rows, key=lambda r: (r.due_at, r.id))
    kept = _apply_caps(session, claimed, now, limits)
    session.commit()
    return kept, len(claimed)


def _apply_caps(session: Session, claimed: list[Any], now: datetime, limits: Limits) -> list[int]:
    by_mailbox: dict[int | None, list[int]] = defaultdict(list)
    for row in claimed:
        by_mailbox[row.mailbox_id].append(row.id)
    kept: list[int] = []
    for mailbox_id in sorted(by_mailbox, key=lambda m: (m is None, m or 0)):
        ids = by_mailbox[mailbox_id]
        if mailbox_id is None:
            kept += ids
            continue
        own_daily, own_minute = session.execute(select(Mailbox.daily_cap, Mailbox.minute_cap)
                                                .where(Mailbox.id == mailbox_id)).one()
        daily = own_daily if own_daily is not None else limits.daily_cap
        minute = own_minute if own_minute is not None else limits.minute_cap
        if daily <= 0 and minute <= 0:
            kept += ids
            continue
        # The mailbox row lock makes "count, then take the free slots" atomic across workers.
        session.execute(select(Mailbox.id).where(Mailbox.id == mailbox_id).with_for_update())
        free, release = len(ids), now
        for cap, window in ((daily, DAY), (minute, MINUTE)):
            if cap <= 0:
                continue
            used, oldest = _used(session, mailbox_id, now - window, exclude=ids)
            room = max(0, cap - used)
            if room < free:
                free = room
                release = max(release, (oldest or now) + window)
        kept += ids[:free]
        held = ids[free:]
        if held:
            session.execute(update(Email).where(Email.id.in_(held)).values(
                status="pending", due_at=release, claimed_by=None, claimed_at=None,
                attempts=Email.attempts - 1,
                failure_reason=f"held by the mailbox's sending cap until {release.isoformat()}")
                .execution_options(synchronize_session=False))
    return kept


def _used(session: Session, mailbox_id: int, since: datetime, exclude: list[int]) -> tuple[int, datetime | None]:
    """Sends counted against a cap since ``since`` (sent, in flight, or possibly sent) and the
    oldest of them, which is when the window frees its first slot.

    One statement, so one snapshot: counted in two queries, an email whose "sent" commits
    between them would be in neither (seen as not yet sent, then as no longer in flight),
    and a racing worker would take its slot."""
    counted_at = case((Email.status == "sent", Email.sent_at), else_=Email.claimed_at)
    count, oldest = session.execute(
        select(func.count(), func.min(counted_at)).where(
            Email.mailbox_id == mailbox_id,
            or_(and_(Email.status == "sent", Email.sent_at > since),
                and_(Email.status.in_(("sending", "unknown")), Email.claimed_at > since,
                     Email.id.not_in(exclude))))).one()
    return count, oldest


# ---------------------------------------------------------------------------- delivering


def presend_problem(session: Session, email: Email, person: Person, enrollment: Enrollment | None,
                    mailbox: Mailbox | None, limits: Limits) -> str | None:
    """Why this email must not go now (it is then failed with that reason), or None."""
    if person.unsubscribed:
        return "person unsubscribed"
    if enrollment is not None and enrollment.state not in ("active", "paused"):
        return "campaign has ended"
    if mailbox is None:
        return "no mailbox to send from"
    domain = email.to_addr.rsplit("@", 1)[-1].lower()
    if any(domain == d or domain.endswith("." + d) for d in limits.blocked_domains):
        return f"recipient domain {domain} is blocked"
    if email.step_id is not None:
        step = session.get(Step, email.step_id)
        if step is not None and step.type == "email":
            from server.services.people import merge_data

            subject, body = ((step.template.subject, step.template.body_html) if step.template is not None
                             else (step.subject or "", step.body_html or ""))
            user = session.get(User, email.user_id)
            sender = Sender.of(user, mailbox)
            try:
                # Renders only when the person lacks a field the templates name (cheap otherwise).
                field = missing_field((subject, body), merge_data(person), {"name": sender.name,
                                                                           "email": sender.address})
            except TemplateSyntaxProblem as exc:
                return f"template error: {exc.message}"
            if field:
                return f"missing merge data: {field}"
    return None


def _load(session: Session, ids: list[int]) -> dict[int, Any]:
    """The rows the pre-send checks need for some emails, read fresh in one query."""
    rows = session.execute(
        select(Email, Person, User, Enrollment, Mailbox)
        .join(Person, Person.id == Email.person_id).join(User, User.id == Email.user_id)
        .outerjoin(Enrollment, Enrollment.id == Email.enrollment_id)
        .outerjoin(Mailbox, Mailbox.id == Email.mailbox_id)
        .where(Email.id.in_(ids)).execution_options(populate_existing=True)).all()
    return {row[0].id: row for row in rows}


def _release(session: Session, email: Email, *, status: str, due_at: datetime, count_attempt: bool,
             reason: str | None = None) -> None:
    """Give the claim back (guarded: only if it is still ours)."""
    values: dict[str, Any] = {"status": status, "due_at": due_at, "claimed_by": None, "claimed_at": None}
    if reason is not None:
        values["failure_reason"] = reason
    if not count_attempt:
        values["attempts"] = Email.attempts - 1
    session.execute(update(Email).where(Email.id == email.id, Email.status == "sending",
                                        Email.claimed_by.in_(_mine())).values(**values))
    session.commit()


def _campaign_id(enrollment: Enrollment | None) -> int | None:
    return enrollment.campaign_id if enrollment is not None else None


def _fail(session: Session, email: Email, enrollment: Enrollment | None, reason: str, now: datetime,
          status: str = "failed") -> None:
    result = session.execute(update(Email).where(Email.id == email.id, Email.status == "sending",
                                                 Email.claimed_by.in_(_mine()))
                             .values(status=status, failure_reason=reason))
    if result.rowcount != 1:
        session.rollback()
        return
    events.record(session, "failed", at=now, user_id=email.user_id, person_id=email.person_id,
                  campaign_id=_campaign_id(enrollment), step_id=email.step_id, enrollment_id=email.enrollment_id,
                  email_id=email.id, data={"reason": reason, "status": status})
    session.commit()


def _uncertain(session: Session, email: Email, enrollment: Enrollment | None, mailbox: Mailbox, reason: str,
               now: datetime) -> None:
    """Maybe sent. An API provider can be asked later (the row stays ``sending`` and recovery
    reconciles it after the lease); SMTP cannot, so a human decides."""
    log.warning("email %s: outcome uncertain: %s", email.id, reason)
    if mailbox.provider in ("gmail", "graph"):
        session.rollback()
        return
    _fail(session, email, enrollment, UNKNOWN_REASON, now, status="unknown")


def mark_sent(session: Session, email: Email, enrollment: Enrollment | None, result: ProviderResult,
              now: datetime) -> bool:
    """Record acceptance, then let the engine make the next step current (same transaction)."""
    values: dict[str, Any] = {"status": "sent", "sent_at": now, "failure_reason": None}
    if result.provider_message_id:
        values["provider_message_id"] = result.provider_message_id
    if result.thread_id:
        values["provider_thread_id"] = result.thread_id
    done = session.execute(update(Email).where(Email.id == email.id, Email.status == "sending",
                                               Email.claimed_by.in_(_mine())).values(**values)
                           .execution_options(synchronize_session="fetch"))
    if done.rowcount != 1:
        log.warning("email %s was taken over while sending; leaving it to the new owner", email.id)
        session.rollback()
        return False
    events.record(session, "sent", at=now, user_id=email.user_id, person_id=email.person_id,
                  campaign_id=_campaign_id(enrollment), step_id=email.step_id, enrollment_id=email.enrollment_id,
                  email_id=email.id, data={"subject": email.subject, "message_id": email.message_id})
    if enrollment is not None and enrollment.current_step_id == email.step_id:
        finish_current_step(session, enrollment, done_at=now, now=now)
    session.commit()
    return True


def _record_sent(session: Session, group: list[_Sent]) -> None:
    """Record a chunk's accepted emails in one transaction (guarded like :func:`mark_sent`),
    let the engine advance their enrollments, commit, and empty ``group``.

    The enrollments are re-read in one query so that a reply or unsubscribe recorded while
    the chunk was being sent is seen by the engine."""
    if not group:
        return
    try:
        _record_sent_group(session, group)
    except Exception:  # noqa: BLE001 - the emails stay handed over: recovery marks them, never resends
        log.exception("recording %d sent emails failed; recovery will reconcile them", len(group))
        session.rollback()
    finally:
        group.clear()


def _by_email(group: list[_Sent], value: Callable[[_Sent], Any], column: Any, otherwise: Any = None) -> Any:
    """A CASE on the email id giving each email of the group its own value in one UPDATE."""
    whens = {s.email_id: literal(value(s), type_=column.type) for s in group if value(s) is not None}
    if not whens:
        return None
    return case(whens, value=Email.__table__.c.id, else_=otherwise if otherwise is not None else column)


def _record_sent_group(session: Session, group: list[_Sent]) -> None:
    table = Email.__table__
    values: dict[str, Any] = {"status": "sent", "failure_reason": None,
                              "sent_at": _by_email(group, lambda s: s.at, table.c.sent_at)}
    for name, pick in (("provider_message_id", lambda s: s.result.provider_message_id),
                       ("provider_thread_id", lambda s: s.result.thread_id)):
        changed = _by_email(group, pick, table.c[name])
        if changed is not None:
            values[name] = changed
    done = set(session.scalars(update(table).where(table.c.id.in_([s.email_id for s in group]),
                                                   table.c.status == "sending", table.c.claimed_by.in_(_mine()))
                               .values(**values).returning(table.c.id)))
    mine = [s for s in group if s.email_id in done]
    for s in group:
        if s.email_id not in done:
            log.warning("email %s was taken over while sending; leaving it to the new owner", s.email_id)
    for s in mine:
        # Core statement: an Email object still in the session must not keep saying "sending"
        # (the engine reads the previous email's status to thread the follow-up).
        held = session.identity_map.get(identity_key(Email, s.email_id))
        if held is not None:
            session.expire(held)
    enrollment_ids = [s.enrollment_id for s in mine if s.enrollment_id is not None]
    enrollments = {e.id: e for e in session.scalars(
        select(Enrollment).where(Enrollment.id.in_(enrollment_ids))
        .execution_options(populate_existing=True))} if enrollment_ids else {}
    events.record_many(session, [
        {"type": "sent", "at": s.at, "user_id": s.user_id, "person_id": s.person_id,
         "campaign_id": _campaign_id(enrollments.get(s.enrollment_id)), "step_id": s.step_id,
         "enrollment_id": s.enrollment_id, "email_id": s.email_id,
         "data": {"subject": s.subject, "message_id": s.message_id}} for s in mine])
    advance = [(enrollments[s.enrollment_id], s.at) for s in mine
               if s.enrollment_id in enrollments and enrollments[s.enrollment_id].current_step_id == s.step_id]
    if advance:
        finish_current_steps(session, advance, now=max(at for _e, at in advance))
    session.commit()


# ---------------------------------------------------------------------------- recovery


def recover(app: Flask, factory: sessionmaker[Session], limits: Limits, batch: int = 100) -> int:
    """Take over ``sending`` rows whose worker has been gone longer than the lease: a claim never
    handed to the provider goes back to the queue; a handed-over one is reconciled."""
    now = get_clock().now()
    cutoff = now - limits.lease
    with factory() as session:
        stale = (select(Email.id, Email.claimed_by).where(Email.status == "sending", Email.claimed_at < cutoff)
                 .order_by(Email.claimed_at).limit(batch))
        if session.bind.dialect.name == "postgresql":
            stale = stale.with_for_update(skip_locked=True)
        rows = session.execute(stale).all()
        never = [r.id for r in rows if not (r.claimed_by or "").endswith(HANDING_OVER)]
        handed = [r.id for r in rows if (r.claimed_by or "").endswith(HANDING_OVER)]
        guard = (Email.status == "sending", Email.claimed_at < cutoff)
        if never:
            session.execute(update(Email).where(Email.id.in_(never), *guard).values(
                status="scheduled", claimed_by=None, claimed_at=None, attempts=Email.attempts - 1)
                .execution_options(synchronize_session=False))
        ids: list[int] = []
        if handed:
            ids = list(session.scalars(update(Email).where(Email.id.in_(handed), *guard)
                                       .values(claimed_by=_worker_id() + HANDING_OVER, claimed_at=now)
                                       .returning(Email.id).execution_options(synchronize_session=False)))
        session.commit()
    for email_id in ids:
        reconcile(app, factory, email_id)
    return len(never) + len(ids)


def reconcile(app: Flask, factory: sessionmaker[Session], email_id: int) -> str:
    """Find out whether an interrupted send went out; returns the email's new status."""
    with factory() as session:
        email = session.get(Email, email_id)
        if email is None or email.status != "sending" or email.claimed_by != _worker_id() + HANDING_OVER:
            return email.status if email else "missing"
        now = get_clock().now()
        enrollment = session.get(Enrollment, email.enrollment_id) if email.enrollment_id else None
        mailbox = session.get(Mailbox, email.mailbox_id) if email.mailbox_id else None
        if mailbox is None or mailbox.provider not in ("gmail", "graph"):
            _fail(session, email, enrollment, UNKNOWN_REASON, now, status="unknown")
            return "unknown"
        try:
            found = provider_for(mailbox, app.config).find_by_message_id(mailbox, email.message_id)
        except ProviderError as exc:
            log.warning("email %s: cannot reconcile yet (%s); will try after the next lease", email.id, exc.reason)
            return "sending"
        if found is not None:
            mark_sent(session, email, enrollment, found, now)
            return "sent"
        # The provider has no message with our Message-ID: it was never accepted, so sending
        # it now is the first send, not a second one.
        _release(session, email, status="scheduled", due_at=now, count_attempt=True,
                 reason="not found at the provider after an interrupted send; sending it now")
        return "scheduled"
