from zoneinfo import ZoneInfo

from flask_smorest import Blueprint
from sqlalchemy import select

from server.api.common import ctx
from server.api.schemas import CampaignIn, CampaignOut, CampaignPatch, LaunchIn, LaunchOut, TimelineArgs
from server.domain import schedule
from server.errors import Invalid
from server.models import Campaign, Enrollment
from server.services import enrollments as enrollment_service
from server.services.campaigns import (calendar, campaign_dict, create_campaign, get_campaign, step_rule,
                                       update_campaign)
from server.services.launch import launch
from server.services.users import valid_zone

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1", description="Campaigns, timeline, launch, enrollments")


@blp.route("/campaigns", methods=["POST"])
@blp.arguments(CampaignIn)
@blp.response(201, CampaignOut)
def create(data):
    session, user, now = ctx()
    campaign = create_campaign(session, user, data, now=now)
    session.commit()
    return campaign_dict(campaign)


@blp.route("/campaigns", methods=["GET"])
def list_campaigns():
    session, _, _ = ctx()
    return {"campaigns": [campaign_dict(c) for c in session.scalars(select(Campaign).order_by(Campaign.id))]}


@blp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@blp.response(200, CampaignOut)
def get(campaign_id):
    session, _, _ = ctx()
    return campaign_dict(get_campaign(session, campaign_id))


@blp.route("/campaigns/<int:campaign_id>", methods=["PATCH"])
@blp.arguments(CampaignPatch)
@blp.response(200, CampaignOut)
def patch(data, campaign_id):
    session, _, now = ctx()
    campaign = update_campaign(session, get_campaign(session, campaign_id), data, now=now)
    session.commit()
    return campaign_dict(campaign)


@blp.route("/campaigns/<int:campaign_id>/timeline", methods=["GET"])
@blp.arguments(TimelineArgs, location="query")
def timeline(args, campaign_id):
    """The planned schedule of one enrollment launched at ``start``: the engine's own rules."""
    session, user, _ = ctx()
    campaign = get_campaign(session, campaign_id)
    zone = args.get("timezone") or user.timezone
    if not valid_zone(zone):
        raise Invalid(f"unknown time zone '{zone}'", "timezone")
    steps = list(campaign.steps)
    cal = calendar(campaign, zone)
    planned = schedule.plan([step_rule(s) for s in steps], cal, args["start"],
                            schedule.Overrides(send_at=args.get("send_at")), start_date=args.get("start_date"))
    tz = ZoneInfo(zone)
    return {"campaign_id": campaign.id, "timezone": zone, "steps": [
        {"step_id": p.step.id, "day": p.step.day, "position": p.step.position, "type": p.step.type,
         "kind": p.step.kind, "send_option": p.step.send_option, "follow_up": p.step.follow_up,
         "date": p.date.isoformat(), "at": p.at.astimezone(tz).isoformat() if p.at else None}
        for p in planned]}


@blp.route("/campaigns/<int:campaign_id>/launch", methods=["POST"])
@blp.arguments(LaunchIn)
@blp.response(200, LaunchOut)
def launch_people(data, campaign_id):
    session, user, now = ctx()
    result = launch(session, user, campaign_id, people=data["people"], mailbox_id=data.get("mailbox_id"), now=now,
                    start_date=data.get("start_date"), send_at=data.get("send_at"),
                    step_times=data.get("step_times"))
    session.commit()
    return result


@blp.route("/enrollments", methods=["GET"])
def list_enrollments():
    from flask import request

    session, user, _ = ctx()
    query = select(Enrollment).order_by(Enrollment.id.desc()).limit(500)
    if not user.is_admin:
        query = query.where(Enrollment.user_id == user.id)
    for key in ("campaign_id", "person_id"):
        if request.args.get(key):
            if not request.args[key].isdigit() or int(request.args[key]) >= 2**31:
                raise Invalid(f"{key} must be an id (a positive number)", key)
            query = query.where(getattr(Enrollment, key) == int(request.args[key]))
    if request.args.get("state"):
        query = query.where(Enrollment.state == request.args["state"])
    return {"enrollments": [{"id": e.id, "state": e.state, "campaign_id": e.campaign_id,
                             "campaign_name": e.campaign.name, "person_id": e.person_id,
                             "person_email": e.person.email, "current_step_id": e.current_step_id}
                            for e in session.scalars(query)]}


@blp.route("/enrollments/<int:enrollment_id>", methods=["GET"])
def get_enrollment(enrollment_id):
    session, user, _ = ctx()
    return enrollment_service.enrollment_dict(session, enrollment_service.visible_enrollment(session, user,
                                                                                              enrollment_id))


def _act(enrollment_id, action):
    session, user, now = ctx()
    enrollment = enrollment_service.visible_enrollment(session, user, enrollment_id)
    action(session, enrollment, now=now)
    session.commit()
    return enrollment_service.enrollment_dict(session, enrollment)


@blp.route("/enrollments/<int:enrollment_id>/pause", methods=["POST"])
def pause(enrollment_id):
    return _act(enrollment_id, enrollment_service.pause)


@blp.route("/enrollments/<int:enrollment_id>/resume", methods=["POST"])
def resume(enrollment_id):
    return _act(enrollment_id, enrollment_service.resume)


@blp.route("/enrollments/<int:enrollment_id>/remove", methods=["POST"])
def remove(enrollment_id):
    return _act(enrollment_id, enrollment_service.remove)
