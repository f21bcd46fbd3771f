"""The webhook deliverer: one at a time across every worker, held by a lease of its own, and under
`flask worker` in a process of its own (docs/api.md, "How delivery works").

Why a process: turning status changes into events and posting them is Python work by the
thousand events a second. In the sender's process it shares one interpreter lock with the bind
runners, and a busy API's webhooks slowed the sender to a third of its queue-fed rate
(docs/performance.md, "HTTP API"). A process of its own runs on another core.

Why a lease of its own, not the workers' leader lease: whichever process delivers, in-process (the
demo, the tests) or as a worker's child, only one may post a receiver's queue at a time, or two
could reorder its events. The deliverer holds `webhooks` while it works and renews it on every
round; a deliverer that dies loses it when it expires (LEASE_SECONDS) and another takes over.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta

from flask import Flask

from dashboard.extensions import db
from dashboard.models.types import utcnow
from dashboard.services import leases, webhooks
from dashboard.worker.bind_runner import LeaseGrant, keep_lease
from dashboard.worker.signals import stop_on_signals

log = logging.getLogger(__name__)

WEBHOOKS_LEASE = "webhooks"
ROUND_SECONDS = 0.5  # between rounds when nothing was due for a while
# Within BUSY_SPELL_SECONDS of the last delivery the next round comes sooner: the last receipts of
# a burst should not wait half a second behind it (docs/performance.md, "HTTP API", session 3).
BUSY_ROUND_SECONDS = 0.1
BUSY_SPELL_SECONDS = 5.0


def pause_between_rounds(delivered: int, since_last_delivery: float) -> float:
    """How long to wait before the next round."""
    if delivered:
        return 0.0
    return BUSY_ROUND_SECONDS if since_last_delivery < BUSY_SPELL_SECONDS else ROUND_SECONDS


class WebhookDeliverer:
    """Runs the webhook job's rounds while it holds the `webhooks` lease. Call `run_once` inside an
    app context, from one thread."""

    def __init__(self, owner: str, ttl: timedelta, budget_seconds: float = 2.0) -> None:
        self.owner = owner
        self.ttl = ttl
        self.budget_seconds = budget_seconds
        self.grant: LeaseGrant | None = None

    @property
    def holds_lease(self) -> bool:
        return self.grant is not None and self.grant.valid(time.monotonic())

    def run_once(self) -> int:
        """Renew or take the lease; while held, collect and deliver until nothing is due or the
        budget (at most what is left of the lease on this clock) is spent. Returns how many events
        were delivered."""
        self._keep_lease()
        if not self.holds_lease:
            return 0
        budget = min(self.budget_seconds, self.grant.valid_until - time.monotonic())
        return webhooks.run(utcnow, budget_seconds=budget)

    def _keep_lease(self) -> None:
        self.grant = keep_lease(self.grant, WEBHOOKS_LEASE, self.owner, utcnow(), self.ttl)

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so the next deliverer need not wait for it."""
        if self.grant is not None:
            leases.release(self.grant.lease)
            self.grant = None


def deliver_forever(app: Flask, owner: str, parent_pid: int | None = None) -> None:
    """`flask webhooks`: rounds until SIGTERM or SIGINT, or until the worker that started it is
    gone (a SIGKILLed parent cannot stop its child; the child notices it was adopted)."""
    stop = stop_on_signals(f"webhook deliverer {owner}")
    deliverer = WebhookDeliverer(owner, timedelta(seconds=app.config["LEASE_SECONDS"]))
    last_delivery = float("-inf")
    with app.app_context():
        try:
            while not stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.warning("webhook deliverer: worker %s is gone, stopping", parent_pid)
                    break
                try:
                    delivered = deliverer.run_once()
                except Exception:
                    db.session.rollback()
                    log.exception("webhook round failed")
                    delivered = 0
                finally:
                    db.session.remove()
                if delivered:
                    last_delivery = time.monotonic()
                pause = pause_between_rounds(delivered, time.monotonic() - last_delivery)
                if pause:
                    stop.wait(pause)
        finally:
            try:
                deliverer.release()
            finally:
                db.session.remove()


class DelivererProcess:
    """A worker's child `flask webhooks` process: started with the worker, stopped with it."""

    def __init__(self, owner: str, app_import_path: str | None) -> None:
        self.owner = owner
        self.app_import_path = app_import_path
        self.process: subprocess.Popen | None = None

    def start(self) -> DelivererProcess:
        app_option = ["--app", self.app_import_path] if self.app_import_path else []
        # The same interpreter, working folder and environment as the worker: the same app and
        # configuration (instance folder, SWITCHBOARD_* variables).
        self.process = subprocess.Popen([sys.executable, "-m", "flask", *app_option, "webhooks",
                                         "--owner", self.owner, "--parent", str(os.getpid())])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
