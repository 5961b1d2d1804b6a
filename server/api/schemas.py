"""Request and response schemas: they validate input and write the OpenAPI document."""
from __future__ import annotations

from datetime import date, datetime, timezone

from marshmallow import Schema, validate
from marshmallow import fields as ma

HHMM = {"format": "%H:%M"}
# Ids and offsets fit the database's 32-bit integer columns: anything larger cannot name a row, and
# would overflow the database driver (a 500) instead of being a clear 422.
MAX_ID = 2**31 - 1
ID = validate.Range(1, MAX_ID)
# Campaign dates and instants live in this century: the scheduler adds days to them, and a
# year-9999 date would overflow Python's calendar (a 500) instead of being a clear 422.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
DAY_RANGE = validate.Range(FIRST_DAY, LAST_DAY, error="must be between 2000-01-01 and 2099-12-31")
INSTANT_RANGE = validate.Range(datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2099, 12, 31, tzinfo=timezone.utc),
                               error="must be between 2000-01-01 and 2099-12-31")


class ErrorBody(Schema):
    code = ma.Str()
    message = ma.Str()
    field = ma.Str(allow_none=True)


class ErrorSchema(Schema):
    error = ma.Nested(ErrorBody)


class MailboxIn(Schema):
    provider = ma.Str(required=True, validate=validate.OneOf(["smtp", "gmail", "graph"]))
    address = ma.Str(required=True, validate=validate.Length(1, 320))
    display_name = ma.Str(validate=validate.Length(max=200))
    smtp_host = ma.Str(validate=validate.Length(max=255))
    smtp_port = ma.Int(validate=validate.Range(1, 65535))
    smtp_starttls = ma.Bool()
    smtp_ssl = ma.Bool()
    smtp_username = ma.Str(allow_none=True, validate=validate.Length(max=320))
    smtp_password = ma.Str(allow_none=True, load_only=True, validate=validate.Length(max=1000))
    imap_host = ma.Str(allow_none=True, validate=validate.Length(max=255))
    imap_port = ma.Int(allow_none=True, validate=validate.Range(1, 65535))
    daily_cap = ma.Int(allow_none=True, validate=validate.Range(1, 100_000))
    minute_cap = ma.Int(allow_none=True, validate=validate.Range(1, 10_000))
    user_id = ma.Int(allow_none=True, validate=ID)


class MailboxOut(Schema):
    id = ma.Int()
    provider = ma.Str()
    address = ma.Str()
    user_id = ma.Int()


class TemplateIn(Schema):
    name = ma.Str(required=True, validate=validate.Length(1, 200))
    subject = ma.Str(required=True, validate=validate.Length(1, 998))
    body_html = ma.Str(required=True, validate=validate.Length(1, 500_000))


class TemplateOut(TemplateIn):
    id = ma.Int()


class PersonIn(Schema):
    email = ma.Str(required=True, validate=validate.Length(1, 320))
    first_name = ma.Str(allow_none=True)
    last_name = ma.Str(allow_none=True)
    company = ma.Str(allow_none=True)
    title = ma.Str(allow_none=True)
    timezone = ma.Str(allow_none=True)
    fields = ma.Dict(keys=ma.Str(), allow_none=True)


class PersonOut(Schema):
    id = ma.Int()
    email = ma.Str()
    first_name = ma.Str(allow_none=True)
    last_name = ma.Str(allow_none=True)
    company = ma.Str(allow_none=True)
    title = ma.Str(allow_none=True)
    timezone = ma.Str(allow_none=True)
    fields = ma.Dict()
    unsubscribed = ma.Bool()


class PeopleBulkIn(Schema):
    # Items are checked one by one by the service, so one bad person does not sink the rest.
    people = ma.List(ma.Raw(), required=True, validate=validate.Length(1, 10_000))


class PeopleBulkOut(Schema):
    created = ma.List(ma.Int())
    errors = ma.List(ma.Dict())


class SendWindow(Schema):
    start = ma.Time(required=True, **HHMM)
    end = ma.Time(required=True, **HHMM)


class SettingsIn(Schema):
    skip_weekends = ma.Bool()
    holidays = ma.Str(allow_none=True)
    remove_on_bounce = ma.Bool()
    on_reply = ma.Str(validate=validate.OneOf(["end", "end_success", "continue"]))
    ignore_auto_replies = ma.Bool()
    timezone = ma.Str(validate=validate.OneOf(["sender", "recipient"]))
    send_window = ma.Nested(SendWindow, allow_none=True)
    track_opens = ma.Bool()
    track_clicks = ma.Bool()


class StepIn(Schema):
    id = ma.Int(validate=ID)
    day = ma.Int(required=True, strict=True, validate=validate.Range(1, 365))
    type = ma.Str(required=True, validate=validate.OneOf(["email", "call", "inmail", "custom"]))
    send_option = ma.Str(allow_none=True, validate=validate.OneOf(
        ["choose_at_launch", "at_time", "same_time_as_previous", "task"]))
    time = ma.Time(allow_none=True, **HHMM)
    follow_up = ma.Bool()
    template_id = ma.Int(allow_none=True, validate=ID)
    subject = ma.Str(allow_none=True, validate=validate.Length(max=998))
    body_html = ma.Str(allow_none=True, validate=validate.Length(max=500_000))
    title = ma.Str(allow_none=True, validate=validate.Length(max=300))
    notes = ma.Str(allow_none=True, validate=validate.Length(max=20_000))
    priority = ma.Str(validate=validate.OneOf(["normal", "high"]))


class CampaignIn(Schema):
    name = ma.Str(required=True, validate=validate.Length(1, 200))
    settings = ma.Nested(SettingsIn)
    steps = ma.List(ma.Nested(StepIn), required=True, validate=validate.Length(1, 200))


class CampaignPatch(Schema):
    name = ma.Str(validate=validate.Length(1, 200))
    settings = ma.Nested(SettingsIn)
    steps = ma.List(ma.Nested(StepIn), validate=validate.Length(1, 200))


class StepOut(Schema):
    id = ma.Int()
    day = ma.Int()
    position = ma.Int()
    type = ma.Str()
    send_option = ma.Str(allow_none=True)
    time = ma.Str(allow_none=True)
    follow_up = ma.Bool()
    template_id = ma.Int(allow_none=True)
    subject = ma.Str(allow_none=True)
    body_html = ma.Str(allow_none=True)
    title = ma.Str(allow_none=True)
    notes = ma.Str(allow_none=True)
    priority = ma.Str()


class CampaignOut(Schema):
    id = ma.Int()
    name = ma.Str()
    settings = ma.Dict()
    steps = ma.List(ma.Nested(StepOut))


class TimelineArgs(Schema):
    start = ma.AwareDateTime(required=True, validate=INSTANT_RANGE)
    timezone = ma.Str()
    send_at = ma.AwareDateTime(validate=INSTANT_RANGE)
    start_date = ma.Date(validate=DAY_RANGE)


class LaunchIn(Schema):
    # Items are judged one by one by the launch (a bad id is refused, the rest enrolled).
    people = ma.List(ma.Raw(allow_none=True), required=True, validate=validate.Length(1, 10_000))
    mailbox_id = ma.Int(allow_none=True, validate=ID)
    start_date = ma.Date(allow_none=True, validate=DAY_RANGE)
    send_at = ma.Str(allow_none=True)
    step_times = ma.Dict(keys=ma.Str(), values=ma.Str(), allow_none=True)


class LaunchOut(Schema):
    enrolled = ma.List(ma.Dict())
    refused = ma.List(ma.Dict())


class TaskListArgs(Schema):
    status = ma.Str(load_default="open", validate=validate.OneOf(["open", "completed", "skipped", "all"]))
    due = ma.Str(load_default="all", validate=validate.OneOf(["overdue", "today", "upcoming", "all"]))
    limit = ma.Int(load_default=200, validate=validate.Range(1, 1000))
    offset = ma.Int(load_default=0, validate=validate.Range(0, MAX_ID))


class TaskSendIn(Schema):
    subject = ma.Str(validate=validate.Length(1, 998))
    body_html = ma.Str(validate=validate.Length(max=500_000))
    send_at = ma.AwareDateTime(validate=INSTANT_RANGE)


class TaskRescheduleIn(Schema):
    due_date = ma.Date(required=True, validate=DAY_RANGE)


class EmailRescheduleIn(Schema):
    # AwareDateTime: a naive instant is a 422 naming due_at, never guessed into some zone.
    due_at = ma.AwareDateTime(required=True, validate=INSTANT_RANGE)


class EmailListArgs(Schema):
    status = ma.Str(validate=validate.OneOf(["scheduled", "sent", "failed", "cancelled"]))
    limit = ma.Int(load_default=200, validate=validate.Range(1, 1000))
    offset = ma.Int(load_default=0, validate=validate.Range(0, MAX_ID))


class EventListArgs(Schema):
    since = ma.AwareDateTime()
    after_id = ma.Int(validate=validate.Range(0, MAX_ID))
    limit = ma.Int(load_default=500, validate=validate.Range(1, 5000))
