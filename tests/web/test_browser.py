"""The web app in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

The app runs for real on 127.0.0.1 (werkzeug in a thread) against the test database; the
Live Feed is the real server-sent-events stream, and "send" goes through the dispatcher to a
real SMTP sink (aiosmtpd on loopback). Screenshots land in test-artifacts/.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.adapters.sink import smtp_sink  # noqa: F401  (fixture)

from .conftest import PASSWORD

from tests.browser import browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
INTRO = ("Quick question, {{ first_name }}", "<p>Hi {{ first_name }}, teams like {{ company }} use Stepline.</p>")


@pytest.fixture
def live(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def page(browser, live):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live, locale="en-US",
                                  timezone_id="America/New_York")
    context.set_default_timeout(8000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("Email").fill("rep@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard alone signs in
    page.wait_for_url(re.compile(re.escape(path) + r"$"))


def option_values(select) -> list[str]:
    return select.evaluate("s => [...s.options].map(o => o.value)")


def test_rep_builds_a_campaign_with_rule_aware_controls_and_a_live_timeline_then_launches_two_people(
        page, rep, set_password, make_mailbox, make_template, make_person):
    from playwright.sync_api import expect

    set_password(rep.user_id)
    make_mailbox(rep, "rep@sales.example")
    make_template(rep, *INTRO)
    make_person(rep, email="ada@lovelace.example", first_name="Ada", last_name="Lovelace")
    make_person(rep, email="grace@hopper.example", first_name="Grace", last_name="Hopper")
    make_person(rep, email="alan@turing.example", first_name="Alan", last_name="Turing")

    sign_in(page, "/campaigns/new")
    steps = page.locator("li.step")
    expect(steps).to_have_count(1)
    first = steps.nth(0)
    assert option_values(first.get_by_label("Send option")) == ["choose_at_launch", "at_time", "task"]
    expect(first.locator(".follow-field")).to_be_hidden()  # never on the first step
    first.get_by_label("Send option").select_option("task")
    expect(page.locator("#timeline .tl-step")).to_have_count(1)

    page.get_by_role("button", name="Add a step").click()
    second = steps.nth(1)
    assert option_values(second.get_by_label("Send option")) == ["same_time_as_previous", "at_time", "task"]
    expect(second.get_by_label(re.compile("^Follow-up"))).to_be_visible()  # after an email step
    expect(page.locator("#timeline .tl-step")).to_have_count(2)
    second.get_by_label("Step type").select_option("call")
    second.get_by_label("Notes / talk track").fill("Ask about their outbound")

    page.get_by_role("button", name="Add a step").click()
    third = steps.nth(2)
    expect(third.get_by_label("Send option")).to_be_visible()
    expect(third.locator(".follow-field")).to_be_hidden()  # the step before is a call
    expect(page.locator("#timeline .tl-step")).to_have_count(3)
    third.get_by_label("Send option").select_option("at_time")
    third.get_by_label("Time").fill("10:15")
    last_icon = page.locator("#timeline .tl-step").nth(2)
    expect(last_icon).to_have_attribute("data-label", re.compile("10:15"))
    expect(page.locator("#timeline .tl-step").nth(1)).to_have_attribute("data-label", "task")
    third.get_by_label("Write it here").check()
    third.get_by_label("Subject").fill("Last try, {{ first_name }}")
    third.get_by_label(re.compile("^Body")).fill("<p>Hi {{ first_name }}, shall I close your file?</p>")
    expect(third.locator(".preview-subject")).to_have_text("Subject: Last try, Pat")

    # A failed save shows the API's error beside the field and loses nothing typed.
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator("#err-name")).to_be_visible()
    expect(third.get_by_label("Subject")).to_have_value("Last try, {{ first_name }}")
    page.get_by_label("Campaign name").fill("Browser outbound")
    page.screenshot(path=str(ARTIFACTS / "campaign-builder.png"), full_page=True)
    page.get_by_role("button", name="Save campaign").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+\?saved=1$"))
    expect(page.locator("li.step")).to_have_count(3)
    expect(page.locator("#timeline .tl-step")).to_have_count(3)

    page.get_by_role("button", name="Launch…").click()
    dialog = page.locator("#launch")
    for name in ("Lovelace", "Hopper"):
        dialog.get_by_label("Search people").fill(name)
        dialog.get_by_role("button", name=re.compile(f"^Add .*{name}")).click()
    expect(page.locator("#picked-count")).to_have_text("2")
    dialog.get_by_label("Start date (day 1)").fill("2026-03-02")
    dialog.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#launch-result h3")).to_have_text("Enrolled 2, refused 0")
    assert len(rep.get("/enrollments").json["enrollments"]) == 2

    # A CSV import: a report per row; people already known are picked too, and the launch
    # says who was refused and why (Ada is already active in this campaign).
    for _ in range(2):
        page.locator("#picked").get_by_role("button").first.click()
    expect(page.locator("#picked-count")).to_have_text("0")
    csv = (b"email,first_name,last_name,company,industry\r\n"
           b"katherine@johnson.example,Katherine,Johnson,Orbital Math,space\r\n"
           b"ADA@lovelace.example,Ada,Lovelace,,\r\n"
           b"not-an-email,Bad,Row,,\r\n")
    dialog.get_by_label(re.compile("import a CSV")).set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": csv}])
    report = page.locator("#csv-report")
    expect(report).to_contain_text("Row 2: katherine@johnson.example: added")
    expect(report).to_contain_text("Row 3: ada@lovelace.example: already known, added")
    expect(report.locator("li.bad")).to_contain_text("Row 4:")
    expect(page.locator("#picked-count")).to_have_text("2")
    dialog.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#launch-result h3")).to_have_text("Enrolled 1, refused 1")
    expect(page.locator("#launch-refused")).to_contain_text("Ada Lovelace <ada@lovelace.example>: ")
    page.screenshot(path=str(ARTIFACTS / "launch-dialog.png"))


def test_rep_opens_an_email_task_edits_and_sends_it_and_sees_it_sent_and_in_the_live_feed(
        app, page, rep, set_password, make_mailbox, make_template, make_person, make_campaign, smtp_sink):  # noqa: F811
    from playwright.sync_api import expect

    from server.services.dispatch import run_pass

    set_password(rep.user_id)
    mailbox = make_mailbox(rep, "rep@sales.example", port=smtp_sink.port)
    template = make_template(rep, *INTRO)
    person = make_person(rep, email="ada@lovelace.example", first_name="Ada", last_name="Lovelace",
                         company="Analytical Engines")
    campaign = make_campaign(rep, [
        {"day": 1, "type": "email", "template_id": template, "send_option": "task"},
        {"day": 3, "type": "email", "subject": "Bump", "body_html": "<p>Bumping this, {{ first_name }}.</p>",
         "send_option": "task", "follow_up": True}])
    launched = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": [person], "mailbox_id": mailbox, "start_date": "2026-03-02"})
    assert launched.json["enrolled"], launched.json

    sign_in(page, "/")
    task = page.locator('[data-tasks="today"] li.task')
    expect(task).to_have_count(1)
    expect(page.locator("#feed-state")).to_have_text("live")
    task.get_by_role("button", name="Open email to Ada Lovelace").click()
    dialog = page.locator("#compose")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("To")).to_have_value("ada@lovelace.example")
    expect(dialog.get_by_label("Subject")).to_have_value("Quick question, Ada")
    body = dialog.get_by_role("textbox", name="Message")
    expect(body).to_contain_text("Hi Ada, teams like Analytical Engines use Stepline.")
    body.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" P.S. written in the browser.")
    dialog.get_by_label("Subject").fill("A quick question for Ada")
    page.screenshot(path=str(ARTIFACTS / "compose.png"))
    dialog.get_by_role("button", name="Send now").click()
    expect(dialog).to_be_hidden()
    expect(page.locator('[data-emails="scheduled"] li.email')).to_contain_text("A quick question for Ada")
    expect(page.locator('#feed-list li[data-type="task_completed"]')).to_have_count(1)  # no reload

    assert run_pass(app) == 1  # the dispatcher delivers it to the SMTP sink
    expect(page.locator('#feed-list li[data-type="sent"]')).to_contain_text("A quick question for Ada")
    expect(page.locator('#feed-list li[data-type="sent"]')).to_contain_text("Ada Lovelace")
    expect(page.locator('[data-emails="sent"] li.email')).to_contain_text("A quick question for Ada")
    message = smtp_sink.received[0].message
    assert message["Subject"] == "A quick question for Ada"
    assert "P.S. written in the browser." in message.get_body(("html",)).get_content()

    # The follow-up task that became current quotes the campaign's copy of the first email.
    follow_up = page.locator('[data-tasks="upcoming"] li.task')
    expect(follow_up).to_have_count(1)
    follow_up.get_by_role("button", name=re.compile("^Open email")).click()
    expect(dialog.get_by_label("Subject")).to_have_value(re.compile(r"^Re: "))
    expect(page.locator("#compose-quoted")).to_contain_text("Hi Ada, teams like Analytical Engines")
    expect(page.locator("#compose-quoted")).not_to_contain_text("P.S. written in the browser")
    dialog.get_by_role("button", name="Cancel").click()
    page.screenshot(path=str(ARTIFACTS / "command-center.png"), full_page=True)

    # Pausing holds the task back; the paused enrollment is resumed from the Command Center.
    follow_up.get_by_role("button", name="Pause the enrollment").click()
    expect(follow_up).to_have_count(0)
    paused = page.locator("[data-paused] li.item")
    expect(paused).to_contain_text("ada@lovelace.example")
    paused.get_by_role("button", name="Resume the enrollment").click()
    expect(follow_up).to_have_count(1)
    expect(page.locator('#feed-list li[data-type="resumed"]')).to_have_count(1)

    # Schedule reads the datetime-local input in the rep's time zone, across DST too.
    assert page.evaluate("Stepline.localToInstant('2026-03-03T09:30')") == "2026-03-03T14:30:00.000Z"
    assert page.evaluate("Stepline.localToInstant('2026-03-09T09:30')") == "2026-03-09T13:30:00.000Z"

    # A state-changing call without the CSRF header is refused, even with the session cookie.
    status = page.evaluate("""async () => {
        const r = await fetch('/api/v1/tasks/1/skip', {method: 'POST', credentials: 'same-origin'});
        return [r.status, (await r.json()).error.field];
    }""")
    assert status == [403, "X-CSRF-Token"]

    # The campaign's results chart counts the sent email on its step.
    page.goto(f"/campaigns/{campaign['id']}")
    results = page.locator("#results")
    expect(results.locator("svg.chart rect.bar-sent")).to_have_count(2)
    expect(results.locator("tbody tr").first).to_contain_text("Day 1, step 1")
    assert results.locator("tbody tr").first.locator("td").first.inner_text() == "1"
    page.screenshot(path=str(ARTIFACTS / "campaign-results.png"), full_page=True)

    # The person's page lists the enrollment, the email and the tasks, and unsubscribes them.
    page.goto(f"/people/{person}")
    expect(page.locator("[data-enrollment-id] .state")).to_have_text("active")
    expect(page.get_by_role("heading", name="Emails")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.locator("h1 .badge")).to_have_text("unsubscribed")
    expect(page.locator("[data-enrollment-id] .state")).to_have_text("unsubscribed")
    page.screenshot(path=str(ARTIFACTS / "person.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.locator('[data-emails="sent"] li.email')).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "command-center-narrow.png"), full_page=True)
