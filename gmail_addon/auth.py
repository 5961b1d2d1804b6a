"""Who is calling: the two Google ID tokens every add-on request carries.

* The **system ID token** (``Authorization: Bearer ...``) proves the request comes from
  Google's add-on infrastructure for *our* deployment: it is signed by Google, addressed
  (``aud``) to the exact URL called, and its ``email`` is the deployment's service account.
  Without this check anyone could POST an event naming any rep.
* The **user ID token** (``authorizationEventObject.userIdToken``) says which Google account
  is using the add-on; its audience is the add-on's OAuth client id. Its verified email is
  mapped to a Stepline user by the caller.

Both are checked with google-auth's own verifier. The certificates it verifies against come
from a transport that tests can replace: ``app.config["GOOGLE_CERTS"] = {kid: PEM}`` makes
the verifier use those certificates instead of fetching Google's, so tests sign tokens with a
key they generate and still exercise the real verification code.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Mapping

from flask import Request, current_app
from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import id_token

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_SECONDS = 30  # Google's and our clocks may differ a little; not more.


class AddonAuthError(Exception):
    """The request is not a genuine add-on request for a known rep: answer 401, no data."""


class CertsUnavailable(Exception):
    """Google's certificates could not be fetched: nobody can be verified right now (503)."""


class _Response(transport.Response):
    def __init__(self, status: int, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        self._status, self._data, self._headers = status, data, dict(headers or {})

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class StaticCertsRequest(transport.Request):
    """A transport that answers every certificate request with fixed certificates (tests)."""

    def __init__(self, certs: Mapping[str, str]) -> None:
        self._body = json.dumps(dict(certs)).encode()

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return _Response(200, self._body)


class CachingCertsRequest(transport.Request):
    """Google's certificate endpoints say how long to cache (``Cache-Control: max-age``).

    Without a cache every click in the side panel would fetch the certificates from Google
    once per token, adding two round trips to each request."""

    def __init__(self, inner: transport.Request | None = None, default_ttl: int = 3600) -> None:
        self._inner = inner
        self._default_ttl = default_ttl
        self._cache: dict[str, tuple[float, _Response]] = {}
        self._lock = threading.Lock()

    def _request(self) -> transport.Request:
        if self._inner is None:
            from google.auth.transport.requests import Request as RequestsRequest

            self._inner = RequestsRequest()
        return self._inner

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._request()(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        response = self._request()(url, method="GET", headers=headers, timeout=timeout or 10, **kwargs)
        if response.status == 200:
            stored = _Response(200, response.data, response.headers)
            with self._lock:
                self._cache[url] = (time.monotonic() + self._ttl(response.headers), stored)
            return stored
        return response

    def _ttl(self, headers: Mapping[str, str]) -> int:
        for part in (headers.get("cache-control") or headers.get("Cache-Control") or "").split(","):
            name, _, value = part.strip().partition("=")
            if name == "max-age" and value.isdigit():
                return int(value)
        return self._default_ttl


_shared_request = CachingCertsRequest()


def certs_request() -> transport.Request:
    """The transport used to fetch Google's certificates (fixed ones when configured)."""
    certs = current_app.config.get("GOOGLE_CERTS")
    if certs:
        return StaticCertsRequest(certs)
    return _shared_request


def verify_google_id_token(token: str | None, *, audience: str, request: transport.Request) -> dict[str, Any]:
    """Signature, expiry, audience and issuer (accounts.google.com) of a Google ID token."""
    if not token or not isinstance(token, str):
        raise AddonAuthError("missing ID token")
    try:
        claims = id_token.verify_oauth2_token(
            token, request, audience=audience, clock_skew_in_seconds=CLOCK_SKEW_SECONDS
        )
    except google_exceptions.TransportError as exc:
        raise CertsUnavailable(str(exc)) from exc
    except (ValueError, google_exceptions.GoogleAuthError) as exc:
        raise AddonAuthError(f"invalid ID token: {exc}") from exc
    if claims.get("iss") not in GOOGLE_ISSUERS:  # verify_oauth2_token checks it too; be explicit
        raise AddonAuthError("ID token not issued by Google")
    return dict(claims)


def _verified_email(claims: Mapping[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or not email or claims.get("email_verified") is not True:
        raise AddonAuthError("ID token has no verified email")
    return email.strip().lower()


def verify_system_token(authorization: str | None, *, audience: str, service_account: str,
                        request: transport.Request) -> dict[str, Any]:
    """The ``Authorization: Bearer`` token must be our deployment's service account's, for this URL."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AddonAuthError("missing bearer token")
    claims = verify_google_id_token(token.strip(), audience=audience, request=request)
    if _verified_email(claims) != service_account.strip().lower():
        raise AddonAuthError("system token is not from the add-on's service account")
    return claims


def verify_user_token(token: str | None, *, client_id: str, request: transport.Request) -> str:
    """The Google account using the add-on; returns its verified email, lower-cased."""
    return _verified_email(verify_google_id_token(token, audience=client_id, request=request))


def request_audience(req: Request) -> str:
    """The URL Google called, as it signed it: PUBLIC_BASE_URL + the path (never the Host
    header, which a caller controls)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + req.path


def _setting(name: str) -> str:
    """Refuse everything while the add-on is not configured, rather than trusting anyone."""
    value = current_app.config.get(name) or ""
    if not value:
        raise AddonAuthError(f"the Gmail add-on is not configured ({name} is empty)")
    return value


def verify_request(req: Request) -> dict[str, Any]:
    """The system ID token of an add-on request: Google, our service account, this URL."""
    _setting("PUBLIC_BASE_URL")
    return verify_system_token(req.headers.get("Authorization"), audience=request_audience(req),
                               service_account=_setting("GMAIL_ADDON_SERVICE_ACCOUNT"),
                               request=certs_request())


def verify_user(user_id_token: str | None) -> str:
    """The event's user ID token; returns the rep's verified Google email."""
    return verify_user_token(user_id_token, client_id=_setting("GMAIL_ADDON_CLIENT_ID"), request=certs_request())
