"""Dispatcher benchmark: N emails due at the same instant across M mailboxes (caps lifted),
delivered by 1, 2 and 4 ``stepline worker`` processes on PostgreSQL to a local aiosmtpd sink.

Prints, per worker count: emails/s (from the due instant to the last acceptance), the lag from
due time to acceptance (p50, p99) and the duplicate count (Message-IDs that arrived twice).

Two scenarios. **Burst**: every email due at the same instant, which measures throughput; its
lag is dominated by queueing (the last of 20,000 emails at R emails/s waits 20,000/R seconds
whatever the dispatcher does). **Paced**: the same emails due one after another at a steady
rate below capacity (``--paced``, emails/s), which measures what "on time" means to a rep:
how late an email leaves after its own due instant.

    .venv/bin/python bench/dispatch.py [--emails 20000] [--mailboxes 200] [--workers 1,2,4] [--paced 200]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _server import free_port, fresh_database  # noqa: E402

from server import create_app  # noqa: E402

STEPLINE = str(Path(sys.executable).with_name("stepline"))


class CountingHandler:
    """Records only Message-IDs: the sink must not be the bottleneck."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        data: bytes = envelope.original_content
        start = data.find(b"\nMessage-ID: ")
        end = data.find(b"\n", start + 1)
        with self.lock:
            self.ids[data[start + 13:end].strip().decode()] += 1
        return "250 OK"


def _setup(url: str, emails: int, mailboxes: int, port: int) -> None:
    """Users, mailboxes, people and launches through the real API; every email is parked in
    the far future so that the measured run starts when they all become due together."""
    from server.services.users import create_token, create_user

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "PUBLIC_BASE_URL": "http://localhost"})
    client = app.test_client()
    with app.app_context(), app.extensions["stepline_sessions"]() as session:
        user = create_user(session, "bench@example.com", role="admin", timezone="UTC",
                           now=datetime.now(timezone.utc))
        token = create_token(session, user, now=datetime.now(timezone.utc))
        session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    campaign = client.post("/api/v1/campaigns", headers=headers, json={
        "name": "bench", "settings": {"skip_weekends": False},
        "steps": [{"day": 1, "type": "email", "subject": "Hello {{ first_name }}",
                   "body_html": "<p>Hi {{ first_name }}, a short note about {{ company }}.</p>",
                   "send_option": "choose_at_launch"}]}).json
    park = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    per_box = emails // mailboxes
    for m in range(mailboxes):
        box = client.post("/api/v1/mailboxes", headers=headers, json={
            "provider": "smtp", "address": f"seller{m}@sales.example", "smtp_host": "127.0.0.1",
            "smtp_port": port, "smtp_starttls": False}).json["id"]
        people = client.post("/api/v1/people/bulk", headers=headers, json={"people": [
            {"email": f"p{m}-{i}@prospect.example", "first_name": f"P{i}", "company": "Acme"}
            for i in range(per_box)]}).json["created"]
        answer = client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers,
                             json={"people": people, "mailbox_id": box, "send_at": park})
        assert len(answer.json["enrolled"]) == per_box, answer.json
    app.extensions["stepline_engine"].dispose()


def _run(url: str, workers: int, emails: int, handler: CountingHandler, pace: float = 0.0) -> dict[str, float]:
    engine = create_engine(url)
    with engine.begin() as conn:  # reset between runs
        conn.execute(text("UPDATE emails SET status='scheduled', sent_at=NULL, claimed_by=NULL, claimed_at=NULL, "
                          "attempts=0, failure_reason=NULL, due_at=now() + interval '30 days'"))
        conn.execute(text("UPDATE enrollments SET state='active', ended_at=NULL, "
                          "current_step_id=(SELECT min(id) FROM steps)"))
        conn.execute(text("UPDATE enrollment_steps SET status='current', done_at=NULL"))
        conn.execute(text("DELETE FROM events WHERE type IN ('sent', 'finished', 'failed')"))
    handler.ids.clear()
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "bench", "PUBLIC_BASE_URL": "http://localhost",
                        "MAILBOX_DAILY_CAP": "0", "MAILBOX_MINUTE_CAP": "0"}
    logs = [open(Path(tempfile.gettempdir()) / f"stepline-bench-worker-{workers}-{i}.log", "w")
            for i in range(workers)]
    procs = [subprocess.Popen([STEPLINE, "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
             for log in logs]
    time.sleep(8)  # let every worker import and reach its idle loop; startup is not what we measure
    with engine.begin() as conn:
        due = conn.execute(text("SELECT now()")).scalar_one()
        if pace:  # one after another, in id order, ``pace`` a second
            conn.execute(text("UPDATE emails SET due_at = :due + (r.n - 1) * interval '1 second' / :pace "
                              "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM emails) AS r "
                              "WHERE emails.id = r.id"), {"due": due, "pace": pace})
        else:
            conn.execute(text("UPDATE emails SET due_at = :due"), {"due": due})
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        time.sleep(0.5)
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM emails WHERE status IN "
                                     "('scheduled', 'pending', 'sending')")).scalar_one()
        if left == 0:
            break
        if all(p.poll() is not None for p in procs):
            raise SystemExit(f"every worker died; see {logs[0].name}")
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)
    with engine.connect() as conn:
        lags = sorted(r[0] for r in conn.execute(text(
            "SELECT extract(epoch FROM sent_at - due_at) FROM emails WHERE status='sent'")))
        last = conn.execute(text("SELECT extract(epoch FROM max(sent_at) - min(due_at)) FROM emails")).scalar_one()
    engine.dispose()
    duplicates = sum(n - 1 for n in handler.ids.values() if n > 1)
    last = float(last or 0)
    return {"workers": workers, "sent": len(lags), "not_sent": emails - len(lags), "seconds": last,
            "rate": len(lags) / float(last) if last else 0.0,
            "p50": statistics.median(lags) if lags else float("nan"),
            "p99": lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"), "duplicates": duplicates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=20000)
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--paced", type=float, default=200.0,
                        help="emails/s of the paced scenario (0 skips it)")
    args = parser.parse_args()
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with fresh_database("postgres") as url:
            measure(url, args, port, handler)
    finally:
        controller.stop()


def measure(url: str, args: argparse.Namespace, port: int, handler: CountingHandler) -> None:
    """Set the emails up on ``url``, then deliver them with each worker count and print the figures."""
    started = time.monotonic()
    _setup(url, args.emails, args.mailboxes, port)
    print(f"setup: {args.emails} emails across {args.mailboxes} mailboxes in {time.monotonic() - started:.1f}s")
    scenarios = [("burst: all due at once", 0.0)]
    if args.paced:
        scenarios.append((f"paced: due at {args.paced:g} emails/s", args.paced))
    for title, pace in scenarios:
        print(title)
        print(f"{'workers':>7} {'sent':>6} {'failed':>6} {'seconds':>8} {'emails/s':>9} {'lag p50':>8} "
              f"{'lag p99':>8} {'dups':>5}")
        for workers in [int(w) for w in args.workers.split(",")]:
            r = _run(url, workers, args.emails, handler, pace)
            print(f"{r['workers']:>7} {r['sent']:>6} {r['not_sent']:>6} {r['seconds']:>8.1f} {r['rate']:>9.1f} "
                  f"{r['p50']:>7.2f}s {r['p99']:>7.2f}s {r['duplicates']:>5}", flush=True)


if __name__ == "__main__":
    main()
