"""On-behalf-of exchange through the real msal library, with Microsoft's endpoints mocked."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from outlook_addin import graph

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
TOKEN_URL = f"{AUTHORITY}/oauth2/v2.0/token"


@pytest.fixture(autouse=True)
def fresh_apps():
    graph._apps.clear()
    yield
    graph._apps.clear()


@pytest.fixture
def microsoft():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            f"{AUTHORITY}/v2.0/.well-known/openid-configuration",
            json={
                "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
                "token_endpoint": TOKEN_URL,
                "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
            },
        )
        yield mock


def test_exchanges_the_pane_token_for_a_graph_token(microsoft):
    microsoft.post(TOKEN_URL, json={"access_token": "graph-token", "token_type": "Bearer", "expires_in": 3600,
                                    "scope": "https://graph.microsoft.com/.default"})
    token = graph.acquire_token_on_behalf_of("pane-token", tenant=TENANT, client_id="client", client_secret="secret")
    assert token == "graph-token"
    form = parse_qs(microsoft.calls[-1].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["assertion"] == ["pane-token"]
    assert form["requested_token_use"] == ["on_behalf_of"]
    assert "https://graph.microsoft.com/.default" in form["scope"][0]
    assert form["client_id"] == ["client"]


def test_refusal_raises_graph_auth_error(microsoft):
    microsoft.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "AADSTS65001: consent"})
    with pytest.raises(graph.GraphAuthError) as info:
        graph.acquire_token_on_behalf_of("pane-token", tenant=TENANT, client_id="client", client_secret="secret")
    assert info.value.error == "invalid_grant"
    assert "AADSTS65001" in info.value.description


def test_one_app_per_tenant_is_reused(microsoft):
    assert graph.confidential_app("client", "secret", TENANT) is graph.confidential_app("client", "secret", TENANT)


def test_unconfigured_secret_is_refused_without_calling_microsoft():
    with pytest.raises(graph.GraphAuthError) as info:
        graph.acquire_token_on_behalf_of("pane-token", tenant=TENANT, client_id="client", client_secret="")
    assert info.value.error == "not_configured"
