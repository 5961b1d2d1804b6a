"""The add-on event object Google POSTs, read defensively.

The body comes from the network: every field may be missing or of the wrong type. Reading
it through :class:`AddonEvent` turns any malformed part into :class:`BadEvent` (a 400), so
no handler can fail with a ``KeyError``/``TypeError`` and answer 500.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class BadEvent(Exception):
    """The request body is not a usable add-on event (answered with 400)."""


def _dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadEvent(f"{name} must be an object")
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class AddonEvent:
    parameters: dict[str, str] = field(default_factory=dict)
    form_inputs: dict[str, list[str]] = field(default_factory=dict)
    user_oauth_token: str | None = None
    user_id_token: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    gmail_access_token: str | None = None
    to_recipients: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, body: Any) -> "AddonEvent":
        if not isinstance(body, dict):
            raise BadEvent("the request body must be a JSON object")
        common = _dict(body.get("commonEventObject"), "commonEventObject")
        authz = _dict(body.get("authorizationEventObject"), "authorizationEventObject")
        gmail = _dict(body.get("gmail"), "gmail")

        parameters = {k: v for k, v in _dict(common.get("parameters"), "parameters").items()
                      if isinstance(k, str) and isinstance(v, str)}
        form_inputs: dict[str, list[str]] = {}
        for name, value in _dict(common.get("formInputs"), "formInputs").items():
            values = (value.get("stringInputs") or {}).get("value") if isinstance(value, dict) else None
            if isinstance(values, list):
                form_inputs[name] = [v for v in values if isinstance(v, str)]
        recipients = gmail.get("toRecipients")
        return cls(
            parameters=parameters,
            form_inputs=form_inputs,
            user_oauth_token=_str_or_none(authz.get("userOAuthToken")),
            user_id_token=_str_or_none(authz.get("userIdToken")),
            message_id=_str_or_none(gmail.get("messageId")),
            thread_id=_str_or_none(gmail.get("threadId")),
            gmail_access_token=_str_or_none(gmail.get("accessToken")),
            to_recipients=[r for r in recipients if isinstance(r, str)] if isinstance(recipients, list) else [],
        )

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.parameters.get(name, default)

    def int_param(self, name: str, *, default: int | None = None) -> int:
        """An integer action parameter (ids, page numbers); anything else is a bad event."""
        raw = self.parameters.get(name)
        if raw is None and default is not None:
            return default
        try:
            value = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadEvent(f"parameter {name!r} must be an integer") from None
        if value < 0 or value > 2**62:
            raise BadEvent(f"parameter {name!r} is out of range")
        return value

    def form_value(self, name: str) -> str | None:
        values = self.form_inputs.get(name) or []
        return values[0] if values else None
