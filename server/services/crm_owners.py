"""Which Salesforce User owns the Tasks Stepline creates for a rep.

Why: a Task created by the integration user is owned by it unless OwnerId says otherwise, and
then reps do not see their own activities in Salesforce. The rep's Salesforce User is found by
email (the only key both systems share) and kept on the Stepline user, so a pass of 100 rows
makes one lookup per rep, not one per row. A rep with no active Salesforce User is remembered
too (``salesforce_user_checked_at`` with no id) and looked up again only after
:data:`RECHECK_AFTER`, so the rows meanwhile go to the integration user without a query each.

Each lookup and each forgotten mapping is committed at once: the write that follows may fail
and be rolled back, and the outbox's retry should not pay for the lookup again.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from server.models import User

log = logging.getLogger("stepline.crm")

RECHECK_AFTER = timedelta(days=1)


def owner_for(session: Session, client: Any, user_id: int | None, now: datetime) -> str | None:
    """The Salesforce User id to put in OwnerId for this Stepline user, or None for the
    integration user. Retryable Salesforce errors (outage, expired session) propagate to the
    outbox; a query Salesforce rejects outright is logged and treated as no match."""
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    from server.adapters import salesforce

    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        return None
    if user.salesforce_user_id:
        return user.salesforce_user_id
    checked = user.salesforce_user_checked_at
    if checked is not None and now - checked < RECHECK_AFTER:
        return None
    try:
        found = salesforce.find_user(client, user.email)
    except SalesforceMalformedRequest as exc:
        log.warning("looking up the Salesforce user of %s failed: %s", user.email, salesforce.classify(exc).reason)
        found = None
    user.salesforce_user_id, user.salesforce_user_checked_at = found, now
    session.commit()
    return found


def forget_owner(session: Session, user_id: int | None, now: datetime) -> None:
    """Salesforce refused this user's mapped id (deactivated or deleted since): drop it and
    look again after :data:`RECHECK_AFTER`."""
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        return
    log.info("Salesforce refused %s as the owner of %s's tasks; using the integration user",
             user.salesforce_user_id, user.email)
    user.salesforce_user_id, user.salesforce_user_checked_at = None, now
    session.commit()
