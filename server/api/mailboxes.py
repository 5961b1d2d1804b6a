from flask_smorest import Blueprint
from sqlalchemy import select

from server.api.common import ctx
from server.api.schemas import MailboxIn, MailboxOut
from server.crypto import encrypt
from server.models import Mailbox
from server.services.mailboxes import create_mailbox, mailbox_dict

blp = Blueprint("mailboxes", __name__, url_prefix="/api/v1/mailboxes", description="Sending identities")


@blp.route("", methods=["POST"])
@blp.arguments(MailboxIn)
@blp.response(201, MailboxOut)
def create(data):
    session, user, now = ctx()
    mailbox = create_mailbox(session, user, data, now=now, encrypt=encrypt)
    session.commit()
    return mailbox_dict(mailbox)


@blp.route("", methods=["GET"])
def list_mailboxes():
    session, user, _ = ctx()
    query = select(Mailbox).order_by(Mailbox.id)
    if not user.is_admin:
        query = query.where(Mailbox.user_id == user.id)
    return {"mailboxes": [mailbox_dict(m) for m in session.scalars(query)]}
