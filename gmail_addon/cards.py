"""JSON of the Google Workspace add-on card framework (HTTP runtime) and of its responses.

Two response envelopes exist: a *trigger* (homepage, opened message, compose) answers with
``{"action": {"navigations": [...]}}``; a *widget action* (a button's ``onClick``) answers
with ``{"renderActions": {...}}``, which may also carry a notification or a ``hostAppAction``
(open a created draft, update the draft being composed). Text fields of decorated text and
paragraphs are formatted text, so every value from the database is HTML-escaped here.
"""
from __future__ import annotations

from html import escape
from typing import Any, Iterable

# Google renders at most 100 widgets per card; views stay well under it.
MAX_WIDGETS = 100


def esc(value: Any) -> str:
    return escape(str(value if value is not None else ""), quote=False)


def action(function_url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"function": function_url, "loadIndicator": "SPINNER"}
    if params:
        result["parameters"] = [{"key": k, "value": str(v)} for k, v in params.items() if v is not None]
    return result


def button(text: str, function_url: str, params: dict[str, Any] | None = None, *,
           filled: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"text": text, "onClick": {"action": action(function_url, params)}}
    if filled:
        result["color"] = {"red": 0.1, "green": 0.45, "blue": 0.91, "alpha": 1}
    return result


def button_list(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"buttonList": {"buttons": list(buttons)}}


def decorated_text(text: str, *, top: str | None = None, bottom: str | None = None,
                   button_: dict[str, Any] | None = None) -> dict[str, Any]:
    """``text``, ``top`` and ``bottom`` are already-formatted (escaped) strings."""
    widget: dict[str, Any] = {"text": text, "wrapText": True}
    if top:
        widget["topLabel"] = top
    if bottom:
        widget["bottomLabel"] = bottom
    if button_:
        widget["button"] = button_
    return {"decoratedText": widget}


def paragraph(text: str) -> dict[str, Any]:
    return {"textParagraph": {"text": text}}


def dropdown(name: str, label: str, items: Iterable[tuple[str, str]], selected: str | None = None) -> dict[str, Any]:
    return {"selectionInput": {
        "name": name, "label": label, "type": "DROPDOWN",
        "items": [{"text": text, "value": value, "selected": value == selected} for value, text in items],
    }}


def checkbox(name: str, label: str, value: str) -> dict[str, Any]:
    return {"selectionInput": {"name": name, "type": "CHECK_BOX",
                               "items": [{"text": label, "value": value, "selected": False}]}}


def text_input(name: str, label: str, value: str | None = None) -> dict[str, Any]:
    widget: dict[str, Any] = {"name": name, "label": label, "type": "SINGLE_LINE"}
    if value:
        widget["value"] = value
    return {"textInput": widget}


def section(widgets: list[dict[str, Any]], header: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"widgets": widgets}
    if header:
        result["header"] = header
    return result


def card(name: str, title: str, sections: list[dict[str, Any]], *, subtitle: str | None = None,
         footer: dict[str, Any] | None = None) -> dict[str, Any]:
    header: dict[str, Any] = {"title": title}
    if subtitle:
        header["subtitle"] = subtitle
    result: dict[str, Any] = {"name": name, "header": header, "sections": sections}
    if footer:
        result["fixedFooter"] = {"primaryButton": footer}
    return result


def widget_count(a_card: dict[str, Any]) -> int:
    return sum(len(s.get("widgets", [])) for s in a_card.get("sections", []))


# --- response envelopes ------------------------------------------------------------------

def trigger_response(a_card: dict[str, Any]) -> dict[str, Any]:
    """Answer to a homepage, contextual or compose trigger."""
    return {"action": {"navigations": [{"pushCard": a_card}]}}


def render_card(a_card: dict[str, Any], *, update: bool = False, notification: str | None = None) -> dict[str, Any]:
    """Answer to a button: push a new card, or replace the current one (``update``)."""
    act: dict[str, Any] = {"navigations": [{"updateCard" if update else "pushCard": a_card}]}
    if notification:
        act["notification"] = {"text": notification}
    return {"renderActions": {"action": act}}


def notify(text: str) -> dict[str, Any]:
    """Answer to a button that only shows a message (errors, refusals)."""
    return {"renderActions": {"action": {"notification": {"text": text}}}}


def open_created_draft(draft_id: str, thread_id: str) -> dict[str, Any]:
    """Make Gmail open the draft just created through the Gmail API in its compose window."""
    return {"renderActions": {"hostAppAction": {"gmailAction": {
        "openCreatedDraftActionMarkup": {"draftId": draft_id, "draftThreadId": thread_id},
    }}}}


def update_draft(*, subject: str | None, to: list[str], body_html: str) -> dict[str, Any]:
    """Fill the draft being composed: body inserted at the cursor, subject and To replaced."""
    markup: dict[str, Any] = {
        "updateBody": {"insertContents": [{"content": body_html, "contentType": "MUTABLE_HTML"}],
                       "type": "IN_PLACE_INSERT"},
    }
    if subject:
        markup["updateSubject"] = {"subject": subject}
    if to:
        markup["updateToRecipients"] = {"toRecipients": [{"email": a} for a in to]}
    return {"renderActions": {"hostAppAction": {"gmailAction": {"updateDraftActionMarkup": markup}}}}
