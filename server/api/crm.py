"""Admins see the CRM writes that failed (with Salesforce's reason) and retry them."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from server.api.common import ctx
from server.errors import Forbidden, Invalid, NotFound
from server.models import CrmOutbox
from server.services.crm_sync import crm_enabled, list_outbox, outbox_dict, retry_row

blp = Blueprint("crm", __name__, url_prefix="/api/v1/crm", description="CRM (Salesforce) sync status")


def _admin_only() -> None:
    if not ctx()[1].is_admin:
        raise Forbidden("only an admin can see the CRM sync", "Authorization")


@blp.route("/outbox", methods=["GET"])
def outbox():
    """``?status=pending|done|failed``: the CRM writes, newest first."""
    _admin_only()
    session, _, _ = ctx()
    status = request.args.get("status")
    if status not in (None, "pending", "done", "failed"):
        raise Invalid("status must be pending, done or failed", "status")
    from flask import current_app

    return {"enabled": crm_enabled(current_app.config),
            "outbox": [outbox_dict(row) for row in list_outbox(session, status)]}


@blp.route("/outbox/<int:row_id>/retry", methods=["POST"])
def retry(row_id: int):
    _admin_only()
    session, _, now = ctx()
    row = session.get(CrmOutbox, row_id)
    if row is None:
        raise NotFound(f"CRM write {row_id} not found", "id")
    retry_row(session, row, now)
    session.commit()
    return outbox_dict(row)
