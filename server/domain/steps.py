"""Where each email send option is allowed (SPEC §3), as pure rules.

The API, the web builder and PATCH all validate a campaign's step list here, so a rule and
its message exist once. Errors name the step by its index in the request (``steps[1]``),
which is what a client can point at.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import time
from typing import Sequence

STEP_TYPES = ("email", "call", "inmail", "custom")
SEND_OPTIONS = ("choose_at_launch", "at_time", "same_time_as_previous", "task")
FIRST_STEP_OPTIONS = ("choose_at_launch", "at_time", "task")


@dataclass(frozen=True)
class StepDraft:
    """A step as a request describes it; ``index`` is its place in the request's list."""

    index: int
    day: int
    type: str
    send_option: str | None = None
    time: time | None = None
    follow_up: bool = False
    has_content: bool = True  # a template or an inline subject and body
    position: int = 0


@dataclass(frozen=True)
class StepProblem:
    field: str
    message: str


def order_steps(drafts: Sequence[StepDraft]) -> list[StepDraft]:
    """Sort by day (stable, so list order gives the order within a day) and number positions."""
    ordered = sorted(drafts, key=lambda d: d.day)
    result: list[StepDraft] = []
    for draft in ordered:
        previous = result[-1] if result else None
        position = previous.position + 1 if previous and previous.day == draft.day else 1
        result.append(replace(draft, position=position))
    return result


def _name(d: StepDraft) -> str:
    return f"step {d.index + 1} (day {d.day}, position {d.position})"


def validate_steps(drafts: Sequence[StepDraft]) -> list[StepProblem]:
    """Every rule of SPEC §3 about where options may stand; empty when the list is valid."""
    problems: list[StepProblem] = []
    if not drafts:
        return [StepProblem("steps", "a campaign needs at least one step")]
    ordered = order_steps(drafts)
    for i, d in enumerate(ordered):
        f = f"steps[{d.index}]"
        first = i == 0
        if d.type not in STEP_TYPES:
            problems.append(StepProblem(f"{f}.type", f"{_name(d)}: type must be one of {', '.join(STEP_TYPES)}"))
            continue
        if d.type != "email":
            if d.send_option is not None:
                problems.append(StepProblem(f"{f}.send_option", f"{_name(d)}: only email steps have a send option"))
            if d.follow_up:
                problems.append(StepProblem(f"{f}.follow_up", f"{_name(d)}: only email steps can be follow-ups"))
            continue
        if not d.has_content:
            problems.append(StepProblem(f"{f}.template_id",
                                        f"{_name(d)}: an email step needs a template_id or a subject and body_html"))
        if d.send_option is None:
            problems.append(StepProblem(f"{f}.send_option",
                                        f"{_name(d)}: an email step needs a send_option ({', '.join(SEND_OPTIONS)})"))
            continue
        if d.send_option not in SEND_OPTIONS:
            problems.append(StepProblem(f"{f}.send_option",
                                        f"{_name(d)}: send_option must be one of {', '.join(SEND_OPTIONS)}"))
            continue
        if first:
            if d.send_option == "same_time_as_previous":
                problems.append(StepProblem(f"{f}.send_option",
                                            f"{_name(d)}: same_time_as_previous is never allowed on the campaign's "
                                            "first step; use choose_at_launch, at_time or task"))
            if d.send_option == "choose_at_launch" and d.day != 1:
                problems.append(StepProblem(f"{f}.send_option",
                                            f"{_name(d)}: choose_at_launch is only allowed on the first step of day 1"))
            if d.follow_up:
                problems.append(StepProblem(f"{f}.follow_up",
                                            f"{_name(d)}: the campaign's first step cannot be a follow-up"))
        else:
            if d.send_option == "choose_at_launch":
                problems.append(StepProblem(f"{f}.send_option",
                                            f"{_name(d)}: choose_at_launch is only allowed on the campaign's very "
                                            "first step (day 1, position 1)"))
            before = ordered[i - 1]
            if d.follow_up and before.type != "email":
                problems.append(StepProblem(f"{f}.follow_up",
                                            f"{_name(d)}: follow_up is only allowed when the step directly before "
                                            f"it is an email step, and it follows a {before.type} step"))
        if d.send_option == "at_time" and d.time is None:
            problems.append(StepProblem(f"{f}.time", f"{_name(d)}: at_time needs a time (HH:MM)"))
    return problems
