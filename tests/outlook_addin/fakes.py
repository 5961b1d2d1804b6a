"""An in-memory stand-in for the core behind ``outlook_addin.core`` and a test app factory.

The add-in reaches the core only through ``outlook_addin.core``; replacing those four functions
lets the HTTP and browser tests run the real blueprint, real token checks and the real task
pane against tasks whose shape is exactly API.md's GET /tasks.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask import Flask

from outlook_addin import core
from server.errors import NotFound

from .conftest import CLIENT_ID


def person(n: int, email: str, first: str, last: str, company: str) -> dict:
    return {"id": n, "email": email, "first_name": first, "last_name": last, "company": company}


def email_task(task_id: int, *, due: str, subject: str, body: str, to: str, thread=None, quoted=None,
               due_state: str = "today", priority: str = "normal") -> dict:
    return {
        "id": task_id,
        "type": "email",
        "title": f"Email {to}",
        "status": "open",
        "due_date": due,
        "due_state": due_state,
        "priority": priority,
        "person": person(task_id, to, "Pat", "Prospect", "Acme"),
        "campaign": {"id": 1, "name": "Q1 outbound"},
        "email": {"to": [to], "subject": subject, "body_html": body, "thread": thread, "quoted_html": quoted},
    }


def call_task(task_id: int, *, due: str, due_state: str = "today") -> dict:
    return {
        "id": task_id,
        "type": "call",
        "title": "Call Sam",
        "status": "open",
        "due_date": due,
        "due_state": due_state,
        "priority": "high",
        "person": person(task_id, "sam@acme.example", "Sam", "Smith", "Acme"),
        "campaign": None,
        "email": None,
    }


class FakeCore:
    def __init__(self) -> None:
        self.users: dict[str, SimpleNamespace] = {}
        self.tasks: dict[int, list[dict]] = {}
        self.identities: list = []
        self.calls: list[tuple[str, int, int]] = []

    def add_user(self, email: str, name: str = "Rita Rep") -> SimpleNamespace:
        user = SimpleNamespace(id=len(self.users) + 1, email=email, name=name)
        self.users[email.lower()] = user
        self.tasks[user.id] = []
        return user

    def install(self, monkeypatch) -> "FakeCore":
        monkeypatch.setattr(core, "find_user", self.find_user)
        monkeypatch.setattr(core, "due_tasks", self.due_tasks)
        monkeypatch.setattr(core, "complete_task", self.complete_task)
        monkeypatch.setattr(core, "skip_task", self.skip_task)
        return self

    def find_user(self, identity):
        self.identities.append(identity)
        return self.users.get((identity.email or "").lower())

    def due_tasks(self, user):
        return sorted((dict(t) for t in self.tasks[user.id]), key=core._sort_key)

    def _finish(self, user, task_id, status):
        for task in self.tasks[user.id]:
            if task["id"] == task_id:
                self.tasks[user.id].remove(task)
                self.calls.append((status, user.id, task_id))
                return {**task, "status": status}
        raise NotFound("No such task.", "id")

    def complete_task(self, user, task_id):
        return self._finish(user, task_id, "completed")

    def skip_task(self, user, task_id):
        return self._finish(user, task_id, "skipped")


def make_app(jwks_client, **config) -> Flask:
    from outlook_addin import bp

    app = Flask("stepline-outlook-test")
    app.config.update(
        TESTING=True,
        MS_CLIENT_ID=CLIENT_ID,
        MS_JWKS_CLIENT=jwks_client,
        PUBLIC_BASE_URL="https://stepline.example.com",
    )
    app.config.update(config)
    app.register_blueprint(bp, url_prefix="/addins/outlook")
    return app
