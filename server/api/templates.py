from flask_smorest import Blueprint
from sqlalchemy import select

from server.api.common import ctx
from server.api.schemas import TemplateIn, TemplateOut
from server.models import Template
from server.services.templates import create_template, get_template, template_dict

blp = Blueprint("templates", __name__, url_prefix="/api/v1/templates", description="Shared email templates")


@blp.route("", methods=["POST"])
@blp.arguments(TemplateIn)
@blp.response(201, TemplateOut)
def create(data):
    session, user, now = ctx()
    template = create_template(session, user, data, now=now)
    session.commit()
    return template_dict(template)


@blp.route("", methods=["GET"])
def list_templates():
    session, _, _ = ctx()
    return {"templates": [template_dict(t) for t in session.scalars(select(Template).order_by(Template.name))]}


@blp.route("/<int:template_id>", methods=["GET"])
@blp.response(200, TemplateOut)
def get(template_id):
    session, _, _ = ctx()
    return template_dict(get_template(session, template_id))
