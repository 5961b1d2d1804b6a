"""SMTP AUTH, STARTTLS and implicit TLS against a real server (aiosmtpd on loopback)."""
from __future__ import annotations

import ipaddress
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from server.models import Email
from server.services.dispatch import run_pass
from tests.adapters.sink import AUTH_PASSWORD, AUTH_USER, Sink, smtp_sink  # noqa: F401 - fixture

STEP = [{"day": 1, "type": "email", "subject": "Hi", "body_html": "<p>Hi</p>", "send_option": "choose_at_launch"}]


def _send(app, rep, make_mailbox, make_person, make_campaign, sink, password: str) -> Email:
    mailbox = make_mailbox(rep, address=AUTH_USER, port=sink.port, smtp_username=AUTH_USER, smtp_password=password)
    person = make_person(rep)
    campaign = make_campaign(rep, STEP)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox, "send_at": "now"})
    run_pass(app)
    with app.extensions["stepline_sessions"]() as session:
        return session.scalars(select(Email)).one()


def test_smtp_auth_logs_in_with_the_stored_password(app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    email = _send(app, rep, make_mailbox, make_person, make_campaign, smtp_sink, AUTH_PASSWORD)
    assert email.status == "sent" and len(smtp_sink.received) == 1


def test_a_wrong_smtp_password_fails_the_email_with_a_clear_reason(app, rep, make_mailbox, make_person,
                                                                   make_campaign, smtp_sink):
    email = _send(app, rep, make_mailbox, make_person, make_campaign, smtp_sink, "wrong")
    assert email.status == "failed" and email.failure_reason.startswith(f"SMTP authentication failed for {AUTH_USER}")
    assert smtp_sink.received == []


# ---------------------------------------------------------------- TLS (a throwaway CA trusted via SSL_CERT_FILE)


def _self_signed(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that is its own CA, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stepline test smtp")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_sink(tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # what ssl.create_default_context() trusts
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sinks = []

    def start(mode: str) -> Sink:
        sink = Sink()
        kwargs = {"tls_context": context, "require_starttls": True} if mode == "starttls" else \
            {"ssl_context": context}
        sink.controller = Controller(sink.handler, hostname="127.0.0.1", port=sink.port, **kwargs)
        sink.controller.start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.controller.stop()


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_smtp_over_starttls_or_implicit_tls_delivers_with_a_verified_certificate(app, rep, make_mailbox, make_person,
                                                                                 make_campaign, tls_sink, mode):
    sink = tls_sink(mode)
    mailbox = make_mailbox(rep, port=sink.port, smtp_starttls=mode == "starttls", smtp_ssl=mode == "ssl")
    person = make_person(rep)
    campaign = make_campaign(rep, STEP)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox, "send_at": "now"})
    run_pass(app)
    with app.extensions["stepline_sessions"]() as session:
        email = session.scalars(select(Email)).one()
    assert (email.status, email.failure_reason) == ("sent", None)
    assert len(sink.received) == 1
