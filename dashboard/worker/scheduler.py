"""The sender process: periodic jobs declared in one list, and one thread per enabled bind.

APScheduler only moves rows (due campaigns → queued messages, stale claims → queue); the bind
threads claim messages themselves. Its job store stays in memory on purpose: persistent stores
cannot be shared between processes (docs/dependencies.md), and our own tables hold the state.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, Message
from dashboard.models.types import utcnow
from dashboard.services import campaigns, idempotency, imports, signup, webhooks, workers
from dashboard.services.sending import enqueue, housekeeping
from dashboard.services.sending.rows import BindSettings
from dashboard.sms import lifecycle as lc
from dashboard.worker.bind_runner import BindRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A periodic job of the sender process. `singleton`: with several workers (PostgreSQL), it runs
    on the one elected leader only; False declares it safe to run on every worker at once
    (idempotent by construction). docs/scaling.md says which is which, and why."""
    name: str
    seconds: float
    run: Callable[["Worker"], object]
    singleton: bool = True


def _launch(worker: "Worker"):
    return campaigns.launch_due(utcnow())


def _complete(worker: "Worker"):
    return campaigns.complete_finished(utcnow())


def _guard(worker: "Worker"):
    return campaigns.enforce_failure_rates(utcnow())


def _reap(worker: "Worker"):
    return housekeeping.reap_expired_claims(utcnow())


def _reconcile(worker: "Worker"):
    hours = worker.app.config["RECEIPT_HOLD_HOURS"]
    return housekeeping.reconcile_held_receipts(utcnow(), timedelta(hours=hours), worker.bind_settings)


def _imports(worker: "Worker"):
    return imports.process_pending_imports(utcnow(), budget_rows=2000)


def _confirmations(worker: "Worker"):
    return signup.send_confirmations(utcnow(), worker.app.config["DEFAULT_REGION"])


def _reroute(worker: "Worker"):
    moved, worker.reroute_pass = housekeeping.reroute_queued(utcnow(), worker.reroute_pass)
    return moved


def _supervise(worker: "Worker"):
    return worker.supervise_binds()


def _webhooks(worker: "Worker"):
    return webhooks.run(utcnow)


def _expire(worker: "Worker"):
    expired = enqueue.expire_overdue(utcnow())
    enqueue.commit()
    return expired


def _forget_idempotency(worker: "Worker"):
    return idempotency.purge(utcnow(), timedelta(hours=worker.app.config["IDEMPOTENCY_HOURS"]))


def _heartbeat(worker: "Worker"):
    # Every page reads it to say whether a sender runs (dashboard/services/workers.py).
    return workers.beat(worker.worker_id, socket.gethostname(), os.getpid(), utcnow())


JOBS = (
    Job("heartbeat", 5.0, _heartbeat),
    Job("launch_due_campaigns", 1.0, _launch),
    Job("complete_campaigns", 2.0, _complete),
    Job("guard_campaigns", 1.0, _guard),
    Job("supervise_binds", 2.0, _supervise),
    Job("reroute_queued", 2.0, _reroute),
    Job("process_imports", 1.0, _imports),
    Job("signup_confirmations", 1.0, _confirmations),
    Job("reap_expired_claims", 15.0, _reap),
    Job("reconcile_held_receipts", 10.0, _reconcile),
    # One deliverer: events to one receiver go out in order, one POST after the other; two workers
    # posting the same receiver's queue at once could reorder them (services/webhooks.py).
    Job("deliver_webhooks", 0.5, _webhooks),
    # Guarded updates of queued rows only: running it on every worker at once expires each message once.
    Job("expire_overdue", 1.0, _expire, singleton=False),
    # A DELETE of old rows: harmless to repeat on every worker.
    Job("forget_idempotency_keys", 300.0, _forget_idempotency, singleton=False),
)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(self, app: Flask, worker_id: str | None = None, tick_scale: float = 1.0):
        self.app = app
        self.worker_id = worker_id or default_worker_id()
        self.runners: dict[int, BindRunner] = {}
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(4)},
                                             job_defaults={"coalesce": True, "max_instances": 1},
                                             timezone="UTC")
        self.tick_scale = tick_scale
        self.reroute_pass: housekeeping.ReroutePass | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> "Worker":
        with self.app.app_context():
            self._release_dead_claims()
        for job in JOBS:
            self.scheduler.add_job(self._wrap(job), "interval", seconds=job.seconds * self.tick_scale,
                                   id=job.name, name=job.name, next_run_time=utcnow())
        self.scheduler.start()
        log.info("worker %s started: %s", self.worker_id, ", ".join(j.name for j in JOBS))
        return self

    def _wrap(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            with self.app.app_context():
                try:
                    job.run(self)
                except Exception:
                    db.session.rollback()
                    log.exception("job %s failed", job.name)
                finally:
                    db.session.remove()
        return run

    def _release_dead_claims(self) -> None:
        """Claims held by an earlier process on this host that is gone are dead now: release
        them at once instead of waiting out the lease, so a restart resumes immediately."""
        host = socket.gethostname()
        owners = db.session.scalars(select(Message.claimed_by).where(
            Message.status == lc.SUBMITTING, Message.claimed_by.is_not(None)).distinct()).all()
        for owner in owners:
            name, _, pid = owner.rpartition(":")
            if name == host and pid.isdigit() and owner != self.worker_id and not _pid_alive(int(pid)):
                housekeeping.release_worker_claims(owner, utcnow())

    def supervise_binds(self) -> None:
        """Start a runner for each enabled bind; reap runners whose bind went away."""
        with self._lock:
            if self._stopped.is_set():
                return
            enabled = set(db.session.scalars(select(Bind.id).where(Bind.enabled.is_(True))))
            for bind_id, runner in list(self.runners.items()):
                if not runner.is_alive():
                    del self.runners[bind_id]
                elif bind_id not in enabled:
                    runner.stop()
            for bind_id in enabled - set(self.runners):
                runner = BindRunner(self.app, bind_id, self.worker_id)
                self.runners[bind_id] = runner
                runner.start()

    def bind_settings(self, bind_id: int | None) -> BindSettings:
        return BindSettings.for_bind_id(bind_id, timedelta(hours=self.app.config["VALIDITY_HOURS"]))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the jobs, then unbind every session cleanly."""
        with self._lock:
            self._stopped.set()
            runners = list(self.runners.values())
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        for runner in runners:
            runner.stop()
        for runner in runners:
            runner.join(timeout)

    def run_forever(self) -> None:
        """For `flask worker`: block until SIGTERM or SIGINT, then shut down cleanly."""
        done = threading.Event()

        def _handle(signum, _frame):
            log.info("signal %s: stopping", signum)
            done.set()

        signal.signal(signal.SIGTERM, _handle)
        signal.signal(signal.SIGINT, _handle)
        self.start()
        done.wait()
        self.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
