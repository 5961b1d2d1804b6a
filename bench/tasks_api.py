"""GET /api/v1/tasks under load: 50 concurrent keep-alive clients against the production server.

Seeds a rep with ~50 open tasks (a campaign whose first step is a call, launched for 50
people), starts ``gunicorn 'server:create_app()'`` (gthread workers) on 127.0.0.1, then 50
client threads each loop ``GET /api/v1/tasks`` on their own keep-alive connection for
``--seconds`` twice: flat out (closed loop: the most the server gives), then paced at an
offered ``--rate`` of 500 req/s (open loop: the latency a rep sees at that load). Prints
requests/s and p50/p99 latency for both. Goal: 500 req/s, p99 <= 50 ms. The asyncio load
generator runs on the same 2 cores as the server, so the figures are a floor.

    .venv/bin/python bench/tasks_api.py [--db sqlite|postgres] [--workers 2] [--threads 4]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import datetime, timezone

from _server import Server, fresh_database, pg_reachable

from server import create_app
from server.services.campaigns import create_campaign
from server.services.launch import launch
from server.services.people import create_many
from server.services.users import create_token, create_user


def seed(url: str, tasks: int) -> str:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    now = datetime.now(timezone.utc)
    with app.app_context(), app.extensions["stepline_sessions"]() as session:
        rep = create_user(session, "rep@bench.example", role="rep", timezone="America/New_York", now=now)
        token = create_token(session, rep, now=now)
        campaign = create_campaign(session, rep, {"name": "Calls", "steps": [
            {"day": 1, "type": "call", "notes": "Ask about their outbound process"}, {"day": 3, "type": "call"}]},
            now=now)
        ids, _ = create_many(session, [{"email": f"p{i}@prospect.example", "first_name": f"P{i}",
                                        "last_name": "Lee", "company": f"Co {i}"} for i in range(tasks)], now=now)
        result = launch(session, rep, campaign.id, people=ids, now=now)
        assert len(result["enrolled"]) == tasks, result["refused"][:3]
        session.commit()
    app.extensions["stepline_engine"].dispose()
    return token


async def _client(port: int, request: bytes, stop_at: float, interval: float, mine: list[float],
                  errors: list[int], phase: float = 0.0) -> None:
    """One keep-alive connection; ``interval`` > 0 paces it (open loop), 0 means flat out.

    Paced clients start ``phase`` seconds apart, spread over one interval, so the offered load
    arrives evenly rather than as all the clients firing at the same instant every interval."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    next_at = time.perf_counter() + phase - interval
    while True:
        if interval:
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        t0 = time.perf_counter()
        if t0 >= stop_at:
            break
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200") or not body:
            errors[0] += 1
        # With pacing, latency counts from when the request was due, so queueing is not hidden.
        mine.append(time.perf_counter() - (min(t0, next_at) if interval else t0))
    writer.close()


def load(port: int, token: str, clients: int, seconds: float, rate: float = 0) -> tuple[list[float], int]:
    """Latencies of ``clients`` concurrent keep-alive clients for ``seconds`` (asyncio, so the
    load generator itself costs the shared CPUs as little as possible)."""
    request = (f"GET /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0]
    interval = clients / rate if rate else 0.0

    async def run() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_client(port, request, stop_at, interval, latencies[i], errors,
                                       phase=interval * i / clients)
                               for i in range(clients)))

    asyncio.run(run())
    return [x for mine in latencies for x in mine], errors[0]


def _report(label: str, latencies: list[float], errors: int, seconds: float) -> None:
    latencies.sort()
    count = len(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(count - 1, int(count * 0.99))] * 1000
    load1 = os.getloadavg()[0]
    print(f"{label}: {count / seconds:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors "
          f"(load average {load1:.1f} on {os.cpu_count()} CPUs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500, help="offered load of the paced run (req/s)")
    args = parser.parse_args()
    if args.db == "postgres" and not pg_reachable():
        print("postgres skipped: PostgreSQL is not reachable at STEPLINE_PG_ADMIN_URL")
        return
    with fresh_database(args.db) as url:
        token = seed(url, args.tasks)
        server = Server(url, workers=args.workers, threads=args.threads)
        try:
            status, body = server.request("GET", "/api/v1/tasks", token=token)
            assert status == 200 and len(body["tasks"]) == args.tasks, (status, body)
            load(server.port, token, 5, 1.0)  # warm-up
            flat_out = load(server.port, token, args.clients, args.seconds)
            paced = load(server.port, token, args.clients, args.seconds, rate=args.rate)
        finally:
            server.stop()
    where = (f"GET /api/v1/tasks ({args.tasks} tasks each), {args.db}, gunicorn -w {args.workers} gthread "
             f"--threads {args.threads}, {args.clients} clients")
    _report(f"{where}, as fast as possible", *flat_out, args.seconds)
    _report(f"{where}, offered {args.rate:.0f} req/s", *paced, args.seconds)


if __name__ == "__main__":
    main()
