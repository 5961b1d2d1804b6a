"""``stepline worker``: the dispatcher's loop around :func:`server.services.dispatch.run_pass`.

Why a short indexed poll rather than a fixed sleep: after each idle pass the worker reads the
earliest due instant (one lookup on the ``(status, due_at)`` index) and sleeps until then,
but never more than a second, so an email scheduled by another process (a launch, a task
sent by a rep) goes out within about a second of its due time without busy polling.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime

from flask import Flask

from server.clock import get_clock
from server.services.dispatch import next_due_at, run_pass

log = logging.getLogger("stepline.worker")
MAX_SLEEP = 1.0
INBOUND_EVERY = 60.0
CRM_EVERY = 10.0


def seconds_until(due: datetime | None, now: datetime, cap: float = MAX_SLEEP) -> float:
    """How long an idle worker may sleep: until the next due instant, at most ``cap``."""
    if due is None:
        return cap
    # A floor, so rows another worker holds (SKIP LOCKED) do not turn into a busy loop.
    return max(0.05, min(cap, (due - now).total_seconds()))


def _inbound(app: Flask) -> None:
    from server.services.inbound import poll_all

    poll_all(app)


def _crm(app: Flask) -> None:
    """Salesforce sync through its outbox; does nothing unless Salesforce is configured."""
    from server.services.crm_sync import run_pass as crm_pass

    crm_pass(app)


# Side jobs of the loop, each at its own pace: (name, seconds between runs, job).
PERIODIC = (("inbound polling", INBOUND_EVERY, _inbound), ("CRM sync", CRM_EVERY, _crm))


def _run_side_job(app: Flask, name: str, job) -> None:
    try:
        job(app)
    except Exception:  # noqa: BLE001 - a mailbox or CRM problem must never stop sending
        log.exception("%s failed", name)


def run_worker(app: Flask, *, once: bool = False, max_sleep: float = MAX_SLEEP,
               stop: threading.Event | None = None) -> None:
    """One pass with ``once``; otherwise pass after pass until SIGTERM/SIGINT (or ``stop``)."""
    app = getattr(app, "_get_current_object", lambda: app)()  # the CLI passes the current_app proxy
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    last_run = {name: float("-inf") for name, _every, _job in PERIODIC}
    try:
        while True:
            for name, every, job in PERIODIC:
                if once or time.monotonic() - last_run[name] >= every:
                    last_run[name] = time.monotonic()
                    _run_side_job(app, name, job)
            try:
                done = run_pass(app, should_stop=stop.is_set)
            except Exception:  # noqa: BLE001 - e.g. the database restarting: log, wait, go on
                if once:
                    raise
                log.exception("dispatch pass failed; retrying in a second")
                stop.wait(MAX_SLEEP)
                continue
            if once or stop.is_set():
                return
            if not done:
                with app.app_context():
                    now = get_clock().now()
                stop.wait(seconds_until(next_due_at(app), now, max_sleep))
    finally:
        from server.adapters.providers.smtp import close_all

        close_all()
