"""Shared fixtures: a real database (SQLite file, or PostgreSQL when STEPLINE_TEST_DB=postgres),
migrated by Alembic exactly as ``stepline db upgrade`` does, a frozen clock, and users.

Each test starts from empty tables; the schema is built once per run.
"""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime, time, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from server import create_app
from server.clock import FrozenClock
from server.migrate import upgrade
from server.models import Base

PG_ADMIN_URL = os.environ.get("STEPLINE_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Monday 2 March 2026, 08:00 in New York.
START = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)


def _backend() -> str:
    return os.environ.get("STEPLINE_TEST_DB", "sqlite")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Any:
    if _backend() == "postgres":
        name = f"stepline_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "stepline.db")
        upgrade(url)
        yield url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app(database_url, clock):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test-secret",
                      "PUBLIC_BASE_URL": "http://localhost"}, clock=clock)
    engine = app.extensions["stepline_engine"]
    _empty(engine)
    yield app
    engine.dispose()


def _empty(engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
            conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence(conn) else None


def _has_sqlite_sequence(conn) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first())


@pytest.fixture
def db_session(app):
    session = app.extensions["stepline_sessions"]()
    yield session
    session.close()


class Api:
    """The Flask test client with a user's bearer token: ``api.post("/campaigns", json=...)``."""

    def __init__(self, client, token: str, user_id: int) -> None:
        self.client, self.token, self.user_id = client, token, user_id

    def _call(self, method: str, path: str, **kwargs):
        headers = kwargs.pop("headers", {}) | {"Authorization": f"Bearer {self.token}"}
        return getattr(self.client, method)("/api/v1" + path, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, **kw):
        return self._call("post", path, **kw)

    def patch(self, path, **kw):
        return self._call("patch", path, **kw)


@pytest.fixture
def make_user(app, clock):
    from server.services.users import create_token, create_user

    def make(email: str = "rep@example.com", role: str = "rep", timezone: str = "America/New_York") -> Api:
        with app.extensions["stepline_sessions"]() as session:
            user = create_user(session, email, role=role, timezone=timezone, now=clock.now())
            token = create_token(session, user, now=clock.now())
            session.commit()
            return Api(app.test_client(), token, user.id)

    return make


@pytest.fixture
def admin(make_user) -> Api:
    return make_user("admin@example.com", role="admin")


@pytest.fixture
def rep(make_user) -> Api:
    return make_user("rep@example.com")


@pytest.fixture
def make_mailbox():
    def make(api: Api, address: str | None = None, port: int = 2525, **extra) -> int:
        body = {"provider": "smtp", "address": address or f"user{api.user_id}@sales.example",
                "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False} | extra
        response = api.post("/mailboxes", json=body)
        assert response.status_code == 201, response.json
        return response.json["id"]

    return make


@pytest.fixture
def make_person():
    counter = iter(range(1, 10**9))

    def make(api: Api, **fields) -> int:
        body = {"email": f"person{next(counter)}@prospect.example", "first_name": "Pat", "last_name": "Lee",
                "company": "Acme"} | fields
        response = api.post("/people", json=body)
        assert response.status_code == 201, response.json
        return response.json["id"]

    return make


@pytest.fixture
def make_template():
    def make(api: Api, subject: str = "Hello {{ first_name }}", body: str = "<p>Hi {{ first_name }}</p>") -> int:
        response = api.post("/templates", json={"name": subject[:50], "subject": subject, "body_html": body})
        assert response.status_code == 201, response.json
        return response.json["id"]

    return make


@pytest.fixture
def make_campaign():
    def make(api: Api, steps: list[dict], settings: dict | None = None, name: str = "Test campaign") -> dict:
        body: dict[str, Any] = {"name": name, "steps": steps}
        if settings is not None:
            body["settings"] = settings
        response = api.post("/campaigns", json=body)
        assert response.status_code == 201, response.json
        return response.json

    return make


@pytest.fixture
def make_task(app, clock):
    """A standalone task row for add-in tests (no campaign needed)."""
    from server.models import Task

    def make(user_id: int, person_id: int, *, type: str = "email", title: str = "Email Pat",
             due: date | None = None, subject: str | None = "Hello", body_html: str | None = "<p>Hi</p>",
             **extra) -> int:
        with app.extensions["stepline_sessions"]() as session:
            task = Task(user_id=user_id, person_id=person_id, type=type, title=title, status="open",
                        due_date=due or clock.now().date(), priority="normal",
                        email_to=None, email_subject=subject if type == "email" else None,
                        email_body_html=body_html if type == "email" else None, created_at=clock.now(), **extra)
            session.add(task)
            session.commit()
            return task.id

    return make


def hhmm(value: str) -> time:
    return time.fromisoformat(value)
