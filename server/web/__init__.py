"""The web app: server-rendered pages (Jinja) whose small scripts call the JSON API.

Pages need a signed-in session (``server.web.session``); every form carries the session's
CSRF token, and so does every state-changing API call the scripts make (X-CSRF-Token).
Nothing here re-implements a rule: pages read through the services, scripts write through
/api/v1, and the two preview endpoints run the same scheduling and template code as the engine.
"""
from __future__ import annotations

from flask import Blueprint, current_app, request

from server.web.session import CSRF_FIELD, StepLineSessionInterface, csrf_token, csrf_valid, load_session_user

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")


@bp.record_once
def _setup(state) -> None:
    app = state.app
    app.session_interface = StepLineSessionInterface()


@bp.before_request
def _guard_forms():
    """Load the user, and refuse a form POST without the session's CSRF token (400 page)."""
    load_session_user()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not request.path.startswith("/api/"):
        if not csrf_valid(request.form.get(CSRF_FIELD)):
            from flask import render_template

            return render_template("web/error.html", title="Form expired",
                                   message="This form was missing its security token (or your session expired). "
                                           "Go back, reload the page and try again."), 400
    return None


@bp.after_request
def _page_headers(response):
    """Pages are never framed by another site (clickjacking) and never cached (they show tokens)."""
    if not request.path.startswith("/api/"):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_context_processor
def _template_globals():
    from flask import g

    def has_api_route(rule: str, method: str = "GET") -> bool:
        return any(r.rule == rule and method in (r.methods or ()) for r in current_app.url_map.iter_rules())

    def feed_after_id(keep: int = 20) -> int:
        """The Live Feed replays the user's last ``keep`` events, then streams new ones."""
        from sqlalchemy import select

        from server.db import get_session
        from server.models import Event

        user = g.get("web_user")
        if user is None:
            return 0
        query = select(Event.id).order_by(Event.id.desc()).offset(keep).limit(1)
        if not user.is_admin:
            query = query.where(Event.user_id == user.id)
        return get_session().scalar(query) or 0

    return {"csrf_token": csrf_token, "current_user": g.get("web_user"), "has_api_route": has_api_route,
            "feed_after_id": feed_after_id}


from server.web import pages, previews  # noqa: E402,F401  (routes register themselves on bp)
