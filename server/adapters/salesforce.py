"""Salesforce through simple-salesforce: sign-in with the OAuth 2.0 JWT bearer flow and the
few REST calls the CRM sync needs.

Why the JWT bearer flow: Stepline's worker is a server with no one at a browser; the
connected app trusts a certificate, and the worker signs a short JWT with its private key
(POST https://login.salesforce.com/services/oauth2/token) to get an access token for the
integration user. No password or refresh token is stored.

Errors are sorted into what the outbox should do with them (:func:`classify`): retry later
(outage, 5xx, REQUEST_LIMIT_EXCEEDED, network), sign in again (INVALID_SESSION_ID), or give
up and show the admin the reason (a malformed request: INVALID_FIELD, REQUIRED_FIELD_MISSING...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_soql

# Stepline task status -> Salesforce Task.Status (the standard picklist values).
STATUS_TO_SALESFORCE = {"open": "Not Started", "completed": "Completed", "skipped": "Completed"}


def connect(config: Mapping[str, Any], session: requests.Session | None = None) -> Salesforce:
    """A signed-in client (one token request to the org's login domain)."""
    key = str(config.get("SALESFORCE_PRIVATE_KEY") or "").replace("\\n", "\n")
    key_file = str(config.get("SALESFORCE_PRIVATE_KEY_FILE") or "")
    kwargs: dict[str, Any] = {"privatekey": key} if key else {"privatekey_file": key_file}
    return Salesforce(username=config["SALESFORCE_USERNAME"], consumer_key=config["SALESFORCE_CONSUMER_KEY"],
                      domain=config.get("SALESFORCE_DOMAIN") or "login", session=session, **kwargs)


@dataclass(frozen=True)
class Failure:
    action: str  # retry | reauth | fail
    reason: str


def _error_text(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "; ".join(f"{e.get('errorCode', '?')}: {e.get('message', '')}".strip() for e in content)
    if isinstance(content, dict):
        return f"{content.get('error', '?')}: {content.get('error_description', '')}"
    return f"HTTP {exc.status}: {str(content)[:300]}"


def classify(exc: BaseException) -> Failure:
    """What to do about a failed call."""
    if isinstance(exc, SalesforceExpiredSession):
        return Failure("reauth", _error_text(exc))
    if isinstance(exc, SalesforceAuthenticationFailed):
        return Failure("retry", f"sign-in to Salesforce failed: {exc.code}: {exc.message}")
    if isinstance(exc, (SalesforceMalformedRequest, SalesforceResourceNotFound)):
        return Failure("fail", _error_text(exc))
    if isinstance(exc, SalesforceError):  # 403 REQUEST_LIMIT_EXCEEDED, 5xx, maintenance
        return Failure("retry", _error_text(exc))
    if isinstance(exc, (requests.RequestException, OSError)):
        return Failure("retry", f"Salesforce unreachable: {exc}")
    return Failure("fail", f"{type(exc).__name__}: {exc}")


def find_person(sf: Salesforce, email: str) -> list[tuple[str, str]]:
    """[(object, Id)] of the Contacts, else the Leads, with this email address."""
    found: list[tuple[str, str]] = []
    for sobject in ("Contact", "Lead"):
        result = sf.query(format_soql(f"SELECT Id FROM {sobject} WHERE Email = {{}} LIMIT 10", email))
        found += [(sobject, r["Id"]) for r in result.get("records", [])]
    return found


def find_user(sf: Salesforce, email: str) -> str | None:
    """Id of the active Salesforce User with this email address, or None. Email comparison in
    SOQL is case-insensitive; an inactive User cannot own records, so it never matches."""
    result = sf.query(format_soql("SELECT Id FROM User WHERE Email = {} AND IsActive = true LIMIT 1", email))
    records = result.get("records") or []
    return str(records[0]["Id"]) if records else None


# What Salesforce answers when a record's OwnerId names no user it can use: an id that is not a
# User of this org (or not visible to the integration user), or a deactivated User.
_OWNER_ERRORS = {"INVALID_CROSS_REFERENCE_KEY", "INACTIVE_OWNER_OR_USER"}


def owner_refused(exc: BaseException) -> bool:
    """Whether a failed create was Salesforce refusing the OwnerId (so it is worth sending the
    record again without one). Errors naming another field (e.g. WhoId) are not."""
    if not isinstance(exc, SalesforceMalformedRequest) or not isinstance(exc.content, list):
        return False
    for error in exc.content:
        if not isinstance(error, dict):
            continue
        fields = error.get("fields") or []
        code = error.get("errorCode") or error.get("statusCode")
        if "OwnerId" in fields or (code in _OWNER_ERRORS and not fields):
            return True
    return False


def create_task(sf: Salesforce, fields: dict[str, Any]) -> str:
    """Creates a Task; Salesforce answers 201 {"id", "success", "errors"}."""
    result = sf.Task.create(fields)
    if not result.get("success", True) or not result.get("id"):
        raise SalesforceMalformedRequest("sobjects/Task", 400, "Task", result.get("errors") or result)
    return str(result["id"])


def update_task(sf: Salesforce, task_id: str, fields: dict[str, Any]) -> None:
    sf.Task.update(task_id, fields)


def set_opted_out(sf: Salesforce, email: str, opted_out: bool) -> int:
    """HasOptedOutOfEmail on every Contact and Lead with this address; how many were changed."""
    targets = find_person(sf, email)
    for sobject, record_id in targets:
        getattr(sf, sobject).update(record_id, {"HasOptedOutOfEmail": opted_out})
    return len(targets)


def task_statuses(sf: Salesforce, task_ids: Iterable[str]) -> dict[str, str]:
    """Status of each Salesforce Task id (200 per query, SOQL's IN list stays short)."""
    ids = list(task_ids)
    statuses: dict[str, str] = {}
    for start in range(0, len(ids), 200):
        chunk = ids[start:start + 200]
        result = sf.query_all(format_soql("SELECT Id, Status, IsClosed FROM Task WHERE Id IN {}", chunk))
        statuses.update({r["Id"]: r["Status"] for r in result.get("records", [])})
    return statuses
