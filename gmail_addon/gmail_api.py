"""The Gmail API as the add-on uses it: with the rep's add-on tokens from the event.

The add-on never stores Google credentials: each request carries the rep's short-lived OAuth
token (``userOAuthToken``) and a per-message token (``gmail.accessToken``).
``app.config["GMAIL_HTTP_FACTORY"]`` (a callable returning an httplib2-like object, e.g.
``googleapiclient.http.HttpMockSequence``) replaces the network in tests while keeping the
real client library, so tests see the exact HTTP requests.
"""
from __future__ import annotations

from email.utils import getaddresses, parseaddr
from typing import Any

from flask import current_app
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from gmail_addon.drafts import GMAIL_ACCESS_TOKEN_HEADER


def gmail_service(user_oauth_token: str) -> Any:
    credentials = Credentials(user_oauth_token)
    factory = current_app.config.get("GMAIL_HTTP_FACTORY")
    if factory is not None:
        from google_auth_httplib2 import AuthorizedHttp

        return build("gmail", "v1", http=AuthorizedHttp(credentials, http=factory()),
                     cache_discovery=False, static_discovery=True)
    return build("gmail", "v1", credentials=credentials, cache_discovery=False, static_discovery=True)


def message_counterpart(service: Any, message_id: str, *, gmail_access_token: str | None,
                        own_email: str) -> str | None:
    """The other party of the opened message: its sender, or, when the rep sent it, its
    first recipient. Reads only the From/To headers (``format=metadata``)."""
    request = service.users().messages().get(userId="me", id=message_id, format="metadata",
                                             metadataHeaders=["From", "To"])
    if gmail_access_token:
        request.headers[GMAIL_ACCESS_TOKEN_HEADER] = gmail_access_token
    message = request.execute()
    headers: dict[str, str] = {}
    for header in (message.get("payload") or {}).get("headers") or []:
        if isinstance(header, dict) and isinstance(header.get("name"), str):
            headers.setdefault(header["name"].lower(), str(header.get("value") or ""))
    sender = parseaddr(headers.get("from", ""))[1].strip().lower()
    if sender and sender != own_email.lower():
        return sender
    for _name, address in getaddresses([headers.get("to", "")]):
        address = address.strip().lower()
        if address and address != own_email.lower():
            return address
    return None
