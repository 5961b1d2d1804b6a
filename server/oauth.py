"""Connecting a Gmail or Microsoft 365 mailbox with the OAuth 2.0 authorization-code flow.

``/oauth/<google|microsoft>/start`` sends the signed-in user (web session or API bearer
token) to the provider's consent page; ``/callback`` exchanges the code for tokens, asks the
provider which address it is, and creates (or reconnects) the user's ``gmail``/``graph``
mailbox. Only the refresh token is kept, encrypted at rest (server.crypto).

Why ``state`` is an itsdangerous signature of the user id: the callback arrives from the
provider's redirect, possibly without our session cookie (an API client), so the state itself
must say, unforgeably and only for a few minutes, whose mailbox this is.
"""
from __future__ import annotations

import re
import warnings
from typing import Any
from urllib.parse import urlencode

import msal
import requests
from flask import Blueprint, current_app, jsonify, redirect, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from server.clock import get_clock
from server.crypto import encrypt
from server.db import get_session
from server.errors import BadRequest, Invalid, Unauthorized
from server.models import Mailbox, User
from server.services.mailboxes import mailbox_dict
from server.services.users import user_for_token

bp = Blueprint("oauth", __name__)

GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
GOOGLE_PROFILE = "https://gmail.googleapis.com/gmail/v1/users/me/profile"
GOOGLE_SCOPES = ["openid", "email", "https://www.googleapis.com/auth/gmail.send",
                 "https://www.googleapis.com/auth/gmail.readonly"]
MS_AUTHORITY = "https://login.microsoftonline.com/common"
MS_SCOPES = ["https://graph.microsoft.com/Mail.Send", "https://graph.microsoft.com/Mail.Read",
             "https://graph.microsoft.com/User.Read"]
MS_ME = "https://graph.microsoft.com/v1.0/me"
STATE_MAX_AGE = 900
TIMEOUT = 20


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="oauth-state")


def _signed_in_user() -> User:
    header = request.headers.get("Authorization", "")
    match = re.fullmatch(r"Bearer\s+(\S+)", header.strip())
    if match:
        user = user_for_token(get_session(), match.group(1))
        if user is None:
            raise Unauthorized("unknown or revoked token", "Authorization")
        return user
    try:
        from server.web.session import session_user
    except ImportError:
        session_user = None  # type: ignore[assignment]
    user = session_user() if session_user else None
    if user is None:
        raise Unauthorized("sign in (or send Authorization: Bearer <token>) to connect a mailbox", "Authorization")
    return user


def _redirect_uri(provider: str) -> str:
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    return f"{base}/oauth/{provider}/callback"


def _require(*keys: str) -> None:
    for key in keys:
        if not current_app.config.get(key):
            raise Invalid(f"this server has no {key}: set it to connect mailboxes with OAuth", key)


def _state_user(provider: str) -> User:
    if request.args.get("error"):
        raise BadRequest(f"the provider refused: {request.args.get('error_description') or request.args['error']}",
                         "error")
    raw = request.args.get("state")
    if not raw:
        raise BadRequest("state is missing", "state")
    try:
        data = _serializer().loads(raw, max_age=STATE_MAX_AGE)
    except SignatureExpired as exc:
        raise BadRequest("the connection took too long; start again", "state") from exc
    except BadSignature as exc:
        raise BadRequest("state is not valid", "state") from exc
    if data.get("p") != provider:
        raise BadRequest("state is for another provider", "state")
    user = get_session().get(User, data.get("u"))
    if user is None:
        raise BadRequest("state names no user", "state")
    if not request.args.get("code"):
        raise BadRequest("code is missing", "code")
    return user


def _save(user: User, provider: str, address: str, refresh_token: str, display_name: str = "",
          cursor: str | None = None) -> Any:
    """Create the mailbox, or reconnect the existing one of that user and address."""
    session = get_session()
    address = address.strip().lower()
    mailbox = session.scalars(select(Mailbox).where(Mailbox.user_id == user.id, Mailbox.provider == provider,
                                                    Mailbox.address == address)).first()
    status = 200
    if mailbox is None:
        mailbox = Mailbox(user_id=user.id, provider=provider, address=address, display_name=display_name,
                          created_at=get_clock().now())
        session.add(mailbox)
        status = 201
    mailbox.secret_enc = encrypt(refresh_token)
    if cursor and not mailbox.inbound_cursor:
        mailbox.inbound_cursor = cursor
    session.commit()
    response = jsonify(mailbox_dict(mailbox) | {"connected": True})
    response.status_code = status
    return response


# ---------------------------------------------------------------------------- Google


@bp.get("/google/start")
def google_start():
    _require("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")
    user = _signed_in_user()
    query = {"client_id": current_app.config["GOOGLE_CLIENT_ID"], "redirect_uri": _redirect_uri("google"),
             "response_type": "code", "scope": " ".join(GOOGLE_SCOPES), "access_type": "offline",
             "prompt": "consent", "include_granted_scopes": "true",
             "state": _serializer().dumps({"u": user.id, "p": "google"})}
    return redirect(f"{GOOGLE_AUTHORIZE}?{urlencode(query)}")


@bp.get("/google/callback")
def google_callback():
    _require("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")
    user = _state_user("google")
    try:
        token = requests.post(GOOGLE_TOKEN, timeout=TIMEOUT, data={
            "code": request.args["code"], "client_id": current_app.config["GOOGLE_CLIENT_ID"],
            "client_secret": current_app.config["GOOGLE_CLIENT_SECRET"], "redirect_uri": _redirect_uri("google"),
            "grant_type": "authorization_code"})
        if token.status_code != 200:
            raise BadRequest(f"Google refused the code: {token.json().get('error_description') or token.text}",
                             "code")
        tokens = token.json()
        if not tokens.get("refresh_token"):
            raise BadRequest("Google gave no refresh token; remove Stepline's access in your Google account "
                             "and connect again", "code")
        profile = requests.get(GOOGLE_PROFILE, timeout=TIMEOUT,
                               headers={"Authorization": f"Bearer {tokens['access_token']}"})
        if profile.status_code != 200:
            raise BadRequest("Google did not say which mailbox this is (is the Gmail API enabled?)", "code")
    except requests.RequestException as exc:
        raise BadRequest(f"cannot reach Google: {exc}", "code") from exc
    data = profile.json()
    return _save(user, "gmail", data["emailAddress"], tokens["refresh_token"],
                 cursor=str(data["historyId"]) if data.get("historyId") else None)


# ---------------------------------------------------------------------------- Microsoft


def _msal() -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(current_app.config["MS_CLIENT_ID"],
                                              client_credential=current_app.config["MS_CLIENT_SECRET"],
                                              authority=MS_AUTHORITY)


@bp.get("/microsoft/start")
def microsoft_start():
    _require("MS_CLIENT_ID", "MS_CLIENT_SECRET")
    user = _signed_in_user()
    query = {"client_id": current_app.config["MS_CLIENT_ID"], "response_type": "code",
             "redirect_uri": _redirect_uri("microsoft"), "response_mode": "query",
             "scope": " ".join(["offline_access", *MS_SCOPES]), "prompt": "select_account",
             "state": _serializer().dumps({"u": user.id, "p": "microsoft"})}
    return redirect(f"{MS_AUTHORITY}/oauth2/v2.0/authorize?{urlencode(query)}")


@bp.get("/microsoft/callback")
def microsoft_callback():
    _require("MS_CLIENT_ID", "MS_CLIENT_SECRET")
    user = _state_user("microsoft")
    try:
        with warnings.catch_warnings():
            # msal prefers its auth-code-flow helpers, which keep PKCE data in a server-side
            # session; the signed state already binds the callback to the user who started it.
            warnings.simplefilter("ignore", DeprecationWarning)
            result = _msal().acquire_token_by_authorization_code(request.args["code"], scopes=MS_SCOPES,
                                                                 redirect_uri=_redirect_uri("microsoft"))
        if "access_token" not in result:
            raise BadRequest(f"Microsoft refused the code: {result.get('error_description') or result.get('error')}",
                             "code")
        if not result.get("refresh_token"):
            raise BadRequest("Microsoft gave no refresh token (offline_access was not granted)", "code")
        me = requests.get(MS_ME, timeout=TIMEOUT, headers={"Authorization": f"Bearer {result['access_token']}"},
                          params={"$select": "mail,userPrincipalName,displayName"})
        if me.status_code != 200:
            raise BadRequest("Microsoft Graph did not say which mailbox this is", "code")
    except requests.RequestException as exc:
        raise BadRequest(f"cannot reach Microsoft: {exc}", "code") from exc
    data = me.json()
    return _save(user, "graph", data.get("mail") or data["userPrincipalName"], result["refresh_token"],
                 display_name=data.get("displayName") or "")
