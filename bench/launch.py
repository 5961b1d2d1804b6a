"""Launch benchmark: 10,000 people into a six-step campaign in ONE call of the HTTP API.

For each database (a fresh SQLite file, and a fresh PostgreSQL database when one is
reachable): migrate, create an admin with a mailbox, a six-step campaign and 10,000 people
(bulk), start ``gunicorn -w 2 'server:create_app()'`` on 127.0.0.1, then time
``POST /api/v1/campaigns/{id}/launch`` with all 10,000 ids. Prints the time, people per
second and the serving worker's peak memory (VmHWM). Goal: 3 s or less.

    .venv/bin/python bench/launch.py [--people 10000] [--db sqlite,postgres]
"""
from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone

from _server import Server, fresh_database, pg_reachable

from server import create_app
from server.services.campaigns import create_campaign
from server.services.mailboxes import create_mailbox
from server.services.people import create_many
from server.services.templates import create_template
from server.services.users import create_token, create_user


def seed(url: str, people: int) -> tuple[str, int, int, list[int]]:
    """Admin token, mailbox id, campaign id and person ids, written directly by the services."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    now = datetime.now(timezone.utc)
    with app.app_context(), app.extensions["stepline_sessions"]() as session:
        admin = create_user(session, "admin@bench.example", role="admin", timezone="America/New_York", now=now)
        token = create_token(session, admin, now=now)
        mailbox = create_mailbox(session, admin, {"provider": "smtp", "address": "admin@bench.example",
                                                  "smtp_host": "127.0.0.1", "smtp_port": 2525}, now=now)
        intro = create_template(session, admin, {
            "name": "Intro", "subject": "Quick question, {{ first_name }}",
            "body_html": "<p>Hi {{ first_name }},</p><p>Teams like {{ company }} use Stepline. "
                         "Worth a chat about your {{ title | default('team') }}?</p><p>{{ sender.name }}</p>"},
            now=now)
        campaign = create_campaign(session, admin, {"name": "Bench six steps", "steps": [
            {"day": 1, "type": "email", "template_id": intro.id, "send_option": "at_time",
             "time": datetime.strptime("09:30", "%H:%M").time()},
            {"day": 3, "type": "email", "subject": "Following up", "body_html": "<p>{{ first_name }}?</p>",
             "send_option": "same_time_as_previous", "follow_up": True},
            {"day": 4, "type": "call", "notes": "talk track"},
            {"day": 6, "type": "email", "subject": "Last try, {{ first_name }}", "body_html": "<p>Hi</p>",
             "send_option": "task"},
            {"day": 8, "type": "inmail"},
            {"day": 10, "type": "email", "subject": "Closing the loop", "body_html": "<p>Bye {{ first_name }}</p>",
             "send_option": "at_time", "time": datetime.strptime("10:00", "%H:%M").time()},
        ]}, now=now)
        ids, errors = create_many(session, [
            {"email": f"person{i}@prospect{i % 97}.example", "first_name": f"First{i}", "last_name": f"Last{i}",
             "company": f"Company {i % 500}", "title": "CTO" if i % 3 else None,
             "timezone": "Europe/Paris" if i % 4 == 0 else None} for i in range(people)], now=now)
        assert not errors, errors[:3]
        session.commit()
        result = token, mailbox.id, campaign.id, ids
    app.extensions["stepline_engine"].dispose()
    return result


def run(kind: str, people: int) -> None:
    with fresh_database(kind) as url:
        token, mailbox_id, campaign_id, ids = seed(url, people)
        server = Server(url, workers=2)
        try:
            # Warm both workers' imports and caches with a one-person launch of someone else.
            server.request("GET", "/api/v1/campaigns", token=token)
            started = time.perf_counter()
            status, body = server.request("POST", f"/api/v1/campaigns/{campaign_id}/launch",
                                          {"people": ids, "mailbox_id": mailbox_id}, token=token)
            elapsed = time.perf_counter() - started
            peak = server.peak_memory_mb()
        finally:
            server.stop()
    enrolled = len(body.get("enrolled", [])) if isinstance(body, dict) else 0
    refused = len(body.get("refused", [])) if isinstance(body, dict) else 0
    print(f"{kind:9s} launch of {people:,} people: HTTP {status}, {enrolled:,} enrolled, {refused} refused, "
          f"{elapsed:.2f} s, {enrolled / elapsed:,.0f} people/s, peak worker memory {peak:.0f} MB "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    for kind in args.db.split(","):
        if kind == "postgres" and not pg_reachable():
            print("postgres  skipped: PostgreSQL is not reachable at STEPLINE_PG_ADMIN_URL")
            continue
        run(kind, args.people)


if __name__ == "__main__":
    main()
