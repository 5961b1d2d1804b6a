"""Command Center "Reschedule" in real headless Chromium: the rep moves a scheduled email (a
date and time read in their own zone) and an open task (a day), and sees the new due times."""
from __future__ import annotations

import re

import pytest

from tests.browser import browser  # noqa: F401  (fixture)
from tests.web.test_browser import ARTIFACTS, live, page, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_rep_reschedules_a_scheduled_email_and_a_task_and_sees_the_new_due_times(
        page, rep, set_password, make_mailbox, make_person, make_campaign):  # noqa: F811
    from playwright.sync_api import expect

    set_password(rep.user_id)
    mailbox = make_mailbox(rep, "rep@sales.example")
    ada = make_person(rep, email="ada@lovelace.example", first_name="Ada", last_name="Lovelace")
    grace = make_person(rep, email="grace@hopper.example", first_name="Grace", last_name="Hopper")
    emails = make_campaign(rep, [{"day": 1, "type": "email", "subject": "Hello {{ first_name }}",
                                  "body_html": "<p>Hi</p>", "send_option": "choose_at_launch"}], name="Emails")
    calls = make_campaign(rep, [{"day": 1, "type": "call"}], name="Calls")
    # The server's clock is Monday 2 March 2026, 08:00 in New York (the rep's zone).
    for campaign, person, extra in ((emails, ada, {"send_at": "2026-03-02T10:00:00-05:00"}),
                                    (calls, grace, {"start_date": "2026-03-02"})):
        launched = rep.post(f"/campaigns/{campaign['id']}/launch",
                            json={"people": [person], "mailbox_id": mailbox} | extra)
        assert launched.json["enrolled"], launched.json

    sign_in(page, "/")
    email = page.locator('[data-emails="scheduled"] li.email')
    expect(email).to_contain_text("Mon, Mar 2, 10:00 AM")
    email.get_by_role("button", name="Reschedule email Hello Ada").click()
    dialog = page.locator("#reschedule")
    expect(dialog).to_be_visible()
    when = dialog.get_by_label(re.compile(r"^Send at \(America/New_York\)"))
    expect(when).to_have_value("2026-03-02T10:00")
    expect(dialog.get_by_label("Due date")).to_be_hidden()

    # A time already past is refused beside the field, and nothing moves.
    when.fill("2026-03-01T09:00")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#reschedule-field-error")).to_contain_text("in the past")
    expect(dialog).to_be_visible()

    when.fill("2026-03-03T11:30")
    page.screenshot(path=str(ARTIFACTS / "reschedule-email.png"))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(email).to_contain_text("Tue, Mar 3, 11:30 AM")
    (scheduled,) = rep.get("/emails?status=scheduled").json["emails"]
    assert scheduled["due_at"] == "2026-03-03T16:30:00+00:00"

    task = page.locator('[data-tasks="today"] li.task')
    expect(task).to_contain_text("due 2026-03-02")
    task.get_by_role("button", name="Reschedule: Call Grace Hopper").click()
    expect(dialog.get_by_role("heading")).to_have_text("Reschedule task")
    day = dialog.get_by_label("Due date")
    expect(day).to_have_value("2026-03-02")
    day.fill("2026-03-05")
    day.press("Enter")  # the keyboard alone saves
    expect(dialog).to_be_hidden()
    expect(task).to_have_count(0)
    moved = page.locator('[data-tasks="upcoming"] li.task')
    expect(moved).to_contain_text("Call Grace Hopper")
    expect(moved).to_contain_text("due 2026-03-05")
    page.screenshot(path=str(ARTIFACTS / "reschedule-command-center.png"), full_page=True)
