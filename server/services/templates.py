"""Shared email templates."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.domain.templates import check_syntax
from server.errors import Invalid, NotFound
from server.models import Template, User


def create_template(session: Session, user: User, data: dict[str, Any], *, now: datetime) -> Template:
    for field in ("subject", "body_html"):
        problem = check_syntax(data[field])
        if problem:
            raise Invalid(f"template syntax error: {problem}", field)
    template = Template(name=data["name"], subject=data["subject"], body_html=data["body_html"],
                        owner_id=user.id, created_at=now)
    session.add(template)
    session.flush()
    return template


def get_template(session: Session, template_id: int) -> Template:
    template = session.get(Template, template_id)
    if template is None:
        raise NotFound(f"template {template_id} not found", "template_id")
    return template


def template_dict(t: Template) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "subject": t.subject, "body_html": t.body_html}
