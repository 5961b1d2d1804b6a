"""The add-on's endpoints end to end (verified requests, cards, Gmail API), on a fake core."""
from __future__ import annotations

import base64
import json
from email import message_from_bytes, policy
from types import SimpleNamespace

import pytest

from gmail_addon.core import Refused

from .conftest import BASE_URL, TODAY, assert_valid_response, date_str, only_card

DRAFT_OK = ({"status": "200"}, json.dumps({"id": "r-42", "message": {"id": "m-1", "threadId": "th-9"}}))


@pytest.fixture
def team(fake_core):
    rep = fake_core.add_user(1, "rep@stepline.test")
    other = fake_core.add_user(2, "other@stepline.test")
    ada = fake_core.add_person(10, "ada@acme.test")
    bob = fake_core.add_person(11, "bob@globex.test", first="Bob", last="Stone", company="Globex")
    return SimpleNamespace(core=fake_core, rep=rep, other=other, ada=ada, bob=bob)


def texts(card):
    out = []
    for section in card["sections"]:
        for widget in section["widgets"]:
            if "decoratedText" in widget:
                out.append(widget["decoratedText"]["text"])
    return out


def buttons(card):
    return [b for s in card["sections"] for w in s["widgets"] for b in w.get("buttonList", {}).get("buttons", [])]


def params(button):
    return {p["key"]: p["value"] for p in button["onClick"]["action"].get("parameters", [])}


def ok(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_valid_response(body)
    return body


# --- homepage ------------------------------------------------------------------------------------

def test_homepage_lists_today_and_overdue_tasks_email_first(addon, team):
    c = team.core
    c.add_task(1, team.rep, team.bob, type="call", due=date_str(-2), title="Call Bob")
    c.add_task(2, team.rep, team.ada, type="email", due=TODAY, title="Email Ada")
    c.add_task(3, team.rep, team.ada, type="email", due=date_str(-1), priority="high", title="Overdue email")
    c.add_task(4, team.rep, team.ada, type="custom", due=date_str(3), title="Next week")
    c.add_task(5, team.other, team.ada, type="email", title="Other rep's task")
    body = ok(addon.post("/homepage"))
    card = body["action"]["navigations"][0]["pushCard"]
    shown = " ".join(texts(card))
    assert "Next week" not in shown and "Other rep" not in shown
    assert [s["header"] for s in card["sections"]] == ["Email tasks", "Other tasks"]
    order = [t for t in texts(card)]
    assert "Overdue email" in order[0] and "Email Ada" in order[1] and "Call Bob" in order[2]
    first = card["sections"][0]["widgets"][0]["decoratedText"]
    assert first["topLabel"].startswith("Overdue") and "High priority" in first["topLabel"]
    assert card["header"]["subtitle"] == "2 overdue · 1 due today"
    labels = [b["text"] for b in buttons(card)[:3]]
    assert labels == ["Open", "Complete", "Skip"]
    open_button = buttons(card)[0]
    assert open_button["onClick"]["action"]["function"] == BASE_URL + "/addons/gmail/tasks/open"
    assert params(open_button)["task_id"] == "3"


def test_homepage_escapes_text(addon, team):
    team.core.add_task(1, team.rep, team.ada, title="<script>x</script> & co")
    card = only_card(ok(addon.post("/homepage")))
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in texts(card)[0]


def test_empty_state(addon, team):
    card = only_card(ok(addon.post("/homepage")))
    assert "all caught up" in card["sections"][0]["widgets"][0]["textParagraph"]["text"]
    assert card["fixedFooter"]["primaryButton"]["text"] == "Refresh"


def test_paging_past_the_widget_limit(addon, team):
    for i in range(60):
        team.core.add_task(1000 + i, team.rep, team.ada, type="email" if i % 2 else "call")
    card = only_card(ok(addon.post("/homepage")))
    task_rows = [t for t in texts(card)]
    assert len(task_rows) == 25
    more = buttons(card)[-1]
    assert more["text"] == "More (26–50 of 60)" and params(more) == {"page": "2", "nav": "push"}
    body = ok(addon.post("/tasks", parameters={"page": 2, "nav": "push"}))
    page2 = body["renderActions"]["action"]["navigations"][0]["pushCard"]
    assert len(texts(page2)) == 25
    last = only_card(ok(addon.post("/tasks", parameters={"page": 3, "nav": "push"})))
    assert len(texts(last)) == 10 and not any(b["text"].startswith("More") for b in buttons(last))
    seen = set()
    for page in (1, 2, 3):
        page_card = only_card(ok(addon.post("/tasks", parameters={"page": page})))
        seen |= {params(b)["task_id"] for b in buttons(page_card) if b["text"] == "Open"}
    assert len(seen) == 60
    refresh = ok(addon.post("/tasks", parameters={"page": 1, "nav": "update"}))
    assert "updateCard" in refresh["renderActions"]["action"]["navigations"][0]
    assert ok(addon.post("/tasks", parameters={"page": 99}))  # clamped to the last page


# --- Open ------------------------------------------------------------------------------------

def test_open_an_email_task_creates_a_draft_and_opens_it(addon, team, gmail_http):
    team.core.add_task(7, team.rep, team.ada)
    mock = gmail_http(DRAFT_OK)
    body = ok(addon.post("/tasks/open", parameters={"task_id": 7},
                         gmail={"accessToken": "gmail-action-token"}))
    assert body == {"renderActions": {"hostAppAction": {"gmailAction": {
        "openCreatedDraftActionMarkup": {"draftId": "r-42", "draftThreadId": "th-9"}}}}}
    (uri, method, sent, headers), = mock.request_sequence
    assert method == "POST" and "/gmail/v1/users/me/drafts" in uri
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-goog-gmail-access-token"] == "gmail-action-token"
    assert lower["authorization"] == "Bearer ya29.user-oauth-token"
    message = json.loads(sent)["message"]
    assert "threadId" not in message
    mime = message_from_bytes(base64.urlsafe_b64decode(message["raw"]), policy=policy.default)
    assert mime["To"] == "ada@acme.test" and mime["Subject"] == "Hello Ada"
    assert mime["From"] == "rep@stepline.test"
    assert "<p>Hi Ada,</p>" in mime.get_body(("html",)).get_content()
    assert ("record_draft", 1, 7, "r-42", "th-9") in team.core.calls
    assert team.core.commits == 1


def test_open_a_follow_up_drafts_in_the_previous_thread(addon, team, gmail_http):
    team.core.add_task(8, team.rep, team.ada, email={
        "to": ["ada@acme.test"], "subject": "Re: Hello Ada", "body_html": "<p>Following up.</p>",
        "quoted_html": "<blockquote><p>Hi Ada,</p></blockquote>",
        "thread": {"in_reply_to": "<first@stepline.test>", "references": "<first@stepline.test>",
                   "provider_thread_id": "th-first"}})
    mock = gmail_http(({"status": "200"}, json.dumps({"id": "r-2", "message": {"id": "m", "threadId": "th-first"}})))
    body = ok(addon.post("/tasks/open", parameters={"task_id": 8}, gmail={"accessToken": "tok"}))
    markup = body["renderActions"]["hostAppAction"]["gmailAction"]["openCreatedDraftActionMarkup"]
    assert markup == {"draftId": "r-2", "draftThreadId": "th-first"}
    message = json.loads(mock.request_sequence[0][2])["message"]
    assert message["threadId"] == "th-first"
    mime = message_from_bytes(base64.urlsafe_b64decode(message["raw"]), policy=policy.default)
    assert mime["In-Reply-To"] == "<first@stepline.test>"
    assert mime["References"] == "<first@stepline.test>"
    assert mime["Subject"] == "Re: Hello Ada"
    html = mime.get_body(("html",)).get_content()
    assert html.index("Following up.") < html.index("<blockquote>")


def test_follow_up_whose_thread_is_gone_still_gets_a_draft(addon, team, gmail_http):
    team.core.add_task(8, team.rep, team.ada, email={
        "to": ["ada@acme.test"], "subject": "Re: Hi", "body_html": "<p>x</p>", "quoted_html": None,
        "thread": {"in_reply_to": "<a@x>", "references": "<a@x>", "provider_thread_id": "deleted"}})
    mock = gmail_http(({"status": "404"}, '{"error": {"code": 404, "message": "Not Found"}}'), DRAFT_OK)
    body = ok(addon.post("/tasks/open", parameters={"task_id": 8}, gmail={"accessToken": "tok"}))
    assert "openCreatedDraftActionMarkup" in body["renderActions"]["hostAppAction"]["gmailAction"]
    assert "threadId" not in json.loads(mock.request_sequence[1][2])["message"]


@pytest.mark.parametrize("task_id", [999, 50])
def test_open_an_unknown_or_another_reps_task(addon, team, gmail_http, task_id):
    team.core.add_task(50, team.other, team.bob, title="Other rep's secret")
    mock = gmail_http()
    body = ok(addon.post("/tasks/open", parameters={"task_id": task_id}))
    assert body["renderActions"]["action"]["notification"]["text"] == "This task is no longer open."
    assert "secret" not in json.dumps(body) and "bob@" not in json.dumps(body)
    assert mock.request_sequence == []


def test_open_a_call_task_shows_its_details(addon, team):
    team.core.add_task(9, team.rep, team.bob, type="call", title="Call Bob", notes="Ask about <budget>\nand timing")
    card = only_card(ok(addon.post("/tasks/open", parameters={"task_id": 9, "view": "tasks", "page": 1})))
    assert card["header"]["title"] == "Call: Call Bob"
    paragraph = [w["textParagraph"]["text"] for s in card["sections"] for w in s["widgets"] if "textParagraph" in w]
    assert paragraph == ["Ask about &lt;budget&gt;<br>and timing"]
    assert [b["text"] for b in buttons(card)] == ["Complete", "Skip"]


def test_gmail_refusing_the_draft_is_a_notification(addon, team, gmail_http):
    team.core.add_task(7, team.rep, team.ada)
    gmail_http(({"status": "403"}, '{"error": {"code": 403, "message": "Insufficient Permission"}}'))
    body = ok(addon.post("/tasks/open", parameters={"task_id": 7}))
    assert "Gmail refused to create the draft (HTTP 403)" in body["renderActions"]["action"]["notification"]["text"]
    assert not [c for c in team.core.calls if c[0] == "record_draft"]


def test_open_without_the_oauth_token(addon, team):
    team.core.add_task(7, team.rep, team.ada)
    body = ok(addon.post("/tasks/open", parameters={"task_id": 7}, oauth_token=None))
    assert "reload Gmail" in body["renderActions"]["action"]["notification"]["text"]


# --- Complete / Skip ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,verb,done", [("/tasks/complete", "complete", "Task completed."),
                                            ("/tasks/skip", "skip", "Task skipped.")])
def test_complete_and_skip_redraw_the_list(addon, team, path, verb, done):
    team.core.add_task(1, team.rep, team.ada, title="First")
    team.core.add_task(2, team.rep, team.ada, title="Second")
    body = ok(addon.post(path, parameters={"task_id": 1, "view": "tasks", "page": 1}))
    act = body["renderActions"]["action"]
    assert act["notification"]["text"] == done
    card = act["navigations"][0]["updateCard"]
    assert len(texts(card)) == 1 and "Second" in texts(card)[0]
    assert (verb, 1, 1) in team.core.calls and team.core.commits == 1


def test_complete_another_reps_task_is_refused_without_data(addon, team):
    team.core.add_task(5, team.other, team.bob, title="Other rep's secret")
    body = ok(addon.post("/tasks/complete", parameters={"task_id": 5}))
    assert body == {"renderActions": {"action": {"notification": {"text": "task 5 not found"}}}}
    assert team.core.tasks[0]["status"] == "open" and team.core.rollbacks == 1


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"null",
                                  {"commonEventObject": "oops"},
                                  {"commonEventObject": {"parameters": ["task_id"]}},
                                  {"authorizationEventObject": 7}])
def test_malformed_bodies_are_400(addon, team, body):
    response = addon.post("/tasks/complete", body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("value", ["abc", "", "-1", "1.5", "99999999999999999999999"])
def test_bad_task_ids_are_400(addon, team, value):
    team.core.add_task(1, team.rep, team.ada)
    response = addon.post("/tasks/complete", parameters={"task_id": value})
    assert response.status_code == 400


def test_missing_task_id_is_400(addon, team):
    assert addon.post("/tasks/open").status_code == 400


# --- the opened message ---------------------------------------------------------------------------

def metadata(from_, to="rep@stepline.test"):
    return ({"status": "200"}, json.dumps({"id": "msg", "payload": {"headers": [
        {"name": "From", "value": from_}, {"name": "To", "value": to}]}}))


def test_contextual_card_for_a_known_sender(addon, team, gmail_http):
    c = team.core
    c.add_task(1, team.rep, team.ada, type="call", due=date_str(4), title="Call Ada later")
    c.add_task(2, team.rep, team.bob, title="Bob's task")
    c.add_task(3, team.other, team.ada, title="Other rep's Ada task")
    c.enrollments += [{"id": 1, "campaign": "Q1 outbound", "state": "active", "_person": 10, "_user": 1},
                      {"id": 2, "campaign": "Secret other", "state": "active", "_person": 10, "_user": 2}]
    c.campaigns = [(7, "Q1 outbound"), (8, "Webinar")]
    mock = gmail_http(metadata('"Ada Lovelace" <Ada@Acme.test>'))
    body = ok(addon.post("/message", gmail={"messageId": "msg-f:1", "threadId": "thread-f:1", "accessToken": "tok"}))
    card = body["action"]["navigations"][0]["pushCard"]
    assert card["header"] == {"title": "Ada Lovelace", "subtitle": "Acme · ada@acme.test"}
    dumped = json.dumps(card)
    assert "Q1 outbound" in dumped and "Call Ada later" in dumped
    assert "Secret other" not in dumped and "Other rep" not in dumped and "Bob's task" not in dumped
    picker = [w["selectionInput"] for s in card["sections"] for w in s["widgets"] if "selectionInput" in w]
    assert picker[0]["name"] == "campaign_id" and [i["value"] for i in picker[0]["items"]] == ["7", "8"]
    add = [b for b in buttons(card) if b["text"] == "Add to campaign"][0]
    assert params(add) == {"person_id": "10"}
    (uri, method, _, headers), = mock.request_sequence
    assert method == "GET" and "/users/me/messages/msg-f%3A1" in uri and "format=metadata" in uri
    assert {k.lower(): v for k, v in headers.items()}["x-goog-gmail-access-token"] == "tok"


def test_contextual_card_on_the_reps_own_sent_message_shows_the_recipient(addon, team, gmail_http):
    gmail_http(metadata("Rep <rep@stepline.test>", to="Bob <bob@globex.test>"))
    card = only_card(ok(addon.post("/message", gmail={"messageId": "m", "accessToken": "t"})))
    assert card["header"]["title"] == "Bob Stone"


def test_contextual_card_for_an_unknown_sender(addon, team, gmail_http):
    gmail_http(metadata("Stranger <who@nowhere.test>"))
    card = only_card(ok(addon.post("/message", gmail={"messageId": "m", "accessToken": "t"})))
    assert "who@nowhere.test" in card["sections"][0]["widgets"][0]["textParagraph"]["text"]


def test_contextual_card_when_gmail_refuses(addon, team, gmail_http):
    gmail_http(({"status": "403"}, '{"error": {"code": 403, "message": "Forbidden"}}'))
    card = only_card(ok(addon.post("/message", gmail={"messageId": "m", "accessToken": "t"})))
    assert "HTTP 403" in card["sections"][0]["widgets"][0]["textParagraph"]["text"]


def test_expired_gmail_token_is_explained(addon, team, gmail_http):
    team.core.add_task(7, team.rep, team.ada)
    expired = ({"status": "401"}, '{"error": {"code": 401, "message": "Invalid Credentials"}}')
    gmail_http(expired)
    card = only_card(ok(addon.post("/message", gmail={"messageId": "m", "accessToken": "t"})))
    assert "expired" in card["sections"][0]["widgets"][0]["textParagraph"]["text"]
    gmail_http(expired)
    body = ok(addon.post("/tasks/open", parameters={"task_id": 7}))
    assert "expired" in body["renderActions"]["action"]["notification"]["text"]


def test_contextual_card_without_a_message(addon, team):
    assert only_card(ok(addon.post("/message")))


# --- Add to campaign -----------------------------------------------------------------------------

def test_add_to_campaign(addon, team):
    team.core.campaigns = [(7, "Q1 outbound")]
    body = ok(addon.post("/people/launch", parameters={"person_id": 10},
                         form={"campaign_id": "7", "send_now": ["now"]}))
    act = body["renderActions"]["action"]
    assert act["notification"]["text"] == "Ada Lovelace added to the campaign."
    assert act["navigations"][0]["updateCard"]["header"]["title"] == "Ada Lovelace"
    assert ("launch", 1, 7, 10, True) in team.core.calls and team.core.commits == 1


def test_add_to_campaign_refused_per_person(addon, team):
    team.core.launch_result = {"enrolled": [], "refused": [{"person_id": 10, "reason": "already active in this campaign"}]}
    body = ok(addon.post("/people/launch", parameters={"person_id": 10}, form={"campaign_id": "7"}))
    assert body["renderActions"]["action"]["notification"]["text"] == "Not added: already active in this campaign"
    assert ("launch", 1, 7, 10, False) in team.core.calls


def test_add_to_campaign_refused_as_a_whole(addon, team):
    team.core.launch_result = Refused("the first email is 'choose at launch': give send_at", 422)
    body = ok(addon.post("/people/launch", parameters={"person_id": 10}, form={"campaign_id": "7"}))
    assert body["renderActions"]["action"]["notification"]["text"].startswith("Not added: the first email")
    assert team.core.rollbacks == 1


@pytest.mark.parametrize("form,person,expected", [({}, 10, "Choose a campaign first."),
                                                  ({"campaign_id": "x"}, 10, "Choose a campaign first."),
                                                  ({"campaign_id": "7"}, 999, "This person is no longer in Stepline.")])
def test_add_to_campaign_bad_input(addon, team, form, person, expected):
    body = ok(addon.post("/people/launch", parameters={"person_id": person}, form=form))
    assert body["renderActions"]["action"]["notification"]["text"] == expected
    assert not [c for c in team.core.calls if c[0] == "launch"]


# --- compose ---------------------------------------------------------------------------------------

@pytest.fixture
def templates(team):
    team.core.templates = {
        1: SimpleNamespace(id=1, name="Intro", subject="Hi {{ first_name }}",
                           body_html="<p>Hello {{ first_name }} at {{ company }}</p><p>{{ sender.name }}</p>"),
        2: SimpleNamespace(id=2, name="Needs industry", subject="About {{ industry }}", body_html="<p>x</p>"),
    }
    return team.core.templates


def test_compose_trigger_offers_the_templates(addon, team, templates):
    card = only_card(ok(addon.post("/compose", gmail={"toRecipients": ["ada@acme.test"]})))
    widgets = card["sections"][0]["widgets"]
    assert widgets[0]["textInput"]["value"] == "ada@acme.test"
    assert [i["text"] for i in widgets[1]["selectionInput"]["items"]] == ["Intro", "Needs industry"]


def test_insert_fills_the_draft(addon, team, templates):
    body = ok(addon.post("/compose/insert", form={"template_id": "1", "to": "ada@acme.test"},
                         gmail={"toRecipients": ["ada@acme.test"]}))
    markup = body["renderActions"]["hostAppAction"]["gmailAction"]["updateDraftActionMarkup"]
    assert markup["updateSubject"] == {"subject": "Hi Ada"}
    assert markup["updateToRecipients"] == {"toRecipients": [{"email": "ada@acme.test"}]}
    assert markup["updateBody"] == {"type": "IN_PLACE_INSERT", "insertContents": [
        {"content": "<p>Hello Ada at Acme</p><p>Rep</p>", "contentType": "MUTABLE_HTML"}]}


def test_insert_for_an_unknown_recipient_uses_fallbacks(addon, team, templates):
    body = ok(addon.post("/compose/insert", form={"template_id": "1", "to": "new@lead.test"}))
    markup = body["renderActions"]["hostAppAction"]["gmailAction"]["updateDraftActionMarkup"]
    assert markup["updateSubject"] == {"subject": "Hi"}
    assert "your company" in markup["updateBody"]["insertContents"][0]["content"]


def test_insert_refuses_a_missing_merge_field(addon, team, templates):
    body = ok(addon.post("/compose/insert", form={"template_id": "2", "to": "ada@acme.test"}))
    assert "industry" in body["renderActions"]["action"]["notification"]["text"]


@pytest.mark.parametrize("form", [{}, {"template_id": "abc"}, {"template_id": "404"}])
def test_insert_without_a_valid_template(addon, team, templates, form):
    body = ok(addon.post("/compose/insert", form=form))
    assert body["renderActions"]["action"]["notification"]["text"] == "Choose a template first."


def test_compose_with_no_templates(addon, team):
    card = only_card(ok(addon.post("/compose")))
    assert "no templates" in card["sections"][0]["widgets"][0]["textParagraph"]["text"]


def test_complete_from_the_person_card_redraws_it(addon, team):
    team.core.add_task(1, team.rep, team.ada, title="Ada task")
    body = ok(addon.post("/tasks/complete", parameters={"task_id": 1, "view": "person", "person_id": 10}))
    assert body["renderActions"]["action"]["navigations"][0]["updateCard"]["name"] == "person-10"


def test_a_done_action_with_a_bad_view_parameter_still_succeeds(addon, team):
    team.core.add_task(1, team.rep, team.ada)
    body = ok(addon.post("/tasks/skip", parameters={"task_id": 1, "view": "person", "person_id": "x", "page": "-3"}))
    assert body["renderActions"]["action"]["notification"]["text"] == "Task skipped."
