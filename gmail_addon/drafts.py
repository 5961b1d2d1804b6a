"""The email of an email task as a MIME message, and as a Gmail draft.

Open creates a real Gmail draft and asks Gmail to show it in its own compose window, so the
rep edits and sends with Gmail itself. For a follow-up (SPEC §3) the draft must land in the
previous email's thread: Gmail's ``threadId`` on the draft, plus ``In-Reply-To`` and
``References`` so other mail clients thread it too, and the previous email quoted below.

``build_draft_mime`` is also meant for the dispatcher (e.g. a Gmail mailbox sending a task's
email), so it takes the plain task ``email`` dict of ``GET /tasks`` and no Flask state.
"""
from __future__ import annotations

import base64
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any, Mapping

GMAIL_ACCESS_TOKEN_HEADER = "X-Goog-Gmail-Access-Token"

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}


class _TextExtractor(HTMLParser):
    """HTML to readable plain text for the text/plain alternative; quotes get "> "."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.depth = 0  # blockquote nesting
        self.skip = 0  # inside <style>/<script>/<head>

    def _newline(self) -> None:
        self.lines.append("")

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self._newline()
        if tag == "blockquote":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.depth = max(0, self.depth - 1)
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data):
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        if not self.lines[-1]:
            text = text.lstrip()
            if text and self.depth:
                text = "> " * self.depth + text
        self.lines[-1] += text


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    text = "\n".join(line.rstrip() for line in parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _one_line(value: Any) -> str:
    """Header values on one line: merge data must never inject a header."""
    return " ".join(str(value or "").split())


def _references(thread: Mapping[str, Any]) -> tuple[str | None, str | None]:
    in_reply_to = _one_line(thread.get("in_reply_to")) or None
    refs = thread.get("references")
    if isinstance(refs, (list, tuple)):
        refs = " ".join(str(r) for r in refs)
    ids = _one_line(refs).split()
    if in_reply_to and in_reply_to not in ids:
        ids.append(in_reply_to)  # RFC 5322 3.6.4: References ends with the parent's Message-ID
    return in_reply_to, (" ".join(ids) or None)


def draft_html(task_email: Mapping[str, Any]) -> str:
    """The new body, then the quoted previous email (follow-ups) below it."""
    body = task_email.get("body_html") or ""
    quoted = task_email.get("quoted_html")
    return f"{body}<br><br>{quoted}" if quoted else body


def build_draft_mime(task_email: Mapping[str, Any], from_addr: str) -> EmailMessage:
    """The task's email (to, subject, rendered HTML body, thread headers) as a MIME message."""
    message = EmailMessage()
    if from_addr:
        message["From"] = _one_line(from_addr)
    message["To"] = ", ".join(_one_line(a) for a in (task_email.get("to") or []) if _one_line(a))
    message["Subject"] = _one_line(task_email.get("subject"))
    thread = task_email.get("thread") or {}
    in_reply_to, references = _references(thread)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    html = draft_html(task_email)
    message.set_content(html_to_text(html))
    message.add_alternative(html, subtype="html")
    return message


def encode_raw(message: EmailMessage) -> str:
    """Gmail's ``raw``: the RFC 2822 bytes, base64url."""
    return base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")


def create_draft(service: Any, message: EmailMessage, *, thread_id: str | None = None,
                 gmail_access_token: str | None = None) -> dict[str, Any]:
    """``users.drafts.create`` for the signed-in user; returns Gmail's Draft resource.

    The per-message add-on token travels in ``X-Goog-Gmail-Access-Token``: with the narrow
    ``gmail.addons.current.action.compose`` scope, Gmail only accepts the call with it."""
    body: dict[str, Any] = {"message": {"raw": encode_raw(message)}}
    if thread_id:
        body["message"]["threadId"] = thread_id
    request = service.users().drafts().create(userId="me", body=body)
    if gmail_access_token:
        request.headers[GMAIL_ACCESS_TOKEN_HEADER] = gmail_access_token
    return request.execute()
