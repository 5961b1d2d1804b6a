"""Microsoft Graph: msal turns the mailbox's stored refresh token into an access token;
``requests`` posts the MIME message to ``/me/sendMail`` and looks messages up by
``internetMessageId`` to learn Graph's ids and to reconcile an interrupted send.

Why MIME and not ``createReply``: a reply draft made by ``createReply`` gets an
internetMessageId chosen by Exchange, so our stored Message-ID (which reconciliation and the
next follow-up's References depend on) would be lost. A MIME message keeps it, and its
In-Reply-To/References headers are what Exchange uses to file it in the same conversation.
"""
from __future__ import annotations

import base64
import threading
import time
from datetime import timedelta
from email.message import Message
from typing import Any, Mapping

import msal
import requests

from server.adapters.mail import message_bytes
from server.adapters.providers import (
    ProviderError,
    ProviderResult,
    RateLimited,
    Rejected,
    Transient,
    Uncertain,
)
from server.crypto import decrypt, fernet_for
from server.models import Mailbox

GRAPH = "https://graph.microsoft.com/v1.0"
AUTHORITY = "https://login.microsoftonline.com/common"
SCOPES = ["https://graph.microsoft.com/Mail.Send", "https://graph.microsoft.com/Mail.Read"]
TIMEOUT = (10, 30)  # connect, read
_tokens: dict[int, tuple[str, float]] = {}
_apps: dict[tuple[str, str], msal.ConfidentialClientApplication] = {}
_lock = threading.Lock()


def msal_app(config: Mapping[str, Any]) -> msal.ConfidentialClientApplication:
    key = (str(config.get("MS_CLIENT_ID") or ""), str(config.get("MS_CLIENT_SECRET") or ""))
    with _lock:
        if key not in _apps:
            _apps[key] = msal.ConfidentialClientApplication(key[0], client_credential=key[1], authority=AUTHORITY)
        return _apps[key]


def access_token(mailbox: Mailbox, config: Mapping[str, Any]) -> str:
    """A valid access token for the mailbox; a rotated refresh token is stored back encrypted."""
    cached = _tokens.get(mailbox.id)
    if cached and cached[1] > time.monotonic() + 60:
        return cached[0]
    if not mailbox.secret_enc:
        raise Rejected(f"the Microsoft mailbox {mailbox.address} has no stored authorization; reconnect it")
    try:
        result = msal_app(config).acquire_token_by_refresh_token(decrypt(mailbox.secret_enc, dict(config)),
                                                                 scopes=SCOPES)
    except requests.RequestException as exc:
        raise Transient(f"cannot reach Microsoft's token endpoint: {exc}") from exc
    if "access_token" not in result:
        error = result.get("error", "unknown_error")
        if error in ("invalid_grant", "interaction_required", "invalid_client", "unauthorized_client"):
            raise Rejected(f"Microsoft refused the mailbox's authorization ({error}); reconnect {mailbox.address}")
        raise Transient(f"Microsoft token endpoint: {error}: {result.get('error_description', '')}".strip())
    rotated = result.get("refresh_token")
    if rotated:
        mailbox.secret_enc = fernet_for(dict(config)).encrypt(rotated.encode()).decode()
    _tokens[mailbox.id] = (result["access_token"], time.monotonic() + float(result.get("expires_in") or 3599))
    return result["access_token"]


def classify(response: requests.Response) -> ProviderError:
    try:
        error = response.json().get("error", {})
        detail = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except ValueError:
        detail = response.text[:200]
    text = f"Microsoft Graph {response.status_code}: {detail}"
    if response.status_code in (429, 503) and response.headers.get("Retry-After"):
        try:
            wait = float(response.headers["Retry-After"])
        except ValueError:
            wait = 60.0
        return RateLimited(text, timedelta(seconds=max(1.0, wait)))
    if response.status_code == 429:
        return RateLimited(text, timedelta(seconds=60))
    if response.status_code >= 500:
        return Transient(text)
    if response.status_code == 401:
        _tokens.clear()
        return Transient(text)
    return Rejected(text)


def _lookup(token: str, message_id: str) -> dict[str, Any] | None:
    escaped = message_id.replace("'", "''")
    response = requests.get(f"{GRAPH}/me/messages", timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {token}"},
                            params={"$filter": f"internetMessageId eq '{escaped}'",
                                    "$select": "id,conversationId,internetMessageId"})
    if response.status_code != 200:
        raise classify(response)
    values = response.json().get("value") or []
    return values[0] if values else None


def _before_sending(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached Graph (no connection was ever made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return isinstance(exc, requests.ConnectionError) and any(
        marker in text for marker in ("NewConnectionError", "NameResolutionError", "Failed to establish"))


class GraphProvider:
    name = "graph"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def send(self, message: Message, mailbox: Mailbox, thread_id: str | None) -> ProviderResult:
        token = access_token(mailbox, self.config)
        mime = base64.b64encode(message_bytes(message))
        try:
            response = requests.post(f"{GRAPH}/me/sendMail", data=mime, timeout=TIMEOUT,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
        except requests.RequestException as exc:
            if _before_sending(exc):
                raise Transient(f"cannot reach Microsoft Graph: {exc}") from exc
            raise Uncertain(f"no answer from Microsoft Graph after sending: {exc}") from exc
        if response.status_code != 202:
            raise classify(response)
        # Accepted. Graph's ids are learnt from Sent Items; if it has not synced yet the
        # follow-up still threads through In-Reply-To/References.
        try:
            found = _lookup(token, message["Message-ID"])
        except (ProviderError, requests.RequestException):
            found = None
        if not found:
            return ProviderResult(provider_message_id=None, thread_id=thread_id)
        return ProviderResult(provider_message_id=found.get("id"), thread_id=found.get("conversationId") or thread_id)

    def find_by_message_id(self, mailbox: Mailbox, message_id: str) -> ProviderResult | None:
        try:
            found = _lookup(access_token(mailbox, self.config), message_id)
        except requests.RequestException as exc:
            raise ProviderError(f"Microsoft Graph search failed: {exc}") from exc
        if found is None:
            return None
        return ProviderResult(provider_message_id=found.get("id"), thread_id=found.get("conversationId"))
