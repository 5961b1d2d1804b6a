"""verify_ms_token: what makes a Microsoft access token acceptable, and every way it is not."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from outlook_addin.auth import InvalidMsToken, MsIdentity, bearer_token, make_jwks_client, parse_tenants, verify_ms_token

from .conftest import CLIENT_ID, OTHER_TENANT_ID, TENANT_ID, StaticJwksClient, jwks_for


def verify(tokens, token, **kwargs):
    options = {"client_id": CLIENT_ID, "jwks_client": tokens.jwks_client(), "required_scope": "access_as_user"}
    options.update(kwargs)
    return verify_ms_token(token, **options)


def refused(tokens, token, fragment, **kwargs):
    with pytest.raises(InvalidMsToken) as info:
        verify(tokens, token, **kwargs)
    assert fragment in info.value.reason
    return info.value


def test_valid_token_gives_identity(tokens):
    identity = verify(tokens, tokens.make())
    assert identity == MsIdentity(oid=tokens.oid, tid=TENANT_ID, email="rep@example.com")


def test_audience_may_be_the_application_id_uri(tokens):
    assert verify(tokens, tokens.make(aud=f"api://{CLIENT_ID}")).oid == tokens.oid


def test_wrong_audience_is_refused(tokens):
    refused(tokens, tokens.make(aud="00000003-0000-0000-c000-000000000000"), "audience")  # a Graph token


def test_tenant_not_allowed_is_refused(tokens):
    refused(tokens, tokens.make(), "tenant", allowed_tenants=OTHER_TENANT_ID)


def test_allowed_tenant_is_accepted_case_insensitively(tokens):
    identity = verify(tokens, tokens.make(), allowed_tenants=f"{OTHER_TENANT_ID}, {TENANT_ID.upper()}")
    assert identity.tid == TENANT_ID


def test_issuer_of_another_tenant_is_refused(tokens):
    refused(tokens, tokens.make(iss=f"https://login.microsoftonline.com/{OTHER_TENANT_ID}/v2.0"), "issuer")


def test_v1_issuer_is_refused(tokens):
    refused(tokens, tokens.make(iss=f"https://sts.windows.net/{TENANT_ID}/"), "issuer")


def test_expired_token_is_refused(tokens):
    now = int(time.time())
    refused(tokens, tokens.make(iat=now - 7200, nbf=now - 7200, exp=now - 120), "expired")


def test_expiry_within_leeway_is_accepted(tokens):
    now = int(time.time())
    assert verify(tokens, tokens.make(exp=now - 30)).oid == tokens.oid


def test_token_not_yet_valid_is_refused(tokens):
    now = int(time.time())
    refused(tokens, tokens.make(nbf=now + 600, exp=now + 4200), "not valid yet")


def test_token_without_exp_is_refused(tokens):
    refused(tokens, tokens.make(exp=None), "exp")


def test_missing_scope_is_refused(tokens):
    refused(tokens, tokens.make(scp="User.Read Mail.Read"), "access_as_user")


def test_app_only_token_without_scp_is_refused(tokens):
    refused(tokens, tokens.make(scp=None, roles=["Tasks.ReadWrite.All"]), "access_as_user")


def test_required_scope_is_one_of_several(tokens):
    assert verify(tokens, tokens.make(scp="User.Read access_as_user")).oid == tokens.oid


def test_bad_signature_is_refused(tokens):
    forged = tokens.make(key=tokens.other_key)  # right kid, wrong private key
    refused(tokens, forged, "signature")


def test_tampered_payload_is_refused(tokens):
    header, _, signature = tokens.make().split(".")
    other_payload = tokens.make(oid="someone-else").split(".")[1]
    refused(tokens, f"{header}.{other_payload}.{signature}", "signature")


def test_unknown_key_id_is_refused(tokens):
    refused(tokens, tokens.make(key=tokens.other_key, kid="not-published"), "signing key")


def test_hs256_token_is_refused(tokens):
    token = jwt.encode(tokens.claims(), "a shared secret of at least thirty-two bytes!!", algorithm="HS256",
                       headers={"kid": "stepline-test-key"})
    refused(tokens, token, "RS256")


def test_unsigned_token_is_refused(tokens):
    token = jwt.encode(tokens.claims(), None, algorithm="none")
    refused(tokens, token, "RS256")


def test_missing_oid_is_refused(tokens):
    refused(tokens, tokens.make(oid=None), "oid")


def test_tid_that_is_not_a_guid_is_refused(tokens):
    refused(tokens, tokens.make(tid="evil.example/v2.0#"), "tenant")


def test_garbage_is_refused(tokens):
    refused(tokens, "not-a-token", "not a JWT")
    refused(tokens, "a.b.c", "cannot be read")


def test_unconfigured_client_id_refuses_everything(tokens):
    refused(tokens, tokens.make(), "MS_CLIENT_ID", client_id="")


def test_email_falls_back_to_email_then_upn(tokens):
    assert verify(tokens, tokens.make(preferred_username=None, email="a@example.com")).email == "a@example.com"
    assert verify(tokens, tokens.make(preferred_username=None, upn="b@example.com")).email == "b@example.com"
    assert verify(tokens, tokens.make(preferred_username="not an email")).email is None


def test_bearer_token_parsing():
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic dXNlcjpwYXNz") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_parse_tenants():
    assert parse_tenants("") is None
    assert parse_tenants(None) is None
    assert parse_tenants(" A , b;c ") == frozenset({"a", "b", "c"})
    assert parse_tenants(["X"]) == frozenset({"x"})


def test_real_pyjwkclient_fetches_keys_over_http(tokens):
    """The production path: make_jwks_client downloads the JWKS (here from 127.0.0.1)."""
    body = json.dumps(jwks_for(("stepline-test-key", tokens.key))).encode()
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = make_jwks_client(f"http://127.0.0.1:{server.server_port}/common/discovery/v2.0/keys")
        for _ in range(3):
            assert verify(tokens, tokens.make(), jwks_client=client).oid == tokens.oid
        refused(tokens, tokens.make(key=tokens.other_key), "signature", jwks_client=client)
    finally:
        server.shutdown()
        server.server_close()
    assert hits and hits[0] == "/common/discovery/v2.0/keys"
    assert len(hits) <= 2  # cached, not fetched per request


def test_static_client_is_a_pyjwkclient(tokens):
    assert isinstance(tokens.jwks_client(), jwt.PyJWKClient)
    assert isinstance(StaticJwksClient({"keys": []}), jwt.PyJWKClient)
