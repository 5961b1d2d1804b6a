"""On-behalf-of: turn the rep's add-in token into a Microsoft Graph token for that rep.

The task pane's token is for Stepline's API only. When the server itself must call Graph as
the rep (for example to look up the message the rep just sent), it exchanges that token with
the OAuth 2.0 on-behalf-of flow, using Stepline's confidential client (MS_CLIENT_ID and
MS_CLIENT_SECRET). MSAL keeps the resulting tokens in its in-memory cache, keyed by the
incoming token, so one ``ConfidentialClientApplication`` per tenant is reused.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import msal

GRAPH_DEFAULT_SCOPES = ("https://graph.microsoft.com/.default",)
AUTHORITY_TEMPLATE = "https://login.microsoftonline.com/{tenant}"

_apps: dict[tuple[str, str], msal.ConfidentialClientApplication] = {}
_apps_lock = threading.Lock()


class GraphAuthError(Exception):
    """Microsoft refused the exchange; ``error`` is its code (e.g. ``invalid_grant``,
    ``interaction_required`` when the rep or an admin must consent first)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


def confidential_app(client_id: str, client_secret: str, tenant: str, **kwargs: Any) -> msal.ConfidentialClientApplication:
    """One MSAL confidential client per (client id, tenant), so its token cache is shared."""
    key = (client_id, tenant)
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = msal.ConfidentialClientApplication(
                client_id,
                client_credential=client_secret,
                authority=AUTHORITY_TEMPLATE.format(tenant=tenant),
                **kwargs,
            )
            _apps[key] = app
        return app


def acquire_token_on_behalf_of(
    user_assertion: str,
    *,
    tenant: str,
    client_id: str,
    client_secret: str,
    scopes: Sequence[str] = GRAPH_DEFAULT_SCOPES,
    app: msal.ConfidentialClientApplication | None = None,
) -> str:
    """A Graph access token for the user of ``user_assertion`` (the pane's verified token).

    ``tenant`` is that token's ``tid``: the exchange must happen in the user's own tenant.
    Raises :class:`GraphAuthError` when Microsoft refuses.
    """
    if not client_id or not client_secret:
        raise GraphAuthError("not_configured", "MS_CLIENT_ID and MS_CLIENT_SECRET are required for on-behalf-of")
    app = app or confidential_app(client_id, client_secret, tenant)
    result = app.acquire_token_on_behalf_of(user_assertion=user_assertion, scopes=list(scopes))
    if "access_token" not in result:
        raise GraphAuthError(str(result.get("error", "unknown_error")), str(result.get("error_description", "")))
    return result["access_token"]


def acquire_token_for_request(user_assertion: str, tenant: str, scopes: Sequence[str] = GRAPH_DEFAULT_SCOPES) -> str:
    """``acquire_token_on_behalf_of`` with the Flask app's MS_CLIENT_ID / MS_CLIENT_SECRET."""
    from flask import current_app

    return acquire_token_on_behalf_of(
        user_assertion,
        tenant=tenant,
        client_id=current_app.config.get("MS_CLIENT_ID", ""),
        client_secret=current_app.config.get("MS_CLIENT_SECRET", ""),
        scopes=scopes,
    )
