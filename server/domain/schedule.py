"""When each step of an enrollment happens (SPEC §2, §3, §4).

This module is pure on purpose: no database, no Flask, no clock. The live engine and
the timeline endpoint both call :func:`schedule_step` with the same inputs, so "what the
timeline promised" and "what the engine did" cannot drift apart, and every rule can be
tested with plain values.

Conventions:

* Every instant passed in must be timezone-aware; every instant returned is in UTC
  (``tzinfo=datetime.timezone.utc``), because that is what the database stores.
* Dates are *local* dates of the campaign's calendar (the sender's zone, or the
  recipient's when the campaign says so). The caller picks the zone; this module never does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays as _holidays_lib

__all__ = [
    "StepRule",
    "Calendar",
    "Overrides",
    "Scheduled",
    "PlannedStep",
    "validate_country",
    "first_day",
    "schedule_step",
    "plan",
]

STEP_TYPES = frozenset({"email", "call", "inmail", "custom"})
SEND_OPTIONS = frozenset({"choose_at_launch", "at_time", "same_time_as_previous", "task"})

# A business day is never more than a few weeks away, even in a holiday-heavy calendar;
# the bound turns a broken calendar into an error instead of an endless loop.
_MAX_DAYS_TO_NEXT_BUSINESS_DAY = 366


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class StepRule:
    """The scheduling-relevant part of one campaign step (content lives elsewhere)."""

    id: int | str
    day: int  # day number in the campaign (1-based), NOT a gap since the previous step
    position: int  # 1-based order within its day
    type: str  # "email" | "call" | "inmail" | "custom"
    send_option: str | None  # email only; None for other types
    time: time | None = None  # for at_time
    follow_up: bool = False

    def __post_init__(self) -> None:
        # Fail here rather than schedule something nonsensical; the API answers 422 earlier.
        if self.type not in STEP_TYPES:
            raise ValueError(f"step {self.id}: unknown type {self.type!r}")
        if self.type == "email" and self.send_option not in SEND_OPTIONS:
            raise ValueError(f"step {self.id}: unknown send_option {self.send_option!r}")
        if self.day < 1:
            raise ValueError(f"step {self.id}: day must be >= 1, got {self.day}")

    @property
    def kind(self) -> str:
        """``"email"`` when the server sends it by itself, ``"task"`` when a human acts.

        An email step with send option ``task`` is work for a rep, so it is a task too.
        """
        if self.type == "email" and self.send_option != "task":
            return "email"
        return "task"


# --------------------------------------------------------------------------- calendar


@functools.lru_cache(maxsize=None)
def _supported_countries() -> frozenset[str]:
    return frozenset(_holidays_lib.list_supported_countries())


def validate_country(code: str) -> bool:
    """True when ``code`` names a holiday calendar we can use (e.g. ``"US"``, ``"FR"``).

    The API calls this to answer 422 on a bad ``holidays`` setting instead of failing
    later, inside the worker, for every enrollment of the campaign.
    """
    return isinstance(code, str) and code in _supported_countries()


@functools.lru_cache(maxsize=256)
def _holiday_dates(country: str, year: int) -> frozenset[date]:
    """One country's holidays (including observed days) for one year.

    Building a holiday calendar is slow (tens of ms) and the scheduler asks about the
    same few (country, year) pairs over and over, hence the cache.
    """
    return frozenset(_holidays_lib.country_holidays(country, years=year).keys())


def _as_utc(instant: datetime, what: str = "instant") -> datetime:
    """Normalise to UTC; a naive datetime is a bug (whose wall clock would it be?)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant!r}")
    return instant.astimezone(timezone.utc)


@dataclass(frozen=True)
class Calendar:
    """The local calendar an enrollment lives in: zone, business days, send window."""

    zone: ZoneInfo
    skip_weekends: bool = True
    holidays: str | None = None  # country code, e.g. "US", "FR"
    send_window: tuple[time, time] | None = None  # (opens, closes), local wall-clock

    def __post_init__(self) -> None:
        if self.holidays is not None and not validate_country(self.holidays):
            raise ValueError(f"unsupported holiday calendar {self.holidays!r}")
        if self.send_window is not None:
            opens, closes = self.send_window
            # Overnight windows (22:00-06:00) are not supported: a window is a part of
            # one local day, which keeps "the window's next opening" unambiguous.
            if not opens < closes:
                raise ValueError(f"send window must open before it closes: {opens}-{closes}")

    # -- days

    def is_business_day(self, d: date) -> bool:
        """Mon-Fri and not a holiday; every day counts when weekends are not skipped.

        Holidays only matter together with ``skip_weekends`` (they "count like weekend
        days", SPEC §2), so a campaign that runs on weekends runs on holidays too.
        """
        if not self.skip_weekends:
            return True
        if d.weekday() >= 5:
            return False
        return self.holidays is None or d not in _holiday_dates(self.holidays, d.year)

    def roll_forward(self, d: date) -> date:
        """The first business day on or after ``d``."""
        for _ in range(_MAX_DAYS_TO_NEXT_BUSINESS_DAY):
            if self.is_business_day(d):
                return d
            d += timedelta(days=1)
        raise ValueError(f"no business day within a year after {d} in {self}")

    def add_days(self, d: date, n: int) -> date:
        """The date ``n`` campaign days after ``d``.

        With ``skip_weekends`` days are counted in business days, so Fri + 1 and
        Sat + 1 are both Monday, and ``n == 0`` still lands on a business day (a task
        completed on a Saturday makes a same-day step fall on Monday). Otherwise plain
        calendar days.
        """
        if n < 0:
            raise ValueError(f"cannot add a negative number of days ({n})")
        if not self.skip_weekends:
            return d + timedelta(days=n)
        if n == 0:
            return self.roll_forward(d)
        for _ in range(n):
            d = self.roll_forward(d + timedelta(days=1))
        return d

    # -- instants

    def local_date(self, instant: datetime) -> date:
        """The date on this calendar's wall clock at ``instant``."""
        return _as_utc(instant).astimezone(self.zone).date()

    def local_time(self, instant: datetime) -> time:
        """The wall-clock time of day at ``instant`` (naive ``time``, fold cleared)."""
        return _as_utc(instant).astimezone(self.zone).time().replace(fold=0)

    def at(self, d: date, t: time) -> datetime:
        """The UTC instant at which this calendar's wall clock shows ``t`` on ``d``.

        DST edge cases follow SPEC §2, which is exactly what PEP 495's ``fold=0`` gives:
        a time that does not exist (spring-forward gap) is read with the offset from
        before the gap, i.e. it moves forward by the gap length (02:30 -> 03:30); an
        ambiguous time (fall-back) takes its first occurrence.
        """
        wall = datetime.combine(d, t.replace(tzinfo=None, fold=0)).replace(tzinfo=self.zone)
        return wall.astimezone(timezone.utc)

    def start_of(self, d: date) -> datetime:
        """The first instant of local day ``d`` (UTC)."""
        return self.at(d, time(0, 0))

    def fit_window(self, instant: datetime) -> datetime:
        """Hold an instant back until the send window is open (SPEC §4).

        Before the opening on its local day -> that opening. At or after the closing ->
        the next day's opening (the next business day's with ``skip_weekends``). On a
        non-business local day with ``skip_weekends`` -> the next business day's opening.
        Without a window the instant is returned unchanged (in UTC).
        """
        instant = _as_utc(instant)
        if self.send_window is None:
            return instant
        opens, closes = self.send_window
        d = self.local_date(instant)
        if not self.is_business_day(d):
            return self.at(self.roll_forward(d), opens)
        if instant < self.at(d, opens):
            return self.at(d, opens)
        if instant >= self.at(d, closes):
            return self.at(self.add_days(d, 1), opens)
        return instant


# --------------------------------------------------------------------------- scheduling


@dataclass(frozen=True)
class Overrides:
    """What a launch may choose for one enrollment (SPEC §3, API launch)."""

    # Explicit instant for the FIRST step (choose_at_launch, or at_time overridden).
    # A launch with send_at "now" passes the launch instant here.
    send_at: datetime | None = None
    # Per-step override of at_time steps' time, keyed by step id.
    step_times: Mapping[int | str, time] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen means frozen: copy the mapping so the caller cannot change it under us.
        object.__setattr__(self, "step_times", MappingProxyType(dict(self.step_times)))

    def time_for(self, step: StepRule) -> time | None:
        """The launch's time for ``step``, else the step's own.

        Also looks the id up as a string, because JSON object keys (the API's
        ``step_times``) are always strings while step ids may be integers.
        """
        for key in (step.id, str(step.id)):
            if key in self.step_times:
                return self.step_times[key]
        return step.time


@dataclass(frozen=True)
class Scheduled:
    """When a step that just became current happens."""

    date: date  # local date: the task's due date, or the day the email goes out
    due_at: datetime | None  # UTC send instant of an automatic email; None otherwise


def first_day(cal: Calendar, launch_at: datetime, start_date: date | None) -> date:
    """Day 1 of an enrollment: the chosen start date, else the launch's local date.

    Rolled forward to a business day when weekends are skipped, so a campaign launched
    on a Saturday starts on Monday (SPEC §2).
    """
    d = start_date if start_date is not None else cal.local_date(launch_at)
    return cal.roll_forward(d)


def _not_on_a_day_off(cal: Calendar, instant: datetime) -> datetime:
    """``instant`` if its local day is a business day, else the next business day's start.

    Why: "due at once" must not mean "on a Sunday" for a campaign that skips weekends.
    This only bites when the engine catches up on a step whose date has already passed
    (e.g. the worker was down over a weekend) and there is no send window, which would
    already have done the same job.
    """
    d = cal.local_date(instant)
    if cal.is_business_day(d):
        return instant
    return cal.start_of(cal.roll_forward(d))


def _step_date(
    steps: Sequence[StepRule],
    index: int,
    cal: Calendar,
    day1: date,
    prev_done_at: datetime | None,
) -> date:
    """SPEC §2: the first step counts from day 1; every later one from when the step
    before it was actually done. Day numbers are positions, so only their difference
    matters, and lateness carries over to every later step (nothing catches up)."""
    step = steps[index]
    if index == 0:
        return cal.add_days(day1, step.day - 1)
    if prev_done_at is None:
        raise ValueError(f"step {step.id}: prev_done_at is required for a step after the first")
    gap = step.day - steps[index - 1].day
    if gap < 0:
        raise ValueError("steps must be sorted by (day, position)")
    return cal.add_days(cal.local_date(prev_done_at), gap)


def _previous_day_send_time(
    step: StepRule, cal: Calendar, sent_history: Sequence[tuple[int, datetime]]
) -> time | None:
    """Local time of day at which the nearest email on an EARLIER day was sent.

    An email earlier on the same day does not count (SPEC §3). "Nearest" is the highest
    earlier day, and the latest send on it. Seconds are dropped: send times are chosen in
    minutes, and carrying the worker's few seconds of latency along would make every
    following email creep later.
    """
    earlier = [(day, _as_utc(sent_at, "sent_at")) for day, sent_at in sent_history if day < step.day]
    if not earlier:
        return None
    _, sent_at = max(earlier)
    return cal.local_time(sent_at).replace(second=0, microsecond=0)


def schedule_step(
    steps: Sequence[StepRule],
    index: int,
    cal: Calendar,
    *,
    now: datetime,
    day1: date,
    prev_done_at: datetime | None,
    sent_history: Sequence[tuple[int, datetime]],
    overrides: Overrides = Overrides(),
    on_date: date | None = None,
) -> Scheduled:
    """Schedule ``steps[index]`` at the moment it becomes current (``now``).

    This is THE rule, shared by the engine and the timeline:

    * date: see :func:`_step_date`; ``on_date`` replaces it (resume after a pause).
    * tasks only get a date.
    * an explicit launch ``send_at`` (first step only) is honoured as given, except
      that a past instant means "now"; no weekend, holiday or window move, because the
      rep picked that exact instant.
    * ``at_time``: the launch's time for the step, else the step's time, on its date.
    * ``same_time_as_previous``: the local time of the previous day's send on its date
      (so 09:30 stays 09:30 across DST), or at once when no earlier day had an email.
    * a computed instant already past is due at once, never moved to another day; then
      the send window applies, and a campaign that skips weekends never sends on one.

    ``sent_history`` holds ``(day, sent_at)`` of this enrollment's emails actually sent.
    """
    step = steps[index]
    now = _as_utc(now, "now")
    step_date = on_date if on_date is not None else _step_date(steps, index, cal, day1, prev_done_at)

    if step.kind == "task":
        return Scheduled(step_date, None)

    option = step.send_option
    explicit = overrides.send_at if index == 0 and option in ("choose_at_launch", "at_time") else None
    if explicit is not None:
        due = max(_as_utc(explicit, "send_at"), now)
        return Scheduled(cal.local_date(due), due)

    if option == "choose_at_launch":
        # Only valid on the first step, where the launch must give send_at (422 otherwise).
        return Scheduled(step_date, None)
    if option == "at_time":
        t = overrides.time_for(step)
        if t is None:
            raise ValueError(f"step {step.id}: at_time step without a time")
        due = cal.at(step_date, t)
    elif option == "same_time_as_previous":
        t = _previous_day_send_time(step, cal, sent_history)
        due = cal.at(step_date, t) if t is not None else cal.start_of(step_date)
    else:  # pragma: no cover - StepRule rejects unknown options
        raise ValueError(f"step {step.id}: unknown send_option {option!r}")

    due = cal.fit_window(max(due, now))
    due = _not_on_a_day_off(cal, due)
    # The date reported for an email is the day it actually goes out, which differs
    # from the computed date when it was late or waited for the window.
    return Scheduled(cal.local_date(due), due)


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class PlannedStep:
    """One line of the timeline: a step with its planned local date and send instant."""

    step: StepRule
    date: date
    at: datetime | None  # UTC send instant of an automatic email, else None


def plan(
    steps: Sequence[StepRule],
    cal: Calendar,
    start: datetime,
    overrides: Overrides = Overrides(),
    start_date: date | None = None,
) -> list[PlannedStep]:
    """The schedule of one enrollment launched at ``start``, as the engine would run it.

    It replays the engine: each step is scheduled by :func:`schedule_step` at the instant
    it becomes current (``start`` for the first, then the instant the step before was
    done), so the timeline cannot disagree with what really happens. Assumptions, since
    the future is unknown:

    * an email goes out exactly when due: it is done at its ``at``;
    * a task is done on its due date at the launch's local time of day (a rep works at
      roughly the same hour), but never before it became current:
      ``max(became_current, cal.at(date, local time of start))``;
    * a ``choose_at_launch`` email without ``send_at`` has no known instant (``at`` is
      None); it is taken as done like a task for date purposes, and its send time is
      unknown, so a later ``same_time_as_previous`` email whose time would come from it
      has ``at`` None as well (and passes the "unknown" on).
    """
    start = _as_utc(start, "start")
    start_tod = cal.local_time(start)
    day1 = first_day(cal, start, start_date)

    sent_history: list[tuple[int, datetime]] = []
    # Emails "sent" so far, in order, as (day, known?). Used to tell whether the send
    # time a same_time_as_previous step inherits is known.
    emails: list[tuple[int, bool]] = []
    planned: list[PlannedStep] = []
    became_current = start
    prev_done_at: datetime | None = None

    for index, step in enumerate(steps):
        scheduled = schedule_step(
            steps,
            index,
            cal,
            now=became_current,
            day1=day1,
            prev_done_at=prev_done_at,
            sent_history=sent_history,
            overrides=overrides,
        )
        due = scheduled.due_at
        when = scheduled.date
        if step.kind == "email" and step.send_option == "same_time_as_previous":
            inherited = [known for day, known in emails if day < step.day]
            if inherited and not inherited[-1]:
                # Its time comes from an email whose time nobody knows yet.
                due = None
                when = _step_date(steps, index, cal, day1, prev_done_at)

        if step.kind == "email" and due is not None:
            done_at = due
            sent_history.append((step.day, due))
            emails.append((step.day, True))
        else:
            done_at = max(became_current, cal.at(when, start_tod))
            if step.kind == "email":
                emails.append((step.day, False))

        planned.append(PlannedStep(step, when, due))
        prev_done_at = done_at
        became_current = done_at

    return planned
