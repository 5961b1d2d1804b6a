"""Inbound mail: replies, auto-replies and bounces to our emails end (or not) their enrollments.

Split in two on purpose:

* :func:`classify` is pure: given one parsed message it says whether it is a bounce (a DSN,
  RFC 3464), an auto-reply (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``, ``Precedence:
  auto_reply/bulk/junk``) or a human reply, and which of our Message-IDs it answers (the
  DSN's returned headers, else In-Reply-To then References, newest first).
* :func:`apply` looks the Message-ID up, records the event and applies the campaign's
  ``on_reply`` / ``ignore_auto_replies`` / ``remove_on_bounce`` settings.

The pollers fetch new messages per mailbox: IMAP (SMTP mailboxes with an ``imap_host``),
Gmail history, Graph inbox; each keeps its position in ``Mailbox.inbound_cursor``.
"""
from __future__ import annotations

import base64
import email
import email.policy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.clock import get_clock
from server.models import Email, Enrollment, Mailbox
from server.services import events
from server.services.enrollments import end

log = logging.getLogger("stepline.inbound")
_MSGID = re.compile(r"<[^<>\s]+>")
AUTO_PRECEDENCE = {"auto_reply", "bulk", "junk"}


@dataclass(frozen=True)
class Inbound:
    """What one incoming message is, for the campaign rules."""

    kind: str  # reply | auto_reply | bounce
    answers: tuple[str, ...] = ()  # our candidate Message-IDs, best first
    hard_bounce: bool = False
    bounce_status: str | None = None
    message_id: str | None = None
    sender: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse(raw: bytes | str) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(str(value or ""))


def is_auto_reply(message: Message) -> bool:
    """RFC 3834 and the de-facto headers of autoresponders (Exchange, Gmail vacation, ...)."""
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Autoresponder"):
        return True
    return str(message.get("Precedence", "")).strip().lower() in AUTO_PRECEDENCE


def _dsn_parts(message: Message) -> tuple[Message | None, Message | None]:
    """(the delivery-status part, the returned original's headers) of a DSN."""
    status = returned = None
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status") and status is None:
            status = part
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers",
                       "message/global-headers") and returned is None:
            returned = part
    return status, returned


def _status_fields(part: Message) -> list[Message]:
    """The per-message and per-recipient field groups of a delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else part.get_payload(decode=True).decode("utf-8", "replace")
    return [email.message_from_string(block.strip() + "\n") for block in re.split(r"\r?\n\s*\r?\n", text)
            if block.strip()]


def _returned_message_id(part: Message | None) -> list[str]:
    if part is None:
        return []
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return message_ids(payload[0].get("Message-ID"))
    text = payload if isinstance(payload, str) else (part.get_payload(decode=True) or b"").decode("utf-8",
                                                                                                  "replace")
    headers = email.message_from_string(text.split("\n\n", 1)[0] + "\n")
    return message_ids(headers.get("Message-ID"))


def classify(message: Message) -> Inbound:
    """Bounce, auto-reply or reply, and which of our Message-IDs it answers (pure)."""
    own_id = (message_ids(message.get("Message-ID")) or [None])[0]
    sender = str(message.get("From", ""))
    report = message.get_content_type() == "multipart/report" and \
        str(message.get_param("report-type", "")).lower() in ("delivery-status", "global-delivery-status")
    status_part, returned = _dsn_parts(message)
    if report or (status_part is not None and re.search(r"mailer-daemon|postmaster", sender, re.I)):
        hard, code = False, None
        if status_part is not None:
            for group in _status_fields(status_part):
                action = str(group.get("Action", "")).strip().lower()
                status = str(group.get("Status", "")).strip()
                if action == "failed" or status.startswith("5."):
                    hard, code = hard or status.startswith("5.") or action == "failed", status or code
                elif status and code is None:
                    code = status
        answers = _returned_message_id(returned)
        answers += [m for m in reversed(message_ids(message.get("References"))) if m not in answers]
        return Inbound("bounce", tuple(answers), hard_bounce=hard, bounce_status=code, message_id=own_id,
                       sender=sender)
    answers = message_ids(message.get("In-Reply-To"))
    answers += [m for m in reversed(message_ids(message.get("References"))) if m not in answers]
    kind = "auto_reply" if is_auto_reply(message) else "reply"
    return Inbound(kind, tuple(answers), message_id=own_id, sender=sender)


def apply(session: Session, inbound: Inbound, *, now: datetime) -> str | None:
    """Find the email it answers and apply the campaign's rules; returns the event recorded."""
    if not inbound.answers:
        return None
    found = {e.message_id: e for e in session.scalars(select(Email).where(Email.message_id.in_(inbound.answers)))}
    ours = next((found[m] for m in inbound.answers if m in found), None)
    if ours is None:
        return None
    enrollment = session.get(Enrollment, ours.enrollment_id) if ours.enrollment_id else None
    campaign = enrollment.campaign if enrollment is not None else None
    data = {"message_id": inbound.message_id, "from": inbound.sender, "in_reply_to": ours.message_id}
    common = dict(at=now, user_id=ours.user_id, person_id=ours.person_id,
                  campaign_id=enrollment.campaign_id if enrollment else None, step_id=ours.step_id,
                  enrollment_id=ours.enrollment_id, email_id=ours.id)
    if inbound.kind == "bounce":
        events.record(session, "bounced", data=data | {"status": inbound.bounce_status, "hard": inbound.hard_bounce},
                      **common)
        if enrollment is not None and campaign.remove_on_bounce and inbound.hard_bounce:
            end(session, enrollment, "bounced", now=now, reason="the email bounced")
        return "bounced"
    if inbound.kind == "auto_reply":
        events.record(session, "auto_replied", data=data, **common)
        if campaign is None or campaign.ignore_auto_replies:
            return "auto_replied"
    else:
        events.record(session, "replied", data=data, **common)
    if enrollment is not None and campaign.on_reply in ("end", "end_success"):
        end(session, enrollment, "replied", now=now, reason="the person replied",
            success=campaign.on_reply == "end_success")
    return "replied" if inbound.kind == "reply" else "auto_replied"


def handle_raw(session: Session, raw: bytes | str, *, now: datetime) -> str | None:
    return apply(session, classify(parse(raw)), now=now)


# ---------------------------------------------------------------------------- pollers


def poll_imap(session: Session, mailbox: Mailbox, config: Any, *, now: datetime) -> int:
    """New messages in the INBOX since the last seen UID (the first poll starts at the mailbox's
    creation date), classified and applied."""
    import imaplib

    from server.crypto import decrypt

    port = mailbox.imap_port or 993
    conn = imaplib.IMAP4_SSL(mailbox.imap_host, port, timeout=30) if port == 993 else \
        imaplib.IMAP4(mailbox.imap_host, port, timeout=30)
    handled = 0
    try:
        if port != 993 and "STARTTLS" in conn.capabilities:
            conn.starttls()  # never send the password in clear when the server offers TLS
        if mailbox.secret_enc:
            conn.login(mailbox.smtp_username or mailbox.address, decrypt(mailbox.secret_enc, dict(config)))
        conn.select("INBOX", readonly=True)
        last = int(mailbox.inbound_cursor or 0)
        if last:
            _, data = conn.uid("SEARCH", None, f"UID {last + 1}:*")
        else:
            _, data = conn.uid("SEARCH", None, "SINCE", mailbox.created_at.strftime("%d-%b-%Y"))
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last)
        for uid in uids:
            _, fetched = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((part[1] for part in fetched if isinstance(part, tuple)), None)
            if raw is not None and handle_raw(session, raw, now=now):
                handled += 1
            mailbox.inbound_cursor = str(uid)
        session.commit()
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return handled


def poll_gmail(session: Session, mailbox: Mailbox, config: Any, *, now: datetime) -> int:
    """Gmail history since the stored historyId: every added message not sent by us."""
    from server.adapters.providers.gmail import gmail_service

    service = gmail_service(mailbox, config)
    if not mailbox.inbound_cursor:
        mailbox.inbound_cursor = str(service.users().getProfile(userId="me").execute()["historyId"])
        session.commit()
        return 0
    handled, page_token, latest = 0, None, mailbox.inbound_cursor
    while True:
        answer = service.users().history().list(userId="me", startHistoryId=mailbox.inbound_cursor,
                                                historyTypes="messageAdded", pageToken=page_token).execute()
        for record in answer.get("history", []):
            for added in record.get("messagesAdded", []):
                msg = added.get("message", {})
                if "SENT" in msg.get("labelIds", []):
                    continue
                full = service.users().messages().get(userId="me", id=msg["id"], format="raw").execute()
                if handle_raw(session, base64.urlsafe_b64decode(full["raw"]), now=now):
                    handled += 1
        latest = str(answer.get("historyId") or latest)
        page_token = answer.get("nextPageToken")
        if not page_token:
            break
    mailbox.inbound_cursor = latest
    session.commit()
    return handled


def poll_graph(session: Session, mailbox: Mailbox, config: Any, *, now: datetime) -> int:
    """The inbox's messages received since the last poll, read as MIME ($value)."""
    import requests

    from server.adapters.providers.graph import GRAPH, TIMEOUT, access_token

    token = access_token(mailbox, config)
    headers = {"Authorization": f"Bearer {token}"}
    since = mailbox.inbound_cursor or mailbox.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    url: str | None = f"{GRAPH}/me/mailFolders/inbox/messages"
    params: dict[str, str] | None = {"$filter": f"receivedDateTime gt {since}", "$orderby": "receivedDateTime",
                                     "$select": "id,receivedDateTime", "$top": "50"}
    handled, latest = 0, since
    while url:
        response = requests.get(url, headers=headers, params=params, timeout=TIMEOUT)
        response.raise_for_status()
        body = response.json()
        for item in body.get("value", []):
            raw = requests.get(f"{GRAPH}/me/messages/{item['id']}/$value", headers=headers, timeout=TIMEOUT)
            raw.raise_for_status()
            if handle_raw(session, raw.content, now=now):
                handled += 1
            latest = item["receivedDateTime"]
        url, params = body.get("@odata.nextLink"), None
    mailbox.inbound_cursor = latest
    session.commit()
    return handled


def poll_all(app: Flask) -> int:
    """One polling round over every mailbox that can receive; a failing mailbox is logged and
    skipped so it never stops the others (or sending)."""
    handled = 0
    with app.app_context():
        factory = app.extensions["stepline_sessions"]
        with factory() as session:
            ids = list(session.scalars(select(Mailbox.id).where(
                (Mailbox.provider.in_(("gmail", "graph"))) | (Mailbox.imap_host.is_not(None)))))
        for mailbox_id in ids:
            with factory() as session:
                mailbox = session.get(Mailbox, mailbox_id)
                poller = {"gmail": poll_gmail, "graph": poll_graph}.get(mailbox.provider, poll_imap)
                try:
                    handled += poller(session, mailbox, app.config, now=get_clock().now())
                    # Email tasks the rep sent from Gmail/Outlook complete from the same poll (SPEC §6).
                    from server.services.client_sends import detect_client_sends
                    detect_client_sends(session, mailbox, get_clock().now(), app.config)
                    mailbox.inbound_polled_at = get_clock().now()
                    session.commit()
                except Exception:  # noqa: BLE001 - one mailbox's outage must not stop the rest
                    session.rollback()
                    log.exception("polling mailbox %s failed", mailbox_id)
    return handled


__all__ = ["Inbound", "apply", "classify", "handle_raw", "is_auto_reply", "message_ids", "parse", "poll_all",
           "poll_gmail", "poll_graph", "poll_imap"]
