"""The blueprint over HTTP: Microsoft-token-only API, the pane page, icons and manifests."""
from __future__ import annotations

import json
import struct
import time
import xml.etree.ElementTree as ET

import pytest

from outlook_addin.views import MSAL_JS_FILE, OFFICE_JS_URL

from .conftest import CLIENT_ID, OTHER_TENANT_ID
from .fakes import FakeCore, call_task, email_task, make_app


@pytest.fixture
def fake(monkeypatch):
    fake = FakeCore().install(monkeypatch)
    rep = fake.add_user("rep@example.com")
    other = fake.add_user("other@example.com", "Otto Other")
    fake.tasks[rep.id] += [
        call_task(1, due="2026-03-02"),
        email_task(2, due="2026-03-02", subject="Hello", body="<p>Hi Pat</p>", to="pat@acme.example"),
    ]
    fake.tasks[other.id] += [call_task(3, due="2026-03-02")]
    return fake


@pytest.fixture
def app(tokens, fake):
    return make_app(tokens.jwks_client())


@pytest.fixture
def client(app):
    return app.test_client()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response):
    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["field"] is None
    assert body["error"]["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"Pat" not in response.data and b"tasks" not in response.data
    return body["error"]["message"]


def test_tasks_of_the_signed_in_rep_email_first(client, tokens, fake):
    response = client.get("/addins/outlook/api/tasks", headers=auth(tokens.make()))
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"] == {"email": "rep@example.com", "name": "Rita Rep"}
    assert [t["id"] for t in body["tasks"]] == [2, 1]
    assert fake.identities[0].oid == tokens.oid
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic cmVwOnNlY3JldA=="},
    {"Authorization": "Token stepline-api-token"},
    {"Authorization": "Bearer stepline-api-token"},
])
def test_no_microsoft_token_no_data(client, headers):
    assert_unauthorized(client.get("/addins/outlook/api/tasks", headers=headers))


@pytest.mark.parametrize("overrides, reason", [
    ({"aud": "00000003-0000-0000-c000-000000000000"}, "audience"),
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"scp": "User.Read"}, "access_as_user"),
    ({"iss": f"https://login.microsoftonline.com/{OTHER_TENANT_ID}/v2.0"}, "issuer"),
])
def test_invalid_tokens_are_refused(client, tokens, overrides, reason):
    message = assert_unauthorized(client.get("/addins/outlook/api/tasks", headers=auth(tokens.make(**overrides))))
    assert reason in message


def test_forged_signature_is_refused(client, tokens):
    assert_unauthorized(client.get("/addins/outlook/api/tasks", headers=auth(tokens.make(key=tokens.other_key))))


def test_tenant_outside_allowed_list_is_refused(tokens, fake):
    client = make_app(tokens.jwks_client(), MS_ALLOWED_TENANTS=OTHER_TENANT_ID).test_client()
    assert "tenant" in assert_unauthorized(client.get("/addins/outlook/api/tasks", headers=auth(tokens.make())))


def test_valid_token_of_an_unknown_person_is_refused(client, tokens):
    tokens.email = "stranger@example.com"
    message = assert_unauthorized(client.get("/addins/outlook/api/tasks", headers=auth(tokens.make())))
    assert "stranger@example.com" in message


def test_unconfigured_client_id_refuses(tokens, fake):
    client = make_app(tokens.jwks_client(), MS_CLIENT_ID="").test_client()
    assert "MS_CLIENT_ID" in assert_unauthorized(client.get("/addins/outlook/api/tasks", headers=auth(tokens.make())))


def test_complete_and_skip(client, tokens, fake):
    response = client.post("/addins/outlook/api/tasks/2/complete", headers=auth(tokens.make()))
    assert response.status_code == 200
    assert response.get_json()["task"]["status"] == "completed"
    response = client.post("/addins/outlook/api/tasks/1/skip", headers=auth(tokens.make()))
    assert response.get_json()["task"]["status"] == "skipped"
    assert fake.calls == [("completed", 1, 2), ("skipped", 1, 1)]


def test_other_reps_task_is_not_found(client, tokens, fake):
    response = client.post("/addins/outlook/api/tasks/3/complete", headers=auth(tokens.make()))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert fake.calls == []


def test_non_numeric_task_id_is_not_found(client, tokens):
    response = client.post("/addins/outlook/api/tasks/abc/skip", headers=auth(tokens.make()))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_complete_needs_a_token(client, fake):
    assert_unauthorized(client.post("/addins/outlook/api/tasks/2/complete"))
    assert fake.calls == []


def _pane_config(html: str) -> dict:
    start = html.index('<script id="stepline-config" type="application/json">') + len(
        '<script id="stepline-config" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_taskpane_page(client):
    response = client.get("/addins/outlook/taskpane.html")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<script src="{OFFICE_JS_URL}"></script>' in html
    assert "/addins/outlook/static/taskpane.js" in html
    assert _pane_config(html) == {
        "apiBase": "/addins/outlook/api",
        "clientId": CLIENT_ID,
        "apiScope": f"api://stepline.example.com/{CLIENT_ID}/access_as_user",
        "authority": "https://login.microsoftonline.com/common",
    }
    assert "X-Frame-Options" not in response.headers  # Outlook shows the pane in an iframe


def test_taskpane_script_urls_are_configurable(tokens, fake):
    app = make_app(tokens.jwks_client(), OUTLOOK_OFFICE_JS_URL="/stub/office.js", OUTLOOK_MSAL_JS_URL="/stub/msal.js",
                   MS_API_SCOPE="api://stepline.example.com/x/access_as_user")
    html = app.test_client().get("/addins/outlook/taskpane.html").get_data(as_text=True)
    assert '<script src="/stub/office.js"></script>' in html
    assert '<script src="/stub/msal.js"></script>' in html
    assert OFFICE_JS_URL not in html
    assert _pane_config(html)["apiScope"] == "api://stepline.example.com/x/access_as_user"


def test_default_api_scope_without_an_https_public_url(tokens, fake):
    app = make_app(tokens.jwks_client(), PUBLIC_BASE_URL="http://127.0.0.1:5000")
    html = app.test_client().get("/addins/outlook/taskpane.html").get_data(as_text=True)
    assert _pane_config(html)["apiScope"] == f"api://{CLIENT_ID}/access_as_user"


def test_pane_config_cannot_break_out_of_its_script_tag(tokens, fake):
    app = make_app(tokens.jwks_client(), MS_API_SCOPE="</script><script>alert(1)</script>")
    html = app.test_client().get("/addins/outlook/taskpane.html").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert _pane_config(html)["apiScope"] == "</script><script>alert(1)</script>"


@pytest.mark.skipif(not MSAL_JS_FILE.is_file(), reason="MSAL.js not installed (npm ci --prefix outlook_addin/tools)")
def test_vendored_msal_is_served_by_default(client):
    html = client.get("/addins/outlook/taskpane.html").get_data(as_text=True)
    assert '<script src="/addins/outlook/vendor/msal-browser.min.js"></script>' in html
    response = client.get("/addins/outlook/vendor/msal-browser.min.js")
    assert response.status_code == 200
    assert b"createNestablePublicClientApplication" in response.data
    response.close()


def test_static_files_and_pages(client):
    for path in ("static/taskpane.js", "static/taskpane.css", "commands.html", "support"):
        response = client.get(f"/addins/outlook/{path}")
        assert response.status_code == 200, path
        response.close()


@pytest.mark.parametrize("name, size", [("icon-16.png", 16), ("icon-32.png", 32), ("icon-64.png", 64),
                                        ("icon-80.png", 80), ("icon-128.png", 128), ("color.png", 192),
                                        ("outline.png", 32)])
def test_icons(client, name, size):
    response = client.get(f"/addins/outlook/assets/{name}")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", response.data[16:24]) == (size, size)


def test_unknown_icon_is_404(client):
    assert client.get("/addins/outlook/assets/icon-17.png").status_code == 404
    assert client.get("/addins/outlook/assets/../views.py").status_code == 404


def test_manifests_are_served_for_the_public_url(client):
    xml = client.get("/addins/outlook/manifest.xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert "https://stepline.example.com/addins/outlook/taskpane.html" in xml.get_data(as_text=True)
    ET.fromstring(xml.data)
    manifest = client.get("/addins/outlook/manifest.json").get_json()
    assert manifest["webApplicationInfo"]["id"] == CLIENT_ID
    package = client.get("/addins/outlook/app-package.zip")
    assert package.status_code == 200 and package.data[:2] == b"PK"


def test_manifest_needs_an_https_public_url(tokens, fake):
    client = make_app(tokens.jwks_client(), PUBLIC_BASE_URL="http://127.0.0.1:5000").test_client()
    response = client.get("/addins/outlook/manifest.xml")
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "PUBLIC_BASE_URL"
