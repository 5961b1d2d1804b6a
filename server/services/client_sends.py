"""Email tasks the rep sent from their own mail client: found in the mailbox, they complete.

SPEC §6: a task opened as a Gmail draft (the add-on) or written in Outlook (the add-in) is
sent by the rep's client, not by Stepline, so the server learns of it from the mailbox:

* Gmail: the draft's thread (``users.threads.get``, metadata only) gains a message labelled
  ``SENT`` to the task's recipient, newer than the task.
* Graph: Sent Items since the last check, matched to an open task by recipient and subject
  (a follow-up's ``Re:`` prefix, or its absence, does not matter).
* SMTP mailboxes have no sent items we can read; the add-in's Mark as sent covers them.

Each match is recorded as if Stepline had sent the email (an ``Email`` row carrying the real
Message-ID and thread, so the next follow-up threads under it and replies are matched), the
task completes and the enrollment moves on from the send time. Messages Stepline sent itself
are recognised by their Message-ID and never count.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses
from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.models import Email, Enrollment, Mailbox, Task
from server.services import events
from server.services.engine import finish_current_step, reply_subject
from server.services.tasks import complete_sent_elsewhere, email_for_task

log = logging.getLogger("stepline.client_sends")
HEADERS = ["To", "Subject", "Message-ID", "In-Reply-To"]
# Graph's Sent Items can show a message a little after its sentDateTime; look back this far
# before the previous successful poll so such a late arrival is still seen.
GRAPH_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True)
class SentMessage:
    """One message found in the mailbox's sent mail, as much as matching and recording need."""

    to: tuple[str, ...]  # lower-cased addresses
    subject: str
    message_id: str | None
    sent_at: datetime
    provider_message_id: str | None
    thread_id: str | None


def _addresses(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(addr.strip().lower() for _, addr in getaddresses(list(values)) if addr)


def _same_subject(a: str | None, b: str | None) -> bool:
    """Equal once ``Re:``/``Fwd:`` prefixes, spacing and case are set aside."""
    def norm(s: str | None) -> str:
        return " ".join(reply_subject(s or "").split()).casefold()
    return norm(a) == norm(b)


def _recipient(task: Task) -> str:
    return (task.email_to or task.person.email).strip().lower()


def open_email_tasks(session: Session, user_id: int) -> list[Task]:
    """The user's open campaign email tasks that can still be worked (an enrollment paused or
    ended holds its task back, as the task queue does)."""
    return list(session.scalars(
        select(Task).join(Enrollment, Enrollment.id == Task.enrollment_id)
        .where(Task.user_id == user_id, Task.type == "email", Task.status == "open", Enrollment.state == "active")
        .order_by(Task.id)))


def record_client_send(session: Session, task: Task, mailbox: Mailbox, sent: SentMessage, *, now: datetime) -> bool:
    """Record one task's email as sent by the rep's client; False when it already was."""
    if session.scalar(select(Email.id).where(Email.enrollment_id == task.enrollment_id,
                                             Email.step_id == task.step_id)) is not None:
        return False
    try:
        with session.begin_nested():  # the (enrollment, step) unique key settles a race with Mark as sent
            overrides: dict[str, Any] = {"sent_at": sent.sent_at, "provider_message_id": sent.provider_message_id,
                                         "provider_thread_id": sent.thread_id or task.provider_thread_id}
            if sent.message_id:
                overrides["message_id"] = sent.message_id
            email = email_for_task(session, task, mailbox, subject=sent.subject or task.email_subject or "",
                                   body_html=task.email_body_html or "", due_at=sent.sent_at, now=now,
                                   status="sent", **overrides)
    except IntegrityError:
        return False
    complete_sent_elsewhere(session, task, now=now)
    enrollment = session.get(Enrollment, task.enrollment_id)
    events.record(session, "sent", at=sent.sent_at, user_id=email.user_id, person_id=email.person_id,
                  campaign_id=task.campaign_id, step_id=email.step_id, enrollment_id=email.enrollment_id,
                  email_id=email.id, data={"subject": email.subject, "message_id": email.message_id,
                                           "via": "client"})
    if enrollment is not None and enrollment.current_step_id == task.step_id:
        finish_current_step(session, enrollment, done_at=sent.sent_at, now=now)
    return True


def _known(session: Session, message_ids: Iterable[str | None]) -> set[str]:
    ids = [m for m in message_ids if m]
    if not ids:
        return set()
    return set(session.scalars(select(Email.message_id).where(Email.message_id.in_(ids))))


# ---------------------------------------------------------------------------- Gmail


def _gmail_sent(thread: Mapping[str, Any]) -> list[SentMessage]:
    found = []
    for msg in thread.get("messages", []):
        if "SENT" not in msg.get("labelIds", []):
            continue
        headers = {h["name"].lower(): h["value"] for h in msg.get("payload", {}).get("headers", [])}
        found.append(SentMessage(
            to=_addresses([headers.get("to", "")]), subject=headers.get("subject", ""),
            message_id=headers.get("message-id"),
            sent_at=datetime.fromtimestamp(int(msg["internalDate"]) / 1000, tz=timezone.utc),
            provider_message_id=msg.get("id"), thread_id=msg.get("threadId") or thread.get("id")))
    return found


def detect_gmail(session: Session, mailbox: Mailbox, tasks: list[Task], config: Mapping[str, Any], *,
                 now: datetime) -> int:
    from googleapiclient.errors import HttpError

    from server.adapters.providers.gmail import gmail_service

    drafted = [t for t in tasks if t.draft_provider == "gmail" and t.draft_thread_id]
    if not drafted:
        return 0
    service = gmail_service(mailbox, config)
    recorded = 0
    for task in drafted:
        try:
            thread = service.users().threads().get(userId="me", id=task.draft_thread_id, format="metadata",
                                                   metadataHeaders=HEADERS).execute(num_retries=0)
        except HttpError as exc:
            if exc.resp is not None and exc.resp.status == 404:
                continue  # deleted, or a draft made in another of the rep's Gmail accounts
            raise
        sent = [m for m in _gmail_sent(thread) if _recipient(task) in m.to and m.sent_at >= task.created_at]
        known = _known(session, (m.message_id for m in sent))
        match = next((m for m in sorted(sent, key=lambda m: m.sent_at) if m.message_id not in known), None)
        if match is not None and record_client_send(session, task, mailbox, match, now=now):
            recorded += 1
    return recorded


# ---------------------------------------------------------------------------- Microsoft Graph


def _graph_sent_items(mailbox: Mailbox, config: Mapping[str, Any], since: datetime) -> list[SentMessage]:
    import requests

    from server.adapters.providers.graph import GRAPH, TIMEOUT, access_token, classify

    headers = {"Authorization": f"Bearer {access_token(mailbox, config)}"}
    url: str | None = f"{GRAPH}/me/mailFolders/sentitems/messages"
    params: dict[str, str] | None = {
        "$filter": f"sentDateTime ge {since.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "$select": "internetMessageId,toRecipients,subject,sentDateTime,conversationId", "$top": "50"}
    found = []
    while url:
        response = requests.get(url, headers=headers, params=params, timeout=TIMEOUT)
        if response.status_code != 200:
            raise classify(response)
        body = response.json()
        for item in body.get("value", []):
            found.append(SentMessage(
                to=tuple(r.get("emailAddress", {}).get("address", "").strip().lower()
                         for r in item.get("toRecipients") or []),
                subject=item.get("subject") or "", message_id=item.get("internetMessageId"),
                sent_at=datetime.fromisoformat(item["sentDateTime"].replace("Z", "+00:00")),
                provider_message_id=item.get("id"), thread_id=item.get("conversationId")))
        url, params = body.get("@odata.nextLink"), None
    return found


def detect_graph(session: Session, mailbox: Mailbox, tasks: list[Task], config: Mapping[str, Any], *,
                 now: datetime) -> int:
    if not tasks:
        return 0
    since = min(t.created_at for t in tasks)
    if mailbox.inbound_polled_at is not None:
        since = max(since, mailbox.inbound_polled_at - GRAPH_OVERLAP)
    sent = _graph_sent_items(mailbox, config, since)
    known = _known(session, (m.message_id for m in sent))
    recorded = 0
    for message in sorted((m for m in sent if m.message_id not in known), key=lambda m: m.sent_at):
        task = next((t for t in tasks if t.status == "open" and _recipient(t) in message.to
                     and message.sent_at >= t.created_at and _same_subject(message.subject, t.email_subject)), None)
        if task is not None and record_client_send(session, task, mailbox, message, now=now):
            recorded += 1
    return recorded


def detect_client_sends(session: Session, mailbox: Mailbox, now: datetime,
                        config: Mapping[str, Any] | None = None) -> int:
    """Find the mailbox user's email tasks sent from their mail client, record and complete
    them; returns how many. Commits, like the inbound pollers, so a later failure keeps them."""
    if mailbox.provider not in ("gmail", "graph"):
        return 0
    tasks = open_email_tasks(session, mailbox.user_id)
    if not tasks:
        return 0  # no provider call at all for a rep without open email tasks
    if config is None:
        from flask import current_app
        config = current_app.config
    detect = detect_gmail if mailbox.provider == "gmail" else detect_graph
    recorded = detect(session, mailbox, tasks, config, now=now)
    session.commit()
    if recorded:
        log.info("mailbox %s: %d email task(s) sent from the mail client", mailbox.id, recorded)
    return recorded


__all__ = ["SentMessage", "detect_client_sends", "detect_gmail", "detect_graph", "record_client_send"]
