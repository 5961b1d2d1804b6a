"""Request verification with google-auth's real verifier, against keys made by the tests."""
from __future__ import annotations

import json

import pytest

from gmail_addon.auth import (
    AddonAuthError,
    CachingCertsRequest,
    StaticCertsRequest,
    _Response,
    verify_system_token,
    verify_user_token,
)

from .conftest import BASE_URL, CLIENT_ID, SERVICE_ACCOUNT

URL = BASE_URL + "/addons/gmail/homepage"


@pytest.fixture
def certs(keys):
    return StaticCertsRequest({keys.kid: keys.google_cert})


def system(keys, certs, token, audience=URL):
    return verify_system_token(f"Bearer {token}", audience=audience, service_account=SERVICE_ACCOUNT,
                               request=certs)


def test_a_genuine_system_token_is_accepted(keys, certs):
    claims = system(keys, certs, keys.system_token("/addons/gmail/homepage"))
    assert claims["email"] == SERVICE_ACCOUNT and claims["aud"] == URL


@pytest.mark.parametrize("case", [
    "wrong_audience", "other_path", "wrong_issuer", "expired", "wrong_service_account",
    "unverified_email", "rogue_key", "unknown_kid", "garbage",
])
def test_system_tokens_that_are_refused(keys, certs, case):
    path = "/addons/gmail/homepage"
    token = {
        "wrong_audience": lambda: keys.system_token(path, aud="https://evil.test/addons/gmail/homepage"),
        "other_path": lambda: keys.system_token("/addons/gmail/tasks/complete"),
        "wrong_issuer": lambda: keys.system_token(path, iss="https://evil.test"),
        "expired": lambda: keys.system_token(path, expires_in=-3600),
        "wrong_service_account": lambda: keys.system_token(path, email="someone@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"),
        "unverified_email": lambda: keys.sign({"iss": "accounts.google.com", "aud": URL, "email": SERVICE_ACCOUNT,
                                               "email_verified": False, "iat": 0, "exp": 2**31}),
        "rogue_key": lambda: keys.system_token(path, rogue=True),
        "unknown_kid": lambda: keys.system_token(path, rogue=True, kid="other-kid"),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    with pytest.raises(AddonAuthError):
        system(keys, certs, token)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "token-without-scheme"])
def test_missing_or_malformed_authorization_header(certs, header):
    with pytest.raises(AddonAuthError):
        verify_system_token(header, audience=URL, service_account=SERVICE_ACCOUNT, request=certs)


def test_user_token(keys, certs):
    assert verify_user_token(keys.user_token("Rep@Stepline.test"), client_id=CLIENT_ID, request=certs) == "rep@stepline.test"
    for bad in (keys.user_token("rep@stepline.test", aud="another-client"),
                keys.user_token("rep@stepline.test", expires_in=-3600),
                keys.user_token("rep@stepline.test", iss="https://evil.test"),
                keys.user_token("rep@stepline.test", email_verified=False),
                keys.user_token("rep@stepline.test", rogue=True),
                keys.system_token("/addons/gmail/homepage"),  # a system token is not a user token
                None, ""):
        with pytest.raises(AddonAuthError):
            verify_user_token(bad, client_id=CLIENT_ID, request=certs)


class CountingTransport:
    def __init__(self, status=200, cache_control="public, max-age=120"):
        self.calls, self.status, self.cache_control = 0, status, cache_control

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kw):
        self.calls += 1
        return _Response(self.status, json.dumps({"k": "cert"}).encode(), {"cache-control": self.cache_control})


def test_certificates_are_cached_as_long_as_google_says(monkeypatch):
    inner = CountingTransport()
    cached = CachingCertsRequest(inner)
    clock = [1000.0]
    monkeypatch.setattr("gmail_addon.auth.time.monotonic", lambda: clock[0])
    for _ in range(3):
        assert json.loads(cached("https://certs").data) == {"k": "cert"}
    assert inner.calls == 1
    clock[0] += 121
    cached("https://certs")
    assert inner.calls == 2
    failing = CountingTransport(status=500)
    cached_failing = CachingCertsRequest(failing)
    assert cached_failing("https://certs").status == 500
    cached_failing("https://certs")
    assert failing.calls == 2  # errors are not cached


# --- over HTTP: every endpoint, every refusal is a 401 with no data ------------------------------

ENDPOINTS = ["/homepage", "/message", "/compose", "/tasks", "/tasks/open", "/tasks/complete", "/tasks/skip",
             "/people/launch", "/compose/insert"]


@pytest.fixture
def seeded(fake_core):
    rep = fake_core.add_user(1, "rep@stepline.test")
    person = fake_core.add_person(10, "ada@acme.test")
    fake_core.add_task(100, rep, person, title="Secret deal with Acme")
    return fake_core


def test_a_verified_request_gets_the_reps_tasks(addon, seeded):
    response = addon.post("/homepage")
    assert response.status_code == 200
    assert "Secret deal with Acme" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_endpoint_answers_without_the_system_token(addon, seeded, path):
    response = addon.post(path, system_token="", parameters={"task_id": 100})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert "Acme" not in response.get_data(as_text=True)
    assert seeded.calls == []


@pytest.mark.parametrize("case", ["token_for_other_url", "host_header_spoof", "expired_system", "wrong_sa",
                                  "no_user_token", "user_token_other_client", "expired_user", "unknown_user",
                                  "rogue_user_token"])
def test_refusals_over_http(addon, seeded, keys, case):
    kwargs = {}
    if case == "token_for_other_url":
        kwargs["system_token"] = keys.system_token("/addons/gmail/compose")
    elif case == "host_header_spoof":  # the audience comes from PUBLIC_BASE_URL, not from Host
        kwargs["system_token"] = keys.system_token("/addons/gmail/homepage", aud="https://evil.test/addons/gmail/homepage")
        kwargs["headers"] = {"Host": "evil.test"}
    elif case == "expired_system":
        kwargs["system_token"] = keys.system_token("/addons/gmail/homepage", expires_in=-600)
    elif case == "wrong_sa":
        kwargs["system_token"] = keys.system_token("/addons/gmail/homepage", email="x@gcp-sa-gsuiteaddons.iam.gserviceaccount.com")
    elif case == "no_user_token":
        kwargs["email"] = None
    elif case == "user_token_other_client":
        kwargs["user_token"] = keys.user_token("rep@stepline.test", aud="other-client-id")
    elif case == "expired_user":
        kwargs["user_token"] = keys.user_token("rep@stepline.test", expires_in=-600)
    elif case == "unknown_user":
        kwargs["email"] = "stranger@gmail.test"
    elif case == "rogue_user_token":
        kwargs["user_token"] = keys.user_token("rep@stepline.test", rogue=True)
    response = addon.post("/homepage", **kwargs)
    assert response.status_code == 401
    assert "Secret deal" not in response.get_data(as_text=True)


def test_unconfigured_addon_refuses_everyone(addon, addon_app, seeded):
    addon_app.config["GMAIL_ADDON_SERVICE_ACCOUNT"] = ""
    assert addon.post("/homepage").status_code == 401
    addon_app.config["GMAIL_ADDON_SERVICE_ACCOUNT"] = SERVICE_ACCOUNT
    addon_app.config["GMAIL_ADDON_CLIENT_ID"] = ""
    assert addon.post("/homepage").status_code == 401


def test_unreachable_google_certificates_is_503_not_500(addon, seeded, monkeypatch):
    monkeypatch.setattr("gmail_addon.auth.certs_request", lambda: CountingTransport(status=503))
    response = addon.post("/homepage")
    assert response.status_code == 503
    assert "Secret deal" not in response.get_data(as_text=True)
