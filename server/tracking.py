"""Public endpoints a prospect's mail client reaches: the open pixel, click redirects and
the unsubscribe link (RFC 8058 one-click POST, and a confirmation page for humans).

None of these needs a sign-in: the signed token in the URL is the authority. A forged or
edited token gets a plain 404 and records nothing.

The pixel and click paths are the hot ones (every open of every email): a small WSGI
middleware answers them in front of Flask (:class:`TrackingMiddleware`), with one
primary-key SELECT and one INSERT on a pooled connection through plain SQL
(server/services/tracking_store.py), no ORM unit of work.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Blueprint, Flask, Response, abort, current_app, render_template_string, request
from flask import session as web_session
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie
from werkzeug.urls import iri_to_uri

from server.clock import get_clock
from server.db import get_session
from server.services import tracking
from server.services import unsubscribe as unsubscribe_service
from server.services.tracking_store import tracking_store

bp = Blueprint("tracking", __name__)
log = logging.getLogger("stepline.tracking")

_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache",
             "Referrer-Policy": "no-referrer"}


@bp.after_app_request
def _mark_senders_browser(response: Response) -> Response:
    """A browser signed in to the web app gets the signed sender cookie (path /t/ only), so
    the rep's own opens and clicks are recognised even from a webmail tab, where the Lax
    session cookie is not sent with the pixel's cross-site request."""
    name = current_app.config.get("SESSION_COOKIE_NAME", "session")
    if not request.cookies.get(name) or request.path.startswith(("/t/", "/u/", "/api/")):
        return response
    uid = web_session.get("uid")
    if isinstance(uid, int) and tracking.sender_from_cookie(
            current_app.config, request.cookies.get(tracking.SENDER_COOKIE)) != uid:
        tracking.set_sender_cookie(response, uid, current_app.config)
    return response


def _is_sender(app: Flask, cookies: Mapping[str, str], user_id: int) -> bool:
    """The sending rep's own browser: their signed-in web session, or the sender cookie."""
    raw_session = cookies.get(app.config.get("SESSION_COOKIE_NAME", "session"))
    if raw_session:
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        try:
            data = serializer.loads(raw_session, max_age=int(app.permanent_session_lifetime.total_seconds()))
        except (BadSignature, AttributeError):
            data = {}
        if isinstance(data, dict) and data.get("uid") == user_id:
            return True
    return tracking.sender_from_cookie(app.config, cookies.get(tracking.SENDER_COOKIE)) == user_id


def record_hit(app: Flask, kind: str, token: str, user_agent: str, cookies: Mapping[str, str], *,
               head: bool = False) -> str | None:
    """An open ("o") or click ("c") of one email: records the event (unless forged, unknown or
    the sender's own view). Returns None for a 404, otherwise "" for a pixel or the click's URL.
    A HEAD request is a link checker, never a person: it is recorded as a machine."""
    if kind == "o":
        email_id, index = tracking.read_open_token(app.config, token), None
        if email_id is None:
            return None
    else:
        ids = tracking.read_click_token(app.config, token)
        if ids is None:
            return None
        email_id, index = ids
    store = tracking_store(app)
    answer: list[str] = []

    def decide(row: Any) -> tuple[str, Any, dict[str, Any]] | None:
        data: dict[str, Any] = {}
        if index is not None:
            links = row.links if row.links is not None else tracking.extract_links(
                store.email_body(email_id), app.config.get("PUBLIC_BASE_URL", ""))
            if index >= len(links):
                return None
            data = {"url": links[index], "link": index}
        answer.append(data.get("url", ""))
        if _is_sender(app, cookies, row.user_id):
            return None
        now = app.extensions["stepline_clock"].now()
        machine, why = (True, "HEAD request") if head else tracking.is_machine(user_agent, row.sent_at, now)
        payload = {"machine": machine, "user_agent": user_agent[:300]} | data
        if why:
            payload["machine_reason"] = why
        return ("opened" if kind == "o" else "clicked"), now, payload

    store.hit(email_id, with_links=index is not None, decide=decide)
    return answer[0] if answer else None


_NO_CACHE_HEADERS = list(_NO_CACHE.items())


class TrackingMiddleware:
    """Serves GET /t/o/<token>.gif and GET /t/c/<token> in front of Flask.

    Why in front: these are the busiest URLs of the server, and Flask's request context,
    session loading, routing and response objects cost more than the work itself. Everything
    else goes through to the Flask app untouched."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and path.startswith(("/t/o/", "/t/c/")):
            kind, token = path[3], path[5:]
            if kind == "o":
                if not token.endswith(".gif"):
                    return self._not_found(start_response)
                token = token[:-4]
            if "/" in token or not token:
                return self._not_found(start_response)
            cookies = parse_cookie(environ) if environ.get("HTTP_COOKIE") else {}
            try:
                target = record_hit(self.app, kind, token, environ.get("HTTP_USER_AGENT", ""), cookies,
                                    head=method == "HEAD")
            except Exception:  # noqa: BLE001 - the database is down: say so, do not crash the worker
                log.exception("tracking request failed")
                body = b"Temporarily unavailable"
                start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"),
                                                           ("Content-Length", str(len(body))), ("Retry-After", "60")])
                return [body]
            if target is None:
                return self._not_found(start_response)
            if kind == "o":
                start_response("200 OK", [("Content-Type", "image/gif"),
                                          ("Content-Length", str(len(tracking.PIXEL_GIF)))] + _NO_CACHE_HEADERS)
                return [b"" if method == "HEAD" else tracking.PIXEL_GIF]
            start_response("302 Found", [("Location", iri_to_uri(target)), ("Content-Length", "0")]
                           + _NO_CACHE_HEADERS)
            return [b""]
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _not_found(start_response: Any) -> list[bytes]:
        body = b"Not found"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]


@bp.record_once
def _install_middleware(state: Any) -> None:
    state.app.wsgi_app = TrackingMiddleware(state.app, state.app.wsgi_app)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head>
<body><main><h1>{{ title }}</h1>
{% if done %}<p>{{ email }} will get no more emails from these campaigns.</p>
{% else %}<p>Stop receiving these emails at <strong>{{ email }}</strong>?</p>
<form method="post" action="{{ action }}"><input type="hidden" name="source" value="page">
<button type="submit">Unsubscribe</button></form>{% endif %}
</main></body></html>"""


def _page(title: str, email: str, done: bool, status: int = 200) -> Response:
    body = render_template_string(_PAGE, title=title, email=email, done=done, action=request.path)
    return Response(body, status=status, mimetype="text/html", headers=_NO_CACHE)


@bp.get("/u/<token>")
def unsubscribe_page(token: str) -> Response:
    """For a human: a link scanner that follows the link must not unsubscribe anyone, so GET
    only shows a button; the button POSTs."""
    found = unsubscribe_service.person_for_token(get_session(), current_app.config, token)
    if found is None:
        abort(404)
    person, _ = found
    if person.unsubscribed:
        return _page("You are unsubscribed", person.email, True)
    return _page("Unsubscribe", person.email, False)


@bp.post("/u/<token>")
def unsubscribe_post(token: str) -> Response:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click`` from the mail provider, no cookies,
    no CSRF token by design: the signed URL is the authority) and the page's button."""
    session = get_session()
    found = unsubscribe_service.person_for_token(session, current_app.config, token)
    if found is None:
        abort(404)
    person, email = found
    source = "page" if request.form.get("source") == "page" else "one_click"
    unsubscribe_service.unsubscribe(session, person, now=get_clock().now(), email=email, source=source)
    session.commit()
    return _page("You are unsubscribed", person.email, True)
