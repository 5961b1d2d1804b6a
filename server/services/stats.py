"""Campaign analytics: per step, what was sent and what people did with it.

Counting rules (written down because every sales tool counts a little differently):

* ``sent``: emails of the step that went out.
* ``opened``: distinct emails of the step with a *human* open, or a human click (a click
  proves the email was opened even when the client blocked the pixel). Machine opens and
  clicks (image proxies, link scanners; ``data.machine``) are never counted.
* ``clicked``: distinct emails of the step with a human click.
* ``replied``, ``bounced``, ``unsubscribed``: distinct enrollments with that event on the step.
* ``success``: enrollments marked a success (on_reply ``end_success``) whose last step was this one.
* rates are over ``sent`` (0.0 when nothing was sent), rounded to 4 decimals.

A rep sees the numbers of their own enrollments; an admin sees the whole team's.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from server.models import Email, Enrollment, Event, Step, User
from server.services.campaigns import get_campaign

COUNTS = ("sent", "opened", "clicked", "replied", "bounced", "unsubscribed", "success")
RATES = (("open_rate", "opened"), ("click_rate", "clicked"), ("reply_rate", "replied"),
         ("bounce_rate", "bounced"), ("unsubscribe_rate", "unsubscribed"), ("success_rate", "success"))


def _human():
    machine = Event.data["machine"].as_boolean()
    return or_(machine.is_(None), machine == false())


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    sent = row["sent"]
    for rate, count in RATES:
        row[rate] = round(row[count] / sent, 4) if sent else 0.0
    return row


def campaign_stats(session: Session, user: User, campaign_id: int) -> dict[str, Any]:
    campaign = get_campaign(session, campaign_id)
    own = None if user.is_admin else user.id

    steps = {s.id: s for s in campaign.steps}
    counts: dict[int, dict[str, int]] = {}

    def bump(step_id: int | None, key: str, value: int) -> None:
        if step_id is None:
            return
        counts.setdefault(step_id, dict.fromkeys(COUNTS, 0))[key] += value

    sent_q = (select(Email.step_id, func.count()).join(Step, Step.id == Email.step_id)
              .where(Step.campaign_id == campaign.id, Email.status == "sent").group_by(Email.step_id))
    if own is not None:
        sent_q = sent_q.where(Email.user_id == own)
    for step_id, n in session.execute(sent_q):
        bump(step_id, "sent", n)

    def event_counts(types: tuple[str, ...], distinct_col: Any, human: bool) -> list[tuple[int, int]]:
        query = (select(Event.step_id, func.count(func.distinct(distinct_col)))
                 .where(Event.campaign_id == campaign.id, Event.type.in_(types)).group_by(Event.step_id))
        if human:
            query = query.where(_human(), Event.email_id.is_not(None))
        if own is not None:
            query = query.where(Event.user_id == own)
        return list(session.execute(query))

    for step_id, n in event_counts(("opened", "clicked"), Event.email_id, True):
        bump(step_id, "opened", n)
    for step_id, n in event_counts(("clicked",), Event.email_id, True):
        bump(step_id, "clicked", n)
    for key in ("replied", "bounced", "unsubscribed"):
        for step_id, n in event_counts((key,), func.coalesce(Event.enrollment_id, -Event.person_id), False):
            bump(step_id, key, n)
    success_q = (select(Enrollment.current_step_id, func.count())
                 .where(and_(Enrollment.campaign_id == campaign.id, Enrollment.success.is_(True)))
                 .group_by(Enrollment.current_step_id))
    if own is not None:
        success_q = success_q.where(Enrollment.user_id == own)
    for step_id, n in session.execute(success_q):
        bump(step_id, "success", n)

    # Steps removed from the campaign still show when something happened on them.
    for step_id in counts:
        if step_id not in steps:
            step = session.get(Step, step_id)
            if step is not None and step.campaign_id == campaign.id:
                steps[step_id] = step
    rows = []
    for step in sorted(steps.values(), key=lambda s: (s.day, s.position, s.id)):
        row: dict[str, Any] = {"step_id": step.id, "day": step.day, "position": step.position, "type": step.type,
                               "removed": step.deleted_at is not None}
        row.update(counts.get(step.id, dict.fromkeys(COUNTS, 0)))
        rows.append(_rates(row))
    totals = _rates({key: sum(r[key] for r in rows) for key in COUNTS})
    return {"campaign_id": campaign.id, "name": campaign.name, "steps": rows, "totals": totals}


CSV_COLUMNS = ("step_id", "day", "position", "type") + COUNTS + tuple(rate for rate, _ in RATES)


def stats_csv(stats: dict[str, Any]) -> str:
    """One line per step and a final ``total`` line, for spreadsheets."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in stats["steps"]:
        writer.writerow(row)
    writer.writerow({"step_id": "total", "day": "", "position": "", "type": ""} | stats["totals"])
    return out.getvalue()
