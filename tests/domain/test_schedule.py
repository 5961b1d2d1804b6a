"""Scheduling rules of SPEC §2-§4, one test per rule, plus property tests.

Every example uses real zones and real 2026 calendars; "NY" dates in the comments are
America/New_York wall-clock dates. 2026-03-02 is a Monday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.domain.schedule import (
    Calendar,
    Overrides,
    PlannedStep,
    Scheduled,
    StepRule,
    first_day,
    plan,
    schedule_step,
    validate_country,
)

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def local(zone: ZoneInfo, y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=zone)


def email(id: int, day: int, option: str, t: time | None = None, position: int = 1) -> StepRule:
    return StepRule(id=id, day=day, position=position, type="email", send_option=option, time=t)


def task(id: int, day: int, type: str = "call", position: int = 1) -> StepRule:
    return StepRule(id=id, day=day, position=position, type=type, send_option=None)


def run(steps, index, cal, *, now, day1=date(2026, 3, 2), prev_done_at=None, sent_history=(), **kw):
    return schedule_step(
        steps, index, cal, now=now, day1=day1, prev_done_at=prev_done_at, sent_history=list(sent_history), **kw
    )


# ----------------------------------------------------------------------------- days


def test_day_is_a_position_not_a_gap():
    cal = Calendar(NY)
    steps = [email(1, 1, "at_time", time(9, 30)), task(2, 3), email(3, 4, "at_time", time(9, 30))]
    timeline = plan(steps, cal, local(NY, 2026, 3, 2, 8))
    # Day 3 and day 4 of the campaign, not "3 days after day 1, then 4 after that".
    assert [p.date for p in timeline] == [date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 5)]


def test_steps_on_the_same_day_share_its_date():
    cal = Calendar(NY)
    steps = [task(1, 1), task(2, 1, "inmail", position=2), email(3, 1, "at_time", time(17), position=3)]
    timeline = plan(steps, cal, local(NY, 2026, 3, 2, 8))
    assert {p.date for p in timeline} == {date(2026, 3, 2)}


def test_late_task_shifts_later_steps_no_catch_up():
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 3, "at_time", time(10)), task(3, 5)]
    assert run(steps, 0, cal, now=local(NY, 2026, 3, 2, 8)) == Scheduled(date(2026, 3, 2), None)
    # The day-1 task is done two days late, on Wednesday: the day-3 email is two business
    # days after that (Friday), not on its original Wednesday.
    done = local(NY, 2026, 3, 4, 15)
    sent = run(steps, 1, cal, now=done, prev_done_at=done)
    assert sent == Scheduled(date(2026, 3, 6), local(NY, 2026, 3, 6, 10).astimezone(UTC))
    # ...and the lateness carries on: day 5 is two business days after the email.
    later = run(steps, 2, cal, now=sent.due_at, prev_done_at=sent.due_at, sent_history=[(3, sent.due_at)])
    assert later == Scheduled(date(2026, 3, 10), None)


def test_weekend_day1_moves_to_monday():
    cal = Calendar(NY)
    assert first_day(cal, local(NY, 2026, 3, 7, 10), None) == date(2026, 3, 9)  # launched Saturday
    assert first_day(cal, local(NY, 2026, 3, 2, 10), date(2026, 3, 8)) == date(2026, 3, 9)  # start Sunday
    assert first_day(cal, local(NY, 2026, 3, 4, 10), None) == date(2026, 3, 4)
    assert first_day(Calendar(NY, skip_weekends=False), local(NY, 2026, 3, 7, 10), None) == date(2026, 3, 7)


def test_day1_is_the_local_date_of_the_launch():
    # 2026-03-03 02:00Z is still Monday evening in New York, already Tuesday in Tokyo.
    assert first_day(Calendar(NY), utc(2026, 3, 3, 2), None) == date(2026, 3, 2)
    assert first_day(Calendar(TOKYO), utc(2026, 3, 3, 2), None) == date(2026, 3, 3)


def test_skip_weekends_counts_business_days():
    cal = Calendar(NY)
    fri, sat, sun = date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 8)
    assert cal.add_days(fri, 1) == date(2026, 3, 9)
    assert cal.add_days(sat, 1) == date(2026, 3, 9)
    assert cal.add_days(sun, 1) == date(2026, 3, 9)
    assert cal.add_days(date(2026, 3, 5), 3) == date(2026, 3, 10)  # Thu + 3 = Tue
    assert cal.add_days(sat, 0) == date(2026, 3, 9)
    assert cal.add_days(fri, 0) == fri
    assert cal.add_days(fri, 5) == date(2026, 3, 13)


def test_without_skip_weekends_days_are_calendar_days():
    cal = Calendar(NY, skip_weekends=False, holidays="US")
    assert cal.add_days(date(2026, 3, 6), 1) == date(2026, 3, 7)
    assert cal.add_days(date(2026, 3, 6), 0) == date(2026, 3, 6)
    # A holiday calendar only removes days that weekends-skipping already counts in.
    assert cal.is_business_day(date(2026, 11, 26))


def test_holiday_counts_like_weekend():
    us = Calendar(NY, holidays="US")
    assert us.add_days(date(2026, 7, 2), 1) == date(2026, 7, 6)  # Fri 07-03: Independence Day observed
    assert us.add_days(date(2026, 11, 25), 1) == date(2026, 11, 27)  # Thu 11-26: Thanksgiving
    assert first_day(us, local(NY, 2026, 11, 26, 9), None) == date(2026, 11, 27)
    assert Calendar(NY).add_days(date(2026, 7, 2), 1) == date(2026, 7, 3)  # no calendar, no holiday
    fr = Calendar(PARIS, holidays="FR")
    assert fr.add_days(date(2026, 4, 30), 1) == date(2026, 5, 4)  # Fri 05-01: Fête du Travail


def test_holiday_calendar_must_be_supported():
    assert validate_country("US") and validate_country("FR")
    assert not validate_country("XX")
    assert not validate_country("")
    with pytest.raises(ValueError):
        Calendar(NY, holidays="XX")


# ----------------------------------------------------------------------------- DST


def test_spring_forward_nonexistent_time_moves_forward_by_gap():
    cal = Calendar(NY, skip_weekends=False)
    instant = cal.at(date(2026, 3, 8), time(2, 30))
    assert instant == utc(2026, 3, 8, 7, 30)
    assert instant.tzinfo is UTC
    assert instant.astimezone(NY).time() == time(3, 30)
    # Same through the scheduler: an at_time step at 02:30 on that Sunday.
    steps = [email(1, 1, "at_time", time(2, 30))]
    assert run(steps, 0, cal, now=utc(2026, 3, 8, 0), day1=date(2026, 3, 8)).due_at == utc(2026, 3, 8, 7, 30)


def test_fall_back_ambiguous_time_takes_first_occurrence():
    cal = Calendar(NY, skip_weekends=False)
    assert cal.at(date(2026, 11, 1), time(1, 30)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not EST
    # A time that carries fold=1 (e.g. read from the second 01:30) is still the first one.
    assert cal.at(date(2026, 11, 1), time(1, 30, fold=1)) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    "zone, first_sent, expected",
    [
        # New York spring forward (Sun 2026-03-08): 09:30 EST then 09:30 EDT.
        ("America/New_York", utc(2026, 3, 7, 14, 30), utc(2026, 3, 8, 13, 30)),
        # New York fall back (Sun 2026-11-01): 09:30 EDT then 09:30 EST.
        ("America/New_York", utc(2026, 10, 31, 13, 30), utc(2026, 11, 1, 14, 30)),
        # Paris (Sun 2026-03-29 and 2026-10-25).
        ("Europe/Paris", utc(2026, 3, 28, 8, 30), utc(2026, 3, 29, 7, 30)),
        ("Europe/Paris", utc(2026, 10, 24, 7, 30), utc(2026, 10, 25, 8, 30)),
    ],
)
def test_time_of_day_kept_across_dst(zone, first_sent, expected):
    cal = Calendar(ZoneInfo(zone), skip_weekends=False)
    steps = [email(1, 1, "at_time", time(9, 30)), email(2, 2, "same_time_as_previous")]
    got = run(
        steps, 1, cal, now=first_sent, day1=cal.local_date(first_sent),
        prev_done_at=first_sent, sent_history=[(1, first_sent)],
    )
    assert got.due_at == expected  # 23 or 25 hours later, and 09:30 on the wall clock
    assert got.due_at.astimezone(cal.zone).time() == time(9, 30)
    # at_time steps keep their wall-clock time across the change as well.
    timeline = plan([email(1, 1, "at_time", time(9, 30)), email(2, 2, "at_time", time(9, 30))], cal,
                    first_sent - timedelta(hours=3))
    assert timeline[1].at == expected


# ----------------------------------------------------------------------------- send options


def test_same_time_as_previous_uses_the_time_the_previous_email_was_actually_sent():
    cal = Calendar(NY)
    steps = [email(1, 1, "at_time", time(9, 30)), email(2, 3, "same_time_as_previous")]
    sent = local(NY, 2026, 3, 2, 11, 47, ).replace(second=12)  # held by a cap until 11:47:12
    got = run(steps, 1, cal, now=sent, prev_done_at=sent, sent_history=[(1, sent)])
    # Seconds are dropped so that worker latency does not creep along the sequence.
    assert got == Scheduled(date(2026, 3, 4), local(NY, 2026, 3, 4, 11, 47).astimezone(UTC))


def test_same_time_as_previous_ignores_same_day_email():
    cal = Calendar(NY)
    steps = [
        email(1, 1, "at_time", time(11)),
        email(2, 2, "at_time", time(8)),
        email(3, 2, "same_time_as_previous", position=2),
    ]
    day1_sent = local(NY, 2026, 3, 2, 11)
    day2_sent = local(NY, 2026, 3, 3, 8)
    got = run(steps, 2, cal, now=day2_sent, prev_done_at=day2_sent, sent_history=[(1, day1_sent), (2, day2_sent)])
    # 11:00 like the day-1 email, not 08:00 like the email just before it on day 2.
    assert got.due_at == local(NY, 2026, 3, 3, 11).astimezone(UTC)
    assert plan(steps, cal, local(NY, 2026, 3, 2, 7))[2].at == got.due_at


def test_same_time_as_previous_on_day1_sends_at_once():
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 1, "same_time_as_previous", position=2)]
    done = local(NY, 2026, 3, 2, 11, 17)
    got = run(steps, 1, cal, now=done, prev_done_at=done)
    assert got == Scheduled(date(2026, 3, 2), done.astimezone(UTC))


def test_same_time_as_previous_without_earlier_email_goes_at_the_start_of_its_date():
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 3, "same_time_as_previous")]
    done = local(NY, 2026, 3, 2, 11)
    got = run(steps, 1, cal, now=done, prev_done_at=done)
    assert got == Scheduled(date(2026, 3, 4), local(NY, 2026, 3, 4, 0).astimezone(UTC))


def test_at_time_sends_at_that_local_time_on_its_date():
    cal = Calendar(NY)
    steps = [email(1, 1, "at_time", time(9, 30))]
    got = run(steps, 0, cal, now=local(NY, 2026, 3, 2, 8))
    assert got == Scheduled(date(2026, 3, 2), utc(2026, 3, 2, 14, 30))
    assert got.due_at.tzinfo is UTC


def test_past_instant_is_due_at_once_not_next_day():
    cal = Calendar(NY)
    # Launched at 11:00 with a first email at 09:30: it goes now, today.
    launch = local(NY, 2026, 3, 2, 11)
    steps = [email(1, 1, "at_time", time(9, 30))]
    assert run(steps, 0, cal, now=launch) == Scheduled(date(2026, 3, 2), launch.astimezone(UTC))
    # A task that gates a 09:30 email is done at 15:00: the email goes at 15:00.
    steps = [task(1, 1), email(2, 1, "at_time", time(9, 30), position=2)]
    done = local(NY, 2026, 3, 2, 15)
    assert run(steps, 1, cal, now=done, prev_done_at=done) == Scheduled(date(2026, 3, 2), done.astimezone(UTC))


def test_catching_up_on_a_weekend_waits_for_the_next_business_day():
    # The worker was down from Friday to Saturday: "at once" must not mean "on Saturday".
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 5, "at_time", time(9, 30))]
    done = local(NY, 2026, 3, 2, 9)
    got = run(steps, 1, cal, now=local(NY, 2026, 3, 7, 10), prev_done_at=done)
    assert got == Scheduled(date(2026, 3, 9), local(NY, 2026, 3, 9, 0).astimezone(UTC))


def test_send_window_waits_for_next_opening():
    cal = Calendar(NY, send_window=(time(8), time(18)))
    assert cal.fit_window(local(NY, 2026, 3, 3, 7)) == local(NY, 2026, 3, 3, 8)
    assert cal.fit_window(local(NY, 2026, 3, 3, 12)) == local(NY, 2026, 3, 3, 12)
    assert cal.fit_window(local(NY, 2026, 3, 3, 18)) == local(NY, 2026, 3, 4, 8)  # closing is closed
    assert cal.fit_window(local(NY, 2026, 3, 3, 23)) == local(NY, 2026, 3, 4, 8)
    assert cal.fit_window(local(NY, 2026, 3, 3, 12)).tzinfo is UTC
    assert Calendar(NY).fit_window(local(NY, 2026, 3, 3, 23)) == local(NY, 2026, 3, 3, 23)
    # Through the scheduler: an email at 19:00 waits for tomorrow's opening, and its date says so.
    steps = [email(1, 1, "at_time", time(19))]
    got = run(steps, 0, cal, now=local(NY, 2026, 3, 2, 7))
    assert got == Scheduled(date(2026, 3, 3), local(NY, 2026, 3, 3, 8).astimezone(UTC))


def test_send_window_skips_weekend():
    cal = Calendar(NY, holidays="US", send_window=(time(8), time(18)))
    assert cal.fit_window(local(NY, 2026, 3, 6, 18, 30)) == local(NY, 2026, 3, 9, 8)  # Fri evening
    assert cal.fit_window(local(NY, 2026, 3, 7, 10)) == local(NY, 2026, 3, 9, 8)  # Saturday
    assert cal.fit_window(local(NY, 2026, 11, 25, 19)) == local(NY, 2026, 11, 27, 8)  # Thanksgiving
    every_day = Calendar(NY, skip_weekends=False, send_window=(time(8), time(18)))
    assert every_day.fit_window(local(NY, 2026, 3, 6, 18, 30)) == local(NY, 2026, 3, 7, 8)


def test_send_window_must_open_before_it_closes():
    with pytest.raises(ValueError):
        Calendar(NY, send_window=(time(18), time(8)))


def test_explicit_send_at_honoured():
    cal = Calendar(NY, holidays="US", send_window=(time(8), time(18)))
    launch = local(NY, 2026, 3, 2, 9)
    saturday_early = local(NY, 2026, 3, 7, 6, 5)
    for option in ("choose_at_launch", "at_time"):
        steps = [email(1, 1, option, time(9, 30))]
        got = run(steps, 0, cal, now=launch, overrides=Overrides(send_at=saturday_early))
        # Exactly as chosen: no weekend, window or holiday move; the date follows the instant.
        assert got == Scheduled(date(2026, 3, 7), saturday_early.astimezone(UTC))
        # "now" (or anything already past) means at once.
        past = run(steps, 0, cal, now=launch, overrides=Overrides(send_at=launch - timedelta(hours=2)))
        assert past == Scheduled(date(2026, 3, 2), launch.astimezone(UTC))


def test_send_at_applies_to_the_first_step_only():
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 2, "at_time", time(9, 30))]
    done = local(NY, 2026, 3, 2, 9)
    got = run(steps, 1, cal, now=done, prev_done_at=done, overrides=Overrides(send_at=local(NY, 2026, 3, 5, 7)))
    assert got.due_at == local(NY, 2026, 3, 3, 9, 30)


def test_choose_at_launch_without_send_at_has_no_instant():
    cal = Calendar(NY)
    got = run([email(1, 1, "choose_at_launch")], 0, cal, now=local(NY, 2026, 3, 2, 8))
    assert got == Scheduled(date(2026, 3, 2), None)


def test_step_times_override_at_time():
    cal = Calendar(NY)
    steps = [email(7, 1, "at_time", time(9, 30))]
    now = local(NY, 2026, 3, 2, 8)
    expected = local(NY, 2026, 3, 2, 14).astimezone(UTC)
    assert run(steps, 0, cal, now=now, overrides=Overrides(step_times={7: time(14)})).due_at == expected
    # JSON object keys are strings; an integer step id still finds its time.
    assert run(steps, 0, cal, now=now, overrides=Overrides(step_times={"7": time(14)})).due_at == expected
    assert run(steps, 0, cal, now=now, overrides=Overrides(step_times={8: time(14)})).due_at == utc(2026, 3, 2, 14, 30)


def test_recipient_zone():
    # Launched at 2026-03-02 20:00Z: Monday 15:00 in New York, Tuesday 05:00 in Tokyo.
    launch = utc(2026, 3, 2, 20)
    steps = [email(1, 1, "at_time", time(9)), task(2, 2)]
    tokyo = plan(steps, Calendar(TOKYO), launch)
    assert tokyo[0] == PlannedStep(steps[0], date(2026, 3, 3), utc(2026, 3, 3, 0))  # 09:00 JST
    assert tokyo[1].date == date(2026, 3, 4)
    new_york = plan(steps, Calendar(NY), launch)
    assert new_york[0] == PlannedStep(steps[0], date(2026, 3, 2), launch)  # 09:00 EST has passed: now


def test_tasks_have_a_date_and_no_instant():
    cal = Calendar(NY)
    for step in (task(1, 1, "call"), task(1, 1, "inmail"), task(1, 1, "custom"), email(1, 1, "task")):
        assert step.kind == "task"
        assert run([step], 0, cal, now=local(NY, 2026, 3, 2, 8)) == Scheduled(date(2026, 3, 2), None)
    assert email(1, 1, "at_time", time(9)).kind == "email"
    assert email(1, 1, "choose_at_launch").kind == "email"


def test_on_date_replaces_the_computed_date_on_resume():
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 2, "at_time", time(9, 30))]
    done = local(NY, 2026, 3, 2, 9)
    resumed = local(NY, 2026, 3, 10, 8)
    got = run(steps, 1, cal, now=resumed, prev_done_at=done, on_date=date(2026, 3, 11))
    assert got == Scheduled(date(2026, 3, 11), local(NY, 2026, 3, 11, 9, 30).astimezone(UTC))
    assert run(steps, 0, cal, now=resumed, on_date=date(2026, 3, 12)) == Scheduled(date(2026, 3, 12), None)


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError):
        StepRule(id=1, day=1, position=1, type="fax", send_option=None)
    with pytest.raises(ValueError):
        StepRule(id=1, day=1, position=1, type="email", send_option="whenever")
    with pytest.raises(ValueError):
        StepRule(id=1, day=0, position=1, type="call", send_option=None)
    cal = Calendar(NY)
    with pytest.raises(ValueError):  # naive "now": whose wall clock?
        run([task(1, 1)], 0, cal, now=datetime(2026, 3, 2, 8))
    with pytest.raises(ValueError):  # at_time without any time
        run([email(1, 1, "at_time")], 0, cal, now=local(NY, 2026, 3, 2, 8))
    with pytest.raises(ValueError):  # a later step needs to know when the previous one was done
        run([task(1, 1), task(2, 2)], 1, cal, now=local(NY, 2026, 3, 2, 8))


# ----------------------------------------------------------------------------- timeline


def test_timeline_matches_the_api_example():
    cal = Calendar(NY)
    steps = [
        email(1, 1, "at_time", time(9, 30)),
        StepRule(id=2, day=3, position=1, type="email", send_option="same_time_as_previous", follow_up=True),
        task(3, 4),
        email(4, 6, "task"),
    ]
    timeline = plan(steps, cal, datetime.fromisoformat("2026-03-02T08:00:00-05:00"))
    assert [(p.step.id, p.date, p.at) for p in timeline] == [
        (1, date(2026, 3, 2), datetime.fromisoformat("2026-03-02T09:30:00-05:00")),
        (2, date(2026, 3, 4), datetime.fromisoformat("2026-03-04T09:30:00-05:00")),
        (3, date(2026, 3, 5), None),
        (4, date(2026, 3, 9), None),  # Thursday + 2 business days
    ]


def test_timeline_start_date_and_send_at():
    cal = Calendar(NY)
    steps = [email(1, 1, "choose_at_launch"), task(2, 2)]
    start = local(NY, 2026, 3, 2, 8)
    send_at = local(NY, 2026, 3, 4, 10)
    timeline = plan(steps, cal, start, Overrides(send_at=send_at), start_date=date(2026, 3, 4))
    assert timeline[0] == PlannedStep(steps[0], date(2026, 3, 4), send_at.astimezone(UTC))
    assert timeline[1].date == date(2026, 3, 5)
    assert plan([task(1, 1)], cal, start, start_date=date(2026, 3, 7))[0].date == date(2026, 3, 9)


def test_timeline_unknown_send_time_propagates():
    cal = Calendar(NY)
    steps = [
        email(1, 1, "choose_at_launch"),
        email(2, 2, "same_time_as_previous"),
        email(3, 3, "same_time_as_previous"),
        email(4, 4, "at_time", time(10)),
        email(5, 5, "same_time_as_previous"),
    ]
    timeline = plan(steps, cal, local(NY, 2026, 3, 2, 8))
    assert [p.at for p in timeline] == [
        None, None, None, local(NY, 2026, 3, 5, 10).astimezone(UTC), local(NY, 2026, 3, 6, 10).astimezone(UTC)
    ]
    assert [p.date for p in timeline] == [date(2026, 3, d) for d in (2, 3, 4, 5, 6)]


def test_timeline_tasks_are_done_at_the_launch_time_of_day():
    # Launched at 16:00: the day-1 call is assumed done at 16:00, so a same-day at_time
    # email at 10:00 goes at 16:00 (due at once), and a later one keeps its own time.
    cal = Calendar(NY)
    steps = [task(1, 1), email(2, 1, "at_time", time(10), position=2), email(3, 2, "same_time_as_previous")]
    timeline = plan(steps, cal, local(NY, 2026, 3, 2, 16))
    assert timeline[1].at == local(NY, 2026, 3, 2, 16).astimezone(UTC)
    assert timeline[2].at == local(NY, 2026, 3, 3, 16).astimezone(UTC)


def test_timeline_never_does_a_step_before_the_one_before_it():
    # A task that follows a 17:00 email cannot be done at the launch's 08:00 that day:
    # it is done when it becomes current, so the 10:00 email after it goes at 17:00.
    cal = Calendar(NY)
    steps = [
        email(1, 1, "at_time", time(17)),
        task(2, 1, position=2),
        email(3, 1, "at_time", time(10), position=3),
    ]
    timeline = plan(steps, cal, local(NY, 2026, 3, 2, 8))
    five_pm = local(NY, 2026, 3, 2, 17).astimezone(UTC)
    assert [(p.date, p.at) for p in timeline] == [
        (date(2026, 3, 2), five_pm), (date(2026, 3, 2), None), (date(2026, 3, 2), five_pm)
    ]


# ----------------------------------------------------------------------------- properties

DST_ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Europe/Paris"]
HOLIDAY_CODES = {"America/New_York": "US", "Europe/London": "GB", "Australia/Sydney": "AU", "Europe/Paris": "FR"}
# Days around which the four zones change their clocks in 2026 and 2027.
DST_DAYS = [
    date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 5), date(2026, 10, 4),
    date(2027, 3, 14), date(2027, 11, 7), date(2027, 3, 28), date(2027, 10, 31), date(2027, 4, 4), date(2027, 10, 3),
]
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Include the times that fall into (or next to) the DST gaps and overlaps.
times_of_day = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.sampled_from([time(0), time(1, 30), time(2), time(2, 30), time(3), time(23, 45)]),
)
local_dates = st.one_of(
    st.dates(date(2026, 1, 1), date(2027, 12, 20)),
    st.builds(lambda d, k: d + timedelta(days=k), st.sampled_from(DST_DAYS), st.integers(-12, 2)),
)


@st.composite
def calendars(draw, window: bool = True) -> Calendar:
    zone_name = draw(st.sampled_from(DST_ZONES))
    skip = draw(st.booleans())
    hol = draw(st.sampled_from([None, HOLIDAY_CODES[zone_name]]))
    send_window = None
    if window and draw(st.booleans()):
        opens = draw(st.integers(0, 20))
        closes = draw(st.integers(opens + 1, 23))
        send_window = (time(opens), time(closes, draw(st.sampled_from([0, 59]))))
    return Calendar(ZoneInfo(zone_name), skip_weekends=skip, holidays=hol, send_window=send_window)


@st.composite
def campaigns(draw) -> list[StepRule]:
    """A valid campaign (SPEC §3 placement rules respected), sorted by (day, position)."""
    n = draw(st.integers(1, 7))
    steps: list[StepRule] = []
    day, position = 1, 0
    for i in range(n):
        if i > 0:
            gap = draw(st.sampled_from([0, 0, 1, 1, 2, 3, 5]))
            day, position = (day, position) if gap == 0 else (day + gap, 0)
        position += 1
        type_ = draw(st.sampled_from(["email", "email", "email", "call", "inmail", "custom"]))
        option = None
        if type_ == "email":
            first = ["choose_at_launch", "at_time", "task"]
            others = ["same_time_as_previous", "same_time_as_previous", "at_time", "task"]
            option = draw(st.sampled_from(first if i == 0 else others))
        t = draw(times_of_day) if option == "at_time" else None
        steps.append(StepRule(id=i + 1, day=day, position=position, type=type_, send_option=option, time=t))
    return steps


@st.composite
def launches(draw, window: bool = True, explicit: bool = True):
    cal = draw(calendars(window=window))
    steps = draw(campaigns())
    start = cal.at(draw(local_dates), draw(times_of_day)) + timedelta(seconds=draw(st.integers(0, 59)))
    send_at = None
    if explicit and draw(st.booleans()):
        send_at = start + timedelta(minutes=draw(st.integers(-600, 20_000)))
    step_times = {s.id: draw(times_of_day) for s in steps if s.send_option == "at_time" and draw(st.booleans())}
    start_date = None
    if draw(st.booleans()):
        start_date = cal.local_date(start) + timedelta(days=draw(st.integers(0, 6)))
    return steps, cal, start, Overrides(send_at=send_at, step_times=step_times), start_date


def is_explicit(index: int, step: StepRule, overrides: Overrides) -> bool:
    return index == 0 and overrides.send_at is not None and step.send_option in ("choose_at_launch", "at_time")


def replay(steps, cal, start, overrides, start_date, timeline):
    """What the engine would pass to schedule_step for each step, given that tasks are done
    on their date at the launch's local time of day and emails go out when due (plan's
    documented assumption). Yields (index, kwargs) for every step."""
    start_tod = start.astimezone(cal.zone).time()
    became_current, prev_done_at, history = start, None, []
    for index, p in enumerate(timeline):
        yield index, dict(
            now=became_current,
            day1=first_day(cal, start, start_date),
            prev_done_at=prev_done_at,
            sent_history=list(history),
            overrides=overrides,
        )
        if p.at is not None:
            done = p.at
            history.append((p.step.day, p.at))
        else:
            done = max(became_current, cal.at(p.date, start_tod))
        became_current = prev_done_at = done


def is_day_off(cal: Calendar, d: date) -> bool:
    """Independent of Calendar.is_business_day on purpose."""
    if d.weekday() >= 5:
        return True
    return cal.holidays is not None and d in holidays.country_holidays(cal.holidays, years=d.year)


@PROPS
@given(launches())
def test_property_dates_never_go_backwards(launch):
    steps, cal, start, overrides, start_date = launch
    timeline = plan(steps, cal, start, overrides, start_date)
    assert len(timeline) == len(steps)
    dates = [p.date for p in timeline]
    assert dates == sorted(dates)
    instants = [p.at for p in timeline if p.at is not None]
    assert instants == sorted(instants)


@PROPS
@given(launches())
def test_property_skip_weekends_never_lands_on_a_day_off(launch):
    steps, cal, start, overrides, start_date = launch
    if not cal.skip_weekends:
        return
    for index, p in enumerate(plan(steps, cal, start, overrides, start_date)):
        if is_explicit(index, p.step, overrides):
            continue
        assert not is_day_off(cal, p.date), p
        if p.at is not None:
            assert not is_day_off(cal, cal.local_date(p.at)), p


@PROPS
@given(launches(window=False))
def test_property_local_time_of_day_kept_across_dst(launch):
    steps, cal, start, overrides, start_date = launch
    timeline = plan(steps, cal, start, overrides, start_date)
    sent_wall: list[tuple[int, time]] = []
    for (index, inputs), p in zip(replay(steps, cal, start, overrides, start_date, timeline), timeline):
        if p.at is None:
            continue
        if p.step.send_option == "at_time":
            wanted = overrides.time_for(p.step)
        else:
            earlier = [t for day, t in sent_wall if day < p.step.day]
            wanted = earlier[-1].replace(second=0, microsecond=0) if earlier else time(0)
        sent_wall.append((p.step.day, p.at.astimezone(cal.zone).time()))
        if is_explicit(index, p.step, overrides) or p.at == inputs["now"]:
            continue  # an instant chosen at launch, or already past: due at once, nothing to keep
        naive = datetime.combine(p.date, wanted)
        # Where the wall clock skips `wanted` (spring forward), it moves on by the gap.
        gap = naive.replace(tzinfo=cal.zone, fold=1).utcoffset() - naive.replace(tzinfo=cal.zone, fold=0).utcoffset()
        expected_wall = naive if naive.replace(tzinfo=cal.zone).astimezone(UTC).astimezone(cal.zone).replace(
            tzinfo=None) == naive else naive + gap
        assert p.at.astimezone(cal.zone).replace(tzinfo=None) == expected_wall, (p, wanted)


@PROPS
@given(launches())
def test_property_engine_and_timeline_agree(launch):
    steps, cal, start, overrides, start_date = launch
    timeline = plan(steps, cal, start, overrides, start_date)
    unknown_time = False  # once an email's send time is unknown, same_time_as_previous may inherit it
    for (index, inputs), p in zip(replay(steps, cal, start, overrides, start_date, timeline), timeline):
        got = schedule_step(steps, index, cal, **inputs)
        if p.step.kind == "email" and p.at is None:
            unknown_time = True
            assert p.step.send_option in ("choose_at_launch", "same_time_as_previous")
            continue
        if not unknown_time or p.step.send_option != "same_time_as_previous":
            assert got == Scheduled(p.date, p.at), (index, p)


@PROPS
@given(launches())
def test_property_due_at_never_before_now(launch):
    steps, cal, start, overrides, start_date = launch
    timeline = plan(steps, cal, start, overrides, start_date)
    for (index, inputs), p in zip(replay(steps, cal, start, overrides, start_date, timeline), timeline):
        if p.at is not None:
            assert p.at >= inputs["now"] >= start
            assert p.at.tzinfo is UTC


@PROPS
@given(
    calendars(),
    campaigns(),
    st.data(),
    local_dates,
    times_of_day,
    st.integers(0, 30 * 24 * 60),
)
def test_property_engine_call_due_never_before_now_and_never_off_hours(cal, steps, data, d, t, lag):
    """Arbitrary engine calls (late tasks, a worker catching up, random send history)."""
    index = data.draw(st.integers(0, len(steps) - 1))
    prev_done_at = cal.at(d, t)
    now = prev_done_at + timedelta(minutes=lag)
    history = [
        (s.day, prev_done_at - timedelta(minutes=data.draw(st.integers(0, 20_000))))
        for s in steps[:index] if s.kind == "email"
    ]
    got = schedule_step(steps, index, cal, now=now, day1=cal.roll_forward(d), prev_done_at=prev_done_at,
                        sent_history=history)
    if got.due_at is None:
        return
    assert got.due_at >= now
    assert got.date == cal.local_date(got.due_at)
    if cal.skip_weekends:
        assert not is_day_off(cal, got.date)
    if cal.send_window is not None:
        # Compared as instants: an opening or closing in a DST gap moved forward by the gap.
        opens, closes = cal.send_window
        assert cal.at(got.date, opens) <= got.due_at < cal.at(got.date, closes)


@PROPS
@given(calendars(window=False), local_dates, st.integers(0, 15))
def test_property_add_days_counts_business_days(cal, d, n):
    result = cal.add_days(d, n)
    assert result >= d
    if not cal.skip_weekends:
        assert result == d + timedelta(days=n)
        return
    assert not is_day_off(cal, result)
    if n == 0:  # the first business day on or after d
        assert all(is_day_off(cal, d + timedelta(days=k)) for k in range((result - d).days))
        return
    between = [d + timedelta(days=k) for k in range(1, (result - d).days + 1)]
    assert sum(not is_day_off(cal, x) for x in between) == n


@PROPS
@given(st.sampled_from(DST_ZONES), local_dates, times_of_day)
def test_property_at_keeps_the_wall_clock_or_moves_forward_by_the_gap(zone_name, d, t):
    cal = Calendar(ZoneInfo(zone_name))
    instant = cal.at(d, t)
    assert instant.tzinfo is UTC
    wall = instant.astimezone(cal.zone).replace(tzinfo=None)
    naive = datetime.combine(d, t)
    assert naive <= wall <= naive + timedelta(hours=1)
    if wall != naive:  # only in a spring-forward gap
        assert naive.replace(tzinfo=cal.zone, fold=0).utcoffset() != naive.replace(tzinfo=cal.zone, fold=1).utcoffset()
