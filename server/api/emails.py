from flask_smorest import Blueprint

from server.api.common import ctx
from server.api.schemas import EmailListArgs, EmailRescheduleIn
from server.services import emails as email_service

blp = Blueprint("emails", __name__, url_prefix="/api/v1/emails", description="Scheduled, sent and failed emails")


@blp.route("", methods=["GET"])
@blp.arguments(EmailListArgs, location="query")
def list_emails(args):
    session, user, _ = ctx()
    rows = email_service.list_emails(session, user, status=args.get("status"), limit=args["limit"],
                                     offset=args["offset"])
    return {"emails": [email_service.email_dict(e) for e in rows]}


@blp.route("/<int:email_id>/retry", methods=["POST"])
def retry(email_id):
    session, user, now = ctx()
    email = email_service.retry(session, user, email_id, now=now)
    session.commit()
    return email_service.email_dict(email)


@blp.route("/<int:email_id>/reschedule", methods=["POST"])
@blp.arguments(EmailRescheduleIn)
def reschedule(data, email_id):
    """Move a scheduled (or cap-held pending) email to another instant; 409 once a worker has
    claimed it."""
    session, user, now = ctx()
    email = email_service.reschedule(session, user, email_id, due_at=data["due_at"], now=now)
    session.commit()
    return email_service.email_dict(email)
