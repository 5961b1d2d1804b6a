"""The add-on's HTTP endpoints (Google Workspace add-on, HTTP runtime), under /addons/gmail.

Every endpoint is a POST from Google with an event object. Before any handler runs, the
request is verified (:mod:`gmail_addon.auth`) and the rep is looked up; anything else is a
401 with no data. Handlers then only ever see the signed-in rep's own tasks: task ids from a
card are checked by the core services, which answer NotFound for another rep's task.

Bad input never becomes a 500: a malformed body is a 400, and a refused action (unknown
task, launch refused, Gmail error) is a notification in the panel saying why.
"""
from __future__ import annotations

import logging
from typing import Any

import httplib2
from flask import Blueprint, current_app, g, jsonify, request, url_for
from google.auth import exceptions as google_exceptions
from googleapiclient.errors import HttpError

from gmail_addon import cards, core, views
from gmail_addon.auth import AddonAuthError, CertsUnavailable, verify_request, verify_user
from gmail_addon.deployment import COMPOSE, HOMEPAGE, MESSAGE
from gmail_addon.drafts import build_draft_mime, create_draft
from gmail_addon.events import AddonEvent, BadEvent
from gmail_addon.gmail_api import gmail_service, message_counterpart

log = logging.getLogger(__name__)

bp = Blueprint("gmail_addon", __name__, static_folder="static")

# Transport failures talking to Gmail: shown to the rep, never a 500.
_NETWORK_ERRORS = (OSError, httplib2.HttpLib2Error, google_exceptions.TransportError)
# Gmail answered 401 and the add-on token cannot be refreshed (it is short-lived by design).
_EXPIRED = "Your Gmail authorization has expired; reload Gmail and try again."


def _error(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message, "field": None}})
    response.status_code = status
    return response


@bp.errorhandler(AddonAuthError)
def _unauthorized(exc: AddonAuthError):
    log.info("gmail add-on request refused: %s", exc)
    return _error(401, "unauthorized", "this request could not be verified as coming from the Stepline add-on")


@bp.errorhandler(CertsUnavailable)
def _certs_unavailable(exc: CertsUnavailable):
    log.warning("Google certificates unavailable: %s", exc)
    return _error(503, "unavailable", "Google's certificates could not be fetched; try again")


@bp.errorhandler(BadEvent)
def _bad_event(exc: BadEvent):
    return _error(400, "bad_request", str(exc))


@bp.before_request
def _authenticate() -> None:
    """System token first (is this Google, for this URL?), then the event, then the rep."""
    if request.endpoint == "gmail_addon.static":
        return
    verify_request(request)
    body = request.get_json(silent=True)
    g.addon_event = AddonEvent.parse(body)
    email = verify_user(g.addon_event.user_id_token)
    g.addon_db = core.session()
    user = core.find_user(g.addon_db, email)
    if user is None:
        raise AddonAuthError(f"{email} is not a Stepline user")
    g.addon_user = user


def _url(name: str) -> str:
    """Absolute public URL of an endpoint of this blueprint (what Google calls and signs for)."""
    path = url_for(f"gmail_addon.{name}")
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root):]
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _ev() -> AddonEvent:
    return g.addon_event


def _when():
    return core.now()


# --- views that several actions re-render --------------------------------------------------

def _task_list(page: int) -> dict[str, Any]:
    user, db, when = g.addon_user, g.addon_db, _when()
    tasks = core.list_tasks(db, user, due="overdue", when=when) + core.list_tasks(db, user, due="today", when=when)
    rows = views.order_tasks(tasks, core.local_today(user, when).isoformat())
    return views.task_list_card(rows, page=page, url=_url)


def _person_view(person: Any) -> dict[str, Any]:
    user, db, when = g.addon_user, g.addon_db, _when()
    today = core.local_today(user, when).isoformat()
    tasks = [t for t in core.list_tasks(db, user, due="all", when=when)
             if (t.get("person") or {}).get("id") == person.id]
    return views.person_card(core.person_dict(person), enrollments=core.enrollments_of(db, user, person),
                             tasks=views.order_tasks(tasks, today), campaigns=core.campaign_choices(db), url=_url)


def _current_view() -> dict[str, Any]:
    """After Complete/Skip, redraw the card the button was on (task list page or person).

    Runs after the change is committed, so a bad view parameter falls back to page 1
    instead of turning a done action into an error."""
    ev = _ev()
    raw_person, raw_page = ev.param("person_id") or "", ev.param("page") or ""
    if ev.param("view") == "person" and raw_person.isdigit():
        person = core.get_person(g.addon_db, int(raw_person))
        if person is not None:
            return _person_view(person)
    return _task_list(int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 1)


# --- triggers ------------------------------------------------------------------------------

@bp.post(HOMEPAGE)
def homepage():
    return jsonify(cards.trigger_response(_task_list(1)))


@bp.post(MESSAGE)
def message():
    """Contextual trigger: who is the other party of the opened message, and what Stepline
    knows about them."""
    ev, user = _ev(), g.addon_user
    if not (ev.message_id and ev.user_oauth_token):
        return jsonify(cards.trigger_response(views.unknown_sender_card(None)))
    try:
        email = message_counterpart(gmail_service(ev.user_oauth_token), ev.message_id,
                                    gmail_access_token=ev.gmail_access_token, own_email=user.email)
    except HttpError as exc:
        log.info("Gmail refused messages.get: %s", exc)
        return jsonify(cards.trigger_response(views.message_card(
            "Stepline", f"Gmail did not let Stepline read this message (HTTP {exc.status_code}).")))
    except google_exceptions.RefreshError:
        return jsonify(cards.trigger_response(views.message_card("Stepline", _EXPIRED)))
    except _NETWORK_ERRORS as exc:
        log.warning("Gmail unreachable: %s", exc)
        return jsonify(cards.trigger_response(views.message_card("Stepline", "Gmail could not be reached; try again.")))
    person = core.find_person(g.addon_db, email) if email else None
    if person is None:
        return jsonify(cards.trigger_response(views.unknown_sender_card(email)))
    return jsonify(cards.trigger_response(_person_view(person)))


@bp.post(COMPOSE)
def compose():
    ev = _ev()
    to = ev.to_recipients[0] if ev.to_recipients else None
    return jsonify(cards.trigger_response(
        views.compose_card(core.template_choices(g.addon_db), to=to, url=_url)))


# --- button actions ------------------------------------------------------------------------

@bp.post("/tasks", endpoint="tasks")
def tasks():
    """Refresh (replace the card) or More (push the next page, so Back returns)."""
    ev = _ev()
    card = _task_list(ev.int_param("page", default=1))
    return jsonify(cards.render_card(card, update=ev.param("nav") != "push"))


@bp.post("/tasks/open", endpoint="open")
def open_task():
    """Email task: a Gmail draft (in the previous email's thread for a follow-up), opened in
    Gmail's own compose window; the draft made by an earlier Open when it is still a draft.
    Other tasks: their details."""
    ev, user, db = _ev(), g.addon_user, g.addon_db
    task_id = ev.int_param("task_id")
    task = core.get_open_task(db, user, task_id, when=_when())  # only ever the rep's own
    if task is None:
        return jsonify(cards.notify("This task is no longer open."))
    email = task.get("email")
    if task.get("type") != "email" or not email:
        context = {k: ev.param(k) for k in ("view", "page", "person_id") if ev.param(k)}
        return jsonify(cards.render_card(views.task_detail_card(task, url=_url, context=context)))
    existing = core.existing_draft(db, user, task_id)
    if existing is not None:  # Open again: the draft made before, not a second copy
        return jsonify(cards.open_created_draft(*existing))
    if not ev.user_oauth_token:
        return jsonify(cards.notify("Gmail did not send an authorization for this action; reload Gmail and try again."))

    thread_id = (email.get("thread") or {}).get("provider_thread_id")
    mime = build_draft_mime(email, user.email)
    service = gmail_service(ev.user_oauth_token)
    try:
        try:
            draft = create_draft(service, mime, thread_id=thread_id, gmail_access_token=ev.gmail_access_token)
        except HttpError as exc:
            if not (thread_id and exc.status_code == 404):
                raise
            # The previous email's thread is gone (deleted): still a reply by its headers.
            draft = create_draft(service, mime, gmail_access_token=ev.gmail_access_token)
    except HttpError as exc:
        log.info("Gmail refused drafts.create: %s", exc)
        return jsonify(cards.notify(f"Gmail refused to create the draft (HTTP {exc.status_code})."))
    except google_exceptions.RefreshError:
        return jsonify(cards.notify(_EXPIRED))
    except _NETWORK_ERRORS as exc:
        log.warning("Gmail unreachable: %s", exc)
        return jsonify(cards.notify("Gmail could not be reached; try again."))

    draft_id = draft.get("id") if isinstance(draft, dict) else None
    draft_thread = (draft.get("message") or {}).get("threadId") if isinstance(draft, dict) else None
    if not (isinstance(draft_id, str) and isinstance(draft_thread, str)):
        return jsonify(cards.notify("Gmail gave an unexpected answer; the draft may be in your Drafts folder."))
    try:
        core.record_draft(db, user, task_id, draft_id=draft_id, thread_id=draft_thread)
        db.commit()
    except core.Refused as exc:
        db.rollback()
        log.warning("draft %s not recorded on task %s: %s", draft_id, task_id, exc.message)
    return jsonify(cards.open_created_draft(draft_id, draft_thread))


def _finish_task(action, done_message: str):
    ev, db = _ev(), g.addon_db
    try:
        action(db, g.addon_user, ev.int_param("task_id"), when=_when())
        db.commit()
    except core.Refused as exc:
        db.rollback()
        return jsonify(cards.notify(exc.message))
    return jsonify(cards.render_card(_current_view(), update=True, notification=done_message))


@bp.post("/tasks/complete", endpoint="complete")
def complete():
    return _finish_task(core.complete_task, "Task completed.")


@bp.post("/tasks/skip", endpoint="skip")
def skip():
    return _finish_task(core.skip_task, "Task skipped.")


@bp.post("/people/launch", endpoint="launch")
def launch():
    """Add to campaign from the contextual card; refusals are the core's own reasons."""
    ev, user, db = _ev(), g.addon_user, g.addon_db
    person = core.get_person(db, ev.int_param("person_id"))
    if person is None:
        return jsonify(cards.notify("This person is no longer in Stepline."))
    raw_campaign = ev.form_value("campaign_id")
    if not (raw_campaign and raw_campaign.isdigit()):
        return jsonify(cards.notify("Choose a campaign first."))
    send_now = "now" in ev.form_inputs.get("send_now", [])
    try:
        result = core.launch(db, user, int(raw_campaign), person.id, when=_when(), send_now=send_now)
        db.commit()
    except core.Refused as exc:
        db.rollback()
        return jsonify(cards.notify(f"Not added: {exc.message}"))
    refused = result.get("refused") or []
    if refused:
        return jsonify(cards.notify(f"Not added: {refused[0].get('reason') or 'refused'}"))
    name = views.person_name(core.person_dict(person))
    return jsonify(cards.render_card(_person_view(person), update=True, notification=f"{name} added to the campaign."))


@bp.post("/compose/insert", endpoint="insert")
def insert():
    """Fill the draft being composed with a template rendered for its recipient."""
    ev, db = _ev(), g.addon_db
    raw_template = ev.form_value("template_id")
    template = core.get_template(db, int(raw_template)) if raw_template and raw_template.isdigit() else None
    if template is None:
        return jsonify(cards.notify("Choose a template first."))
    to = (ev.form_value("to") or (ev.to_recipients[0] if ev.to_recipients else "")).strip()
    person = core.find_person(db, to) if to else None
    merge = core.person_dict(person) if person is not None else {"email": to}
    try:
        subject, body = core.render(template.subject, template.body_html, merge, g.addon_user)
    except core.RenderProblem as exc:
        return jsonify(cards.notify(f"Could not insert: {exc}"))
    return jsonify(cards.update_draft(subject=subject, to=[to] if to else [], body_html=body))
