"""One email sent for real: campaign -> launch -> dispatcher -> aiosmtpd on loopback.

Tests then act as the prospect's mail client: they parse the delivered message and fetch its
pixel, its links and its List-Unsubscribe URL with the Flask test client."""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest

from server.services.dispatch import run_pass
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

BODY = ('<p>Hi {{ first_name }}, see <a href="https://acme.example/pricing?a=1&amp;b=2">our pricing</a> '
        'and <a href=\'https://acme.example/case-study\'>a case study</a>, '
        'or <a href="mailto:ann@sales.example">write to me</a>.</p>')


@dataclass
class Delivered:
    message: EmailMessage
    html: str
    person_id: int
    enrollment_id: int
    campaign: dict

    @property
    def pixel_path(self) -> str:
        return _path(re.search(r'<img src="([^"]+/t/o/[^"]+)"', self.html).group(1))

    @property
    def link_paths(self) -> list[str]:
        return [_path(u) for u in re.findall(r'href="([^"]+/t/c/[^"]+)"', self.html)]

    @property
    def unsubscribe_path(self) -> str:
        return _path(re.search(r"<([^>]+)>", str(self.message["List-Unsubscribe"])).group(1))


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "localhost", url
    return parts.path


@pytest.fixture
def send_one(app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    """send_one(settings=None, steps=None) -> Delivered, the message as the prospect got it."""

    def send(settings: dict | None = None, steps: list[dict] | None = None, email: str = "pat@prospect.example",
             api=None) -> Delivered:
        api = api or rep
        mailbox = make_mailbox(api, address=f"seller{api.user_id}@sales.example", port=smtp_sink.port)
        person_id = make_person(api, email=email)
        campaign = make_campaign(api, steps or [
            {"day": 1, "type": "email", "subject": "Hello {{ first_name }}", "body_html": BODY,
             "send_option": "choose_at_launch"},
            {"day": 3, "type": "email", "subject": "x", "body_html": "<p>Second</p>", "send_option": "at_time",
             "time": "09:00", "follow_up": True}], settings=settings)
        response = api.post(f"/campaigns/{campaign['id']}/launch",
                            json={"people": [person_id], "mailbox_id": mailbox, "send_at": "now"})
        assert response.status_code == 200 and response.json["enrolled"], response.json
        before = len(smtp_sink.received)
        assert run_pass(app) == 1
        assert len(smtp_sink.received) == before + 1
        message = smtp_sink.received[-1].message
        html = message.get_body(("html",)).get_content()
        clock.advance(seconds=60)  # a person reads it a minute later, not a gateway scanner
        return Delivered(message, html, person_id, response.json["enrolled"][0]["enrollment_id"], campaign)

    return send
