"""Fixtures for the Gmail add-on: Google-like ID tokens signed with keys made here, a small
app that mounts the blueprint, and an in-memory stand-in for the core services.

Tokens are real RS256 JWTs signed with google-auth's own signer and verified by google-auth's
own verifier; only the certificate download is replaced (``GOOGLE_CERTS``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from google.auth import crypt, jwt

BASE_URL = "https://stepline.test"
SERVICE_ACCOUNT = "service-123456@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
CLIENT_ID = "1234567890-addon.apps.googleusercontent.com"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)  # a Monday; 10:00 in New York
TODAY = "2026-03-02"

SCHEMA = json.loads((Path(__file__).parent / "card_schema.json").read_text())
_VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def assert_valid_response(body: Any) -> None:
    """Every add-on answer must match the documented card/action format and the widget limit."""
    errors = sorted(_VALIDATOR.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    for card in _cards(body):
        assert sum(len(s["widgets"]) for s in card["sections"]) <= 100


def _cards(body: Any):
    act = body.get("action") or (body.get("renderActions") or {}).get("action") or {}
    for nav in act.get("navigations") or []:
        for key in ("pushCard", "updateCard"):
            if key in nav:
                yield nav[key]


def only_card(body: dict) -> dict:
    cards = list(_cards(body))
    assert len(cards) == 1
    return cards[0]


def _key_and_cert(common_name: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Keys:
    google_private: str
    google_cert: str
    rogue_private: str  # a key Google never published
    kid: str = "google-test-kid"

    def sign(self, claims: dict[str, Any], *, rogue: bool = False, kid: str | None = None) -> str:
        signer = crypt.RSASigner.from_string(self.rogue_private if rogue else self.google_private,
                                             key_id=kid or self.kid)
        return jwt.encode(signer, claims).decode()

    def system_token(self, path: str, *, aud: str | None = None, email: str = SERVICE_ACCOUNT,
                     iss: str = "https://accounts.google.com", expires_in: int = 3600, **kw: Any) -> str:
        now = int(time.time())
        claims = {"iss": iss, "aud": aud or BASE_URL + path, "email": email, "email_verified": True,
                  "sub": "1122334455", "iat": now - 10, "exp": now + expires_in}
        return self.sign(claims, **kw)

    def user_token(self, email: str, *, aud: str = CLIENT_ID, iss: str = "https://accounts.google.com",
                   expires_in: int = 3600, email_verified: bool = True, **kw: Any) -> str:
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "azp": aud, "email": email, "email_verified": email_verified,
                  "sub": "998877", "iat": now - 10, "exp": now + expires_in}
        return self.sign(claims, **kw)


@pytest.fixture(scope="session")
def keys() -> Keys:
    google_private, google_cert = _key_and_cert("google-test")
    rogue_private, _ = _key_and_cert("rogue")
    return Keys(google_private, google_cert, rogue_private)


# --- an in-memory core ----------------------------------------------------------------------

@dataclass
class FakeCore:
    """Stands in for the core services with the contract's behaviour: a rep only ever gets
    their own tasks, and an unknown or foreign task id is Refused (NotFound)."""

    users: dict[str, Any] = field(default_factory=dict)
    people: dict[int, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[tuple[int, str]] = field(default_factory=list)
    templates: dict[int, Any] = field(default_factory=dict)
    enrollments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)
    launch_result: Any = None
    commits: int = 0
    rollbacks: int = 0

    # what the routes call
    def session(self):
        return self

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1

    def now(self):
        return NOW

    def find_user(self, db, email):
        return self.users.get(email.lower())

    def _own(self, user, task_id):
        for task in self.tasks:
            if task["id"] == task_id and task["_user"] == user.id and task["status"] == "open":
                return task
        from gmail_addon.core import Refused

        raise Refused(f"task {task_id} not found", 404)

    def list_tasks(self, db, user, *, due, when):
        self.calls.append(("list_tasks", user.id, due))
        rows = [t for t in self.tasks if t["_user"] == user.id and t["status"] == "open"]
        if due == "overdue":
            rows = [t for t in rows if t["due_date"] < TODAY]
        elif due == "today":
            rows = [t for t in rows if t["due_date"] == TODAY]
        return [{k: v for k, v in t.items() if not k.startswith("_")} for t in rows]

    def get_open_task(self, db, user, task_id, *, when):
        self.calls.append(("get_open_task", user.id, task_id))
        return next((t for t in self.list_tasks(db, user, due="all", when=when) if t["id"] == task_id), None)

    def complete_task(self, db, user, task_id, *, when):
        self._own(user, task_id)["status"] = "completed"
        self.calls.append(("complete", user.id, task_id))

    def skip_task(self, db, user, task_id, *, when):
        self._own(user, task_id)["status"] = "skipped"
        self.calls.append(("skip", user.id, task_id))

    def record_draft(self, db, user, task_id, *, draft_id, thread_id):
        self._own(user, task_id)
        self.calls.append(("record_draft", user.id, task_id, draft_id, thread_id))

    def existing_draft(self, db, user, task_id):
        """The route tests run without a connected mailbox: nothing can be checked."""
        self.calls.append(("existing_draft", user.id, task_id))
        return None

    def launch(self, db, user, campaign_id, person_id, *, when, send_now):
        self.calls.append(("launch", user.id, campaign_id, person_id, send_now))
        if isinstance(self.launch_result, Exception):
            raise self.launch_result
        return self.launch_result or {"enrolled": [{"person_id": person_id, "enrollment_id": 1}], "refused": []}

    def find_person(self, db, email):
        return next((p for p in self.people.values() if p.email == email.lower()), None)

    def get_person(self, db, person_id):
        return self.people.get(person_id)

    def enrollments_of(self, db, user, person):
        return [e for e in self.enrollments if e["_person"] == person.id and e["_user"] == user.id]

    def campaign_choices(self, db):
        return list(self.campaigns)

    def template_choices(self, db):
        return [(t.id, t.name) for t in self.templates.values()]

    def get_template(self, db, template_id):
        return self.templates.get(template_id)

    # test helpers
    def add_user(self, uid, email, tz="America/New_York", role="rep"):
        user = SimpleNamespace(id=uid, email=email, name=email.split("@")[0].title(), role=role, timezone=tz)
        self.users[email] = user
        return user

    def add_person(self, pid, email, first="Ada", last="Lovelace", company="Acme", fields=None):
        person = SimpleNamespace(id=pid, email=email, first_name=first, last_name=last, company=company,
                                 title=None, fields=fields or {})
        self.people[pid] = person
        return person

    def add_task(self, tid, user, person, *, type="email", due=TODAY, priority="normal", email=None, **extra):
        p = {"id": person.id, "email": person.email, "first_name": person.first_name,
             "last_name": person.last_name, "company": person.company}
        if type == "email" and email is None:
            email = {"to": [person.email], "subject": f"Hello {person.first_name}",
                     "body_html": f"<p>Hi {person.first_name},</p><p>Quick question.</p>",
                     "quoted_html": None, "thread": None}
        task = {"id": tid, "type": type, "title": extra.pop("title", f"{type} task {tid}"), "status": "open",
                "due_date": due, "priority": priority, "person": p,
                "campaign": {"id": 7, "name": "Q1 outbound"}, "email": email if type == "email" else None,
                "notes": extra.pop("notes", None), "_user": user.id}
        self.tasks.append(task)
        return task


@pytest.fixture
def fake_core(monkeypatch) -> FakeCore:
    from gmail_addon import core

    fake = FakeCore()
    for name in ("session", "now", "find_user", "list_tasks", "get_open_task", "complete_task", "skip_task", "record_draft",
                 "existing_draft", "launch", "find_person", "get_person", "enrollments_of", "campaign_choices",
                 "template_choices", "get_template"):
        monkeypatch.setattr(core, name, getattr(fake, name))
    return fake


@pytest.fixture
def addon_app(keys) -> Flask:
    from gmail_addon import bp

    app = Flask("addon-test")
    app.config.update(TESTING=True, PUBLIC_BASE_URL=BASE_URL, GMAIL_ADDON_SERVICE_ACCOUNT=SERVICE_ACCOUNT,
                      GMAIL_ADDON_CLIENT_ID=CLIENT_ID, GOOGLE_CERTS={keys.kid: keys.google_cert})
    app.register_blueprint(bp, url_prefix="/addons/gmail")
    return app


class AddonClient:
    """Posts add-on events the way Google does: system token in the header, user token,
    OAuth token and Gmail token in the body."""

    def __init__(self, app: Flask, keys: Keys) -> None:
        self.app, self.keys, self.client = app, keys, app.test_client()

    def event(self, email: str | None, *, parameters=None, form=None, gmail=None, user_token=None,
              oauth_token: str | None = "ya29.user-oauth-token") -> dict[str, Any]:
        common: dict[str, Any] = {"hostApp": "GMAIL", "platform": "WEB"}
        if parameters:
            common["parameters"] = {k: str(v) for k, v in parameters.items()}
        if form:
            common["formInputs"] = {k: {"stringInputs": {"value": v if isinstance(v, list) else [v]}}
                                    for k, v in form.items()}
        authz: dict[str, Any] = {"systemIdToken": "unused-here"}
        if oauth_token:
            authz["userOAuthToken"] = oauth_token
        if user_token or email:
            authz["userIdToken"] = user_token or self.keys.user_token(email)
        body: dict[str, Any] = {"commonEventObject": common, "authorizationEventObject": authz}
        if gmail is not None:
            body["gmail"] = gmail
        return body

    def post(self, path: str, body: Any = None, *, email: str | None = "rep@stepline.test",
             system_token: str | None = None, headers: dict[str, str] | None = None, **event_kw: Any):
        full = "/addons/gmail" + path
        token = system_token if system_token is not None else self.keys.system_token(full)
        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
        hdrs.update(headers or {})
        if body is None:
            body = self.event(email, **event_kw)
        if isinstance(body, (bytes, str)):
            return self.client.post(full, data=body, headers=hdrs, content_type="application/json")
        return self.client.post(full, json=body, headers=hdrs)


@pytest.fixture
def addon(addon_app, keys) -> AddonClient:
    return AddonClient(addon_app, keys)


@pytest.fixture
def gmail_http(addon_app):
    """Queue Gmail API answers; the real client library sends its requests to this mock."""
    from googleapiclient.http import HttpMockSequence

    holder: dict[str, Any] = {}

    def install(*responses):
        holder["mock"] = HttpMockSequence(list(responses))
        addon_app.config["GMAIL_HTTP_FACTORY"] = lambda: holder["mock"]
        return holder["mock"]

    return install


def date_str(days: int) -> str:
    return (date.fromisoformat(TODAY) + timedelta(days=days)).isoformat()
