"""Campaigns and their steps: create, change, read.

A PATCH never touches what was already sent: emails keep their own rendered copy, and
steps that an enrollment already passed are kept (soft-deleted when removed), so only steps
not yet current use the new definition (SPEC §3).
"""
from __future__ import annotations

from datetime import datetime, time
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain import schedule
from server.domain.steps import StepDraft, order_steps, validate_steps
from server.domain.templates import check_syntax
from server.errors import Invalid, NotFound
from server.models import Campaign, Step, Template, User

DEFAULT_SETTINGS: dict[str, Any] = {
    "skip_weekends": True,
    "holidays": None,
    "remove_on_bounce": True,
    "on_reply": "end",
    "ignore_auto_replies": True,
    "timezone": "sender",
    "send_window": None,
    "track_opens": True,
    "track_clicks": True,
}
ON_REPLY = ("end", "end_success", "continue")


def _parse_hhmm(value: Any, field: str) -> time:
    if isinstance(value, time):
        return value
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError) as exc:
        raise Invalid(f"'{value}' is not a time of day (HH:MM)", field) from exc


def _apply_settings(campaign: Campaign, settings: dict[str, Any]) -> None:
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid(f"unknown setting '{name}'", f"settings.{name}")
    for key in ("skip_weekends", "remove_on_bounce", "ignore_auto_replies", "track_opens", "track_clicks"):
        if key in settings:
            if not isinstance(settings[key], bool):
                raise Invalid(f"{key} must be true or false", f"settings.{key}")
            setattr(campaign, key, settings[key])
    if "holidays" in settings:
        code = settings["holidays"]
        if code in (None, ""):
            campaign.holidays = None
        elif not isinstance(code, str) or not schedule.validate_country(code.upper()):
            raise Invalid(f"'{code}' is not a supported holiday calendar (use a country code like US)",
                          "settings.holidays")
        else:
            campaign.holidays = code.upper()
    if "on_reply" in settings:
        if settings["on_reply"] not in ON_REPLY:
            raise Invalid(f"on_reply must be one of {', '.join(ON_REPLY)}", "settings.on_reply")
        campaign.on_reply = settings["on_reply"]
    if "timezone" in settings:
        if settings["timezone"] not in ("sender", "recipient"):
            raise Invalid("timezone must be 'sender' or 'recipient'", "settings.timezone")
        campaign.timezone = settings["timezone"]
    if "send_window" in settings:
        window = settings["send_window"]
        if window in (None, ""):
            campaign.send_window_start = campaign.send_window_end = None
        else:
            if isinstance(window, str) and "-" in window:
                start, end = window.split("-", 1)
            elif isinstance(window, dict):
                start, end = window.get("start"), window.get("end")
            else:
                raise Invalid("send_window is {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} or \"HH:MM-HH:MM\"",
                              "settings.send_window")
            opens = _parse_hhmm(start, "settings.send_window.start")
            closes = _parse_hhmm(end, "settings.send_window.end")
            if opens >= closes:
                raise Invalid("send_window must open before it closes", "settings.send_window")
            campaign.send_window_start, campaign.send_window_end = opens, closes


def settings_dict(c: Campaign) -> dict[str, Any]:
    window = None
    if c.send_window_start and c.send_window_end:
        window = {"start": c.send_window_start.strftime("%H:%M"), "end": c.send_window_end.strftime("%H:%M")}
    return {
        "skip_weekends": c.skip_weekends, "holidays": c.holidays, "remove_on_bounce": c.remove_on_bounce,
        "on_reply": c.on_reply, "ignore_auto_replies": c.ignore_auto_replies, "timezone": c.timezone,
        "send_window": window, "track_opens": c.track_opens, "track_clicks": c.track_clicks,
    }


def _check_steps(session: Session, steps: Sequence[dict[str, Any]]) -> list[StepDraft]:
    drafts = []
    template_ids = {s["template_id"] for s in steps if s.get("template_id") is not None}
    known = set(session.scalars(select(Template.id).where(Template.id.in_(template_ids)))) if template_ids else set()
    for index, s in enumerate(steps):
        f = f"steps[{index}]"
        if s.get("template_id") is not None and s["template_id"] not in known:
            raise Invalid(f"step {index + 1}: template {s['template_id']} not found", f"{f}.template_id")
        for key in ("subject", "body_html"):
            if s.get(key):
                problem = check_syntax(s[key])
                if problem:
                    raise Invalid(f"step {index + 1}: template syntax error: {problem}", f"{f}.{key}")
        has_content = s.get("template_id") is not None or bool(s.get("subject") and s.get("body_html"))
        drafts.append(StepDraft(index=index, day=s["day"], type=s["type"], send_option=s.get("send_option"),
                                time=s.get("time"), follow_up=bool(s.get("follow_up")), has_content=has_content))
    problems = validate_steps(drafts)
    if problems:
        raise Invalid(problems[0].message, problems[0].field)
    return order_steps(drafts)


def _write_steps(session: Session, campaign: Campaign, steps: Sequence[dict[str, Any]], now: datetime) -> None:
    ordered = _check_steps(session, steps)
    existing = {s.id: s for s in session.scalars(
        select(Step).where(Step.campaign_id == campaign.id, Step.deleted_at.is_(None)))}
    kept: set[int] = set()
    for draft in ordered:
        data = steps[draft.index]
        step_id = data.get("id")
        if step_id is not None:
            if step_id not in existing:
                raise Invalid(f"step {draft.index + 1}: step {step_id} is not a step of this campaign",
                              f"steps[{draft.index}].id")
            step = existing[step_id]
            kept.add(step_id)
        else:
            step = Step(campaign_id=campaign.id)
            session.add(step)
        step.day, step.position, step.type = draft.day, draft.position, draft.type
        step.send_option = data.get("send_option") if draft.type == "email" else None
        step.time = data.get("time")
        step.follow_up = bool(data.get("follow_up"))
        step.template_id = data.get("template_id")
        step.subject, step.body_html = data.get("subject"), data.get("body_html")
        step.title, step.notes = data.get("title"), data.get("notes")
        step.priority = data.get("priority") or "normal"
    for step_id, step in existing.items():
        if step_id not in kept:
            step.deleted_at = now


def create_campaign(session: Session, user: User, data: dict[str, Any], *, now: datetime) -> Campaign:
    campaign = Campaign(name=data["name"], owner_id=user.id, created_at=now, updated_at=now)
    _apply_settings(campaign, data.get("settings") or {})
    session.add(campaign)
    session.flush()
    _write_steps(session, campaign, data.get("steps") or [], now)
    session.flush()
    session.refresh(campaign)
    return campaign


def update_campaign(session: Session, campaign: Campaign, data: dict[str, Any], *, now: datetime) -> Campaign:
    if "name" in data:
        campaign.name = data["name"]
    if "settings" in data and data["settings"] is not None:
        _apply_settings(campaign, data["settings"])
    if "steps" in data and data["steps"] is not None:
        _write_steps(session, campaign, data["steps"], now)
    campaign.updated_at = now
    session.flush()
    session.refresh(campaign)
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found", "campaign_id")
    return campaign


def step_dict(s: Step) -> dict[str, Any]:
    return {
        "id": s.id, "day": s.day, "position": s.position, "type": s.type, "send_option": s.send_option,
        "time": s.time.strftime("%H:%M") if s.time else None, "follow_up": s.follow_up,
        "template_id": s.template_id, "subject": s.subject, "body_html": s.body_html,
        "title": s.title, "notes": s.notes, "priority": s.priority,
    }


def campaign_dict(c: Campaign) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "owner_id": c.owner_id, "settings": settings_dict(c),
            "steps": [step_dict(s) for s in c.steps],
            "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat()}


# ----------------------------------------------------------------- scheduling inputs


def step_rule(s: Step) -> schedule.StepRule:
    return schedule.StepRule(id=s.id, day=s.day, position=s.position, type=s.type,
                             send_option=s.send_option if s.type == "email" else None,
                             time=s.time, follow_up=s.follow_up)


def calendar(c: Campaign, zone: str) -> schedule.Calendar:
    window = (c.send_window_start, c.send_window_end) if c.send_window_start and c.send_window_end else None
    return schedule.Calendar(zone=ZoneInfo(zone), skip_weekends=c.skip_weekends, holidays=c.holidays,
                             send_window=window)
