"""The task's email as MIME, and drafts.create through google-api-python-client."""
from __future__ import annotations

import base64
import json
from email import message_from_bytes, policy

from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from gmail_addon.drafts import build_draft_mime, create_draft, html_to_text

NEW = {"to": ["ada@acme.test"], "subject": "Quick question, Ada", "body_html": "<p>Hi Ada,</p><p>Got a minute?</p>",
       "quoted_html": None, "thread": None}
FOLLOW_UP = {
    "to": ["ada@acme.test"], "subject": "Re: Quick question, Ada", "body_html": "<p>Bumping this up.</p>",
    "quoted_html": '<div class="gmail_quote">On Mon, Mar 2, Rep wrote:<blockquote><p>Hi Ada,</p></blockquote></div>',
    "thread": {"in_reply_to": "<m1@stepline.test>", "references": "<m0@stepline.test>",
               "provider_thread_id": "18c0ffee"},
}


def parts(message):
    return {p.get_content_type(): p.get_content() for p in message.walk() if not p.is_multipart()}


def test_new_email_mime():
    message = build_draft_mime(NEW, "rep@stepline.test")
    assert message["From"] == "rep@stepline.test"
    assert message["To"] == "ada@acme.test"
    assert message["Subject"] == "Quick question, Ada"
    assert message["In-Reply-To"] is None and message["References"] is None
    body = parts(message)
    assert body["text/html"].strip() == NEW["body_html"]
    assert "Hi Ada," in body["text/plain"] and "<p>" not in body["text/plain"]


def test_follow_up_mime_is_a_reply_with_the_previous_email_quoted_below():
    message = build_draft_mime(FOLLOW_UP, "rep@stepline.test")
    assert message["In-Reply-To"] == "<m1@stepline.test>"
    assert message["References"] == "<m0@stepline.test> <m1@stepline.test>"
    html = parts(message)["text/html"]
    assert html.index("Bumping this up.") < html.index("<blockquote>")
    assert "> Hi Ada," in parts(message)["text/plain"]


def test_references_as_a_list_and_without_duplicates():
    email = dict(FOLLOW_UP, thread={"in_reply_to": "<m1@x>", "references": ["<m0@x>", "<m1@x>"]})
    assert build_draft_mime(email, "r@x")["References"] == "<m0@x> <m1@x>"


def test_merge_data_cannot_inject_headers():
    email = dict(NEW, subject="Hi\r\nBcc: everyone@evil.test", to=["ada@acme.test\r\nBcc: x@evil.test"])
    message = build_draft_mime(email, "rep@stepline.test")
    raw = message.as_bytes()
    assert message["Bcc"] is None
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert message["Subject"] == "Hi Bcc: everyone@evil.test"


def test_html_to_text():
    assert html_to_text("<style>p{}</style><p>One</p><p>Two &amp; three</p>") == "One\n\nTwo & three\n"


def gmail_with(mock):
    return build("gmail", "v1", http=AuthorizedHttp(Credentials("ya29.user"), http=mock),
                 cache_discovery=False, static_discovery=True)


def test_drafts_create_request_is_exact():
    mock = HttpMockSequence([({"status": "200"}, json.dumps(
        {"id": "r-123", "message": {"id": "m-9", "threadId": "18c0ffee"}}))])
    draft = create_draft(gmail_with(mock), build_draft_mime(FOLLOW_UP, "rep@stepline.test"),
                         thread_id="18c0ffee", gmail_access_token="gmail-msg-token")
    assert draft["id"] == "r-123"
    (uri, method, body, headers), = mock.request_sequence
    assert method == "POST"
    assert uri.startswith("https://gmail.googleapis.com/gmail/v1/users/me/drafts")
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-goog-gmail-access-token"] == "gmail-msg-token"
    assert lower["authorization"] == "Bearer ya29.user"
    sent = json.loads(body)
    assert sent["message"]["threadId"] == "18c0ffee"
    mime = message_from_bytes(base64.urlsafe_b64decode(sent["message"]["raw"]), policy=policy.default)
    assert mime["To"] == "ada@acme.test" and mime["Subject"] == "Re: Quick question, Ada"
    assert mime["In-Reply-To"] == "<m1@stepline.test>"
    assert "Bumping this up." in mime.get_body(("html",)).get_content()


def test_new_email_draft_has_no_thread():
    mock = HttpMockSequence([({"status": "200"}, '{"id": "r-1", "message": {"id": "m", "threadId": "t"}}')])
    create_draft(gmail_with(mock), build_draft_mime(NEW, "rep@stepline.test"))
    (_, _, body, headers), = mock.request_sequence
    assert "threadId" not in json.loads(body)["message"]
    assert "x-goog-gmail-access-token" not in {k.lower() for k in headers}
