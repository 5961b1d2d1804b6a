"""Errors that become the API's JSON error body ``{"error": {"code", "message", "field"}}``.

Services raise these; the API, the add-ins and the CLI all turn them into what their user sees,
so a rule is stated once, in the service, with the field it is about.
"""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}

    def to_response(self) -> Response:
        response = jsonify(self.body())
        response.status_code = self.status
        return response


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Invalid(ApiError):
    status = 422
    code = "invalid"
