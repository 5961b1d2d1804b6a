from flask_smorest import Blueprint

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


@blp.route("/health")
@blp.doc(security=[])
def health():
    """No token needed: for load balancers and `make run`."""
    return {"status": "ok"}
