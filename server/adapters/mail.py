"""Building the MIME message with the standard library's email package."""
from __future__ import annotations

import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
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


def build_message(email: Email, mailbox: Mailbox, user: User, config) -> EmailMessage:
    message = EmailMessage()
    name = mailbox.display_name or user.name or ""
    local, _, domain = mailbox.address.partition("@")
    message["From"] = Address(display_name=name, username=local, domain=domain)
    to_local, _, to_domain = email.to_addr.partition("@")
    message["To"] = Address(username=to_local, domain=to_domain)
    message["Subject"] = " ".join(email.subject.split())
    message["Message-ID"] = email.message_id
    if email.sent_at:
        message["Date"] = format_datetime(email.sent_at)
    if email.in_reply_to:
        message["In-Reply-To"] = email.in_reply_to
        message["References"] = email.references or email.in_reply_to
    unsubscribe = unsubscribe_url(config, email)
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(html_to_text(email.body_html))
    message.add_alternative(email.body_html, subtype="html")
    return message


def unsubscribe_url(config, email: Email) -> str | None:
    from itsdangerous import URLSafeSerializer

    base = config.get("PUBLIC_BASE_URL", "").rstrip("/")
    if not base:
        return None
    token = URLSafeSerializer(config["SECRET_KEY"], salt="unsubscribe").dumps(
        {"p": email.person_id, "e": email.id})
    return f"{base}/u/{token}"
