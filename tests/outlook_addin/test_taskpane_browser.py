"""The task pane in real headless Chromium, with stub Office.js and MSAL.js recording calls.

The Flask blueprint runs for real on 127.0.0.1 (werkzeug in a thread), verifying real RS256
tokens that the stub MSAL hands to the pane; only the core behind ``outlook_addin.core`` is an
in-memory double. Every request that is not to that server or to a stub is aborted, so nothing
leaves the machine.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .conftest import CLIENT_ID
from .fakes import FakeCore, call_task, email_task, make_app

from tests.browser import browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

STUBS = Path(__file__).parent / "stubs"
PREVIOUS_ID = "<0100018e-prev-step@email.stepline.example>"
API_SCOPE = f"api://stepline.example.com/{CLIENT_ID}/access_as_user"


@pytest.fixture
def fake(monkeypatch):
    fake = FakeCore().install(monkeypatch)
    fake.rep = fake.add_user("rep@example.com")
    return fake


def serve(app):
    """Run ``app`` on 127.0.0.1 in a thread; returns (base URL, stop function)."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop():
        httpd.shutdown()
        httpd.server_close()

    return f"http://127.0.0.1:{httpd.server_port}", stop


STUB_CONFIG = {"OUTLOOK_OFFICE_JS_URL": "/__stubs__/office.js", "OUTLOOK_MSAL_JS_URL": "/__stubs__/msal.js"}


@pytest.fixture
def server(tokens, fake):
    url, stop = serve(make_app(tokens.jwks_client(), **STUB_CONFIG))
    yield url
    stop()


class Pane:
    def __init__(self, page):
        self.page = page
        self.errors = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def calls(self, source="__officeCalls"):
        return self.page.evaluate(f"window.{source}")

    def compose_calls(self):
        return [c for c in self.calls() if c["method"].startswith("display")]

    def card(self, task_id):
        return self.page.locator(f'li.task[data-task-id="{task_id}"]')

    def click(self, task_id, label):
        self.card(task_id).get_by_role("button", name=label, exact=True).click()

    def status(self):
        return self.page.locator("#status").inner_text()


def launch_pane(context, server, token, *, item_id=None, silent=True, popup=False, office=False) -> Pane:
    """Load the pane from ``server`` with the stubs; only that server and the stubs are reachable."""

    def route(route):
        url = route.request.url
        if url.endswith("/__stubs__/office.js"):
            route.fulfill(path=STUBS / "office.js", content_type="text/javascript")
        elif url.endswith("/__stubs__/msal.js"):
            route.fulfill(path=STUBS / "msal.js", content_type="text/javascript")
        elif url.startswith(server + "/"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    pane = Pane(page)
    page.add_init_script(
        "window.__officeState = %s; window.__msalState = %s;" % (
            json.dumps({"itemId": item_id, "officeToken": token if office else None}),
            json.dumps({"silentToken": token if silent else None, "popupToken": token if popup else None}),
        )
    )
    page.goto(server + "/addins/outlook/taskpane.html")
    page.wait_for_function("!document.getElementById('status').textContent.startsWith('Loading')")
    return pane


@pytest.fixture
def open_pane(browser, server, tokens):
    contexts = []

    def open_pane(*, token=None, **options):
        context = browser.new_context()
        contexts.append(context)
        return launch_pane(context, server, token or tokens.make(), **options)

    yield open_pane
    for context in contexts:
        context.close()


def add_tasks(fake):
    fake.tasks[fake.rep.id] += [
        call_task(10, due="2026-03-01", due_state="overdue"),
        email_task(11, due="2026-03-02", subject="Quick question, Pat", body="<p>Hi Pat,</p><p>Worth a chat?</p>",
                   to="pat@acme.example"),
        email_task(12, due="2026-03-02", subject="Re: Quick question, Pat", body="<p>Following up.</p>",
                   to="pat@acme.example",
                   thread={"in_reply_to": PREVIOUS_ID, "references": PREVIOUS_ID, "provider_thread_id": "AAQk-conv"},
                   quoted="<blockquote><p>Hi Pat,</p><p>Worth a chat?</p></blockquote>"),
    ]


def test_lists_tasks_email_first_and_signs_in_with_naa(open_pane, fake):
    add_tasks(fake)
    pane = open_pane()
    titles = pane.page.locator("li.task").evaluate_all("nodes => nodes.map(n => n.dataset.taskId)")
    assert titles == ["11", "12", "10"]
    assert "Signed in as Rita Rep (rep@example.com)" in pane.page.locator("#who").inner_text()
    assert "Overdue" in pane.card(10).inner_text()
    msal_calls = pane.calls("__msalCalls")
    assert msal_calls[0] == {"method": "createNestablePublicClientApplication",
                             "args": {"auth": {"clientId": CLIENT_ID, "authority": "https://login.microsoftonline.com/common"}}}
    assert {"method": "acquireTokenSilent", "args": {"scopes": [API_SCOPE]}} in msal_calls
    assert not [c for c in msal_calls if c["method"] == "acquireTokenPopup"]
    assert not [c for c in pane.calls() if c["method"] == "getAccessToken"]
    assert pane.errors == []


def test_open_fills_a_new_message_with_exactly_the_task_email(open_pane, fake):
    add_tasks(fake)
    pane = open_pane()
    pane.click(11, "Open")
    assert pane.compose_calls() == [{
        "method": "displayNewMessageForm",
        "keys": ["htmlBody", "subject", "toRecipients"],
        "args": {"toRecipients": ["pat@acme.example"], "subject": "Quick question, Pat",
                 "htmlBody": "<p>Hi Pat,</p><p>Worth a chat?</p>"},
    }]
    assert "Mark as sent" in pane.status()


def test_follow_up_replies_in_thread_when_the_previous_email_is_selected(open_pane, fake):
    add_tasks(fake)
    pane = open_pane(item_id=PREVIOUS_ID)
    pane.click(12, "Reply in thread")
    assert pane.compose_calls() == [
        {"method": "displayReplyForm", "keys": ["htmlBody"], "args": {"htmlBody": "<p>Following up.</p>"}}
    ]


def test_follow_up_without_its_email_selected_opens_re_message_with_quote(open_pane, fake):
    add_tasks(fake)
    fake.tasks[fake.rep.id][2]["email"]["subject"] = "Quick question, Pat"  # service gave no "Re:" yet
    pane = open_pane(item_id="<some-other-message@example.com>")
    assert "select the earlier email" in pane.card(12).inner_text()
    pane.click(12, "Open")
    assert pane.compose_calls() == [{
        "method": "displayNewMessageForm",
        "keys": ["htmlBody", "subject", "toRecipients"],
        "args": {"toRecipients": ["pat@acme.example"], "subject": "Re: Quick question, Pat",
                 "htmlBody": "<p>Following up.</p><blockquote><p>Hi Pat,</p><p>Worth a chat?</p></blockquote>"},
    }]


def test_follow_up_keeps_a_single_re_prefix(open_pane, fake):
    add_tasks(fake)
    pane = open_pane()  # no message selected at all
    pane.click(12, "Open")
    assert pane.compose_calls()[0]["args"]["subject"] == "Re: Quick question, Pat"


def test_selecting_the_previous_email_in_a_pinned_pane_switches_to_reply(open_pane, fake):
    add_tasks(fake)
    pane = open_pane(item_id="<unrelated@example.com>")
    assert pane.card(12).get_by_role("button", name="Open", exact=True).is_visible()
    pane.page.evaluate("id => window.__selectItem(id)", PREVIOUS_ID)
    pane.click(12, "Reply in thread")
    assert pane.compose_calls()[0]["method"] == "displayReplyForm"


def test_mark_as_sent_completes_the_task(open_pane, fake):
    add_tasks(fake)
    pane = open_pane()
    pane.click(11, "Open")
    pane.click(11, "Mark as sent")
    pane.card(11).wait_for(state="detached")
    assert fake.calls == [("completed", fake.rep.id, 11)]
    assert "Marked as sent: Email pat@acme.example" in pane.status()


def test_complete_and_skip(open_pane, fake):
    add_tasks(fake)
    pane = open_pane()
    pane.click(10, "Complete")
    pane.card(10).wait_for(state="detached")
    pane.click(12, "Skip")
    pane.card(12).wait_for(state="detached")
    assert fake.calls == [("completed", fake.rep.id, 10), ("skipped", fake.rep.id, 12)]
    assert pane.page.locator("li.task").count() == 1


def test_subject_over_255_characters_is_refused_with_a_message(open_pane, fake):
    fake.tasks[fake.rep.id].append(email_task(20, due="2026-03-02", subject="S" * 256, body="<p>x</p>", to="a@b.example"))
    pane = open_pane()
    pane.click(20, "Open")
    assert "256 characters" in pane.status() and "255" in pane.status()
    assert pane.compose_calls() == []


def test_body_over_32_kb_is_refused_with_a_message(open_pane, fake):
    body = "<p>" + "é" * 16_400 + "</p>"  # 32,807 bytes in UTF-8, fewer characters
    fake.tasks[fake.rep.id].append(email_task(21, due="2026-03-02", subject="Hi", body=body, to="a@b.example"))
    pane = open_pane()
    pane.click(21, "Open")
    assert "32 KB" in pane.status()
    assert pane.compose_calls() == []


def test_popup_when_silent_sign_in_fails(open_pane, fake):
    add_tasks(fake)
    pane = open_pane(silent=False, popup=True)
    assert pane.page.locator("li.task").count() == 3
    methods = [c["method"] for c in pane.calls("__msalCalls")]
    assert methods[:3] == ["createNestablePublicClientApplication", "acquireTokenSilent", "acquireTokenPopup"]


def test_office_sso_when_nested_app_authentication_fails(open_pane, fake):
    add_tasks(fake)
    pane = open_pane(silent=False, popup=False, office=True)
    assert pane.page.locator("li.task").count() == 3
    sso = [c for c in pane.calls() if c["method"] == "getAccessToken"]
    assert sso and sso[0]["args"] == {"allowSignInPrompt": True, "allowConsentPrompt": True}


def test_refused_token_shows_the_reason_and_no_tasks(open_pane, fake, tokens):
    add_tasks(fake)
    pane = open_pane(token=tokens.make(aud="00000003-0000-0000-c000-000000000000"))
    assert "audience" in pane.status()
    assert pane.page.locator("li.task").count() == 0
    assert pane.page.locator("#signin").is_visible()


def test_end_to_end_on_the_real_core(browser, app, make_user, make_person, make_task, clock, tokens):
    """The pane against create_app(): real database, task service and completion."""
    app.config.update(MS_CLIENT_ID=CLIENT_ID, MS_JWKS_CLIENT=tokens.jwks_client(),
                      PUBLIC_BASE_URL="https://stepline.example.com", **STUB_CONFIG)
    rep = make_user("rep@example.com")
    pat = make_person(rep, email="pat@acme.example", first_name="Pat", last_name="Lee")
    today = clock.now().date()
    first = make_task(rep.user_id, pat, title="Email Pat", due=today, subject="Hello Pat",
                      body_html="<p>Hi Pat</p>")
    follow = make_task(rep.user_id, pat, title="Follow up Pat", due=today, subject="Re: Hello Pat",
                       body_html="<p>Any thoughts?</p>", email_quoted_html="<blockquote>Hi Pat</blockquote>",
                       in_reply_to=PREVIOUS_ID, references=PREVIOUS_ID)
    url, stop = serve(app)
    context = browser.new_context()
    try:
        pane = launch_pane(context, url, tokens.make(), item_id=PREVIOUS_ID)
        pane.click(first, "Open")
        pane.click(follow, "Reply in thread")
        assert pane.compose_calls() == [
            {"method": "displayNewMessageForm", "keys": ["htmlBody", "subject", "toRecipients"],
             "args": {"toRecipients": ["pat@acme.example"], "subject": "Hello Pat", "htmlBody": "<p>Hi Pat</p>"}},
            {"method": "displayReplyForm", "keys": ["htmlBody"], "args": {"htmlBody": "<p>Any thoughts?</p>"}},
        ]
        pane.click(first, "Mark as sent")
        pane.card(first).wait_for(state="detached")
        assert pane.errors == []
    finally:
        context.close()
        stop()
    statuses = {t["id"]: t["status"] for t in rep.get("/tasks?status=all&due=all").get_json()["tasks"]}
    assert statuses == {first: "completed", follow: "open"}
