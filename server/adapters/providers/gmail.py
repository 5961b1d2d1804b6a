"""The Gmail API (google-api-python-client): ``users.messages.send`` with the raw MIME and the
thread, ``users.messages.list`` with ``rfc822msgid:`` to reconcile an interrupted send.

Why raw MIME rather than Gmail's JSON fields: the message keeps the Message-ID we generated
and stored before sending, which is what lets a reconciliation find it and what a later
follow-up's In-Reply-To/References point at. ``threadId`` keeps Gmail's own conversation.

Credentials come from the mailbox's stored refresh token (encrypted at rest) and the app's
GOOGLE_CLIENT_ID/SECRET; google-auth refreshes the access token over the same transport,
which tests replace with ``HttpMockSequence`` through :data:`HTTP_FACTORY`.
"""
from __future__ import annotations

import base64
import json
import socket
from datetime import timedelta
from email.message import Message
from typing import Any, Callable, Mapping

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from server.adapters.mail import message_bytes
from server.adapters.providers import (
    ProviderError,
    ProviderResult,
    QuotaExceeded,
    RateLimited,
    Rejected,
    Transient,
    Uncertain,
)
from server.crypto import decrypt
from server.models import Mailbox

TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPES = ["https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/gmail.readonly"]
TIMEOUT = 30
# The HTTP transport; tests swap in googleapiclient.http.HttpMockSequence.
HTTP_FACTORY: Callable[[], Any] = lambda: httplib2.Http(timeout=TIMEOUT)  # noqa: E731


_credentials: dict[tuple[int, str], Credentials] = {}


def credentials_for(mailbox: Mailbox, config: Mapping[str, Any]) -> Credentials:
    """Kept per process and mailbox, so the access token is refreshed once an hour, not per email."""
    if not mailbox.secret_enc:
        raise Rejected(f"the Gmail mailbox {mailbox.address} has no stored authorization; reconnect it")
    key = (mailbox.id, mailbox.secret_enc)
    if key not in _credentials:
        _credentials[key] = Credentials(
            token=None, refresh_token=decrypt(mailbox.secret_enc, dict(config)), token_uri=TOKEN_URI,
            client_id=config.get("GOOGLE_CLIENT_ID"), client_secret=config.get("GOOGLE_CLIENT_SECRET"),
            scopes=SCOPES)
    return _credentials[key]


def gmail_service(mailbox: Mailbox, config: Mapping[str, Any]) -> Any:
    http = google_auth_httplib2.AuthorizedHttp(credentials_for(mailbox, config), http=HTTP_FACTORY())
    return build("gmail", "v1", http=http, cache_discovery=False, static_discovery=True)


def _retry_after(exc: HttpError, default: float = 60.0) -> timedelta:
    raw = exc.resp.get("retry-after") if exc.resp is not None else None
    try:
        return timedelta(seconds=max(1.0, float(raw)))
    except (TypeError, ValueError):
        return timedelta(seconds=default)


def _reason(exc: HttpError) -> str:
    try:
        body = json.loads(exc.content.decode("utf-8"))
        return str(body.get("error", {}).get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def classify(exc: HttpError) -> ProviderError:
    """Gmail's HTTP answers as provider errors."""
    status = exc.resp.status if exc.resp is not None else 0
    text = f"Gmail API {status}: {_reason(exc)}"
    content = (exc.content or b"").decode("utf-8", "replace").lower()
    if "dailylimitexceeded" in content or "daily user sending limit" in content or "sending quota" in content:
        return QuotaExceeded(text)
    if status == 429:
        return RateLimited(text, _retry_after(exc))
    if status >= 500:
        return Transient(text)
    if status in (401, 403):
        return Rejected(f"{text}; reconnect the mailbox if its authorization was revoked")
    return Rejected(text)


class GmailProvider:
    name = "gmail"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def send(self, message: Message, mailbox: Mailbox, thread_id: str | None) -> ProviderResult:
        raw = base64.urlsafe_b64encode(message_bytes(message)).decode("ascii")
        body: dict[str, Any] = {"raw": raw}
        if thread_id:
            body["threadId"] = thread_id
        try:
            service = gmail_service(mailbox, self.config)
            sent = service.users().messages().send(userId="me", body=body).execute(num_retries=0)
        except HttpError as exc:
            raise classify(exc) from exc
        except RefreshError as exc:
            raise Rejected(f"Google refused the mailbox's authorization ({exc}); reconnect {mailbox.address}") from exc
        except (TransportError, httplib2.ServerNotFoundError, ConnectionRefusedError) as exc:
            raise Transient(f"cannot reach Gmail: {exc}") from exc
        except (socket.timeout, TimeoutError, OSError) as exc:
            raise Uncertain(f"no answer from Gmail after sending: {exc}") from exc
        return ProviderResult(provider_message_id=sent.get("id"), thread_id=sent.get("threadId"))

    def find_by_message_id(self, mailbox: Mailbox, message_id: str) -> ProviderResult | None:
        query = "rfc822msgid:" + message_id.strip().strip("<>")
        try:
            service = gmail_service(mailbox, self.config)
            found = service.users().messages().list(userId="me", q=query, includeSpamTrash=True).execute(
                num_retries=0)
        except HttpError as exc:
            raise ProviderError(f"Gmail search failed: {_reason(exc)}") from exc
        except (RefreshError, TransportError, OSError) as exc:
            raise ProviderError(f"Gmail search failed: {exc}") from exc
        messages = found.get("messages") or []
        if not messages:
            return None
        return ProviderResult(provider_message_id=messages[0]["id"], thread_id=messages[0].get("threadId"))
