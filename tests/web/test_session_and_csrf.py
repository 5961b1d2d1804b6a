"""Sign-in, session cookies, CSRF and the API accepting the web session."""
from __future__ import annotations

from .conftest import PASSWORD, csrf_of


def test_pages_need_a_signed_in_user_and_send_them_back_after_sign_in(app, rep, set_password):
    set_password(rep.user_id)
    client = app.test_client()
    response = client.get("/campaigns")
    assert response.status_code == 302 and "/login?next=/campaigns" in response.headers["Location"]
    page = client.get("/login?next=/campaigns")
    response = client.post("/login", data={"email": "REP@example.com", "password": PASSWORD, "next": "/campaigns",
                                           "csrf_token": csrf_of(page.text)})
    assert response.status_code == 302 and response.headers["Location"] == "/campaigns"
    assert client.get("/campaigns").status_code == 200


def test_wrong_password_is_refused_and_the_form_keeps_the_email(app, rep, set_password):
    set_password(rep.user_id)
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"email": "rep@example.com", "password": "wrong password",
                                           "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    assert "Wrong email or password" in response.text and 'value="rep@example.com"' in response.text
    assert client.get("/").status_code == 302


def test_sign_in_never_redirects_to_another_site(app, rep, set_password):
    set_password(rep.user_id)
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"email": "rep@example.com", "password": PASSWORD,
                                           "next": "//evil.example/x", "csrf_token": csrf_of(page.text)})
    assert response.headers["Location"] == "/"


def test_session_cookie_is_httponly_lax_and_secure_over_https(app, rep, set_password):
    set_password(rep.user_id)
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        client = app.test_client()
        page = client.get("/login", base_url=base)
        response = client.post("/login", base_url=base, data={"email": "rep@example.com", "password": PASSWORD,
                                                               "csrf_token": csrf_of(page.text)})
        cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_a_form_post_without_the_csrf_token_is_refused(app, rep, sign_in):
    client, _ = sign_in(rep)
    response = client.post("/tokens", data={"name": "no token"})
    assert response.status_code == 400 and "security token" in response.text
    response = client.post("/login", data={"email": "rep@example.com", "password": PASSWORD})
    assert response.status_code == 400


def test_the_api_accepts_the_session_but_a_state_change_needs_the_csrf_header(app, rep, sign_in, make_person):
    person_id = make_person(rep)
    client, csrf = sign_in(rep)
    assert client.get("/api/v1/people").json["people"][0]["id"] == person_id
    refused = client.post("/api/v1/templates", json={"name": "x", "subject": "s", "body_html": "<p>b</p>"})
    assert refused.status_code == 403
    assert refused.json["error"]["field"] == "X-CSRF-Token"
    wrong = client.post("/api/v1/templates", json={"name": "x", "subject": "s", "body_html": "<p>b</p>"},
                        headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = client.post("/api/v1/templates", json={"name": "x", "subject": "s", "body_html": "<p>b</p>"},
                     headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_without_a_session_or_token_the_api_still_says_401(app):
    response = app.test_client().get("/api/v1/tasks")
    assert response.status_code == 401 and response.json["error"]["field"] == "Authorization"


def test_sign_out_ends_the_session(app, rep, sign_in):
    client, csrf = sign_in(rep)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/tasks").status_code == 401


def test_changing_the_password_signs_other_browsers_out(app, rep, sign_in, set_password):
    client, _ = sign_in(rep)
    set_password(rep.user_id, "another password!")
    assert client.get("/").status_code == 302


def test_token_page_shows_a_new_token_once_and_it_works_as_a_bearer(app, rep, sign_in):
    client, csrf = sign_in(rep)
    page = client.post("/tokens", data={"name": "CRM sync", "csrf_token": csrf})
    assert page.status_code == 200
    import re

    token = re.search(r'value="(stp_[^"]+)"', page.text).group(1)
    assert app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = client.get("/tokens")
    assert token not in again.text and "CRM sync" in again.text


def test_token_without_a_name_shows_the_error_beside_the_field(app, rep, sign_in):
    client, csrf = sign_in(rep)
    page = client.post("/tokens", data={"name": "  ", "csrf_token": csrf})
    assert page.status_code == 422 and 'id="token-name-error"' in page.text


def test_pages_cannot_be_framed_by_another_site_nor_cached(app, rep, sign_in):
    client, _ = sign_in(rep)
    response = client.get("/tokens")
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
