"""The ``stepline`` command line, run the way an admin runs it (the console script's click
group, with DATABASE_URL in the environment) against the test database."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from server.cli import main


@pytest.fixture
def run(app, database_url):
    """Invoke ``stepline ARGS`` with DATABASE_URL pointing at the (emptied) test database."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), env={"DATABASE_URL": database_url, "FLASK_APP": None},
                             input=input, catch_exceptions=False)

    return invoke


def test_users_create_prints_exactly_one_line_a_token_that_works_against_the_api(run, app):
    result = run("users", "create", "new.rep@example.com", "--role", "rep", "--timezone", "Europe/Paris",
                 "--name", "New Rep")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0].strip()
    assert token.startswith("stp_") and " " not in token
    client = app.test_client()
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer stp_wrong"}).status_code == 401


def test_users_create_with_an_unknown_time_zone_fails_with_a_clear_message(run):
    result = run("users", "create", "x@example.com", "--role", "rep", "--timezone", "Mars/Olympus")
    assert result.exit_code != 0
    assert "Mars/Olympus" in result.output and "time zone" in result.output
    assert "stp_" not in result.output


def test_users_create_with_an_unknown_role_fails_with_a_clear_message(run):
    result = run("users", "create", "x@example.com", "--role", "boss", "--timezone", "UTC")
    assert result.exit_code != 0
    assert "boss" in result.output and "admin" in result.output and "rep" in result.output


def test_users_create_twice_for_one_email_fails_and_says_why(run):
    assert run("users", "create", "twice@example.com", "--role", "admin", "--timezone", "UTC").exit_code == 0
    result = run("users", "create", "twice@example.com", "--role", "admin", "--timezone", "UTC")
    assert result.exit_code != 0 and "already exists" in result.output


def test_people_import_imports_rows_and_reports_errors_with_row_numbers(run, app, tmp_path: Path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,first_name,last_name,company,title,timezone,plan\n"
        "ada@engines.example,Ada,Lovelace,Engines,CTO,Europe/London,Pro\n"
        "not-an-email,Bad,Row,,,,\n"
        "grace@navy.example,Grace,Hopper,Navy,,,\n"
        "ADA@engines.example,Dup,Licate,,,,\n"
        "alan@bletchley.example,Alan,Turing,,,Nowhere/Zone,\n", encoding="utf-8")
    result = run("people", "import", str(csv_file))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "row 3:" in out and "email" in out.split("row 3:")[1].splitlines()[0]
    assert "row 5:" in out and "already exists" in out.split("row 5:")[1].splitlines()[0]
    assert "row 6:" in out and "timezone" in out.split("row 6:")[1].splitlines()[0]
    assert "2 imported, 3 refused" in out
    admin_token = run("users", "create", "a@example.com", "--role", "admin", "--timezone", "UTC").stdout.strip()
    people = app.test_client().get("/api/v1/people", headers={"Authorization": f"Bearer {admin_token}"}).json
    by_email = {p["email"]: p for p in people["people"]}
    assert set(by_email) == {"ada@engines.example", "grace@navy.example"}
    assert by_email["ada@engines.example"]["fields"] == {"plan": "Pro"}
    assert by_email["ada@engines.example"]["timezone"] == "Europe/London"


def test_people_import_without_an_email_column_fails_clearly(run, tmp_path: Path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("name,company\nAda,Engines\n", encoding="utf-8")
    result = run("people", "import", str(csv_file))
    assert result.exit_code != 0 and "email" in result.output


def test_db_upgrade_creates_a_fresh_database_and_is_idempotent(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"users", "campaigns", "steps", "enrollments", "tasks", "emails", "alembic_version"} <= tables
    with engine.connect() as conn:
        assert len(conn.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
    engine.dispose()


def test_demo_loads_a_team_and_prints_working_tokens_and_is_repeatable(run, app):
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert "demo loaded" in first.output
    tokens = [line.split("token:")[1].strip() for line in first.output.splitlines() if "token:" in line]
    assert len(tokens) == 2
    client = app.test_client()
    campaigns = client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {tokens[0]}"}).json["campaigns"]
    assert len(campaigns) >= 1 and all(c["steps"] for c in campaigns)
    again = run("demo")
    assert again.exit_code == 0, again.output
    assert client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {tokens[0]}"}).json["campaigns"] \
        == campaigns


def test_the_console_script_runs_as_a_real_process(tmp_path: Path):
    """The installed entry point, in its own process, with only DATABASE_URL set."""
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    stepline = Path(sys.executable).parent / "stepline"
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    upgrade = subprocess.run([str(stepline), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert upgrade.returncode == 0, upgrade.stderr
    created = subprocess.run([str(stepline), "users", "create", "p@example.com", "--role", "rep",
                              "--timezone", "UTC"], env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    assert len(created.stdout.splitlines()) == 1 and created.stdout.startswith("stp_")


def test_users_set_password_lifts_a_sign_in_lock(run, app, rep):
    from tests.web.conftest import PASSWORD, csrf_of

    def sign_in(password: str):
        client = app.test_client()
        page = client.get("/login")
        return client.post("/login", data={"email": "rep@example.com", "password": password,
                                           "csrf_token": csrf_of(page.text)})

    for _ in range(5):
        assert sign_in("wrong password").status_code == 401
    assert sign_in(PASSWORD).status_code == 429
    result = run("users", "set-password", "rep@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert sign_in(PASSWORD).status_code == 302
