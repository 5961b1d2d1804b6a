from flask import request
from flask_smorest import Blueprint
from sqlalchemy import or_, select

from server.api.common import ctx
from server.api.schemas import PeopleBulkIn, PeopleBulkOut, PersonIn, PersonOut
from server.errors import Invalid
from server.models import Person
from server.services.people import create_many, create_person, get_person, person_dict

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="Prospects (shared by the team)")


@blp.route("", methods=["POST"])
@blp.arguments(PersonIn)
@blp.response(201, PersonOut)
def create(data):
    session, _, now = ctx()
    person = create_person(session, data, now=now)
    session.commit()
    return person_dict(person)


@blp.route("/bulk", methods=["POST"])
@blp.arguments(PeopleBulkIn)
@blp.response(200, PeopleBulkOut)
def bulk(data):
    session, _, now = ctx()
    created, errors = create_many(session, data["people"], now=now)
    session.commit()
    return {"created": created, "errors": errors}


@blp.route("", methods=["GET"])
def search():
    """People whose email, name or company contains ``q``."""
    session, _, _ = ctx()
    q = (request.args.get("q") or "").strip()
    try:
        limit = int(request.args.get("limit", 100))
    except ValueError as exc:
        raise Invalid("limit must be a number", "limit") from exc
    if not 1 <= limit <= 1000:
        raise Invalid("limit must be between 1 and 1000", "limit")
    query = select(Person).order_by(Person.id).limit(limit)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(Person.email.ilike(like), Person.first_name.ilike(like),
                                Person.last_name.ilike(like), Person.company.ilike(like)))
    return {"people": [person_dict(p) for p in session.scalars(query)]}


@blp.route("/<int:person_id>", methods=["GET"])
@blp.response(200, PersonOut)
def get(person_id):
    session, _, _ = ctx()
    return person_dict(get_person(session, person_id))
