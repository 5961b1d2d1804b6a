from flask import jsonify
from flask_smorest import Blueprint

from server.api.common import ctx
from server.api.schemas import TaskListArgs, TaskRescheduleIn, TaskSendIn
from server.services import tasks as task_service

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="The rep's task queue")


@blp.route("", methods=["GET"])
@blp.arguments(TaskListArgs(), location="query")  # an instance: no schema built per request
def list_tasks(args):
    """Only the caller's own tasks. Built as plain dicts: this is the hottest read path."""
    session, user, now = ctx()
    tasks = task_service.list_tasks(session, user, status=args["status"], due=args["due"], now=now,
                                    limit=args["limit"], offset=args["offset"])
    return jsonify({"tasks": tasks})


@blp.route("/<int:task_id>", methods=["GET"])
def get(task_id):
    session, user, now = ctx()
    return task_service.task_dict(session, task_service.own_task(session, user, task_id), user, now)


@blp.route("/<int:task_id>/complete", methods=["POST"])
def complete(task_id):
    session, user, now = ctx()
    result = task_service.complete_task(session, user, task_id, now=now)
    session.commit()
    return result


@blp.route("/<int:task_id>/skip", methods=["POST"])
def skip(task_id):
    session, user, now = ctx()
    result = task_service.skip_task(session, user, task_id, now=now)
    session.commit()
    return result


@blp.route("/<int:task_id>/send", methods=["POST"])
@blp.arguments(TaskSendIn)
def send(data, task_id):
    session, user, now = ctx()
    result = task_service.send_task(session, user, task_id, now=now, subject=data.get("subject"),
                                    body_html=data.get("body_html"), send_at=data.get("send_at"))
    session.commit()
    return result


@blp.route("/<int:task_id>/reschedule", methods=["POST"])
@blp.arguments(TaskRescheduleIn)
def reschedule(data, task_id):
    """Move an open task to another due date (today or later in the rep's zone)."""
    session, user, now = ctx()
    result = task_service.reschedule_task(session, user, task_id, due_date=data["due_date"], now=now)
    session.commit()
    return result
