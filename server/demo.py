"""The demo team that ``make run`` loads: enough to click through every screen at once."""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Campaign, User
from server.services.campaigns import create_campaign
from server.services.mailboxes import create_mailbox
from server.services.people import create_many
from server.services.templates import create_template
from server.services.users import create_token, create_user, set_password

DEMO_PASSWORD = "stepline-demo"

PEOPLE = [
    ("ada@lovelace.example", "Ada", "Lovelace", "Analytical Engines", "CTO", "Europe/London"),
    ("grace@hopper.example", "Grace", "Hopper", "Compilers Inc", "VP Engineering", "America/New_York"),
    ("alan@turing.example", "Alan", "Turing", "Bletchley Labs", "Head of Research", "Europe/London"),
    ("katherine@johnson.example", "Katherine", "Johnson", "Orbital Math", "Director", "America/Chicago"),
    ("linus@kernel.example", "Linus", None, None, None, "Europe/Helsinki"),
    ("margaret@hamilton.example", "Margaret", "Hamilton", "Apollo Software", "Founder", "America/Los_Angeles"),
]


def load_demo(session: Session, *, now: datetime, smtp_port: int = 2525) -> list[str]:
    """Idempotent: a second run only prints fresh tokens."""
    admin = session.scalars(select(User).where(User.email == "admin@example.com")).first()
    if admin is None:
        admin = create_user(session, "admin@example.com", role="admin", timezone="America/New_York",
                            name="Avery Admin", now=now)
        rep = create_user(session, "rep@example.com", role="rep", timezone="America/New_York",
                          name="Riley Rep", now=now)
        for user in (admin, rep):
            set_password(user, DEMO_PASSWORD)
        create_mailbox(session, rep, {"provider": "smtp", "address": "rep@example.com", "display_name": "Riley Rep",
                                      "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_starttls": False},
                       now=now)
        intro = create_template(session, admin, {
            "name": "Intro", "subject": "Quick question, {{ first_name }}",
            "body_html": "<p>Hi {{ first_name }},</p><p>Teams like {{ company }} use Stepline to run their "
                         "outbound. Worth a chat?</p><p>{{ sender.name }}</p>"}, now=now)
        bump = create_template(session, admin, {
            "name": "Bump", "subject": "Following up",
            "body_html": "<p>{{ first_name }}, bringing this back to the top of your inbox.</p>"}, now=now)
        create_many(session, [dict(zip(("email", "first_name", "last_name", "company", "title", "timezone"), p))
                              for p in PEOPLE], now=now)
        create_campaign(session, admin, {
            "name": "Q1 outbound",
            "settings": {"skip_weekends": True, "timezone": "sender", "on_reply": "end"},
            "steps": [
                {"day": 1, "type": "email", "template_id": intro.id, "send_option": "choose_at_launch"},
                {"day": 3, "type": "email", "template_id": bump.id, "send_option": "same_time_as_previous",
                 "follow_up": True},
                {"day": 4, "type": "call", "notes": "Ask about their outbound process"},
                {"day": 6, "type": "email", "subject": "Last try, {{ first_name }}",
                 "body_html": "<p>Hi {{ first_name }}, shall I close your file?</p>", "send_option": "task"},
            ]}, now=now)
        create_campaign(session, admin, {
            "name": "Event follow-up",
            "settings": {"skip_weekends": True},
            "steps": [
                {"day": 1, "type": "email", "template_id": intro.id, "send_option": "at_time", "time": time(9, 30)},
                {"day": 2, "type": "email", "template_id": bump.id, "send_option": "task", "follow_up": True},
            ]}, now=now)
        # Day 1 only: launched with send_at "now", its first email and the threaded follow-up
        # both go out within seconds, so a newcomer sees the whole mechanism at once.
        create_campaign(session, admin, {
            "name": "Try it now",
            "settings": {"skip_weekends": False},
            "steps": [
                {"day": 1, "type": "email", "template_id": intro.id, "send_option": "choose_at_launch"},
                {"day": 1, "type": "email", "template_id": bump.id, "send_option": "same_time_as_previous",
                 "follow_up": True},
                {"day": 2, "type": "call", "notes": "Call to follow up on both emails"},
            ]}, now=now)
    rep = session.scalars(select(User).where(User.email == "rep@example.com")).one()
    admin_token = create_token(session, admin, now=now, name="demo")
    rep_token = create_token(session, rep, now=now, name="demo")
    campaigns = session.scalars(select(Campaign.id)).all()
    return [
        "demo loaded: campaigns " + ", ".join(map(str, campaigns)),
        f"admin: admin@example.com / {DEMO_PASSWORD}  token: {admin_token}",
        f"rep:   rep@example.com / {DEMO_PASSWORD}  token: {rep_token}",
    ]
