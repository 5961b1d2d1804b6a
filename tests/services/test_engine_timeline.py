"""Property: the live engine does exactly what GET /campaigns/{id}/timeline promised, when
every task is done on its due date (at the launch's time of day) and every email goes out
when due. Random campaigns, launch instants, zones and settings; real API and database."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.helpers import World, iso, world  # noqa: F401

STEP = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["call", "inmail", "custom"])}),
    st.fixed_dictionaries({"type": st.just("email"),
                           "send_option": st.sampled_from(["at_time", "same_time_as_previous", "task"]),
                           "time": st.sampled_from(["02:30", "07:00", "09:30", "13:15", "18:45"]),
                           "follow_up": st.booleans()}),
)


@st.composite
def campaigns(draw):
    gaps = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    steps, day = [], 1
    for i, gap in enumerate(gaps):
        day += gap if i else 0
        step = dict(draw(STEP)) | {"day": day}
        if step["type"] == "email":
            step |= {"subject": f"S{i} {{{{ first_name }}}}", "body_html": "<p>b</p>"}
            if step["send_option"] != "at_time":
                step.pop("time")
            previous = steps[-1] if steps else None
            if previous is None or previous["type"] != "email":
                step["follow_up"] = False
            if i == 0 and step["send_option"] == "same_time_as_previous":
                step["send_option"], step["time"] = "at_time", "09:30"
        steps.append(step)
    return steps


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=campaigns(),
       launch=st.datetimes(min_value=datetime(2026, 3, 5), max_value=datetime(2026, 11, 3), timezones=st.just(timezone.utc)),
       skip_weekends=st.booleans(), holidays=st.sampled_from([None, "US"]),
       window=st.sampled_from([None, {"start": "08:00", "end": "17:00"}]))
def test_the_engine_does_what_the_timeline_promised(world: World, steps, launch, skip_weekends, holidays, window):
    world.at(launch)
    campaign = world.campaign(steps, {"skip_weekends": skip_weekends, "holidays": holidays, "send_window": window})
    zone = ZoneInfo("America/New_York")
    start = launch.astimezone(zone)
    response = world.api.get(f"/campaigns/{campaign['id']}/timeline",
                             query_string={"start": start.isoformat(), "timezone": "America/New_York"})
    assert response.status_code == 200, response.json
    planned = response.json["steps"]
    eid = world.launch_one(campaign["id"])
    tod = start.timetz().replace(tzinfo=None)
    for index, promise in enumerate(planned):
        row = world.step_of(eid, index)
        assert row["status"] not in ("pending",), (index, row)
        assert row["date"] == promise["date"], (index, promise, row)
        if promise["kind"] == "email":
            email = world.scheduled_email(eid)
            assert iso(email["due_at"]) == iso(promise["at"]), (index, promise, email)
            world.send(email["id"], at=max(iso(email["due_at"]), world.clock.now()))
        else:
            task = world.task_for(eid)
            assert task["due_date"] == promise["date"]
            done = datetime.combine(datetime.fromisoformat(promise["date"]).date(), tod).replace(tzinfo=zone)
            world.at(max(done.astimezone(timezone.utc), world.clock.now()))
            world.complete(task["id"])
    assert world.enrollment(eid)["state"] == "finished"
