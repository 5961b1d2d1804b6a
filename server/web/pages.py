"""The pages: sign-in/out, API tokens, Command Center, campaigns, people."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from server.clock import get_clock
from server.db import get_session
from server.models import ApiToken, Campaign, Email, Enrollment, Event, Person, Task
from server.services import sign_in_limits
from server.services import users as user_service
from server.services.campaigns import campaign_dict
from server.web import bp
from server.web.session import session_user, sign_in, sign_out


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages need a session; without one, go to the sign-in page and come back after."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if session_user() is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a sign-in link must not bounce the user to another site."""
    if not target:
        return url_for("web.command_center")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.command_center")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if session_user() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("web/login.html", email="", error=None, next=request.args.get("next", ""))
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    session = get_session()
    attempt = sign_in_limits.begin_attempt(session, email=email, remote_addr=request.remote_addr,
                                           limits=sign_in_limits.limits_from_config(current_app.config),
                                           now=get_clock().now())
    if attempt.retry_after is not None:
        # Refused before the password is looked at: a locked account says nothing about it.
        page = render_template("web/login.html", email=email, next=request.form.get("next", ""),
                               error=sign_in_limits.wait_message(attempt.retry_after))
        return page, 429, {"Retry-After": str(attempt.retry_after)}
    user = user_service.find_by_email(session, email) if email else None
    if not user_service.check_password(user, password):
        return render_template("web/login.html", email=email, next=request.form.get("next", ""),
                               error="Wrong email or password."), 401
    sign_in_limits.succeeded(session, attempt)
    sign_in(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    return redirect(url_for("web.login"))


@bp.route("/tokens", methods=["GET", "POST"])
@signed_in
def tokens():
    session, user = get_session(), g.web_user
    new_token, error, name = None, None, ""
    if request.method == "POST":
        name = (request.form.get("name") or "").strip()
        if not name or len(name) > 200:
            error = "Give the token a name (1 to 200 characters), e.g. the tool that will use it."
        else:
            new_token = user_service.create_token(session, user, now=get_clock().now(), name=name)
            session.commit()
            name = ""
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())).all()
    return render_template("web/tokens.html", tokens=rows, new_token=new_token, error=error, name=name), \
        (422 if error else 200)


@bp.route("/")
@signed_in
def command_center():
    return render_template("web/command_center.html")


@bp.route("/campaigns")
@signed_in
def campaigns():
    rows = get_session().scalars(select(Campaign).order_by(Campaign.id)).all()
    return render_template("web/campaigns.html", campaigns=rows)


@bp.route("/campaigns/new")
@signed_in
def campaign_new():
    return render_template("web/campaign.html", campaign_id=None, campaign=None)


@bp.route("/campaigns/<int:campaign_id>")
@signed_in
def campaign_edit(campaign_id: int):
    row = get_session().get(Campaign, campaign_id)
    if row is None:
        abort(404)
    # Embedded in full (inline subjects and bodies, notes) so the builder shows everything it saved.
    return render_template("web/campaign.html", campaign_id=campaign_id, campaign=campaign_dict(row))


@bp.route("/people")
@signed_in
def people():
    q = (request.args.get("q") or "").strip()
    query = select(Person).order_by(Person.id).limit(200)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(Person.email.ilike(like), Person.first_name.ilike(like),
                                Person.last_name.ilike(like), Person.company.ilike(like)))
    return render_template("web/people.html", people=get_session().scalars(query).all(), q=q)


@bp.route("/people/<int:person_id>")
@signed_in
def person(person_id: int):
    session, user = get_session(), g.web_user
    row = session.get(Person, person_id)
    if row is None:
        abort(404)

    def own(query, model):
        query = query.where(model.person_id == person_id)
        return query if user.is_admin else query.where(model.user_id == user.id)

    enrollments = session.scalars(own(select(Enrollment), Enrollment).order_by(Enrollment.id.desc())).all()
    emails = session.scalars(own(select(Email), Email).order_by(Email.due_at.desc()).limit(100)).all()
    tasks = session.scalars(own(select(Task), Task).order_by(Task.due_date.desc()).limit(100)).all()
    events = session.scalars(own(select(Event), Event).order_by(Event.id.desc()).limit(100)).all()
    return render_template("web/person.html", person=row, enrollments=enrollments, emails=emails, tasks=tasks,
                           events=events)


@bp.errorhandler(404)
def _page_not_found(error):
    """Only 404s raised by these pages (unknown campaign or person); the API keeps its JSON."""
    return render_template("web/error.html", title="Not found",
                           message="There is nothing at this address."), 404
