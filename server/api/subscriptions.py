"""Unsubscribe a person by hand (any rep or admin) and re-subscribe (admins only)."""
from __future__ import annotations

from flask_smorest import Blueprint

from server.api.common import ctx
from server.api.schemas import PersonOut
from server.errors import Forbidden
from server.services.people import get_person, person_dict
from server.services.unsubscribe import resubscribe, unsubscribe

blp = Blueprint("subscriptions", __name__, url_prefix="/api/v1/people",
                description="Unsubscribe and re-subscribe people")


@blp.route("/<int:person_id>/unsubscribe", methods=["POST"])
@blp.response(200, PersonOut)
def unsubscribe_person(person_id: int):
    """Ends every enrollment of the person and blocks all later sends (SPEC §4)."""
    session, user, now = ctx()
    person = get_person(session, person_id)
    unsubscribe(session, person, now=now, source="user", actor_user_id=user.id)
    session.commit()
    return person_dict(person)


@blp.route("/<int:person_id>/resubscribe", methods=["POST"])
@blp.response(200, PersonOut)
def resubscribe_person(person_id: int):
    """Admins only: an unsubscribe is the prospect's wish, a rep must not override it."""
    session, user, now = ctx()
    if not user.is_admin:
        raise Forbidden("only an admin can re-subscribe a person", "person_id")
    person = get_person(session, person_id)
    resubscribe(session, person, now=now)
    session.commit()
    return person_dict(person)
