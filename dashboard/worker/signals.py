"""How the worker's processes (`flask worker`, its `flask webhooks` child) are told to stop."""
from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


def stop_on_signals(who: str) -> threading.Event:
    """An event set by SIGTERM or SIGINT: the process finishes what it is doing and stops cleanly."""
    stop = threading.Event()

    def _handle(signum, _frame):
        log.info("%s: signal %s, stopping", who, signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    return stop
