"""Web app fixtures: a rep with a password, and a test client signed in as them."""
from __future__ import annotations

import re

import pytest

PASSWORD = "correct horse battery"


@pytest.fixture
def set_password(app):
    from server.models import User
    from server.services.users import set_password as set_pw

    def set_it(user_id: int, password: str = PASSWORD) -> None:
        with app.extensions["stepline_sessions"]() as session:
            set_pw(session.get(User, user_id), password)
            session.commit()

    return set_it


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def sign_in(app, set_password):
    """Returns ``(client, csrf)`` for a user signed in through the real sign-in form."""

    def go(api, email: str = "rep@example.com"):
        set_password(api.user_id)
        client = app.test_client()
        page = client.get("/login")
        response = client.post("/login", data={"email": email, "password": PASSWORD,
                                               "csrf_token": csrf_of(page.text)})
        assert response.status_code == 302, response.text
        return client, csrf_of(client.get("/").text)

    return go
