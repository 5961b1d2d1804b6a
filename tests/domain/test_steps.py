"""Pure rules of where each send option may stand (SPEC §3), without HTTP or a database."""
from __future__ import annotations

from datetime import time

from hypothesis import given
from hypothesis import strategies as st

from server.domain.steps import SEND_OPTIONS, STEP_TYPES, StepDraft, order_steps, validate_steps


def email(index: int, day: int, option: str | None, **extra) -> StepDraft:
    return StepDraft(index=index, day=day, type="email", send_option=option, **extra)


def fields(drafts) -> list[str]:
    return [p.field for p in validate_steps(drafts)]


def test_a_valid_campaign_has_no_problems():
    assert validate_steps([email(0, 1, "choose_at_launch"), email(1, 3, "same_time_as_previous", follow_up=True),
                           StepDraft(index=2, day=4, type="call"), email(3, 6, "task")]) == []


def test_positions_follow_list_order_within_a_day_and_days_sort_stably():
    ordered = order_steps([StepDraft(index=0, day=2, type="call"), StepDraft(index=1, day=1, type="call"),
                           StepDraft(index=2, day=2, type="inmail")])
    assert [(d.index, d.day, d.position) for d in ordered] == [(1, 1, 1), (0, 2, 1), (2, 2, 2)]


def test_follow_up_after_a_non_email_step_names_that_step():
    problems = validate_steps([email(0, 1, "at_time", time=time(9)), StepDraft(index=1, day=2, type="custom"),
                               email(2, 3, "task", follow_up=True)])
    assert [p.field for p in problems] == ["steps[2].follow_up"]
    assert "custom" in problems[0].message and "step 3" in problems[0].message


def test_first_step_rules_choose_at_launch_only_first_and_never_same_time_or_follow_up():
    assert fields([email(0, 1, "same_time_as_previous")]) == ["steps[0].send_option"]
    assert fields([email(0, 1, "task", follow_up=True)]) == ["steps[0].follow_up"]
    assert fields([StepDraft(index=0, day=1, type="call"), email(1, 1, "choose_at_launch")]) == \
        ["steps[1].send_option"]
    assert fields([email(0, 2, "choose_at_launch")]) == ["steps[0].send_option"]


def test_non_email_steps_carry_no_send_option_or_follow_up():
    assert fields([StepDraft(index=0, day=1, type="call", send_option="task")]) == ["steps[0].send_option"]
    assert fields([email(0, 1, "task"), StepDraft(index=1, day=2, type="inmail", follow_up=True)]) == \
        ["steps[1].follow_up"]


def test_at_time_needs_a_time_and_email_needs_content():
    assert fields([email(0, 1, "at_time")]) == ["steps[0].time"]
    assert fields([email(0, 1, "task", has_content=False)]) == ["steps[0].template_id"]


draft = st.builds(StepDraft, index=st.just(0), day=st.integers(1, 30), type=st.sampled_from(STEP_TYPES),
                  send_option=st.one_of(st.none(), st.sampled_from(SEND_OPTIONS)),
                  time=st.one_of(st.none(), st.just(time(9, 30))), follow_up=st.booleans())


@given(st.lists(draft, min_size=1, max_size=8))
def test_every_problem_names_a_step_of_the_request_and_valid_lists_obey_every_rule(drafts):
    drafts = [d.__class__(**{**d.__dict__, "index": i}) for i, d in enumerate(drafts)]
    problems = validate_steps(drafts)
    for problem in problems:
        assert problem.field.startswith("steps[") and problem.message
        index = int(problem.field[6:problem.field.index("]")])
        assert 0 <= index < len(drafts)
    if not problems:
        ordered = order_steps(drafts)
        first = ordered[0]
        assert not first.follow_up
        assert first.type != "email" or first.send_option != "same_time_as_previous"
        for before, step in zip(ordered, ordered[1:]):
            assert step.send_option != "choose_at_launch"
            assert not step.follow_up or before.type == "email"
