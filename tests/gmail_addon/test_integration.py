"""The add-on on the real app: real database, real services, real token verification; only
Gmail's HTTP answers and Google's certificate download are stand-ins."""
from __future__ import annotations

import base64
import json
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from googleapiclient.http import HttpMockSequence
from sqlalchemy import select

from server.models import Enrollment, Task

from .conftest import BASE_URL, CLIENT_ID, SERVICE_ACCOUNT, AddonClient, assert_valid_response, only_card

REP = "rep@example.com"


@pytest.fixture
def live(app, keys) -> AddonClient:
    app.config.update(PUBLIC_BASE_URL=BASE_URL, GMAIL_ADDON_SERVICE_ACCOUNT=SERVICE_ACCOUNT,
                      GMAIL_ADDON_CLIENT_ID=CLIENT_ID, GOOGLE_CERTS={keys.kid: keys.google_cert})
    return AddonClient(app, keys)


def gmail_answers(app, *responses) -> HttpMockSequence:
    mock = HttpMockSequence(list(responses))
    app.config["GMAIL_HTTP_FACTORY"] = lambda: mock
    return mock


def ok(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_valid_response(body)
    return body


def task_row(app, task_id) -> Task:
    with app.extensions["stepline_sessions"]() as session:
        return session.get(Task, task_id)


def test_queue_open_and_complete(app, live, make_user, make_person, make_task, clock):
    rep, other = make_user(REP), make_user("other@example.com")
    ada = make_person(rep, email="ada@acme.example", first_name="Ada", last_name="Lovelace")
    email_task = make_task(rep.user_id, ada, title="Email Ada", subject="Hello Ada", body_html="<p>Hi Ada</p>")
    call_task = make_task(rep.user_id, ada, type="call", title="Call Ada", due=clock.now().date() - timedelta(days=2))
    make_task(rep.user_id, ada, type="custom", title="Later", due=clock.now().date() + timedelta(days=3))
    foreign = make_task(other.user_id, ada, title="Other rep's task")

    card = only_card(ok(live.post("/homepage", email=REP)))
    shown = json.dumps(card)
    assert "Email Ada" in shown and "Call Ada" in shown
    assert "Later" not in shown and "Other rep" not in shown
    assert card["sections"][0]["header"] == "Email tasks"

    mock = gmail_answers(app, ({"status": "200"}, json.dumps({"id": "r-7", "message": {"id": "m", "threadId": "t-7"}})))
    body = ok(live.post("/tasks/open", email=REP, parameters={"task_id": email_task}, gmail={"accessToken": "g-tok"}))
    assert body["renderActions"]["hostAppAction"]["gmailAction"]["openCreatedDraftActionMarkup"] == {
        "draftId": "r-7", "draftThreadId": "t-7"}
    raw = json.loads(mock.request_sequence[0][2])["message"]["raw"]
    mime = message_from_bytes(base64.urlsafe_b64decode(raw), policy=policy.default)
    assert (mime["To"], mime["Subject"], mime["From"]) == ("ada@acme.example", "Hello Ada", REP)
    stored = task_row(app, email_task)
    assert (stored.draft_provider, stored.draft_id, stored.draft_thread_id) == ("gmail", "r-7", "t-7")

    body = ok(live.post("/tasks/complete", email=REP, parameters={"task_id": call_task, "view": "tasks", "page": 1}))
    assert body["renderActions"]["action"]["notification"]["text"] == "Task completed."
    assert task_row(app, call_task).status == "completed"

    for path in ("/tasks/complete", "/tasks/skip", "/tasks/open"):
        body = ok(live.post(path, email=REP, parameters={"task_id": foreign}))
        assert "Other rep" not in json.dumps(body)
        assert "notification" in body["renderActions"]["action"]
    assert task_row(app, foreign).status == "open"
    assert task_row(app, foreign).draft_id is None


def test_follow_up_opens_in_the_previous_thread(app, live, make_user, make_person, make_task):
    rep = make_user(REP)
    ada = make_person(rep, email="ada@acme.example", first_name="Ada")
    task = make_task(rep.user_id, ada, subject="Re: Hello Ada", body_html="<p>Following up</p>",
                     in_reply_to="<first@sales.example>", references="<first@sales.example>",
                     provider_thread_id="th-first", email_quoted_html="<blockquote>Hi Ada</blockquote>")
    mock = gmail_answers(app, ({"status": "200"}, json.dumps({"id": "r-8", "message": {"id": "m", "threadId": "th-first"}})))
    body = ok(live.post("/tasks/open", email=REP, parameters={"task_id": task}, gmail={"accessToken": "g"}))
    assert body["renderActions"]["hostAppAction"]["gmailAction"]["openCreatedDraftActionMarkup"]["draftThreadId"] == "th-first"
    sent = json.loads(mock.request_sequence[0][2])["message"]
    assert sent["threadId"] == "th-first"
    mime = message_from_bytes(base64.urlsafe_b64decode(sent["raw"]), policy=policy.default)
    assert mime["In-Reply-To"] == "<first@sales.example>" and mime["References"] == "<first@sales.example>"
    html = mime.get_body(("html",)).get_content()
    assert html.index("Following up") < html.index("<blockquote>Hi Ada</blockquote>")


def metadata(from_):
    return ({"status": "200"}, json.dumps({"id": "m", "payload": {"headers": [{"name": "From", "value": from_}]}}))


def test_contextual_card_and_add_to_campaign(app, live, make_user, make_person, make_campaign):
    rep = make_user(REP)
    ada = make_person(rep, email="ada@acme.example", first_name="Ada", last_name="Lovelace")
    campaign = make_campaign(rep, [{"day": 1, "type": "call", "notes": "intro"}], name="Calls only")

    gmail_answers(app, metadata("Ada <ada@acme.example>"))
    card = only_card(ok(live.post("/message", email=REP, gmail={"messageId": "msg-f:1", "accessToken": "t"})))
    assert card["header"]["title"] == "Ada Lovelace"
    assert "Not in any of your active campaigns." in json.dumps(card)

    form = {"campaign_id": str(campaign["id"])}
    body = ok(live.post("/people/launch", email=REP, parameters={"person_id": ada}, form=form))
    act = body["renderActions"]["action"]
    assert act["notification"]["text"] == "Ada Lovelace added to the campaign."
    redrawn = json.dumps(act["navigations"][0]["updateCard"])
    assert "Calls only" in redrawn and "active" in redrawn
    with app.extensions["stepline_sessions"]() as session:
        assert session.execute(select(Enrollment).where(Enrollment.person_id == ada)).scalar_one().state == "active"

    again = ok(live.post("/people/launch", email=REP, parameters={"person_id": ada}, form=form))
    assert again["renderActions"]["action"]["notification"]["text"] == "Not added: already active in this campaign"


def test_launch_refused_as_a_whole_like_the_api(app, live, make_user, make_person, make_campaign,
                                                 make_template, make_mailbox):
    rep = make_user(REP)
    make_mailbox(rep)
    ada = make_person(rep, email="ada@acme.example", first_name="Ada")
    template = make_template(rep)
    campaign = make_campaign(rep, [{"day": 1, "type": "email", "template_id": template,
                                    "send_option": "choose_at_launch"}])
    body = ok(live.post("/people/launch", email=REP, parameters={"person_id": ada},
                        form={"campaign_id": str(campaign["id"])}))
    text = body["renderActions"]["action"]["notification"]["text"]
    assert text.startswith("Not added:") and "send_at" in text
    body = ok(live.post("/people/launch", email=REP, parameters={"person_id": ada},
                        form={"campaign_id": str(campaign["id"]), "send_now": ["now"]}))
    assert body["renderActions"]["action"]["notification"]["text"].endswith("added to the campaign.")


def test_compose_inserts_a_rendered_template(app, live, make_user, make_person, make_template):
    rep = make_user(REP)
    make_person(rep, email="ada@acme.example", first_name="Ada", company="Acme")
    make_template(rep, subject="Hi {{ first_name }}", body="<p>Ideas for {{ company }}</p>")
    card = only_card(ok(live.post("/compose", email=REP, gmail={"toRecipients": ["ada@acme.example"]})))
    template_id = card["sections"][0]["widgets"][1]["selectionInput"]["items"][0]["value"]
    body = ok(live.post("/compose/insert", email=REP, form={"template_id": template_id, "to": "ada@acme.example"}))
    markup = body["renderActions"]["hostAppAction"]["gmailAction"]["updateDraftActionMarkup"]
    assert markup["updateSubject"] == {"subject": "Hi Ada"}
    assert markup["updateBody"]["insertContents"][0]["content"] == "<p>Ideas for Acme</p>"


def test_a_google_account_without_a_stepline_user_gets_nothing(app, live, make_user, make_person, make_task):
    rep = make_user(REP)
    make_task(rep.user_id, make_person(rep), title="Private task")
    response = live.post("/homepage", email="intruder@example.com")
    assert response.status_code == 401 and "Private task" not in response.get_data(as_text=True)
