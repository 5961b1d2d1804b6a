"""The add-in's only door into Stepline's core: users, identities and the task service.

Everything the Outlook endpoints need from the rest of the server goes through these four
functions, so the add-in's HTTP layer stays thin and its browser tests can swap them for an
in-memory double. The task service is imported on first use: the rest of this package (token
checks, manifests) has no need for it.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .auth import MsIdentity

PROVIDER = "microsoft"


def _session():
    from server.db import get_session

    return get_session()


def _now():
    from server.clock import get_clock

    return get_clock().now()


def _task_service():
    from server.services import tasks

    return tasks


def find_user(identity: MsIdentity) -> Any | None:
    """The Stepline user behind a verified Microsoft identity, or None.

    An identity is remembered by (tenant, object id), which never change, so a later rename of
    the Microsoft account or of the Stepline email keeps working. The first time, the token's
    sign-in name must equal a Stepline user's email (case-insensitive); that link is then
    stored. Tokens come only from tenants the server trusts (MS_ALLOWED_TENANTS).
    """
    from server.models import ExternalIdentity, User

    session = _session()
    link_query = select(ExternalIdentity).where(
        ExternalIdentity.provider == PROVIDER,
        ExternalIdentity.tenant == identity.tid,
        ExternalIdentity.subject == identity.oid,
    )
    link = session.scalars(link_query).first()
    if link is not None:
        return session.get(User, link.user_id)
    if not identity.email:
        return None
    user = session.scalars(select(User).where(func.lower(User.email) == identity.email.lower())).first()
    if user is None:
        return None
    session.add(ExternalIdentity(provider=PROVIDER, tenant=identity.tid, subject=identity.oid, user_id=user.id))
    try:
        session.commit()
    except IntegrityError:  # a concurrent first request stored the same link
        session.rollback()
        link = session.scalars(link_query).first()
        return session.get(User, link.user_id) if link else None
    return user


def _sort_key(task: dict) -> tuple:
    """Email tasks first (they are what Outlook is for), then oldest due, then high priority."""
    return (task.get("type") != "email", str(task.get("due_date") or ""), task.get("priority") != "high")


def due_tasks(user: Any) -> list[dict]:
    """The user's open tasks that are overdue or due today, each tagged with ``due_state``."""
    service = _task_service()
    session, now = _session(), _now()
    tasks: list[dict] = []
    for due in ("overdue", "today"):
        for task in service.list_tasks(session, user, status="open", due=due, now=now):
            tasks.append({**task, "due_state": due})
    tasks.sort(key=_sort_key)
    return tasks


def complete_task(user: Any, task_id: int) -> dict:
    session = _session()
    task = _task_service().complete_task(session, user, task_id, now=_now())
    session.commit()
    return task


def skip_task(user: Any, task_id: int) -> dict:
    session = _session()
    task = _task_service().skip_task(session, user, task_id, now=_now())
    session.commit()
    return task
