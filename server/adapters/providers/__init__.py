"""One small interface over the three ways a mailbox sends: SMTP, the Gmail API, Microsoft Graph.

Why errors are classes rather than codes: the dispatcher's safety rules depend only on *when*
a failure happened. Before the provider accepted the message it is safe to try again
(:class:`Transient`, :class:`RateLimited`, :class:`QuotaExceeded`); once it may have accepted
it (:class:`Uncertain`) a blind retry could send twice, so the email must be reconciled or
shown to a human instead. :class:`Rejected` is a permanent refusal of this message.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from typing import Any, Mapping, Protocol

from server.models import Mailbox


@dataclass(frozen=True)
class ProviderResult:
    """What the provider calls the message and its thread (None when it has no such notion)."""

    provider_message_id: str | None
    thread_id: str | None


class ProviderError(Exception):
    """Base of every provider failure; ``reason`` is what a rep reads in the email list."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(ProviderError):
    """Refused or failed before acceptance (5xx, connection refused, timeout while connecting):
    retried with exponential backoff."""


class RateLimited(Transient):
    """HTTP 429 / SMTP 421 with an explicit wait: retried after ``retry_after``."""

    def __init__(self, reason: str, retry_after: timedelta) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class QuotaExceeded(ProviderError):
    """The mailbox's daily sending quota (Gmail's 550 5.4.5): held until the window passes."""


class Rejected(ProviderError):
    """A permanent refusal of this message (bad recipient, revoked authorization...)."""


class Uncertain(ProviderError):
    """The provider may have accepted the message (the connection died after the data was
    sent): never retried blindly."""


class Provider(Protocol):
    name: str

    def send(self, message: Message, mailbox: Mailbox, thread_id: str | None) -> ProviderResult:
        """Hand the message over; returns once the provider accepted it."""

    def find_by_message_id(self, mailbox: Mailbox, message_id: str) -> ProviderResult | None:
        """The sent message with this Message-ID, or None when the provider does not have it.
        Raises :class:`ProviderError` when the provider cannot tell (SMTP never can)."""


def provider_for(mailbox: Mailbox, config: Mapping[str, Any]) -> Provider:
    """The provider object for a mailbox (cheap; SMTP connections are pooled per process)."""
    if mailbox.provider == "gmail":
        from server.adapters.providers.gmail import GmailProvider

        return GmailProvider(config)
    if mailbox.provider == "graph":
        from server.adapters.providers.graph import GraphProvider

        return GraphProvider(config)
    from server.adapters.providers.smtp import SmtpProvider

    return SmtpProvider(config)


__all__ = ["Provider", "ProviderError", "ProviderResult", "QuotaExceeded", "RateLimited", "Rejected",
           "Transient", "Uncertain", "provider_for"]
