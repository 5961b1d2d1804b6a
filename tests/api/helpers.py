"""A small driver for engine-level tests: build a campaign, launch, work tasks over the API,
and make due emails "sent" exactly the way the dispatcher records a send.

Why not a mock: every step goes through the real API, the real database and the real
engine; only the SMTP hop is left out (the dispatcher's own tests cover it), and the send
is recorded with the same sequence ``server.services.dispatch._deliver`` uses after a
successful SMTP conversation.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.models import Email, Enrollment, Task
from server.services import events
from server.services.engine import finish_current_step

NY = ZoneInfo("America/New_York")


def local(d: str, hm: str = "00:00", zone: ZoneInfo = NY) -> datetime:
    """An aware instant from a local date and HH:MM."""
    return datetime.fromisoformat(f"{d}T{hm}").replace(tzinfo=zone)


def iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class World:
    """One rep with a mailbox, driving campaigns through the API with a frozen clock."""

    def __init__(self, app, clock, api, mailbox_id: int, make_person, make_template, make_campaign) -> None:
        self.app, self.clock, self.api, self.mailbox_id = app, clock, api, mailbox_id
        self._make_person, self._make_template, self._make_campaign = make_person, make_template, make_campaign

    # ---------------------------------------------------------------- building

    def person(self, **fields) -> int:
        return self._make_person(self.api, **fields)

    def template(self, subject: str = "Hello {{ first_name }}", body: str = "<p>Hi {{ first_name }}</p>") -> int:
        return self._make_template(self.api, subject, body)

    def campaign(self, steps: list[dict], settings: dict | None = None) -> dict:
        return self._make_campaign(self.api, steps, settings)

    def email_step(self, day: int, option: str, **extra) -> dict:
        step = {"day": day, "type": "email", "send_option": option,
                "subject": extra.pop("subject", f"Day {day} for {{{{ first_name }}}}"),
                "body_html": extra.pop("body_html", f"<p>Day {day} body for {{{{ first_name }}}}</p>")}
        return step | extra

    def launch(self, campaign_id: int, people: list[Any], expect: int = 200, **extra) -> dict:
        body = {"people": people, "mailbox_id": self.mailbox_id} | extra
        response = self.api.post(f"/campaigns/{campaign_id}/launch", json=body)
        assert response.status_code == expect, response.json
        return response.json

    def launch_one(self, campaign_id: int, person_id: int | None = None, **extra) -> int:
        person_id = person_id or self.person()
        result = self.launch(campaign_id, [person_id], **extra)
        assert result["refused"] == [], result
        return result["enrolled"][0]["enrollment_id"]

    # ---------------------------------------------------------------- reading

    def enrollment(self, enrollment_id: int) -> dict:
        response = self.api.get(f"/enrollments/{enrollment_id}")
        assert response.status_code == 200, response.json
        return response.json

    def step_of(self, enrollment_id: int, index: int) -> dict:
        return self.enrollment(enrollment_id)["steps"][index]

    def tasks(self, **query) -> list[dict]:
        response = self.api.get("/tasks", query_string=query)
        assert response.status_code == 200, response.json
        return response.json["tasks"]

    def task_for(self, enrollment_id: int) -> dict:
        found = [t for t in self.tasks(status="open") if t["enrollment_id"] == enrollment_id]
        assert len(found) == 1, found
        return found[0]

    def emails(self, enrollment_id: int | None = None, **query) -> list[dict]:
        response = self.api.get("/emails", query_string=query)
        assert response.status_code == 200, response.json
        rows = response.json["emails"]
        return [e for e in rows if enrollment_id is None or e["enrollment_id"] == enrollment_id]

    def scheduled_email(self, enrollment_id: int) -> dict:
        found = self.emails(enrollment_id, status="scheduled")
        assert len(found) == 1, found
        return found[0]

    def db_rows(self, model, **where) -> list:
        with self.app.extensions["stepline_sessions"]() as session:
            query = select(model)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows

    # ---------------------------------------------------------------- acting

    def at(self, when: datetime) -> None:
        self.clock.set(when)

    def complete(self, task_id: int) -> dict:
        response = self.api.post(f"/tasks/{task_id}/complete")
        assert response.status_code == 200, response.json
        return response.json

    def skip(self, task_id: int) -> dict:
        response = self.api.post(f"/tasks/{task_id}/skip")
        assert response.status_code == 200, response.json
        return response.json

    def send(self, email_id: int, at: datetime | None = None) -> None:
        """Record a successful send the way the dispatcher does after SMTP said 250."""
        if at is not None:
            self.clock.set(at)
        now = self.clock.now()
        with self.app.extensions["stepline_sessions"]() as session:
            email = session.get(Email, email_id)
            assert email.status == "scheduled", email.status
            enrollment = session.get(Enrollment, email.enrollment_id) if email.enrollment_id else None
            email.status, email.sent_at, email.failure_reason = "sent", now, None
            events.record(session, "sent", at=now, user_id=email.user_id, person_id=email.person_id,
                          campaign_id=enrollment.campaign_id if enrollment else None, step_id=email.step_id,
                          enrollment_id=email.enrollment_id, email_id=email.id, data={"subject": email.subject})
            if enrollment is not None and enrollment.current_step_id == email.step_id:
                finish_current_step(session, enrollment, done_at=now, now=now)
            session.commit()

    def send_when_due(self, enrollment_id: int) -> dict:
        """Move the clock to the scheduled email's due instant (if later) and send it then."""
        email = self.scheduled_email(enrollment_id)
        due = iso(email["due_at"])
        if due > self.clock.now():
            self.clock.set(due)
        self.send(email["id"])
        return email


@pytest.fixture
def world(app, clock, rep, make_mailbox, make_person, make_template, make_campaign) -> World:
    return World(app, clock, rep, make_mailbox(rep), make_person, make_template, make_campaign)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


__all__ = ["World", "world", "local", "iso", "utc", "NY", "date", "timedelta"]
