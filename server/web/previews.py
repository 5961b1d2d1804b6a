"""Two previews the campaign builder needs before anything is saved.

* ``POST /api/v1/campaigns/timeline-preview``: the timeline of an unsaved (or being edited)
  campaign. It runs the very rules the engine and ``GET /campaigns/{id}/timeline`` run
  (``server.domain.steps`` for SPEC §3 validation, ``server.domain.schedule.plan`` for dates
  and times, ``server.services.campaigns`` for settings), so the picture cannot disagree.
* ``POST /api/v1/templates/preview``: a subject and body rendered with sample person data (or
  a real person's), through the same sandboxed Jinja renderer the launch uses.

Both are API calls (bearer token, or the web session + X-CSRF-Token).
"""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import request
from marshmallow import ValidationError

from server.api import _first_message, require_token
from server.api.common import ctx
from server.api.schemas import CampaignPatch, TimelineArgs
from server.domain import schedule
from server.domain.steps import StepDraft, order_steps, validate_steps
from server.domain.templates import MissingMergeField, TemplateSyntaxProblem, render_template
from server.errors import Invalid
from server.models import Campaign
from server.services.campaigns import DEFAULT_SETTINGS, _apply_settings, calendar
from server.services.people import get_person, merge_data
from server.services.users import valid_zone
from server.web import bp

SAMPLE_PERSON: dict[str, Any] = {"email": "pat.lee@acme.example", "first_name": "Pat", "last_name": "Lee",
                                 "company": "Acme", "title": "VP Sales", "fields": {}}


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("send a JSON object", None)
    return body


def _load(schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        field, message = _first_message(exc.messages)
        raise Invalid(f"{field}: {message}" if field else message, field or None) from exc


@bp.route("/api/v1/campaigns/timeline-preview", methods=["POST"])
def timeline_preview():
    """Body ``{steps, settings, start?, timezone?, send_at?, start_date?}``; each planned step
    carries ``index``, its place in the request's list, since unsaved steps have no id."""
    require_token()
    _, user, now = ctx()
    body = _json_body()
    data = _load(CampaignPatch(), {k: body[k] for k in ("steps", "settings") if body.get(k) is not None})
    args = _load(TimelineArgs(), {"start": body.get("start") or now.isoformat()} | {
        k: body[k] for k in ("timezone", "send_at", "start_date") if body.get(k) not in (None, "")})
    steps = data.get("steps") or []
    if not steps:
        raise Invalid("add at least one step", "steps")
    zone = args.get("timezone") or user.timezone
    if not valid_zone(zone):
        raise Invalid(f"unknown time zone '{zone}'", "timezone")
    campaign = Campaign()  # transient: only carries the settings, never added to the session
    _apply_settings(campaign, dict(DEFAULT_SETTINGS) | (data.get("settings") or {}))
    drafts = [StepDraft(index=i, day=s["day"], type=s["type"], send_option=s.get("send_option"),
                        time=s.get("time"), follow_up=bool(s.get("follow_up")), has_content=True)
              for i, s in enumerate(steps)]
    problems = validate_steps(drafts)
    if problems:
        raise Invalid(problems[0].message, problems[0].field)
    rules = [schedule.StepRule(id=d.index, day=d.day, position=d.position, type=d.type,
                               send_option=d.send_option if d.type == "email" else None, time=d.time,
                               follow_up=d.follow_up) for d in order_steps(drafts)]
    planned = schedule.plan(rules, calendar(campaign, zone), args["start"],
                            schedule.Overrides(send_at=args.get("send_at")), start_date=args.get("start_date"))
    tz = ZoneInfo(zone)
    return {"timezone": zone, "steps": [
        {"index": p.step.id, "step_id": None, "day": p.step.day, "position": p.step.position, "type": p.step.type,
         "kind": p.step.kind, "send_option": p.step.send_option, "follow_up": p.step.follow_up,
         "date": p.date.isoformat(), "at": p.at.astimezone(tz).isoformat() if p.at else None}
        for p in planned]}


@bp.route("/api/v1/templates/preview", methods=["POST"])
def template_preview():
    """Body ``{subject, body_html, person_id?}`` → ``{subject, body_html, person}`` rendered."""
    require_token()
    session, user, _ = ctx()
    body = _json_body()
    subject, html = body.get("subject") or "", body.get("body_html") or ""
    if not isinstance(subject, str) or not isinstance(html, str):
        raise Invalid("subject and body_html are text", "subject")
    person = SAMPLE_PERSON
    if body.get("person_id") is not None:
        pid = body["person_id"]
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**63:
            raise Invalid("person_id must be a person's id (a positive number)", "person_id")
        person = merge_data(get_person(session, body["person_id"]))
    sender = {"name": user.name, "email": user.email}
    try:
        rendered_subject, rendered_body = render_template(subject, html, person, sender)
    except MissingMergeField as exc:
        raise Invalid(f"the sample person has no '{exc.field}' (add a default: "
                      f"{{{{ {exc.field} | default(\"...\") }}}})", "body_html") from exc
    except TemplateSyntaxProblem as exc:
        raise Invalid(f"template syntax error: {exc.message}", "body_html") from exc
    return {"subject": rendered_subject, "body_html": rendered_body, "person": person}
