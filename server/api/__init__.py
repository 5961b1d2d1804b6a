"""The HTTP API under /api/v1 (flask-smorest: the schemas that validate requests also
write the OpenAPI document at /api/v1/openapi.json)."""
from __future__ import annotations

import re
from typing import Any

from flask import Flask, g, jsonify, request
from flask_smorest import Api
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from server.db import get_session
from server.errors import ApiError, Invalid, Unauthorized
from server.services.users import user_for_token

API_PREFIX = "/api/v1"
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited"}


def _first_message(messages: Any, path: str = "") -> tuple[str, str]:
    """webargs/marshmallow nest errors by location and field; the contract wants one field
    path like ``steps[1].follow_up``."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if path == "" and key in ("json", "query", "form", "headers", "view_args", "files"):
                return _first_message(value, "")
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                sub = f"{path}[{key}]"
            elif key == "_schema":
                sub = path
            else:
                sub = f"{path}.{key}" if path else str(key)
            return _first_message(value, sub)
    if isinstance(messages, list) and messages:
        if all(isinstance(m, str) for m in messages):
            return path, "; ".join(messages)
        return _first_message(messages[0], path)
    return path, str(messages)


class StepLineApi(Api):
    """flask-smorest with the contract's error body."""

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        status = error.code or 500
        field = None
        message = error.description or error.name
        data = getattr(error, "data", None) or {}
        if "messages" in data:
            field, message = _first_message(data["messages"])
            if field:
                message = f"{field}: {message}"
        response = jsonify({"error": {"code": _CODES.get(status, "error"), "message": message,
                                      "field": field or None}})
        response.status_code = status
        return response


def require_token() -> None:
    """Every API route but health and the OpenAPI document needs a valid bearer token."""
    if request.method == "OPTIONS":
        return None
    header = request.headers.get("Authorization", "")
    match = re.fullmatch(r"Bearer\s+(\S+)", header.strip())
    if not header:
        # The web app's pages call the API with their signed-in session (+ X-CSRF-Token).
        from server.web.session import api_session_user

        session_user = api_session_user()
        if session_user is not None:
            g.user = session_user
            return None
    if not match:
        raise Unauthorized("send Authorization: Bearer <token>", "Authorization")
    user = user_for_token(get_session(), match.group(1))
    if user is None:
        raise Unauthorized("unknown or revoked token", "Authorization")
    g.user = user
    return None


class _IdConverter(IntegerConverter):
    def __init__(self, map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _nul_path(value: Any, path: str = "") -> str | None:
    """The field path of the first text holding a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for sub, item in items:
        if "\x00" in sub:
            return sub
        found = _nul_path(item, sub)
        if found is not None:
            return found
    return None


def reject_nul_characters() -> None:
    """No text may carry a NUL character: PostgreSQL cannot store one, and no email, name or
    template needs one. Checked once for every request, so no service has to remember it."""
    found = next((key for key, values in request.args.lists()
                  if "\x00" in key or any("\x00" in v for v in values)), None)
    if found is None and request.is_json:
        found = _nul_path(request.get_json(silent=True))
    if found is not None:
        raise Invalid("text cannot contain NUL (\\u0000) characters", found or None)


def init_api(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Stepline")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # Path ids beyond the 32-bit integer id columns cannot name a row (and would overflow the
    # database driver): such a URL simply does not match, which is a JSON 404.
    app.url_map.converters["int"] = _IdConverter
    api = StepLineApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    from server.api import (campaigns, crm, emails, events, health, mailboxes, people, stats, subscriptions, tasks,
                            templates)

    for module in (health, mailboxes, templates, people, campaigns, tasks, emails, events, stats, subscriptions,
                   crm):
        # Blueprints are module-level objects shared by every app this process creates (tests
        # create one per test): attach the token check once, before the first registration.
        if module is not health and require_token not in module.blp.before_request_funcs.get(None, []):
            module.blp.before_request(require_token)
        api.register_blueprint(module.blp)

    app.before_request(reject_nul_characters)

    @app.errorhandler(DataError)
    def _data_error(error: DataError):
        """The last line of defence: a value the schemas let through but the database refuses
        (too long, out of range) is the client's error, never a 500."""
        get_session().rollback()
        return Invalid("a value is too long or out of range").to_response()

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        get_session().rollback()
        return error.to_response()

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _not_found(error: HTTPException):
        if request.path.startswith(API_PREFIX):
            return api.handle_http_exception(error)
        return error
