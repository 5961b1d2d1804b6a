"""Everything the add-on needs from the Stepline core, in one place.

The routes talk to the core only through these functions, for two reasons: the pure parts
of the package (deployment CLI, MIME building) import without the database stack, and the
core's ``ApiError`` becomes one add-on exception, :class:`Refused`, whose message is shown
to the rep as is (the same wording the API gives). Imports of ``server`` are deferred to call
time so that ``create_app`` can import this package without an import cycle.
"""
from __future__ import annotations

from datetime import date, datetime
from functools import wraps
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Refused(Exception):
    """The core refused (unknown or foreign task, launch refused...): tell the rep why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RenderProblem(Exception):
    """A template could not be filled for this person (missing merge field, syntax)."""


def _translating(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from server.errors import ApiError

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            raise Refused(exc.message, exc.status) from exc

    return wrapper  # type: ignore[return-value]


def session() -> Any:
    from server.db import get_session

    return get_session()


def now() -> datetime:
    from server.clock import get_clock

    return get_clock().now()


def local_today(user: Any, when: datetime) -> date:
    """The rep's local date: what "today" and "overdue" mean in the task queue."""
    from server.services.tasks import today_for

    return today_for(user, when)


def find_user(db: Any, email: str) -> Any:
    from server.services import users

    return users.find_by_email(db, email)


@_translating
def list_tasks(db: Any, user: Any, *, due: str, when: datetime) -> list[dict[str, Any]]:
    from server.services import tasks

    return tasks.list_tasks(db, user, status="open", due=due, now=when)


@_translating
def get_open_task(db: Any, user: Any, task_id: int, *, when: datetime) -> dict[str, Any] | None:
    """The rep's own open task with this id, in the ``GET /tasks`` shape, or None."""
    from server.services import tasks

    rows = tasks.list_tasks(db, user, status="open", due="all", now=when, task_id=task_id)
    return rows[0] if rows else None


@_translating
def complete_task(db: Any, user: Any, task_id: int, *, when: datetime) -> dict[str, Any]:
    from server.services import tasks

    return tasks.complete_task(db, user, task_id, now=when)


@_translating
def skip_task(db: Any, user: Any, task_id: int, *, when: datetime) -> dict[str, Any]:
    from server.services import tasks

    return tasks.skip_task(db, user, task_id, now=when)


@_translating
def record_draft(db: Any, user: Any, task_id: int, *, draft_id: str, thread_id: str | None) -> None:
    from server.services import tasks

    tasks.record_draft(db, user, task_id, provider="gmail", draft_id=draft_id, thread_id=thread_id)


def existing_draft(db: Any, user: Any, task_id: int) -> tuple[str, str] | None:
    """``(draft_id, thread_id)`` of the task's Gmail draft when it is confirmed still a draft
    (through the rep's connected Gmail mailbox: the add-on's own scope cannot read drafts);
    None means make a new one."""
    from flask import current_app

    from server.services import gmail_drafts

    return gmail_drafts.existing_draft(db, user, task_id, current_app.config)


@_translating
def launch(db: Any, user: Any, campaign_id: int, person_id: int, *, when: datetime,
           send_now: bool) -> dict[str, Any]:
    """Launch one person from the rep's own mailbox: the one of the Gmail account in use
    when the rep has several (the service picks the only one, or refuses saying why)."""
    from sqlalchemy import func, select

    from server.models import Mailbox
    from server.services import launch as launch_service

    mailbox_id = db.execute(select(Mailbox.id).where(
        Mailbox.user_id == user.id, func.lower(Mailbox.address) == user.email.lower()
    ).order_by(Mailbox.id)).scalars().first()
    return launch_service.launch(db, user, campaign_id, people=[person_id], mailbox_id=mailbox_id, now=when,
                                 send_at="now" if send_now else None)


def find_person(db: Any, email: str) -> Any:
    from server.services import people

    return people.find_by_email(db, email)


def get_person(db: Any, person_id: int) -> Any:
    from server.models import Person

    return db.get(Person, person_id)


def person_dict(person: Any) -> dict[str, Any]:
    """The person as merge data (the same the campaigns use) and as cards show it."""
    from server.services.people import merge_data

    return {"id": person.id, **merge_data(person)}


def enrollments_of(db: Any, user: Any, person: Any) -> list[dict[str, Any]]:
    """The person's active or paused enrollments the user may see (their own; all for admins)."""
    from sqlalchemy import select

    from server.models import ACTIVE_STATES, Enrollment

    query = select(Enrollment).where(Enrollment.person_id == person.id, Enrollment.state.in_(ACTIVE_STATES))
    if getattr(user, "role", "rep") != "admin":
        query = query.where(Enrollment.user_id == user.id)
    rows = db.execute(query.order_by(Enrollment.id)).scalars().all()
    return [{"id": e.id, "campaign_id": e.campaign_id, "campaign": e.campaign.name, "state": e.state}
            for e in rows]


def campaign_choices(db: Any) -> list[tuple[int, str]]:
    from sqlalchemy import select

    from server.models import Campaign

    return [(c.id, c.name) for c in db.execute(select(Campaign).order_by(Campaign.name, Campaign.id)).scalars()]


def template_choices(db: Any) -> list[tuple[int, str]]:
    """Templates belong to the team (SPEC §1): every rep may insert any of them."""
    from sqlalchemy import select

    from server.models import Template

    return [(t.id, t.name) for t in db.execute(select(Template).order_by(Template.name, Template.id)).scalars()]


def get_template(db: Any, template_id: int) -> Any:
    from server.models import Template

    return db.get(Template, template_id)


def render(subject: str, body_html: str, person: dict[str, Any], user: Any) -> tuple[str, str]:
    from server.domain.templates import MissingMergeField, TemplateSyntaxProblem, render_template

    try:
        return render_template(subject, body_html, person,
                               sender={"name": user.name, "email": user.email})
    except MissingMergeField as exc:
        raise RenderProblem(f"the template needs '{exc.field}', which this person does not have") from exc
    except TemplateSyntaxProblem as exc:
        raise RenderProblem(f"the template has an error: {exc.message}") from exc
