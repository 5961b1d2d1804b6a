"""``stepline worker``: the dispatcher's loop around :func:`server.services.dispatch.run_pass`."""
from __future__ import annotations

import logging
import signal
import time

from flask import Flask

from server.services.dispatch import run_pass

log = logging.getLogger("stepline.worker")


def run_worker(app: Flask, *, once: bool = False, idle_sleep: float = 1.0) -> None:
    """One pass with ``once``; otherwise pass after pass, sleeping briefly only when idle."""
    stopping = False

    def _stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    while True:
        done = run_pass(app)
        if once or stopping:
            return
        if not done:
            time.sleep(idle_sleep)
