"""Configuration from environment variables (and an optional instance/config.py).

Every setting has a safe default so that ``make run`` works on a fresh clone; production
overrides them through the environment (see README, "Configuration").
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV_SETTINGS: dict[str, Any] = {
    "DATABASE_URL": None,  # default: sqlite file under instance/
    "SECRET_KEY": "dev-only-change-me",
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "ENCRYPTION_KEY": None,  # Fernet key for refresh tokens/passwords at rest; derived from SECRET_KEY if unset
    "MAILBOX_DAILY_CAP": 500,
    "MAILBOX_MINUTE_CAP": 30,
    "BLOCKED_DOMAINS": "",
    "DISPATCH_LEASE_SECONDS": 120,  # a `sending` claim older than this is reconciled
    "DISPATCH_MAX_ATTEMPTS": 5,  # transient provider failures before an email is failed
    "DISPATCH_THREADS": 4,  # emails in flight per worker process (PostgreSQL; SQLite uses 1)
    "GMAIL_ADDON_SERVICE_ACCOUNT": "",
    "GMAIL_ADDON_CLIENT_ID": "",
    "GOOGLE_CLIENT_ID": "",
    "GOOGLE_CLIENT_SECRET": "",
    "MS_CLIENT_ID": "",
    "MS_CLIENT_SECRET": "",
    "MS_API_SCOPE": "",
    "MS_REQUIRED_SCOPE": "access_as_user",
    "MS_ALLOWED_TENANTS": "",
    "MS_JWKS_URL": "",
    "MS_AUTHORITY": "",
    "OUTLOOK_OFFICE_JS_URL": "",
    "OUTLOOK_MSAL_JS_URL": "",
    "SESSION_COOKIE_SECURE": False,
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none).
    "TRUSTED_PROXIES": 0,
    # Web sign-in rate limit (server/services/sign_in_limits.py): failures per account and per IP.
    "SIGNIN_MAX_FAILURES": 5,
    "SIGNIN_IP_MAX_FAILURES": 20,
    "SIGNIN_WINDOW_SECONDS": 900,
    # Salesforce sync (issue 7): on when USERNAME and CONSUMER_KEY are set; JWT bearer flow.
    "SALESFORCE_USERNAME": "",
    "SALESFORCE_CONSUMER_KEY": "",
    "SALESFORCE_PRIVATE_KEY": "",  # PEM text of the connected app's certificate key...
    "SALESFORCE_PRIVATE_KEY_FILE": "",  # ...or a path to it
    "SALESFORCE_DOMAIN": "login",  # login | test (sandbox) | a My Domain such as acme.my
    "SALESFORCE_TASK_SUBJECT": "{{activity_subject}}",
}

_INT_KEYS = {"MAILBOX_DAILY_CAP", "MAILBOX_MINUTE_CAP", "DISPATCH_LEASE_SECONDS", "DISPATCH_MAX_ATTEMPTS",
             "DISPATCH_THREADS", "TRUSTED_PROXIES", "SIGNIN_MAX_FAILURES", "SIGNIN_IP_MAX_FAILURES", "SIGNIN_WINDOW_SECONDS"}
_BOOL_KEYS = {"SESSION_COOKIE_SECURE"}


def load_settings(instance_path: str) -> dict[str, Any]:
    """Defaults overridden by environment variables of the same name."""
    settings: dict[str, Any] = {}
    for key, default in ENV_SETTINGS.items():
        raw = os.environ.get(key)
        if raw is None:
            settings[key] = default
        elif key in _INT_KEYS:
            settings[key] = int(raw)
        elif key in _BOOL_KEYS:
            settings[key] = raw.lower() in {"1", "true", "yes", "on"}
        else:
            settings[key] = raw
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = "sqlite:///" + str(Path(instance_path) / "stepline.db")
    return settings
