"""The crash test: several real ``stepline worker`` processes on PostgreSQL, SIGKILLed at random
moments and restarted, deliver every email exactly once or leave it ``unknown``; never twice."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.models import Email
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]
STEPLINE = str(Path(sys.executable).with_name("stepline"))
EMAILS = int(os.environ.get("STEPLINE_CRASH_EMAILS", "1000"))
WORKERS = 3
MAX_KILLS = 6


def _spawn(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([STEPLINE, "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _claimers(app) -> list[str]:
    with app.extensions["stepline_sessions"]() as session:
        return list(session.scalars(select(Email.claimed_by).where(Email.status == "sending").distinct()))


def _counts(app) -> Counter:
    with app.extensions["stepline_sessions"]() as session:
        return Counter(dict(session.execute(select(Email.status, func.count()).group_by(Email.status)).all()))


@pytest.mark.postgres
@pytest.mark.skipif(os.environ.get("STEPLINE_TEST_DB") != "postgres", reason="the crash test needs PostgreSQL")
def test_workers_killed_at_random_moments_never_send_an_email_twice(app, database_url, rep, make_mailbox,
                                                                     make_campaign, smtp_sink):
    mailbox = make_mailbox(rep, port=smtp_sink.port)
    people = rep.post("/people/bulk", json={"people": [
        {"email": f"crash{i}@prospect.example", "first_name": f"P{i}"} for i in range(EMAILS)]}).json["created"]
    campaign = make_campaign(rep, [{"day": 1, "type": "email", "subject": "Hi {{ first_name }}",
                                    "body_html": "<p>Hi {{ first_name }}</p>", "send_option": "choose_at_launch"}])
    launched = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": people, "mailbox_id": mailbox, "send_at": "now"})
    assert len(launched.json["enrolled"]) == EMAILS

    env = os.environ | {"DATABASE_URL": database_url, "SECRET_KEY": "test-secret",
                        "PUBLIC_BASE_URL": "http://localhost", "DISPATCH_LEASE_SECONDS": "2",
                        "MAILBOX_DAILY_CAP": "0", "MAILBOX_MINUTE_CAP": "0"}
    rng = random.Random(os.environ.get("STEPLINE_CRASH_SEED", "7"))
    workers = [_spawn(env) for _ in range(WORKERS)]
    kills = 0
    deadline = time.monotonic() + 120  # typically done in 20-40 s; the margin is for a loaded CI machine
    try:
        # Every 0.2-0.8 s, SIGKILL a worker caught in the middle of its work (it holds claimed rows,
        # maybe one handed to the SMTP server) and start a new one in its place; up to MAX_KILLS.
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 0.8))
            counts = _counts(app)
            if counts["scheduled"] + counts["pending"] + counts["sending"] == 0:
                break
            if kills >= MAX_KILLS:
                continue
            busy = [i for i, w in enumerate(workers) if f":{w.pid}:" in " ".join(_claimers(app))]
            if busy:
                victim = rng.choice(busy)
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                kills += 1
                workers[victim] = _spawn(env)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()

    counts = _counts(app)
    arrived = Counter(r.message["Message-ID"] for r in smtp_sink.received)
    with app.extensions["stepline_sessions"]() as session:
        rows = session.execute(select(Email.message_id, Email.status)).all()
    assert kills >= 3, f"only {kills} kills happened; the test proved nothing"
    assert set(counts) <= {"sent", "unknown"}, counts
    assert [mid for mid, n in arrived.items() if n > 1] == []  # never twice
    for message_id, status in rows:
        if status == "sent":
            assert arrived[message_id] == 1, message_id
        else:
            assert arrived[message_id] <= 1
    assert set(arrived) <= {mid for mid, _ in rows}
    print(f"\ncrash test: {EMAILS} emails, {kills} SIGKILLs, {counts['sent']} sent, "
          f"{counts['unknown']} unknown ({sum(1 for m, s in rows if s == 'unknown' and arrived[m])} of them had "
          f"arrived)")
