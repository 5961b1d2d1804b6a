"""Open twice on the same email task brings back the draft made the first time (SPEC §6 add-on).

The add-on's own scope (gmail.addons.current.action.compose) cannot call users.drafts.get, so
the check goes through the rep's Gmail mailbox connected by OAuth (gmail.readonly). Real app,
real database, real google-api-python-client and google-auth; one HttpMockSequence answers both
the add-on's calls and the mailbox's, so each test asserts the exact requests, in order.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from server.models import Task
from tests.adapters.helpers import fake_gmail_transport, oauth_mailbox

from .conftest import BASE_URL, CLIENT_ID, SERVICE_ACCOUNT, AddonClient, assert_valid_response

REP = "rep@example.com"
GOOGLE_TOKEN = ({"status": "200", "content-type": "application/json"},
                json.dumps({"access_token": "ya29.mailbox-token", "expires_in": 3599, "token_type": "Bearer"}))
DRAFTS = "https://gmail.googleapis.com/gmail/v1/users/me/drafts"
# Google's documented error body for an id that does not exist (a discarded or sent draft).
NOT_FOUND = ({"status": "404", "content-type": "application/json; charset=UTF-8"}, json.dumps({"error": {
    "code": 404, "message": "Requested entity was not found.",
    "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
    "status": "NOT_FOUND"}}))


def created(draft_id: str, thread_id: str):
    return ({"status": "200"}, json.dumps({"id": draft_id, "message": {"id": "m-" + draft_id, "threadId": thread_id,
                                                                        "labelIds": ["DRAFT"]}}))


def still_draft(draft_id: str, thread_id: str):
    """users.drafts.get with format=minimal: ids and labels, no headers or body."""
    return ({"status": "200"}, json.dumps({"id": draft_id, "message": {
        "id": "m-" + draft_id, "threadId": thread_id, "labelIds": ["DRAFT"], "snippet": "",
        "sizeEstimate": 812, "historyId": "9120", "internalDate": "1772456400000"}}))


@pytest.fixture
def live(app, keys) -> AddonClient:
    app.config.update(PUBLIC_BASE_URL=BASE_URL, GMAIL_ADDON_SERVICE_ACCOUNT=SERVICE_ACCOUNT,
                      GMAIL_ADDON_CLIENT_ID=CLIENT_ID, GOOGLE_CERTS={keys.kid: keys.google_cert})
    return AddonClient(app, keys)


@pytest.fixture
def google(app, monkeypatch):
    """Google's HTTP for both the mailbox (refresh token) and the add-on (event tokens)."""
    sequence = fake_gmail_transport(app, monkeypatch)
    app.config["GMAIL_HTTP_FACTORY"] = lambda: sequence

    def answer(*responses):
        sequence._iterable.extend(responses)
        return sequence

    return answer


def open_task(live, task_id: int) -> dict:
    response = live.post("/tasks/open", email=REP, parameters={"task_id": task_id},
                         gmail={"accessToken": "gmail-action-token"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_valid_response(body)
    return body["renderActions"]["hostAppAction"]["gmailAction"]["openCreatedDraftActionMarkup"]


def requests_made(sequence, start: int = 0) -> list[tuple[str, str]]:
    """(method, url without query) of each request Google received since ``start``."""
    return [(method, uri.split("?")[0]) for uri, method, _body, _headers in sequence.request_sequence[start:]]


def headers_of(sequence, index: int) -> dict[str, str]:
    return {k.lower(): v for k, v in sequence.request_sequence[index][3].items()}


def stored(app, task_id: int) -> tuple:
    with app.extensions["stepline_sessions"]() as session:
        task = session.get(Task, task_id)
        return task.draft_provider, task.draft_id, task.draft_thread_id


def store_draft(app, task_id: int, draft_id: str, thread_id: str) -> None:
    """A task whose earlier Open made this Gmail draft."""
    with app.extensions["stepline_sessions"]() as session:
        task = session.get(Task, task_id)
        task.draft_provider, task.draft_id, task.draft_thread_id = "gmail", draft_id, thread_id
        session.commit()


@pytest.fixture
def ready(app, clock, make_user, make_person, make_task):
    """A rep whose Gmail (the add-on's Google account) is connected as a mailbox, and an email task."""
    rep = make_user(REP)
    oauth_mailbox(app, clock, rep.user_id, "gmail", "Rep@Example.com", "1//rep-refresh")
    ada = make_person(rep, email="ada@acme.example", first_name="Ada")
    return rep, make_task(rep.user_id, ada, subject="Hello Ada", body_html="<p>Hi Ada</p>")


def test_first_open_creates_the_draft_and_the_second_brings_it_back(app, live, google, ready):
    _rep, task = ready
    mock = google(created("r-7", "t-7"))
    assert open_task(live, task) == {"draftId": "r-7", "draftThreadId": "t-7"}
    assert requests_made(mock) == [("POST", DRAFTS)]  # nothing recorded yet: no check, just the draft
    assert stored(app, task) == ("gmail", "r-7", "t-7")

    google(GOOGLE_TOKEN, still_draft("r-7", "t-7"))
    assert open_task(live, task) == {"draftId": "r-7", "draftThreadId": "t-7"}
    assert requests_made(mock, 1) == [("POST", "https://oauth2.googleapis.com/token"), ("GET", f"{DRAFTS}/r-7")]
    assert parse_qs(urlsplit(mock.request_sequence[2][0]).query)["format"] == ["minimal"]  # never the body
    assert headers_of(mock, 2)["authorization"] == "Bearer ya29.mailbox-token"  # the mailbox's, not the add-on's
    assert stored(app, task) == ("gmail", "r-7", "t-7")

    google(still_draft("r-7", "t-7"))  # a third Open: the mailbox's access token is reused
    assert open_task(live, task) == {"draftId": "r-7", "draftThreadId": "t-7"}
    assert requests_made(mock, 3) == [("GET", f"{DRAFTS}/r-7")]


def test_a_deleted_draft_gives_a_new_draft_which_is_stored(app, live, google, ready):
    _rep, task = ready
    store_draft(app, task, "r-discarded", "t-old")
    mock = google(GOOGLE_TOKEN, NOT_FOUND, created("r-new", "t-new"))
    assert open_task(live, task) == {"draftId": "r-new", "draftThreadId": "t-new"}
    assert requests_made(mock) == [("POST", "https://oauth2.googleapis.com/token"),
                                   ("GET", f"{DRAFTS}/r-discarded"), ("POST", DRAFTS)]
    create_headers = headers_of(mock, 2)  # the new draft is made with the event's tokens, as always
    assert create_headers["authorization"] == "Bearer ya29.user-oauth-token"
    assert create_headers["x-goog-gmail-access-token"] == "gmail-action-token"
    assert "threadId" not in json.loads(mock.request_sequence[2][2])["message"]
    assert stored(app, task) == ("gmail", "r-new", "t-new")

    google(still_draft("r-new", "t-new"))  # and the next Open brings back the new one
    assert open_task(live, task) == {"draftId": "r-new", "draftThreadId": "t-new"}
    assert requests_made(mock, 3) == [("GET", f"{DRAFTS}/r-new")]


def test_when_gmail_cannot_say_a_new_draft_is_made(app, live, google, ready):
    _rep, task = ready
    store_draft(app, task, "r-7", "t-7")
    # A mailbox connected without gmail.readonly: Google's documented 403 for a missing scope.
    forbidden = ({"status": "403"}, json.dumps({"error": {
        "code": 403, "message": "Request had insufficient authentication scopes.",
        "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
        "status": "PERMISSION_DENIED"}}))
    mock = google(GOOGLE_TOKEN, forbidden, created("r-8", "t-8"))
    assert open_task(live, task) == {"draftId": "r-8", "draftThreadId": "t-8"}
    assert requests_made(mock) == [("POST", "https://oauth2.googleapis.com/token"), ("GET", f"{DRAFTS}/r-7"),
                                   ("POST", DRAFTS)]
    assert stored(app, task) == ("gmail", "r-8", "t-8")


@pytest.mark.parametrize("mailbox", ["none", "smtp", "other_gmail_account"])
def test_without_a_connected_gmail_of_that_account_each_open_makes_a_draft(app, clock, live, google, make_user,
                                                                           make_person, make_task, make_mailbox,
                                                                           mailbox):
    rep = make_user(REP)
    if mailbox == "smtp":
        make_mailbox(rep, address=REP)
    elif mailbox == "other_gmail_account":  # its drafts are not where the add-on made this one
        oauth_mailbox(app, clock, rep.user_id, "gmail", "rep.personal@gmail.example", "1//other")
    task = make_task(rep.user_id, make_person(rep, email="ada@acme.example"))
    mock = google(created("r-1", "t-1"), created("r-2", "t-2"))
    assert open_task(live, task) == {"draftId": "r-1", "draftThreadId": "t-1"}
    assert open_task(live, task) == {"draftId": "r-2", "draftThreadId": "t-2"}
    assert requests_made(mock) == [("POST", DRAFTS), ("POST", DRAFTS)]  # nothing to check with
    assert stored(app, task) == ("gmail", "r-2", "t-2")
