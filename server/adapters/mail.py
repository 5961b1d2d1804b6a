"""Building the MIME message with the standard library's email package."""
from __future__ import annotations

import html
import importlib
import re
from email.headerregistry import Address
from email.message import EmailMessage
from datetime import datetime, timezone
from email.utils import format_datetime

import nh3

from server.models import Email, Mailbox, User

_TAGS = re.compile(r"<[^>]+>")


def html_to_text(body_html: str) -> str:
    """A plain-text alternative: block tags become line breaks, the rest is stripped."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</blockquote>", "\n", body_html)
    text = nh3.clean(text, tags=set())
    text = _TAGS.sub("", text)
    lines = [line.strip() for line in html.unescape(text).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _one_line(value: str | None) -> str:
    """Header values come from data people typed: no CR/LF (header injection) survives."""
    return " ".join((value or "").split())


def _rewrite_for_tracking(body_html: str, email: Email, config) -> str:
    """The open/click tracking hook (server.services.tracking, issue 7), identity without it."""
    try:
        tracking = importlib.import_module("server.services.tracking")
    except ModuleNotFoundError as exc:
        if exc.name != "server.services.tracking":
            raise
        return body_html
    rewrite = getattr(tracking, "rewrite_html", None)
    return rewrite(body_html, email, config) if rewrite else body_html


def build_message(email: Email, mailbox: Mailbox, user: User, config, *, date: datetime | None = None) -> EmailMessage:
    """The MIME message exactly as it leaves: HTML with a plain-text alternative, the stored
    Message-ID (so a reconciliation can find it later), the thread headers of a follow-up and
    one-click unsubscribe (RFC 8058)."""
    message = EmailMessage()
    name = _one_line(mailbox.display_name or user.name or "")
    local, _, domain = mailbox.address.partition("@")
    message["From"] = Address(display_name=name, username=local, domain=domain)
    to_local, _, to_domain = _one_line(email.to_addr).partition("@")
    message["To"] = Address(username=to_local, domain=to_domain)
    message["Subject"] = _one_line(email.subject)
    message["Date"] = format_datetime(date or email.sent_at or datetime.now(timezone.utc))
    message["Message-ID"] = _one_line(email.message_id)
    if email.in_reply_to:
        message["In-Reply-To"] = _one_line(email.in_reply_to)
        message["References"] = _one_line(email.references or email.in_reply_to)
    unsubscribe = unsubscribe_url(config, email)
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body_html = _rewrite_for_tracking(email.body_html, email, config)
    message.set_content(html_to_text(email.body_html))
    message.add_alternative(body_html, subtype="html")
    return message


def unsubscribe_url(config, email: Email) -> str | None:
    from itsdangerous import URLSafeSerializer

    base = config.get("PUBLIC_BASE_URL", "").rstrip("/")
    if not base:
        return None
    token = URLSafeSerializer(config["SECRET_KEY"], salt="unsubscribe").dumps(
        {"p": email.person_id, "e": email.id})
    return f"{base}/u/{token}"
