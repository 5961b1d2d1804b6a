"""Shared helpers for the Outlook add-in tests: RSA keys, Microsoft-shaped tokens, a JWKS.

Tokens are signed with keys generated here and verified against a JWKS built from them, so no
test talks to Microsoft. ``StaticJwksClient`` is a real ``jwt.PyJWKClient`` whose download is
replaced by the in-memory key set, so key selection by ``kid`` is PyJWT's own.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "6f1c2a9e-0d4b-4c4e-9a51-3b2f5d7e8a90"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT_ID = "0b3c7e1d-2f4a-4e8b-9c6d-1a2b3c4d5e6f"
KID = "stepline-test-key"


def jwks_for(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict:
    entries = []
    for kid, key in keys:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": entries}


class StaticJwksClient(jwt.PyJWKClient):
    """PyJWKClient with the key set given in memory instead of downloaded."""

    def __init__(self, jwks: dict) -> None:
        super().__init__("https://keys.invalid/discovery/v2.0/keys")
        self._jwks = jwks

    def fetch_data(self):  # noqa: D401 - same contract as PyJWKClient.fetch_data
        return self._jwks


@dataclass
class TokenFactory:
    """Makes access tokens shaped like the Microsoft identity platform's v2.0 tokens."""

    key: rsa.RSAPrivateKey
    other_key: rsa.RSAPrivateKey
    client_id: str = CLIENT_ID
    tid: str = TENANT_ID
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))
    email: str = "rep@example.com"

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "aud": self.client_id,
            "iss": f"https://login.microsoftonline.com/{self.tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": self.tid,
            "oid": self.oid,
            "sub": "pairwise-subject",
            "scp": "access_as_user",
            "preferred_username": self.email,
            "name": "Rita Rep",
            "ver": "2.0",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def make(self, *, key=None, kid: str = KID, algorithm: str = "RS256", **overrides) -> str:
        return jwt.encode(self.claims(**overrides), key or self.key, algorithm=algorithm, headers={"kid": kid})

    def jwks(self) -> dict:
        return jwks_for((KID, self.key))

    def jwks_client(self) -> StaticJwksClient:
        return StaticJwksClient(self.jwks())


@pytest.fixture(scope="session")
def rsa_keys():
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture
def tokens(rsa_keys) -> TokenFactory:
    return TokenFactory(key=rsa_keys[0], other_key=rsa_keys[1])
