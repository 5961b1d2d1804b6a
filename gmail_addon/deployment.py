"""The add-on's deployment resource (its "manifest"), for the HTTP runtime.

Google calls HTTPS URLs, not Apps Script functions, so every trigger is a full URL under the
server's public base URL. The same base URL must be the server's ``PUBLIC_BASE_URL``: the
system ID token Google sends is addressed (``aud``) to the exact URL it calls, and
:mod:`gmail_addon.auth` checks that audience against ``PUBLIC_BASE_URL`` + the request path.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIX = "/addons/gmail"

# The smallest set that works:
# - gmail.addons.execute: run as a Gmail add-on at all;
# - gmail.addons.current.action.compose: create the draft that Open shows, and fill the
#   draft the rep is composing (compose trigger);
# - gmail.addons.current.message.metadata: read the From/To headers of the opened message
#   (contextual card) and the recipients of the draft (draftAccess METADATA);
# - userinfo.email: Google then sends ``userIdToken``, which tells us who the rep is.
# No gmail.readonly / gmail.compose: the add-on never reads or writes beyond the current item.
OAUTH_SCOPES = [
    "https://www.googleapis.com/auth/gmail.addons.execute",
    "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
    "https://www.googleapis.com/auth/gmail.addons.current.message.metadata",
    "https://www.googleapis.com/auth/userinfo.email",
]

# Paths of the endpoints, relative to PREFIX; routes.py registers exactly these.
HOMEPAGE = "/homepage"
MESSAGE = "/message"
COMPOSE = "/compose"


def endpoint_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + PREFIX + path


def build_deployment(base_url: str, *, logo_url: str | None = None) -> dict[str, Any]:
    """The deployment JSON for ``gcloud workspace-add-ons deployments create``."""
    if not base_url.startswith("https://") and not base_url.startswith("http://"):
        raise ValueError("base_url must be an absolute http(s) URL, e.g. https://stepline.example.com")
    homepage = {"runFunction": endpoint_url(base_url, HOMEPAGE), "enabled": True}
    return {
        "oauthScopes": list(OAUTH_SCOPES),
        "addOns": {
            "common": {
                "name": "Stepline",
                "logoUrl": logo_url or endpoint_url(base_url, "/static/logo.png"),
                "layoutProperties": {"primaryColor": "#1a73e8"},
                "homepageTrigger": homepage,
            },
            "gmail": {
                "homepageTrigger": dict(homepage),
                "contextualTriggers": [
                    {"unconditional": {}, "onTriggerFunction": endpoint_url(base_url, MESSAGE)},
                ],
                "composeTrigger": {
                    "selectActions": [
                        {"text": "Insert a Stepline template", "runFunction": endpoint_url(base_url, COMPOSE)},
                    ],
                    "draftAccess": "METADATA",
                },
            },
        },
    }


def write_deployment(base_url: str, folder: str | Path = ".") -> Path:
    """Writes ``deployment.json`` into ``folder`` and returns its path."""
    path = Path(folder) / "deployment.json"
    path.write_text(json.dumps(build_deployment(base_url), indent=2) + "\n", encoding="utf-8")
    return path
