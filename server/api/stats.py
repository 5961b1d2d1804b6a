"""GET /campaigns/{id}/stats: per-step engagement with rates, as JSON or CSV."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from server.api.common import ctx
from server.errors import Invalid
from server.services.stats import campaign_stats, stats_csv

blp = Blueprint("stats", __name__, url_prefix="/api/v1/campaigns", description="Campaign analytics")


@blp.route("/<int:campaign_id>/stats", methods=["GET"])
def stats(campaign_id: int):
    """Counts per step (see server/services/stats.py for the counting rules);
    ``?format=csv`` downloads the same table."""
    session, user, _ = ctx()
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Invalid("format must be json or csv", "format")
    result = campaign_stats(session, user, campaign_id)
    if fmt == "csv":
        return Response(stats_csv(result), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-stats.csv"'})
    return result
