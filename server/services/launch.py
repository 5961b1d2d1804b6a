"""Launch: add people to a campaign (one or 10,000 in one call).

All-or-nothing per person: each person is either enrolled with their first step current
(task or scheduled email) or refused with a reason, never half-written. The checks that
concern the whole request (the campaign, the mailbox, ``send_at``, ``step_times``) come first
and refuse the whole request with 422.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.domain import schedule
from server.domain.templates import TemplateSyntaxProblem, missing_field
from server.errors import Forbidden, Invalid, NotFound
from server.models import ACTIVE_STATES, Campaign, Enrollment, Mailbox, Person, User
from server.services.campaigns import calendar, get_campaign
from server.services.engine import Becoming, Sender, _content, bulk_insert, record_events, start_steps
from server.services.people import merge_data

MAX_PEOPLE = 10_000
_PERSON_COLUMNS = (Person.id, Person.email, Person.first_name, Person.last_name, Person.company, Person.title,
                   Person.timezone, Person.fields, Person.unsubscribed)


def _parse_send_at(raw: Any, now: datetime) -> datetime | None:
    if raw in (None, ""):
        return None
    if raw == "now":
        return now
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw))
        except ValueError as exc:
            raise Invalid("send_at must be \"now\" or an ISO 8601 instant with offset", "send_at") from exc
    if value.tzinfo is None:
        raise Invalid("send_at needs a UTC offset (e.g. 2026-03-02T09:30:00-05:00)", "send_at")
    try:
        year = value.astimezone(timezone.utc).year
    except OverflowError:  # 9999-12-31T23:59-12:00 is past the last representable UTC instant
        year = 0
    if not 2000 <= year <= 2099:
        raise Invalid("send_at must be between 2000-01-01 and 2099-12-31", "send_at")
    return value


def _check_step_times(campaign: Campaign, raw: Any) -> dict[str, str]:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise Invalid("step_times is an object of step id to HH:MM", "step_times")
    at_time_ids = {str(s.id) for s in campaign.steps if s.type == "email" and s.send_option == "at_time"}
    result = {}
    for key, value in raw.items():
        if str(key) not in at_time_ids:
            raise Invalid(f"step {key} is not an at_time email step of this campaign", f"step_times.{key}")
        try:
            result[str(key)] = time.fromisoformat(str(value)).strftime("%H:%M")
        except ValueError as exc:
            raise Invalid(f"'{value}' is not a time of day (HH:MM)", f"step_times.{key}") from exc
    return result


def _pick_mailbox(session: Session, user: User, mailbox_id: Any, needed: bool) -> Mailbox | None:
    if mailbox_id is None:
        if not needed:
            return None
        own = list(session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)))
        if len(own) == 1:
            return own[0]
        raise Invalid("mailbox_id is required: the campaign has email steps", "mailbox_id")
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None or (mailbox.user_id != user.id and not user.is_admin):
        raise NotFound(f"mailbox {mailbox_id} not found", "mailbox_id")
    return mailbox


def zone_for(campaign: Campaign, sender: User, person_zone: str | None) -> str:
    """Sender's zone unless the campaign says recipient and the person has one (SPEC §2)."""
    if campaign.timezone == "recipient" and person_zone:
        return person_zone
    return sender.timezone


def launch(session: Session, user: User, campaign_id: int, *, people: list[Any], mailbox_id: Any = None,
           now: datetime, start_date: date | None = None, send_at: Any = None,
           step_times: Any = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    campaign = get_campaign(session, campaign_id)
    steps = list(campaign.steps)
    if not steps:
        raise Invalid("the campaign has no steps", "campaign_id")
    if not isinstance(people, list) or not people:
        raise Invalid("people is a list of 1 to 10,000 person ids", "people")
    if len(people) > MAX_PEOPLE:
        raise Invalid(f"at most {MAX_PEOPLE} people in one launch", "people")
    first = steps[0]
    send_instant = _parse_send_at(send_at, now)
    if first.type == "email" and first.send_option == "choose_at_launch" and send_instant is None:
        raise Invalid(f"the first step (day {first.day}, position {first.position}) is choose_at_launch: the launch "
                      "must give send_at (\"now\" or an instant)", "send_at")
    if send_instant is not None and not (first.type == "email" and first.send_option in ("choose_at_launch", "at_time")):
        raise Invalid("send_at sets the first email's time; this campaign's first step is not an automatic email",
                      "send_at")
    if send_at == "now" and start_date is not None and start_date > now.date():
        raise Invalid("send_at \"now\" cannot be combined with a future start_date", "start_date")
    times = _check_step_times(campaign, step_times)
    has_email = any(s.type == "email" for s in steps)
    mailbox = _pick_mailbox(session, user, mailbox_id, has_email)
    sender_user = session.get(User, mailbox.user_id) if mailbox else user
    if mailbox is None and not user.is_admin and sender_user.id != user.id:
        raise Forbidden("you can only launch from your own mailbox", "mailbox_id")

    sources = tuple(src for s in steps if s.type == "email" for src in _content(s))
    sender = Sender.of(sender_user, mailbox)
    sender_data = {"name": sender.name, "email": sender.address}

    refused: list[dict[str, Any]] = []
    wanted: list[int] = []
    seen: set[int] = set()
    for raw in people:
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < 2**31:
            refused.append({"person_id": raw, "reason": "not a person id"})
        elif raw in seen:
            refused.append({"person_id": raw, "reason": "listed twice in this launch"})
        else:
            seen.add(raw)
            wanted.append(raw)

    found: dict[int, Person] = {}
    active: set[int] = set()
    for i in range(0, len(wanted), 900):
        chunk = wanted[i:i + 900]
        # Plain rows, not ORM objects: 10,000 identity-mapped Persons cost more than the query.
        found.update((p.id, p) for p in session.execute(select(*_PERSON_COLUMNS).where(Person.id.in_(chunk))))
        active.update(session.scalars(select(Enrollment.person_id).where(
            Enrollment.campaign_id == campaign.id, Enrollment.person_id.in_(chunk),
            Enrollment.state.in_(ACTIVE_STATES))))

    accepted: list[tuple[Person, str, date]] = []
    calendars: dict[str, schedule.Calendar] = {}
    for person_id in wanted:
        if progress:
            progress(1)
        person = found.get(person_id)
        if person is None:
            refused.append({"person_id": person_id, "reason": "person not found"})
            continue
        if person.unsubscribed:
            refused.append({"person_id": person_id, "reason": "unsubscribed"})
            continue
        if person_id in active:
            refused.append({"person_id": person_id, "reason": "already active in this campaign"})
            continue
        if "@" not in person.email or person.email.startswith("@") or person.email.endswith("@"):
            refused.append({"person_id": person_id, "reason": f"invalid email address {person.email}"})
            continue
        try:
            missing = missing_field(sources, merge_data(person), sender_data)
        except TemplateSyntaxProblem as exc:
            refused.append({"person_id": person_id, "reason": f"template cannot be rendered: {exc.message}"})
            continue
        if missing:
            refused.append({"person_id": person_id, "reason": f"missing merge data: {missing}"})
            continue
        zone = zone_for(campaign, sender_user, person.timezone)
        cal = calendars.get(zone) or calendars.setdefault(zone, calendar(campaign, zone))
        day1 = schedule.first_day(cal, send_instant if send_instant and send_at != "now" else now, start_date)
        accepted.append((person, zone, day1))

    enrolled = _enroll(session, campaign, steps, accepted, sender_user, mailbox, sender, now=now,
                       send_at=send_instant, step_times=times, refused=refused)
    return {"enrolled": enrolled, "refused": refused}


def _enroll(session: Session, campaign: Campaign, steps: list, accepted: list[tuple[Person, str, date]],
            sender_user: User, mailbox: Mailbox | None, sender: Sender, *, now: datetime,
            send_at: datetime | None, step_times: dict[str, str], refused: list[dict[str, Any]]) -> list[dict]:
    """Insert the accepted people in bulk; if a concurrent launch won a race for some of
    them (the partial unique index), fall back to one savepoint per person."""
    try:
        with session.begin_nested():
            return _insert(session, campaign, steps, accepted, sender_user, mailbox, sender, now=now,
                           send_at=send_at, step_times=step_times)
    except IntegrityError:
        pass
    enrolled: list[dict] = []
    for item in accepted:
        try:
            with session.begin_nested():
                enrolled += _insert(session, campaign, steps, [item], sender_user, mailbox, sender, now=now,
                                    send_at=send_at, step_times=step_times)
        except IntegrityError:
            refused.append({"person_id": item[0].id, "reason": "already active in this campaign"})
    return enrolled


def _insert(session: Session, campaign: Campaign, steps: list, accepted: list[tuple[Person, str, date]],
            sender_user: User, mailbox: Mailbox | None, sender: Sender, *, now: datetime,
            send_at: datetime | None, step_times: dict[str, str]) -> list[dict]:
    if not accepted:
        return []
    rows = [{"campaign_id": campaign.id, "person_id": p.id, "user_id": sender_user.id,
             "mailbox_id": mailbox.id if mailbox else None, "state": "active", "success": False,
             "timezone": zone, "day1": day1, "current_step_id": steps[0].id, "send_at": send_at,
             "step_times": step_times, "created_at": now} for p, zone, day1 in accepted]
    by_person = bulk_insert(session, Enrollment.__table__, rows, "person_id")
    ids = [by_person[p.id] for p, _zone, _day1 in accepted]
    mailbox_id = mailbox.id if mailbox else None
    items = [Becoming(enrollment_id=eid, user_id=sender_user.id, mailbox_id=mailbox_id,
                      person=merge_data(p) | {"id": p.id},
                      zone=zone, day1=day1, index=0, send_at=send_at, step_times=step_times)
             for eid, (p, zone, day1) in zip(ids, accepted)]
    start_steps(session, campaign, steps, items, now=now, senders={mailbox_id: sender}, mark_current=False)
    record_events(session, [{"type": "enrolled", "at": now, "user_id": sender_user.id, "person_id": p.id,
                                  "campaign_id": campaign.id, "step_id": None, "enrollment_id": eid}
                                 for eid, (p, _z, _d) in zip(ids, accepted)])
    return [{"person_id": p.id, "enrollment_id": eid} for eid, (p, _z, _d) in zip(ids, accepted)]
