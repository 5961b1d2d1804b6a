"""The add-in on the real core: database, migrations, task service, app factory and CLI.

Uses the shared fixtures of tests/conftest.py (``app``, ``make_user``, ``make_person``,
``make_task``, ``clock``); the Microsoft side is still the test's own keys.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from .conftest import CLIENT_ID, OTHER_TENANT_ID, TENANT_ID

PREVIOUS_ID = "<step1.abc@mail.stepline.example>"


@pytest.fixture
def ms_app(app, tokens):
    app.config.update(MS_CLIENT_ID=CLIENT_ID, MS_JWKS_CLIENT=tokens.jwks_client())
    return app


@pytest.fixture
def client(ms_app):
    return ms_app.test_client()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def links(app):
    from server.models import ExternalIdentity

    with app.extensions["stepline_sessions"]() as session:
        return [(i.provider, i.tenant, i.subject, i.user_id) for i in session.scalars(select(ExternalIdentity))]


def test_blueprint_is_mounted_by_the_app(client):
    response = client.get("/addins/outlook/taskpane.html")
    assert response.status_code == 200
    assert b"stepline-config" in response.data
    # Outlook shows the pane in an iframe: nothing app-wide may forbid framing it.
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors" not in response.headers.get("Content-Security-Policy", "")


def test_first_sign_in_links_by_email_then_by_object_id(client, ms_app, make_user, tokens):
    rep = make_user("Rep@Example.com")
    tokens.email = "rep@example.COM"
    assert client.get("/addins/outlook/api/tasks", headers=auth(tokens.make())).status_code == 200
    assert links(ms_app) == [("microsoft", TENANT_ID, tokens.oid, rep.user_id)]

    # The Microsoft account is renamed: the stored (tid, oid) link still finds the rep.
    tokens.email = "rita.renamed@example.com"
    response = client.get("/addins/outlook/api/tasks", headers=auth(tokens.make()))
    assert response.status_code == 200
    assert response.get_json()["user"]["email"] == "rep@example.com"
    assert len(links(ms_app)) == 1


def test_unknown_microsoft_user_gets_401_and_no_link(client, ms_app, make_user, tokens):
    make_user("rep@example.com")
    tokens.email = "stranger@example.com"
    response = client.get("/addins/outlook/api/tasks", headers=auth(tokens.make()))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert links(ms_app) == []


def test_same_email_in_a_disallowed_tenant_is_refused(client, ms_app, make_user, tokens):
    make_user("rep@example.com")
    ms_app.config["MS_ALLOWED_TENANTS"] = TENANT_ID
    tokens.tid = OTHER_TENANT_ID
    assert client.get("/addins/outlook/api/tasks", headers=auth(tokens.make())).status_code == 401
    assert links(ms_app) == []


def test_lists_only_own_open_tasks_due_today_or_overdue_email_first(client, make_user, make_person, make_task,
                                                                     clock, tokens):
    rep = make_user("rep@example.com")
    other = make_user("other@example.com")
    pat = make_person(rep, email="pat@acme.example", first_name="Pat")
    today = clock.now().date()  # 2026-03-02 for a rep in New York at 08:00
    call = make_task(rep.user_id, pat, type="call", title="Call Pat", due=today - timedelta(days=1), subject=None)
    plain = make_task(rep.user_id, pat, title="Email Pat", due=today, subject="Hello Pat", body_html="<p>Hi Pat</p>")
    follow = make_task(rep.user_id, pat, title="Follow up Pat", due=today, subject="Re: Hello Pat",
                       body_html="<p>Bumping this.</p>", email_quoted_html="<blockquote>Hi Pat</blockquote>",
                       in_reply_to=PREVIOUS_ID, references=PREVIOUS_ID)
    make_task(rep.user_id, pat, title="Later", due=today + timedelta(days=1))
    done = make_task(rep.user_id, pat, title="Done", due=today)
    make_task(other.user_id, pat, title="Not yours", due=today)
    rep.post(f"/tasks/{done}/complete")

    response = client.get("/addins/outlook/api/tasks", headers=auth(tokens.make()))
    assert response.status_code == 200
    tasks = response.get_json()["tasks"]
    assert [t["id"] for t in tasks] == [plain, follow, call]
    assert [t["due_state"] for t in tasks] == ["today", "today", "overdue"]
    by_id = {t["id"]: t for t in tasks}
    assert by_id[plain]["email"]["to"] == ["pat@acme.example"]
    assert by_id[plain]["email"]["subject"] == "Hello Pat"
    assert by_id[plain]["email"]["thread"] is None
    assert by_id[follow]["email"]["thread"]["in_reply_to"] == PREVIOUS_ID
    assert by_id[follow]["email"]["quoted_html"] == "<blockquote>Hi Pat</blockquote>"
    assert by_id[call]["email"] is None


def test_complete_and_skip_through_the_add_in(client, make_user, make_person, make_task, clock, tokens):
    rep = make_user("rep@example.com")
    other = make_user("other@example.com")
    pat = make_person(rep)
    today = clock.now().date()
    first = make_task(rep.user_id, pat, due=today)
    second = make_task(rep.user_id, pat, type="call", title="Call", due=today, subject=None)
    foreign = make_task(other.user_id, pat, due=today)

    response = client.post(f"/addins/outlook/api/tasks/{first}/complete", headers=auth(tokens.make()))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["task"]["status"] == "completed"
    response = client.post(f"/addins/outlook/api/tasks/{second}/skip", headers=auth(tokens.make()))
    assert response.get_json()["task"]["status"] == "skipped"
    assert client.get("/addins/outlook/api/tasks", headers=auth(tokens.make())).get_json()["tasks"] == []

    # The rest of Stepline sees the same: the web app's queue has them closed.
    statuses = {t["id"]: t["status"] for t in rep.get("/tasks?status=all&due=all").get_json()["tasks"]}
    assert statuses[first] == "completed" and statuses[second] == "skipped"

    again = client.post(f"/addins/outlook/api/tasks/{first}/complete", headers=auth(tokens.make()))
    assert again.status_code == 409
    other_reps = client.post(f"/addins/outlook/api/tasks/{foreign}/complete", headers=auth(tokens.make()))
    assert other_reps.status_code == 404
    assert other.get("/tasks?status=open&due=all").get_json()["tasks"][0]["id"] == foreign


def test_refused_token_changes_nothing(client, make_user, make_person, make_task, clock, tokens):
    rep = make_user("rep@example.com")
    task = make_task(rep.user_id, make_person(rep), due=clock.now().date())
    response = client.post(f"/addins/outlook/api/tasks/{task}/complete",
                           headers=auth(tokens.make(aud="00000003-0000-0000-c000-000000000000")))
    assert response.status_code == 401
    assert set(response.get_json()) == {"error"}
    # A Stepline API token is no credential for the add-in endpoints either.
    assert client.post(f"/addins/outlook/api/tasks/{task}/complete", headers=auth(rep.token)).status_code == 401
    assert rep.get("/tasks?status=open&due=all").get_json()["tasks"][0]["id"] == task


def test_stepline_cli_has_the_outlook_manifest_command(tmp_path, monkeypatch):
    from server.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["outlook", "manifest", "--base-url", "https://stepline.example.com",
                                       "--client-id", CLIENT_ID])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "manifest.xml").is_file()
    assert json.loads((tmp_path / "manifest.json").read_text())["webApplicationInfo"]["id"] == CLIENT_ID
