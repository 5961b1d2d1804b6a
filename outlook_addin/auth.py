"""Verify the Microsoft identity platform access tokens that the Outlook task pane sends.

The pane signs the rep in with Nested App Authentication (or ``Office.auth.getAccessToken``)
and calls the add-in's JSON endpoints with ``Authorization: Bearer <token>``. That token is the
only credential those endpoints accept, so everything that makes it trustworthy is checked
here, in one function that needs no Flask app and no database (easy to test with keys the test
generates):

* signature: RS256 with a key from Microsoft's published JWKS (``kid`` in the header);
* issuer: ``https://login.microsoftonline.com/{tid}/v2.0`` for the token's own ``tid``
  (multi-tenant apps cannot pin one issuer), optionally restricted to allowed tenants;
* audience: our app registration (``client_id``, or ``api://{client_id}``);
* a delegated scope (``scp``) that says the token was issued for this API;
* ``exp``/``nbf`` with a little leeway for clock skew.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

DEFAULT_JWKS_URL = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
ISSUER_TEMPLATE = "https://login.microsoftonline.com/{tid}/v2.0"

# A tenant id is a GUID; anything else in ``tid`` must never be pasted into an issuer URL.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class InvalidMsToken(Exception):
    """The token cannot be trusted; ``reason`` says why (safe to show to the caller)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MsIdentity:
    """Who the token speaks for: object id and tenant id (stable), email (for first match)."""

    oid: str
    tid: str
    email: str | None


class JwksClient(Protocol):
    """What we need from a JWKS client; ``jwt.PyJWKClient`` is one, tests pass their own."""

    def get_signing_key_from_jwt(self, token: str) -> Any: ...


def make_jwks_client(url: str = DEFAULT_JWKS_URL) -> jwt.PyJWKClient:
    """A caching JWKS client: keys are fetched once and refetched when an unknown kid shows up."""
    return jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=3600, timeout=10)


def parse_tenants(value: str | Iterable[str] | None) -> frozenset[str] | None:
    """``MS_ALLOWED_TENANTS`` as a set of lower-case tenant ids; empty means any tenant."""
    if value is None:
        return None
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    tenants = frozenset(t.strip().lower() for t in items if t and t.strip())
    return tenants or None


def verify_ms_token(
    token: str,
    *,
    client_id: str,
    jwks_client: JwksClient,
    required_scope: str,
    allowed_tenants: str | Iterable[str] | None = None,
    leeway: int = 60,
) -> MsIdentity:
    """Return the identity in ``token`` or raise :class:`InvalidMsToken`."""
    if not client_id:
        raise InvalidMsToken("Outlook sign-in is not configured on this server (MS_CLIENT_ID is empty)")
    if not token or token.count(".") != 2:
        raise InvalidMsToken("the bearer token is not a JWT")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidMsToken(f"the bearer token cannot be read: {exc}") from None
    if header.get("alg") != "RS256":
        raise InvalidMsToken("the token is not signed with RS256")

    tid = unverified.get("tid")
    if not isinstance(tid, str) or not _GUID.match(tid):
        raise InvalidMsToken("the token has no tenant id (tid)")
    tenants = parse_tenants(allowed_tenants)
    if tenants is not None and tid.lower() not in tenants:
        raise InvalidMsToken("the token's tenant is not allowed on this server")

    try:
        key = jwks_client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientError as exc:
        raise InvalidMsToken(f"no Microsoft signing key for this token: {exc}") from None
    except jwt.PyJWTError as exc:
        raise InvalidMsToken(f"the bearer token cannot be read: {exc}") from None
    key = getattr(key, "key", key)  # a PyJWK, or a bare public key from a test double

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=[client_id, f"api://{client_id}"],
            issuer=ISSUER_TEMPLATE.format(tid=tid),
            leeway=leeway,
            options={"require": ["exp", "nbf", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidMsToken("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidMsToken("the token is not valid yet") from None
    except jwt.InvalidAudienceError:
        raise InvalidMsToken("the token was issued for another application (audience)") from None
    except jwt.InvalidIssuerError:
        raise InvalidMsToken("the token's issuer does not match its tenant") from None
    except jwt.InvalidSignatureError:
        raise InvalidMsToken("the token's signature is invalid") from None
    except jwt.PyJWTError as exc:
        raise InvalidMsToken(f"the token is invalid: {exc}") from None

    scopes = str(claims.get("scp") or "").split()
    if required_scope and required_scope not in scopes:
        raise InvalidMsToken(f"the token lacks the delegated scope {required_scope!r}")
    oid = claims.get("oid")
    if not isinstance(oid, str) or not oid:
        raise InvalidMsToken("the token has no object id (oid)")

    email = None
    for claim in ("preferred_username", "email", "upn"):
        value = claims.get(claim)
        if isinstance(value, str) and "@" in value:
            email = value.strip()
            break
    return MsIdentity(oid=oid, tid=tid.lower(), email=email)


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer ...`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
