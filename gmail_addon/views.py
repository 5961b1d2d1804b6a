"""Stepline's cards in the Gmail side panel, built from plain dicts (no database access).

``url(name)`` gives the absolute URL of an add-on endpoint (``tasks``, ``open``, ``complete``,
``skip``, ``launch``, ``insert``): Google calls button actions by URL, and signs its ID token
for that URL, so the URLs must be the public ones.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from gmail_addon import cards
from gmail_addon.cards import esc

Url = Callable[[str], str]
PAGE_SIZE = 25  # 2 widgets per task: 50 widgets, far from the 100-widget card limit
TASK_TYPES = {"email": "Email", "call": "Call", "inmail": "InMail", "custom": "To-do"}


def person_name(person: dict[str, Any] | None) -> str:
    person = person or {}
    name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
    return name or person.get("email") or "Unknown person"


def when_due(task: dict[str, Any], today: str) -> str:
    """``overdue``, ``today`` or ``upcoming``, from the ISO due date and the rep's local date."""
    due = str(task.get("due_date") or "")
    return "overdue" if due < today else "today" if due == today else "upcoming"


def order_tasks(tasks: Iterable[dict], today: str) -> list[tuple[dict, str]]:
    """Email tasks first (they are what Gmail is for), then the oldest due date, then high
    priority first. Returns ``(task, when_due)`` rows."""
    rows = [(t, when_due(t, today)) for t in tasks]
    return sorted(rows, key=lambda row: (
        row[0].get("type") != "email", str(row[0].get("due_date") or ""),
        row[0].get("priority") != "high", str(row[0].get("id")),
    ))


def _task_widgets(task: dict[str, Any], when: str, url: Url, context: dict[str, Any]) -> list[dict]:
    kind = TASK_TYPES.get(task.get("type"), "Task")
    due = {"overdue": f"Overdue · due {esc(task.get('due_date'))}", "today": "Due today"}.get(
        when, f"Due {esc(task.get('due_date'))}")
    if task.get("priority") == "high":
        due += " · High priority"
    person = task.get("person") or {}
    bottom = [esc(person_name(person))]
    if person.get("company"):
        bottom.append(esc(person["company"]))
    if task.get("campaign"):
        bottom.append(esc(task["campaign"].get("name")))
    title = task.get("title") or (task.get("email") or {}).get("subject") or kind
    params = {"task_id": task.get("id"), **context}
    return [
        cards.decorated_text(f"<b>{esc(kind)}</b> · {esc(title)}", top=due, bottom=" · ".join(bottom)),
        cards.button_list(
            cards.button("Open", url("open"), params, filled=True),
            cards.button("Complete", url("complete"), params),
            cards.button("Skip", url("skip"), params),
        ),
    ]


def task_list_card(rows: list[tuple[dict, str]], *, page: int, url: Url) -> dict[str, Any]:
    """Today's and overdue tasks, ``PAGE_SIZE`` per card; "More" pushes the next page."""
    total = len(rows)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    start = (page - 1) * PAGE_SIZE
    shown = rows[start:start + PAGE_SIZE]
    n_overdue = sum(1 for _, when in rows if when == "overdue")
    subtitle = f"{n_overdue} overdue · {total - n_overdue} due today" if total else None
    context = {"view": "tasks", "page": page}
    footer = cards.button("Refresh", url("tasks"), {"page": 1, "nav": "update"})

    if not total:
        body = [cards.section([cards.paragraph(
            "<b>You're all caught up.</b><br>No tasks are due today or overdue. "
            "New tasks appear here when their campaign step is due.")])]
        return cards.card("tasks", "Your tasks", body, footer=footer)

    sections = []
    for header, wanted in (("Email tasks", True), ("Other tasks", False)):
        widgets: list[dict] = []
        for task, when in shown:
            if (task.get("type") == "email") == wanted:
                widgets += _task_widgets(task, when, url, context)
        if widgets:
            sections.append(cards.section(widgets, header))
    if page < pages:
        label = f"More ({start + PAGE_SIZE + 1}–{min(total, start + 2 * PAGE_SIZE)} of {total})"
        sections.append(cards.section([cards.button_list(
            cards.button(label, url("tasks"), {"page": page + 1, "nav": "push"}))]))
    title = "Your tasks" if pages == 1 else f"Your tasks ({page}/{pages})"
    return cards.card(f"tasks-{page}", title, sections, subtitle=subtitle, footer=footer)


def task_detail_card(task: dict[str, Any], *, url: Url, context: dict[str, Any]) -> dict[str, Any]:
    """What Open shows for a call, InMail or to-do task: who, why, the notes."""
    person = task.get("person") or {}
    kind = TASK_TYPES.get(task.get("type"), "Task")
    widgets = [
        cards.decorated_text(esc(person_name(person)), top="Person",
                             bottom=esc(" · ".join(v for v in (person.get("company"), person.get("email")) if v))),
        cards.decorated_text(esc(task.get("due_date")), top="Due",
                             bottom="High priority" if task.get("priority") == "high" else None),
    ]
    if task.get("campaign"):
        widgets.append(cards.decorated_text(esc(task["campaign"].get("name")), top="Campaign"))
    if task.get("notes"):
        widgets.append(cards.paragraph(esc(task["notes"]).replace("\n", "<br>")))
    params = {"task_id": task.get("id"), **context}
    widgets.append(cards.button_list(cards.button("Complete", url("complete"), params, filled=True),
                                     cards.button("Skip", url("skip"), params)))
    return cards.card(f"task-{task.get('id')}", f"{kind}: {task.get('title') or ''}".strip(),
                      [cards.section(widgets)])


def person_card(person: dict[str, Any], *, enrollments: list[dict[str, Any]], tasks: list[tuple[dict, str]],
                campaigns: list[tuple[int, str]], url: Url) -> dict[str, Any]:
    """The sender of the opened message: their campaigns, their open tasks, Add to campaign."""
    context = {"view": "person", "person_id": person["id"]}
    sections = []
    if enrollments:
        sections.append(cards.section(
            [cards.decorated_text(esc(e.get("campaign")), bottom=esc(e.get("state")))
             for e in enrollments[:20]], "Campaigns"))
    else:
        sections.append(cards.section([cards.paragraph("Not in any of your active campaigns.")], "Campaigns"))
    task_widgets: list[dict] = []
    for task, when in tasks[:15]:
        task_widgets += _task_widgets(task, when, url, context)
    if task_widgets:
        sections.append(cards.section(task_widgets, "Open tasks"))
    if campaigns:
        sections.append(cards.section([
            cards.dropdown("campaign_id", "Campaign", [(str(cid), name) for cid, name in campaigns]),
            cards.checkbox("send_now", "Send the first email now", "now"),
            cards.button_list(cards.button("Add to campaign", url("launch"), {"person_id": person["id"]},
                                           filled=True)),
        ], "Add to campaign"))
    subtitle = " · ".join(v for v in (person.get("company"), person.get("email")) if v)
    return cards.card(f"person-{person['id']}", person_name(person), sections, subtitle=subtitle)


def message_card(title: str, text: str) -> dict[str, Any]:
    """A card that only says something (unknown sender, Gmail error, no user...)."""
    return cards.card("message", title, [cards.section([cards.paragraph(text)])])


def unknown_sender_card(email: str | None) -> dict[str, Any]:
    if not email:
        return message_card("Stepline", "This message has no sender Stepline could look up.")
    return message_card("Stepline", f"<b>{esc(email)}</b> is not a person in Stepline yet.")


def compose_card(templates: list[tuple[int, str]], *, to: str | None, url: Url) -> dict[str, Any]:
    """Compose trigger: pick a template; Insert fills this draft's subject, To and body."""
    if not templates:
        return message_card("Insert a template", "There are no templates in Stepline yet.")
    return cards.card("compose", "Insert a template", [cards.section([
        cards.text_input("to", "Recipient (fills the merge fields)", to),
        cards.dropdown("template_id", "Template", [(str(tid), name) for tid, name in templates]),
        cards.button_list(cards.button("Insert", url("insert"), filled=True)),
    ])])
