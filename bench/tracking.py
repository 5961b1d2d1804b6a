"""Benchmark of the tracking endpoints: open pixels and click redirects under load.

    .venv/bin/python bench/tracking.py [--requests 10000] [--clients 50] [--db sqlite|postgres]

It migrates a fresh database (a temporary SQLite file, or a new PostgreSQL database on
STEPLINE_PG_ADMIN_URL), seeds it with sent emails, starts the production server
(gunicorn 'server:create_app()') on 127.0.0.1, and fires the requests (half pixels, half
clicks, over 1,000 different emails) from concurrent keep-alive HTTP/1.1 clients, twice: flat out (the
throughput: requests/s) and paced at --rate requests/s (the latency at that load; with 50
clients flat out, latency is just 50 / throughput by Little's law). It prints requests/s and
latency percentiles, checks every answer (200 GIF / 302 Location) and that each request
recorded exactly one event. Goal: >= 1,000 requests/s, p99 <= 50 ms at 1,000 requests/s.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _server import free_port, fresh_database  # noqa: E402
from sqlalchemy import create_engine, func, insert, select  # noqa: E402

from server.models import Campaign, Email, Enrollment, Event, Mailbox, Person, Step, User  # noqa: E402
from server.services import tracking  # noqa: E402

SECRET = "bench-secret"


def seed(url: str, emails: int) -> list[int]:
    """A user, a campaign, and ``emails`` people each with one sent email of that campaign."""
    engine = create_engine(url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        user_id = conn.execute(insert(User).values(email="rep@bench.example", name="Rep", role="rep",
                                                   timezone="UTC", created_at=now).returning(User.id)).scalar_one()
        mailbox_id = conn.execute(insert(Mailbox).values(user_id=user_id, provider="smtp", address="rep@bench.example",
                                                         created_at=now).returning(Mailbox.id)).scalar_one()
        campaign_id = conn.execute(insert(Campaign).values(name="Bench", owner_id=user_id, created_at=now,
                                                           updated_at=now).returning(Campaign.id)).scalar_one()
        step_id = conn.execute(insert(Step).values(campaign_id=campaign_id, day=1, position=1, type="email",
                                                   send_option="at_time").returning(Step.id)).scalar_one()
        conn.execute(insert(Person), [{"email": f"p{i}@prospect.example", "fields": {}, "created_at": now}
                                      for i in range(emails)])
        people = list(conn.scalars(select(Person.id).order_by(Person.id)))
        conn.execute(insert(Enrollment), [
            {"campaign_id": campaign_id, "person_id": p, "user_id": user_id, "mailbox_id": mailbox_id,
             "state": "active", "timezone": "UTC", "day1": date.today(), "step_times": {}, "created_at": now}
            for p in people])
        enrollments = dict(conn.execute(select(Enrollment.person_id, Enrollment.id)).all())
        conn.execute(insert(Email), [
            {"user_id": user_id, "mailbox_id": mailbox_id, "person_id": p, "enrollment_id": enrollments[p],
             "step_id": step_id, "to_addr": f"p{i}@prospect.example", "subject": "Hello",
             "body_html": '<p><a href="https://acme.example/x">x</a></p>', "status": "sent",
             "due_at": now - timedelta(hours=1), "sent_at": now - timedelta(hours=1),
             "message_id": f"<{uuid.uuid4().hex}@bench>", "tracked_links": ["https://acme.example/x"],
             "created_at": now} for i, p in enumerate(people)])
        ids = list(conn.scalars(select(Email.id).order_by(Email.id)))
    engine.dispose()
    return ids


def start_server(url: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-w", str(workers), "-k", "gthread", "--threads", str(threads),
                             "--keep-alive", "30", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                             "server:create_app()"], cwd=str(ROOT), env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


async def client(port: int, paths: list[str], latencies: list[float], failures: list[str],
                 interval: float = 0.0, start: float = 0.0) -> None:
    """One keep-alive connection sending its requests one after another. With ``interval``
    each request is due at start + i * interval and its latency counts from that due time
    (so a slow server cannot hide its queueing: no coordinated omission)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i, path in enumerate(paths):
            due = start + i * interval if interval else time.perf_counter()
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         "User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - due)
            status = head.split(b" ", 2)[1]
            expected = b"200" if "/t/o/" in path else b"302"
            if status != expected:
                failures.append(f"{path}: {status.decode()}")
    finally:
        writer.close()


async def fire(port: int, paths: list[str], clients: int, rate: float = 0.0
               ) -> tuple[float, list[float], list[str]]:
    """All clients at once; flat out, or together paced at ``rate`` requests/s."""
    latencies: list[float] = []
    failures: list[str] = []
    shares = [paths[i::clients] for i in range(clients)]
    interval = clients / rate if rate else 0.0
    started = time.perf_counter() + 0.05
    await asyncio.gather(*(client(port, share, latencies, failures, interval,
                                  started + (i * interval / clients if rate else 0.0))
                           for i, share in enumerate(shares)))
    return time.perf_counter() - started, latencies, failures


def report(label: str, elapsed: float, latencies: list[float], failures: list[str]) -> tuple[float, float]:
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    rate = len(latencies) / elapsed
    print(f"  {label}: {rate:,.0f} requests/s   p50 {pct(0.50):.1f} ms   p95 {pct(0.95):.1f} ms   "
          f"p99 {pct(0.99):.1f} ms   max {latencies[-1] * 1000:.1f} ms   failures {len(failures)}")
    for failure in failures[:3]:
        print("    failure:", failure)
    return rate, pct(0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--emails", type=int, default=1_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: 1 on SQLite, whose writers would queue across "
                             "processes, 2 on PostgreSQL)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered load of the paced run")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 1 if args.db == "sqlite" else 2

    with fresh_database(args.db) as url:
        run(url, args)


def run(url: str, args: argparse.Namespace) -> None:
    """Seed ``url``, start gunicorn on it, fire the requests and print the figures."""
    server = None
    try:
        ids = seed(url, args.emails)
        config = {"SECRET_KEY": SECRET}
        rng = random.Random(7)
        paths = []
        for i in range(args.requests):
            email_id = rng.choice(ids)
            paths.append(f"/t/o/{tracking.open_token(config, email_id)}.gif" if i % 2 == 0
                         else f"/t/c/{tracking.click_token(config, email_id, 0)}")
        port = free_port()
        server = start_server(url, port, args.workers, args.threads)
        asyncio.run(fire(port, paths[:200], min(args.clients, 20)))  # warm-up: imports, pools, caches
        print(f"tracking bench: {args.requests} requests (half pixels, half clicks) from {args.clients} "
              f"keep-alive clients, {args.db}, gunicorn {args.workers} worker(s) x {args.threads} threads, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        flat = asyncio.run(fire(port, paths, args.clients))
        top_rate, top_p99 = report("flat out      ", *flat)
        paced = asyncio.run(fire(port, paths, args.clients, rate=args.rate))
        paced_rate, paced_p99 = report(f"paced {args.rate:,.0f}/s ", *paced)
        engine = create_engine(url)
        with engine.connect() as conn:
            recorded = conn.execute(select(func.count()).select_from(Event)).scalar_one()
        engine.dispose()
        expected = 2 * args.requests + 200
        print(f"  events recorded: {recorded} (expected {expected})")
        ok = (top_rate >= 1000 and paced_p99 <= 50 and not flat[2] and not paced[2] and recorded == expected)
        print("  goal (>= 1,000 requests/s, p99 <= 50 ms at 1,000 requests/s):", "met" if ok else "NOT met")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)




if __name__ == "__main__":
    main()
