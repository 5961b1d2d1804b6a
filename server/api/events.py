"""The Live Feed: GET /events (JSON) and GET /events/stream (server-sent events)."""
from __future__ import annotations

import json
import time

from flask import Response, current_app, g, request, stream_with_context
from flask_smorest import Blueprint

from server.api.common import ctx
from server.api.schemas import EventListArgs
from server.errors import Invalid
from server.services import events as event_service

blp = Blueprint("events", __name__, url_prefix="/api/v1/events", description="Activity and the Live Feed")


@blp.route("", methods=["GET"])
@blp.arguments(EventListArgs, location="query")
def list_events(args):
    session, user, _ = ctx()
    rows = event_service.list_events(session, user, since=args.get("since"), after_id=args.get("after_id"),
                                     limit=args["limit"])
    return {"events": [event_service.event_dict(e) for e in rows]}


@blp.route("/stream", methods=["GET"])
def stream():
    """Server-sent events; ``id:`` is the event id so a client resumes with Last-Event-ID.

    The stream polls an indexed query once a second and closes after ``max_seconds``
    (default 300); EventSource reconnects by itself and resumes where it was."""
    raw_last = request.headers.get("Last-Event-ID") or request.args.get("after_id") or "0"
    raw_max = request.args.get("max_seconds", "300")
    if not raw_last.isdigit():
        raise Invalid("Last-Event-ID must be an event id", "Last-Event-ID")
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= 3600:
        raise Invalid("max_seconds must be between 1 and 3600", "max_seconds")
    user, last_id, deadline = g.user, int(raw_last), time.monotonic() + int(raw_max)
    factory = current_app.extensions["stepline_sessions"]

    def generate():
        nonlocal last_id
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            with factory() as session:
                rows = event_service.list_events(session, user, after_id=last_id, limit=200)
            for event in rows:
                last_id = event.id
                body = json.dumps(event_service.event_dict(event))
                yield f"id: {event.id}\nevent: {event.type}\ndata: {body}\n\n"
            if not rows:
                yield ": keep-alive\n\n"
                time.sleep(1.0)

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
