"""People (prospects): the team's shared contacts."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import Conflict, Invalid, NotFound
from server.models import Person
from server.services.users import valid_zone

PERSON_FIELDS = ("email", "first_name", "last_name", "company", "title", "timezone")


def normalize_email(raw: Any, field: str = "email") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("an email address is required", field)
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid(f"invalid email address: {exc}", field) from exc


def clean_person(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Validate one person's fields; raises Invalid naming the field."""
    row: dict[str, Any] = {"email": normalize_email(data.get("email"), prefix + "email")}
    for key in ("first_name", "last_name", "company", "title"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{key} must be text", prefix + key)
        if value is not None and len(value) > 200:
            raise Invalid(f"{key} is longer than 200 characters", prefix + key)
        row[key] = value.strip() if isinstance(value, str) and value.strip() else None
    zone = data.get("timezone")
    if zone not in (None, "") and not valid_zone(zone):
        raise Invalid(f"unknown time zone '{zone}'", prefix + "timezone")
    row["timezone"] = zone or None
    fields = data.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
        raise Invalid("fields must be an object of named values", prefix + "fields")
    for key, value in fields.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise Invalid(f"custom field '{key}' must be text, a number or a boolean", f"{prefix}fields.{key}")
    row["fields"] = fields
    return row


def create_person(session: Session, data: dict[str, Any], *, now: datetime) -> Person:
    row = clean_person(data)
    if find_by_email(session, row["email"]):
        raise Conflict(f"a person with email {row['email']} already exists", "email")
    person = Person(**row, created_at=now)
    session.add(person)
    session.flush()
    return person


def create_many(session: Session, people: Iterable[dict[str, Any]], *, now: datetime,
                progress: Any = None) -> tuple[list[int], list[dict[str, Any]]]:
    """Create valid people, report the others by index; each person is all-or-nothing."""
    created_rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    indexes: list[int] = []
    seen: set[str] = set()
    items = list(people)
    emails = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("email"), str):
            emails.append(item["email"].strip().lower())
    existing = set()
    for chunk_start in range(0, len(emails), 900):
        chunk = emails[chunk_start:chunk_start + 900]
        existing.update(session.scalars(select(Person.email).where(Person.email.in_(chunk))))
    for index, item in enumerate(items):
        if progress:
            progress(1)
        if not isinstance(item, dict):
            errors.append({"index": index, "message": "each person must be an object", "field": None})
            continue
        try:
            row = clean_person(item)
        except Invalid as exc:
            errors.append({"index": index, "message": exc.message, "field": exc.field})
            continue
        if row["email"] in existing or row["email"] in seen:
            errors.append({"index": index, "message": f"a person with email {row['email']} already exists",
                           "field": "email"})
            continue
        seen.add(row["email"])
        row["created_at"] = now
        row["unsubscribed"] = False
        created_rows.append(row)
        indexes.append(index)
    ids: list[int] = []
    if created_rows:
        # Keyed by the (unique) email rather than by parameter order, which SQLite can only keep by
        # inserting row by row; on PostgreSQL this streams the rows with COPY.
        from server.services.engine import bulk_insert

        by_email = bulk_insert(session, Person.__table__, created_rows, "email")
        ids = [by_email[row["email"]] for row in created_rows]
    return ids, errors


def find_by_email(session: Session, email: str) -> Person | None:
    return session.execute(select(Person).where(func.lower(Person.email) == email.strip().lower())).scalar_one_or_none()


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} not found", "person_id")
    return person


def person_dict(p: Person) -> dict[str, Any]:
    return {
        "id": p.id, "email": p.email, "first_name": p.first_name, "last_name": p.last_name,
        "company": p.company, "title": p.title, "timezone": p.timezone, "fields": p.fields or {},
        "unsubscribed": p.unsubscribed,
    }


def merge_data(p: Person) -> dict[str, Any]:
    """What templates can read about a person."""
    return {"email": p.email, "first_name": p.first_name, "last_name": p.last_name,
            "company": p.company, "title": p.title, "fields": p.fields or {}}
