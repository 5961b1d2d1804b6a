"""HTTP side of the Outlook add-in, mounted by the app at ``/addins/outlook``.

Serves what Outlook loads (task pane page, scripts, icons, manifests) and three JSON endpoints
for the pane. Those endpoints accept nothing but a Microsoft identity platform access token:
no cookie, no Stepline API token, so a page in another tab can never act for the rep, and a
rep reaches only their own tasks (the task service scopes every query to the user).
"""
from __future__ import annotations

from functools import wraps
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request, send_file, url_for

from server.errors import ApiError, NotFound, Unauthorized

from . import core
from .auth import DEFAULT_JWKS_URL, InvalidMsToken, bearer_token, make_jwks_client, verify_ms_token
from .icons import SIZES, icon_png
from .manifest import app_package, build_json_manifest, build_xml_manifest, normalize_base_url, sso_resource

bp = Blueprint("outlook_addin", __name__, static_folder="static", template_folder="templates")

OFFICE_JS_URL = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
MSAL_JS_FILE = Path(__file__).parent / "tools" / "node_modules" / "@azure" / "msal-browser" / "lib" / "msal-browser.min.js"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com/common"


def _config(name: str, default=None):
    value = current_app.config.get(name)
    return default if value in (None, "") else value


def _api_scope() -> str:
    """The scope the pane asks MSAL for (MS_API_SCOPE).

    By default it is built on the Application ID URI that the manifest's WebApplicationInfo
    names for Office SSO (``api://<public host>/<client id>``), so one URI serves both sign-in
    paths; ``api://<client id>`` when the public URL is not https.
    """
    client_id = _config("MS_CLIENT_ID", "")
    if not client_id:
        return _config("MS_API_SCOPE", "")
    scope = _config("MS_REQUIRED_SCOPE", "access_as_user")
    try:
        resource = sso_resource(normalize_base_url(_base_url()), client_id)
    except ValueError:
        resource = f"api://{client_id}"
    return _config("MS_API_SCOPE", f"{resource}/{scope}")


def _jwks_client():
    """``MS_JWKS_CLIENT`` if the app injects one (tests), else one cached PyJWKClient per app."""
    injected = current_app.config.get("MS_JWKS_CLIENT")
    if injected is not None:
        return injected
    client = current_app.extensions.get("outlook_addin.jwks")
    if client is None:
        client = make_jwks_client(_config("MS_JWKS_URL", DEFAULT_JWKS_URL))
        current_app.extensions["outlook_addin.jwks"] = client
    return client


def ms_authenticated(view):
    """Run ``view`` only for a valid Microsoft token that maps to a Stepline user (``g.outlook_user``)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Unauthorized("Sign in with your Microsoft account: a Bearer access token is required.")
        try:
            identity = verify_ms_token(
                token,
                client_id=_config("MS_CLIENT_ID", ""),
                jwks_client=_jwks_client(),
                required_scope=_config("MS_REQUIRED_SCOPE", "access_as_user"),
                allowed_tenants=_config("MS_ALLOWED_TENANTS"),
            )
        except InvalidMsToken as exc:
            raise Unauthorized(f"Microsoft sign-in refused: {exc.reason}.") from None
        user = core.find_user(identity)
        if user is None:
            who = identity.email or "this Microsoft account"
            raise Unauthorized(f"No Stepline user has the email {who}; ask your Stepline admin to add you.")
        g.outlook_user = user
        return view(*args, **kwargs)

    return wrapper


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    response = exc.to_response()
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _task_id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound("No such task.", "id")
    return int(raw)


def _json(payload: dict) -> Response:
    response = jsonify(payload)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- JSON endpoints of the task pane ---------------------------------------------------------


@bp.get("/api/tasks")
@ms_authenticated
def api_tasks() -> Response:
    user = g.outlook_user
    return _json({
        "user": {"email": user.email, "name": getattr(user, "name", "") or ""},
        "tasks": core.due_tasks(user),
    })


@bp.post("/api/tasks/<task_id>/complete")
@ms_authenticated
def api_complete(task_id: str) -> Response:
    return _json({"task": core.complete_task(g.outlook_user, _task_id(task_id))})


@bp.post("/api/tasks/<task_id>/skip")
@ms_authenticated
def api_skip(task_id: str) -> Response:
    return _json({"task": core.skip_task(g.outlook_user, _task_id(task_id))})


# --- What Outlook loads ---------------------------------------------------------------------


def _page(template: str, **context) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
    # The pane runs inside Outlook's iframe: no X-Frame-Options here, on purpose.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/taskpane.html")
def taskpane() -> Response:
    msal_url = _config("OUTLOOK_MSAL_JS_URL")
    if msal_url is None and MSAL_JS_FILE.is_file():
        msal_url = url_for("outlook_addin.msal_js")
    pane_config = {
        "apiBase": url_for("outlook_addin.api_tasks").rsplit("/tasks", 1)[0],
        "clientId": _config("MS_CLIENT_ID", ""),
        "apiScope": _api_scope(),
        "authority": _config("MS_AUTHORITY", DEFAULT_AUTHORITY),
    }
    return _page(
        "outlook_addin/taskpane.html",
        office_js_url=_config("OUTLOOK_OFFICE_JS_URL", OFFICE_JS_URL),
        msal_js_url=msal_url,
        pane_config=pane_config,
    )


@bp.get("/commands.html")
def commands() -> Response:
    """The manifest's FunctionFile: Office needs one for the button's host page."""
    return _page("outlook_addin/commands.html", office_js_url=_config("OUTLOOK_OFFICE_JS_URL", OFFICE_JS_URL))


@bp.get("/support")
def support() -> Response:
    return _page("outlook_addin/support.html")


@bp.get("/vendor/msal-browser.min.js")
def msal_js() -> Response:
    """MSAL.js from the npm package in tools/ (its publisher no longer runs a CDN for v3+)."""
    if not MSAL_JS_FILE.is_file():
        abort(404)
    return send_file(MSAL_JS_FILE, mimetype="text/javascript", max_age=3600)


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    if name == "color.png":
        data = icon_png(192)
    elif name == "outline.png":
        data = icon_png(32, outline=True)
    elif name.startswith("icon-") and name.endswith(".png") and name[5:-4].isdigit() and int(name[5:-4]) in SIZES:
        data = icon_png(int(name[5:-4]))
    else:
        abort(404)
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def _base_url() -> str:
    """Where this server is reachable from Outlook: PUBLIC_BASE_URL, else the request's host."""
    return _config("PUBLIC_BASE_URL") or request.url_root


def _for_this_server(build) -> Response:
    try:
        return build(_base_url(), _config("MS_CLIENT_ID") or None)
    except ValueError as exc:
        raise ApiError(f"{exc}. Set PUBLIC_BASE_URL to the server's https:// address.", "PUBLIC_BASE_URL",
                       code="not_https") from None


@bp.get("/manifest.xml")
def manifest_xml() -> Response:
    xml = _for_this_server(build_xml_manifest)
    return Response(xml, mimetype="application/xml", headers={"Content-Disposition": "attachment; filename=manifest.xml"})


@bp.get("/manifest.json")
def manifest_json() -> Response:
    return _json(_for_this_server(build_json_manifest))


@bp.get("/app-package.zip")
def app_package_zip() -> Response:
    data = _for_this_server(app_package)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": "attachment; filename=stepline-outlook-app.zip"})
