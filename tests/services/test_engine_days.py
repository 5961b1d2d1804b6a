"""SPEC §2 through the whole engine: days as positions, strict order, the no-catch-up shift,
day 1, business days, holidays, time zones and DST.

The clock starts on Monday 2026-03-02 08:00 in New York (13:00 UTC); the rep lives in New York.
Tasks are worked through the API and emails are recorded as sent the way the dispatcher does.
"""
from __future__ import annotations

from tests.api.helpers import NY, World, iso, local, utc, world  # noqa: F401
from zoneinfo import ZoneInfo

from server.models import Email, EnrollmentStep, Task

NO_WEEKEND_SKIP = {"skip_weekends": False}
CALLS = [{"day": 1, "type": "call"}, {"day": 3, "type": "call"}, {"day": 4, "type": "call"}]


def test_day_numbers_are_positions_in_the_campaign_not_gaps_between_steps(world: World):
    campaign = world.campaign(CALLS, NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    first = world.task_for(eid)
    assert first["due_date"] == "2026-03-02"
    world.complete(first["id"])
    second = world.task_for(eid)
    assert second["due_date"] == "2026-03-04"  # day 3 = two days after day 1
    world.at(local("2026-03-04", "10:00"))
    world.complete(second["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-05"  # day 4 = one day after day 3


def test_an_open_task_holds_the_enrollment_and_later_steps_are_not_created_early(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(2, "at_time", time="09:30"),
                               {"day": 3, "type": "inmail"}], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.at(local("2026-03-10", "12:00"))  # long past every step's day
    enrollment = world.enrollment(eid)
    assert [s["status"] for s in enrollment["steps"]] == ["open", "pending", "pending"]
    assert enrollment["current_step_id"] == campaign["steps"][0]["id"]
    assert world.db_rows(Email, enrollment_id=eid) == []
    assert len(world.db_rows(Task, enrollment_id=eid)) == 1
    assert len(world.db_rows(EnrollmentStep, enrollment_id=eid)) == 1


def test_a_task_completed_two_days_late_shifts_the_next_step_by_two_days(world: World):
    campaign = world.campaign(CALLS, NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.at(local("2026-03-04", "16:00"))  # day 1's task done on day 3
    world.complete(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-06"  # not 03-04: nothing catches up


def test_later_steps_keep_the_lateness_of_an_earlier_late_step(world: World):
    campaign = world.campaign(CALLS, NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.at(local("2026-03-04", "16:00"))
    world.complete(world.task_for(eid)["id"])
    world.at(local("2026-03-06", "09:00"))  # on time relative to the shifted date
    world.complete(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-07"


def test_day_1_is_the_launch_date_in_the_senders_zone(world: World):
    world.at(local("2026-03-03", "22:30"))  # already Wednesday in UTC, still Tuesday in New York
    campaign = world.campaign(CALLS, NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-03"


def test_day_1_is_the_start_date_chosen_at_launch(world: World):
    campaign = world.campaign(CALLS, NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], start_date="2026-03-12")
    assert world.step_of(eid, 0)["date"] == "2026-03-12"
    # A task for a future day exists (it is current) and is "upcoming".
    assert world.task_for(eid)["due_date"] == "2026-03-12"


def test_a_launch_on_a_saturday_starts_day_1_on_monday_when_weekends_are_skipped(world: World):
    world.at(local("2026-03-07", "10:00"))
    campaign = world.campaign(CALLS)
    eid = world.launch_one(campaign["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-09"


def test_a_start_date_on_a_sunday_moves_day_1_to_monday(world: World):
    campaign = world.campaign(CALLS)
    eid = world.launch_one(campaign["id"], start_date="2026-03-08")
    assert world.task_for(eid)["due_date"] == "2026-03-09"


def test_weekend_day_1_is_kept_when_weekends_are_not_skipped(world: World):
    world.at(local("2026-03-07", "10:00"))
    campaign = world.campaign(CALLS, NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-07"


def test_skip_weekends_counts_days_in_business_days(world: World):
    world.at(local("2026-03-05", "09:00"))  # Thursday
    campaign = world.campaign(CALLS)  # skip_weekends is the default
    eid = world.launch_one(campaign["id"])
    world.complete(world.task_for(eid)["id"])
    # day 3 is two business days after Thursday: Monday.
    assert world.task_for(eid)["due_date"] == "2026-03-09"
    world.at(local("2026-03-09", "09:00"))
    world.complete(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-10"


def test_a_task_done_on_a_saturday_makes_a_same_day_next_step_due_on_monday(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 1, "type": "inmail"}])
    eid = world.launch_one(campaign["id"], start_date="2026-03-06")
    world.at(local("2026-03-07", "11:00"))
    world.complete(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-09"


def test_us_holiday_calendar_skips_memorial_day_like_a_weekend_day(world: World):
    world.at(local("2026-05-22", "09:00"))  # Friday before Memorial Day (Mon 25 May 2026)
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 2, "type": "call"}], {"holidays": "US"})
    eid = world.launch_one(campaign["id"])
    world.complete(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-05-26"


def test_without_a_holiday_calendar_memorial_day_is_a_working_day(world: World):
    world.at(local("2026-05-22", "09:00"))
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 2, "type": "call"}])
    eid = world.launch_one(campaign["id"])
    world.complete(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-05-25"


def test_a_launch_on_a_holiday_starts_on_the_next_business_day(world: World):
    world.at(local("2026-05-25", "09:00"))
    campaign = world.campaign(CALLS, {"holidays": "US"})
    eid = world.launch_one(campaign["id"])
    assert world.task_for(eid)["due_date"] == "2026-05-26"


# ------------------------------------------------------------------------ time zones


def _at_time_campaign(world: World, settings: dict | None = None) -> dict:
    return world.campaign([world.email_step(1, "at_time", time="09:30")], settings)


def test_local_times_are_in_the_senders_zone_by_default(world: World):
    campaign = _at_time_campaign(world)
    eid = world.launch_one(campaign["id"], world.person(timezone="Europe/Paris"))
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "09:30")


def test_recipient_zone_campaign_sends_at_the_persons_local_time(world: World):
    world.at(local("2026-03-02", "01:00"))  # 07:00 in Paris: 09:30 Paris is still ahead
    campaign = _at_time_campaign(world, {"timezone": "recipient"})
    eid = world.launch_one(campaign["id"], world.person(timezone="Europe/Paris"))
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "09:30", ZoneInfo("Europe/Paris"))
    assert world.enrollment(eid)["timezone"] == "Europe/Paris"


def test_recipient_zone_campaign_falls_back_to_the_sender_zone_when_the_person_has_none(world: World):
    campaign = _at_time_campaign(world, {"timezone": "recipient"})
    eid = world.launch_one(campaign["id"], world.person())
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "09:30")


def test_recipient_zone_decides_the_local_date_of_day_1(world: World):
    world.at(utc(2026, 3, 2, 23, 30))  # Monday 18:30 in New York, Tuesday in Tokyo
    campaign = world.campaign(CALLS, {"timezone": "recipient", "skip_weekends": False})
    eid = world.launch_one(campaign["id"], world.person(timezone="Asia/Tokyo"))
    assert world.step_of(eid, 0)["date"] == "2026-03-03"


# ------------------------------------------------------------------------ DST


def test_0930_stays_0930_local_across_the_spring_forward_change(world: World):
    world.at(local("2026-03-06", "08:00"))  # Friday before DST starts (Sun 8 March 2026)
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30"),
                               world.email_step(2, "same_time_as_previous")])
    eid = world.launch_one(campaign["id"])
    first = world.send_when_due(eid)
    assert iso(first["due_at"]) == utc(2026, 3, 6, 14, 30)  # 09:30 EST
    second = world.scheduled_email(eid)
    assert iso(second["due_at"]) == utc(2026, 3, 9, 13, 30)  # 09:30 EDT, not 10:30
    assert iso(second["due_at"]).astimezone(NY).strftime("%H:%M") == "09:30"


def test_0930_stays_0930_local_across_the_fall_back_change(world: World):
    world.at(local("2026-10-30", "08:00"))  # Friday before DST ends (Sun 1 Nov 2026)
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30"),
                               world.email_step(2, "at_time", time="09:30")])
    eid = world.launch_one(campaign["id"])
    world.send_when_due(eid)
    second = world.scheduled_email(eid)
    assert iso(second["due_at"]) == utc(2026, 11, 2, 14, 30)  # 09:30 EST
    assert iso(second["due_at"]).astimezone(NY).strftime("%H:%M") == "09:30"


def test_a_time_in_the_spring_forward_gap_moves_forward_by_the_gap(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="02:30")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], start_date="2026-03-08")
    due = iso(world.scheduled_email(eid)["due_at"]).astimezone(NY)
    assert (due.date().isoformat(), due.strftime("%H:%M")) == ("2026-03-08", "03:30")


def test_an_ambiguous_fall_back_time_takes_its_first_occurrence(world: World):
    world.at(local("2026-10-30", "08:00"))
    campaign = world.campaign([world.email_step(1, "at_time", time="01:30")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], start_date="2026-11-01")
    assert iso(world.scheduled_email(eid)["due_at"]) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first


def test_same_time_as_previous_keeps_the_local_time_across_dst_when_the_first_email_was_late(world: World):
    world.at(local("2026-03-06", "08:00"))
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30"),
                               world.email_step(2, "same_time_as_previous")])
    eid = world.launch_one(campaign["id"])
    world.send(world.scheduled_email(eid)["id"], at=local("2026-03-06", "11:47"))
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-09", "11:47")
