"""Is the Gmail draft already made from an email task still a draft? (the add-on's Open)

A rep who clicks Open twice on the same task expects the draft made the first time back, not
a second copy; only when that draft is gone (discarded, or sent: a sent draft stops being a
draft) should Open make a new one.

Why the check runs here, with the rep's connected mailbox, and not in the add-on with the
event's tokens: ``users.drafts.get`` accepts only ``mail.google.com``, ``gmail.modify``,
``gmail.compose`` or ``gmail.readonly`` (Gmail API reference, and the discovery document the
client library ships). The add-on's ``gmail.addons.current.action.compose`` scope covers
drafts.create/update/send/delete but not get, and the add-on keeps its small, non-restricted
set of scopes. A Gmail mailbox connected through OAuth (``server/oauth.py``) holds a refresh
token with ``gmail.readonly``, which is enough. Without such a mailbox, or when Gmail cannot
answer, nothing is known and the caller makes a new draft, as before.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import httplib2
from cryptography.fernet import InvalidToken
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.adapters.providers import ProviderError
from server.models import Mailbox, Task, User

log = logging.getLogger("stepline.gmail_drafts")

# Whatever stops the check (no answer, revoked or unreadable authorization): treat as unknown.
_CANNOT_CHECK = (RefreshError, TransportError, OSError, httplib2.HttpLib2Error, ProviderError, InvalidToken,
                 ValueError)  # ValueError: an answer that is not JSON


def checking_mailbox(session: Session, user: User) -> Mailbox | None:
    """The rep's OAuth-connected Gmail mailbox of the Google account the add-on runs in (the
    rep's Stepline email): the only mailbox where the add-on's draft ids mean anything."""
    return session.scalars(select(Mailbox).where(
        Mailbox.user_id == user.id, Mailbox.provider == "gmail", Mailbox.secret_enc.is_not(None),
        func.lower(Mailbox.address) == user.email.lower()).order_by(Mailbox.id)).first()


def existing_draft(session: Session, user: User, task_id: int,
                   config: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(draft_id, thread_id)`` of the Gmail draft recorded on the rep's task when Gmail
    confirms it is still a draft; None when there is none, it is gone, or it cannot be checked."""
    task = session.get(Task, task_id)
    if task is None or task.user_id != user.id or task.draft_provider != "gmail" or not task.draft_id:
        return None
    if not (config.get("GOOGLE_CLIENT_ID") and config.get("GOOGLE_CLIENT_SECRET")):
        return None
    mailbox = checking_mailbox(session, user)
    if mailbox is None:
        return None
    from server.adapters.providers.gmail import gmail_service

    try:
        draft = gmail_service(mailbox, config).users().drafts().get(
            userId="me", id=task.draft_id, format="minimal").execute(num_retries=0)
    except HttpError as exc:
        if exc.resp is not None and exc.resp.status == 404:
            log.info("task %s: Gmail draft %s is gone (discarded or sent)", task.id, task.draft_id)
        else:
            log.warning("task %s: Gmail draft %s not checked: %s", task.id, task.draft_id, exc)
        return None
    except _CANNOT_CHECK as exc:
        log.warning("task %s: Gmail draft %s not checked: %s", task.id, task.draft_id, exc)
        return None
    message = draft.get("message") if isinstance(draft, dict) else None
    if not isinstance(message, dict) or draft.get("id") != task.draft_id:
        return None
    labels = message.get("labelIds")
    if isinstance(labels, list) and "DRAFT" not in labels:
        return None
    thread_id = message.get("threadId") or task.draft_thread_id
    return (task.draft_id, thread_id) if isinstance(thread_id, str) and thread_id else None


__all__ = ["checking_mailbox", "existing_draft"]
