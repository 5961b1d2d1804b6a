"""Small helpers every API module uses."""
from __future__ import annotations

from datetime import datetime

from flask import g
from sqlalchemy.orm import Session

from server.clock import get_clock
from server.db import get_session
from server.models import User


def ctx() -> tuple[Session, User, datetime]:
    """The request's session, signed-in user and the clock's now."""
    return get_session(), g.user, get_clock().now()
