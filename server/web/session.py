"""Who is signed in to the web app, and the CSRF token that guards what they change.

Why a signed cookie session (Flask's own) and not a server-side store: the app already has a
SECRET_KEY and one database; the cookie only carries the user id, a fingerprint of the
password hash (so changing the password signs every browser out) and the CSRF token.
The JSON API accepts this session too (``api_session_user``), so the pages' small scripts
call /api/v1 directly; EventSource cannot send headers, which is why GET needs no CSRF
header while every state-changing method does.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSessionInterface

from server.db import get_session
from server.errors import Forbidden
from server.models import User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class StepLineSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure when configured or when the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config.get("SESSION_COOKIE_SECURE"))
        try:
            return configured or request.is_secure
        except RuntimeError:  # outside a request
            return configured


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid(candidate: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and candidate and hmac.compare_digest(str(expected), str(candidate)))


def sign_in(user: User) -> None:
    """A fresh session (no fixation) with a fresh CSRF token."""
    session.clear()
    session["uid"] = user.id
    session["pw"] = _fingerprint(user)
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True


def sign_out() -> None:
    session.clear()


def session_user() -> User | None:
    """The signed-in user of this request, or None (cached on ``g``)."""
    if "web_user" in g:
        return g.web_user
    user = None
    uid = session.get("uid")
    if isinstance(uid, int):
        candidate = get_session().get(User, uid)
        if candidate is not None and hmac.compare_digest(session.get("pw", ""), _fingerprint(candidate)):
            user = candidate
    g.web_user = user
    return user


def load_session_user() -> None:
    """before_request hook of the web pages: makes ``g.web_user`` available to templates."""
    session_user()


def api_session_user(req: Request | None = None) -> User | None:
    """For ``require_token``: the session's user when the API call carries no bearer token.

    A state-changing method must also carry the session's CSRF token in X-CSRF-Token;
    without it the call is refused with 403, even for a signed-in browser."""
    req = req or request
    user = session_user()
    if user is None:
        return None
    if req.method not in SAFE_METHODS and not csrf_valid(req.headers.get(CSRF_HEADER)):
        raise Forbidden("missing or wrong CSRF token: send the X-CSRF-Token header", CSRF_HEADER)
    return user
