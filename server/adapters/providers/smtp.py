"""SMTP with the standard library's smtplib: plain, STARTTLS or implicit TLS, optional AUTH.

Why the transaction is driven step by step (MAIL, RCPT, DATA) instead of ``send_message``:
a failure before DATA is safe to retry, a refusal after DATA is an explicit "not accepted",
but a connection that dies while the server is answering the final dot may already have
accepted the message, and only then is the outcome :class:`Uncertain`.

Connections are kept open per process and per (host, port, TLS mode, user), so a worker
sending hundreds of emails through one relay does not pay a TCP and TLS handshake each time.
"""
from __future__ import annotations

import re
import smtplib
import ssl
import threading
import time
from email.message import Message
from email.utils import getaddresses
from typing import Any, Mapping

from server.adapters.mail import message_bytes
from server.adapters.providers import (
    ProviderError,
    ProviderResult,
    QuotaExceeded,
    Rejected,
    Transient,
    Uncertain,
)
from server.crypto import decrypt
from server.models import Mailbox

TIMEOUT = 30.0
IDLE_SECONDS = 30.0
_local = threading.local()


def _pool() -> dict[tuple, tuple[smtplib.SMTP, float]]:
    if not hasattr(_local, "pool"):
        _local.pool = {}
    return _local.pool


def close_all() -> None:
    """Close every pooled connection (the worker calls this when it stops)."""
    pool = _pool()
    for conn, _ in pool.values():
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
    pool.clear()


# A plain address (no spaces, quotes or angle brackets), which is what email-validator lets
# into our mailboxes and people: it goes in the envelope as it is.
_PLAIN_ADDRESS = re.compile(r"[^\s<>\"()\[\],;:\\]+@[^\s<>\"()\[\],;:\\]+")


def _command(conn: smtplib.SMTP, verb: str, keyword: str, address: str) -> tuple[int, bytes]:
    """``MAIL FROM:<a>`` or ``RCPT TO:<a>``. smtplib's ``mail``/``rcpt`` send the same line but
    first parse the address as a header (``quoteaddr``), a twentieth of a send's CPU; a plain
    address needs no parsing, anything else still goes through smtplib."""
    if address.isascii() and _PLAIN_ADDRESS.fullmatch(address):
        conn.putcmd(verb, f"{keyword}:<{address}>")
        return conn.getreply()
    return conn.mail(address) if verb == "mail" else conn.rcpt(address)


def classify(code: int, reply: bytes | str, stage: str) -> ProviderError:
    """An SMTP refusal as a provider error: 4xx waits and retries, Gmail's 550 5.4.5 is the
    daily quota, any other 5xx is permanent."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    reason = f"SMTP {stage} refused: {code} {text}".strip()
    if code == 550 and "5.4.5" in text:
        return QuotaExceeded(reason)
    if 400 <= code < 500 or code < 200:
        return Transient(reason)
    return Rejected(reason)


class SmtpProvider:
    name = "smtp"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    # ------------------------------------------------------------------ connections

    def _key(self, mailbox: Mailbox) -> tuple:
        return (mailbox.smtp_host, mailbox.smtp_port or 587, bool(mailbox.smtp_ssl),
                bool(mailbox.smtp_starttls), mailbox.smtp_username or "")

    def _connect(self, mailbox: Mailbox) -> smtplib.SMTP:
        host, port = mailbox.smtp_host or "localhost", mailbox.smtp_port or 587
        try:
            if mailbox.smtp_ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(host, port, timeout=TIMEOUT)
                if mailbox.smtp_starttls:
                    conn.starttls(context=ssl.create_default_context())
            if mailbox.smtp_username and mailbox.secret_enc:
                conn.login(mailbox.smtp_username, decrypt(mailbox.secret_enc, dict(self.config)))
        except smtplib.SMTPAuthenticationError as exc:
            raise Rejected(f"SMTP authentication failed for {mailbox.smtp_username}: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise classify(exc.smtp_code, exc.smtp_error, "connection") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise Transient(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _connection(self, mailbox: Mailbox, fresh: bool = False) -> smtplib.SMTP:
        pool, key, now = _pool(), self._key(mailbox), time.monotonic()
        held = pool.pop(key, None)
        if held is not None:
            conn, last = held
            if fresh or now - last > IDLE_SECONDS:
                try:
                    conn.close()
                except OSError:
                    pass
            else:
                return conn
        return self._connect(mailbox)

    def _release(self, mailbox: Mailbox, conn: smtplib.SMTP) -> None:
        _pool()[self._key(mailbox)] = (conn, time.monotonic())

    # ------------------------------------------------------------------ sending

    def _envelope(self, conn: smtplib.SMTP, sender: str, recipients: list[str]) -> None:
        conn.ehlo_or_helo_if_needed()
        code, reply = _command(conn, "mail", "FROM", sender)
        if code != 250:
            conn.rset()
            raise classify(code, reply, "MAIL FROM")
        for rcpt in recipients:
            code, reply = _command(conn, "rcpt", "TO", rcpt)
            if code not in (250, 251):
                conn.rset()
                raise classify(code, reply, f"RCPT TO {rcpt}")

    def send(self, message: Message, mailbox: Mailbox, thread_id: str | None) -> ProviderResult:
        recipients = [addr for _, addr in getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
        data = message_bytes(message)
        conn = self._connection(mailbox)
        try:
            self._envelope(conn, mailbox.address, recipients)
        except ProviderError:
            self._release(mailbox, conn)
            raise
        except (smtplib.SMTPServerDisconnected, OSError):
            # A pooled connection the server closed: nothing was sent yet, reconnect once.
            conn.close()
            conn = self._connection(mailbox, fresh=True)
            try:
                self._envelope(conn, mailbox.address, recipients)
            except (smtplib.SMTPException, OSError) as exc:
                conn.close()
                raise Transient(f"SMTP connection lost before sending: {exc}") from exc
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:
            self._release(mailbox, conn)
            raise classify(exc.smtp_code, exc.smtp_error, "DATA") from exc
        except (smtplib.SMTPException, OSError) as exc:
            conn.close()
            raise Uncertain(f"the SMTP connection failed while the message was being accepted: {exc}") from exc
        self._release(mailbox, conn)
        if code != 250:  # smtplib returns the final answer to the data instead of raising
            raise classify(code, reply, "DATA")
        return ProviderResult(provider_message_id=None, thread_id=None)

    def find_by_message_id(self, mailbox: Mailbox, message_id: str) -> ProviderResult | None:
        raise ProviderError("an SMTP server cannot say whether it accepted a message")
