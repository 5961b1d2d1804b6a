"""Mailboxes: a user's sending identities."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.errors import Invalid, NotFound
from server.models import Mailbox, User
from server.services.people import normalize_email

PROVIDERS = ("smtp", "gmail", "graph")


def create_mailbox(session: Session, user: User, data: dict[str, Any], *, now: datetime,
                   encrypt: Any = None) -> Mailbox:
    provider = data.get("provider")
    if provider not in PROVIDERS:
        raise Invalid(f"provider must be one of {', '.join(PROVIDERS)}", "provider")
    if provider != "smtp":
        raise Invalid("gmail and graph mailboxes are connected with OAuth (/oauth/google/start, "
                      "/oauth/microsoft/start)", "provider")
    if not data.get("smtp_host"):
        raise Invalid("smtp_host is required for an smtp mailbox", "smtp_host")
    port = data.get("smtp_port") or 587
    if not isinstance(port, int) or not 0 < port < 65536:
        raise Invalid("smtp_port must be a port number", "smtp_port")
    owner = user
    if data.get("user_id") not in (None, user.id):
        if not user.is_admin:
            raise NotFound(f"user {data['user_id']} not found", "user_id")
        owner = session.get(User, data["user_id"])
        if owner is None:
            raise NotFound(f"user {data['user_id']} not found", "user_id")
    password = data.get("smtp_password")
    mailbox = Mailbox(user_id=owner.id, provider="smtp", address=normalize_email(data.get("address"), "address"),
                      display_name=data.get("display_name") or "", smtp_host=data["smtp_host"], smtp_port=port,
                      smtp_starttls=bool(data.get("smtp_starttls")), smtp_ssl=bool(data.get("smtp_ssl")),
                      smtp_username=data.get("smtp_username"),
                      secret_enc=encrypt(password) if (password and encrypt) else None,
                      imap_host=data.get("imap_host"), imap_port=data.get("imap_port"),
                      daily_cap=data.get("daily_cap"), minute_cap=data.get("minute_cap"), created_at=now)
    session.add(mailbox)
    session.flush()
    return mailbox


def mailbox_dict(m: Mailbox) -> dict[str, Any]:
    return {"id": m.id, "provider": m.provider, "address": m.address, "user_id": m.user_id,
            "display_name": m.display_name, "smtp_host": m.smtp_host, "smtp_port": m.smtp_port,
            "smtp_starttls": m.smtp_starttls, "daily_cap": m.daily_cap, "minute_cap": m.minute_cap}
