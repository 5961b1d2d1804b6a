"""The ``stepline worker`` loop: one pass with --once, and waking within about a second of a due time."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from server import create_app
from server.worker import run_worker, seconds_until
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]
STEP = [{"day": 1, "type": "email", "subject": "Hi", "body_html": "<p>Hi</p>", "send_option": "choose_at_launch"}]


def test_an_idle_worker_sleeps_until_the_next_due_time_but_never_more_than_a_second():
    now = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)
    assert seconds_until(None, now) == 1.0
    assert seconds_until(now + timedelta(hours=3), now) == 1.0
    assert seconds_until(now + timedelta(milliseconds=300), now) == 0.3
    assert seconds_until(now - timedelta(seconds=5), now) == 0.05  # a floor: no busy loop


def test_stepline_worker_once_sends_what_is_due_and_exits(app, database_url, rep, make_mailbox, make_person,
                                                          make_campaign, smtp_sink):
    mailbox = make_mailbox(rep, port=smtp_sink.port)
    person = make_person(rep)
    campaign = make_campaign(rep, STEP)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox, "send_at": "now"})
    env = os.environ | {"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "PUBLIC_BASE_URL": "http://localhost"}
    done = subprocess.run([str(Path(sys.executable).with_name("stepline")), "worker", "--once"], cwd=ROOT, env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(smtp_sink.received) == 1
    assert rep.get("/emails?status=sent").json["emails"][0]["status"] == "sent"


def test_a_running_worker_sends_an_email_within_about_a_second_of_its_due_time_not_before(
        app, database_url, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    mailbox = make_mailbox(rep, port=smtp_sink.port)
    person = make_person(rep)
    campaign = make_campaign(rep, STEP)
    due = datetime.now(timezone.utc) + timedelta(seconds=2)
    response = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": [person], "mailbox_id": mailbox, "send_at": due.isoformat()})
    assert response.json["enrolled"], response.json
    real = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test-secret",
                       "PUBLIC_BASE_URL": "http://localhost"})
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(real,), kwargs={"stop": stop})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not smtp_sink.received and time.monotonic() < deadline:
            time.sleep(0.02)
        arrived = datetime.now(timezone.utc)
    finally:
        stop.set()
        worker.join(timeout=10)
        real.extensions["stepline_engine"].dispose()
    assert smtp_sink.received, "the worker never sent the email"
    assert due <= arrived < due + timedelta(seconds=1.5)
