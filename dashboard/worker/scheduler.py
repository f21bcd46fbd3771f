"""The sender process: periodic jobs declared in one list, and one thread per enabled bind.

APScheduler only moves rows (due campaigns → queued messages, stale claims → queue); the bind
threads claim messages themselves. Its job store stays in memory on purpose: persistent stores
cannot be shared between processes (docs/dependencies.md), and our own tables hold the state.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, Message
from dashboard.models.types import utcnow
from dashboard.services import (alerts, budgets, campaigns, idempotency, imports, leases, notifications, rollups,
                                signup, workers)
from dashboard.services.sending import enqueue, housekeeping
from dashboard.services.sending.rows import BindSettings
from dashboard.sms import balance
from dashboard.sms import lifecycle as lc
from dashboard.worker.bind_runner import BindRunner, LeaseGrant, keep_lease
from dashboard.worker.signals import stop_on_signals
from dashboard.worker.webhook_process import DelivererProcess, WebhookDeliverer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A periodic job of the sender process. `singleton`: with several workers (PostgreSQL), it runs
    on the one elected leader only; False declares it safe to run on every worker at once
    (idempotent by construction). docs/scaling.md says which is which, and why."""
    name: str
    seconds: float | Callable[[dict], float]  # or, from the settings, for the lease's own jobs
    run: Callable[["Worker"], object]
    singleton: bool = True

    def period(self, config) -> float:
        return self.seconds(config) if callable(self.seconds) else self.seconds


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
    return worker.webhooks.run_once()


def _expire(worker: "Worker"):
    expired = enqueue.expire_overdue(utcnow())
    enqueue.commit()
    return expired


def _forget_idempotency(worker: "Worker"):
    return idempotency.purge(utcnow(), timedelta(hours=worker.app.config["IDEMPOTENCY_HOURS"]))


def _heartbeat(worker: "Worker"):
    # Every page reads it to say whether a sender runs (dashboard/services/workers.py).
    return workers.beat(worker.worker_id, socket.gethostname(), os.getpid(), utcnow())


def _rollups(worker: "Worker"):
    # The monthly budgets are judged on the spend the run just counted (dashboard/services/budgets.py).
    now = utcnow()
    rollups.run(now, worker.app.config["ROLLUP_MINUTE_HOURS"])
    return budgets.enforce(now)


def _alerts(worker: "Worker"):
    return alerts.evaluate(utcnow())


def _notifications(worker: "Worker"):
    return notifications.deliver_due(utcnow())


# Which jobs run once (on the elected leader) and which on every worker, and why: docs/scaling.md.
# Every job but the two a worker does for itself runs once: each would be safe twice over (their
# writes are conditional, launch is idempotent by its unique constraint), but not all are free
# twice over (two reconcilers, two failover passes, two confirmations texted for one sign-up).
JOBS = (
    # A worker's heartbeat and lease renewals come several times within a lease (LEASE_SECONDS), so
    # that one late round never makes it look dead or lose a lease it still holds.
    Job("heartbeat", lambda config: min(5.0, config["LEASE_SECONDS"] / 3), _heartbeat, singleton=False),
    Job("supervise_binds", lambda config: min(2.0, config["LEASE_SECONDS"] / 6), _supervise, singleton=False),
    Job("launch_due_campaigns", 1.0, _launch),
    Job("complete_campaigns", 2.0, _complete),
    Job("guard_campaigns", 1.0, _guard),
    Job("reroute_queued", 2.0, _reroute),
    Job("process_imports", 1.0, _imports),
    Job("signup_confirmations", 1.0, _confirmations),
    Job("reap_expired_claims", 15.0, _reap),
    Job("reconcile_held_receipts", 10.0, _reconcile),
    # One leader: the cursor's conditional move would undo a second run's work anyway, but a
    # second run would only waste a core.
    Job("rollups", 5.0, _rollups, singleton=True),
    # One leader: two evaluators could both fire the same alert before either committed.
    Job("evaluate_alerts", 15.0, _alerts, singleton=True),
    # Every worker may: each notification is claimed with a conditional UPDATE before it is sent.
    Job("alert_notifications", 5.0, _notifications, singleton=False),
    # One deliverer: events to one receiver go out in order, one POST after the other; two workers
    # posting the same receiver's queue at once could reorder them (services/webhooks.py). Held by
    # a lease of its own, not the leader's: under `flask worker` the deliverer is a process of its
    # own, not this job (worker/webhook_process.py).
    Job("deliver_webhooks", 0.5, _webhooks, singleton=False),
    # Guarded updates of queued rows only: running it on every worker at once expires each message once.
    Job("expire_overdue", 1.0, _expire, singleton=False),
    # A DELETE of old rows: harmless to repeat on every worker.
    Job("forget_idempotency_keys", 300.0, _forget_idempotency, singleton=False),
)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# How long a bind handed over to another worker waits for the answers to what it has in flight.
HANDOVER_SECONDS = 5.0


class Worker:
    """One sender process: its scheduler jobs, and a runner for each bind it holds a lease on.
    Any number of them may share one PostgreSQL database (docs/scaling.md)."""

    def __init__(self, app: Flask, worker_id: str | None = None, tick_scale: float = 1.0,
                 webhook_process: bool = False, app_import_path: str | None = None):
        """`webhook_process`: deliver webhooks from a child `flask webhooks` process (of the app
        at `app_import_path`, as `flask --app` takes it) instead of a job in this one."""
        self.app = app
        self.worker_id = worker_id or default_worker_id()
        deliverer = f"{self.worker_id}/webhooks"
        self.webhooks = WebhookDeliverer(deliverer, timedelta(seconds=app.config["LEASE_SECONDS"]))
        self.webhook_process = DelivererProcess(deliverer, app_import_path) if webhook_process else None
        self.runners: dict[int, BindRunner] = {}
        self.leadership: LeaseGrant | None = None
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(4)},
                                             job_defaults={"coalesce": True, "max_instances": 1},
                                             timezone="UTC")
        self.tick_scale = tick_scale
        self.reroute_pass: housekeeping.ReroutePass | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @property
    def lease_ttl(self) -> timedelta:
        return timedelta(seconds=self.app.config["LEASE_SECONDS"])

    @property
    def is_leader(self) -> bool:
        return self.leadership is not None and self.leadership.valid(time.monotonic())

    def start(self) -> "Worker":
        with self.app.app_context():
            self._release_dead_claims()
            self._keep_leadership(utcnow())  # before the jobs' first run, which asks for it
        if self.webhook_process is not None:
            self.webhook_process.start()
        for job in JOBS:
            if job.run is _webhooks and self.webhook_process is not None:
                continue
            self.scheduler.add_job(self._wrap(job), "interval", seconds=job.period(self.app.config) * self.tick_scale,
                                   id=job.name, name=job.name, next_run_time=utcnow())
        self.scheduler.start()
        log.info("worker %s started: %s", self.worker_id, ", ".join(j.name for j in JOBS))
        return self

    def _wrap(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            if job.singleton and not self.is_leader:
                return  # another worker is the leader and runs it
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
        """Keep this worker's share of the binds (docs/scaling.md): renew the leases it holds and
        stop at once the runner of any it lost; hand over, gently, the binds the balance now gives
        to another worker (one joined) or to nobody (disabled); take, and recover from their last
        holder, the binds it should drive that are free or expired (one left or died)."""
        with self._lock:
            if self._stopped.is_set():
                return
            now, ttl = utcnow(), self.lease_ttl
            self._keep_leadership(now)
            for bind_id, runner in list(self.runners.items()):
                if not runner.is_alive():
                    del self.runners[bind_id]
                    if not runner.grant.lost:
                        leases.release(runner.grant.lease)  # stopped or handed over: free it at once
                    continue
                runner.grant.renew(now, ttl)
                if runner.grant.lost:
                    runner.stop()
            enabled = set(db.session.scalars(select(Bind.id).where(Bind.enabled.is_(True))))
            live = [w.worker_id for w in workers.live_workers(now, stale_after=ttl)]
            held = {bind_id for bind_id, runner in self.runners.items() if not runner.draining}
            plan = balance.plan(self.worker_id, enabled, live, held)
            for bind_id in plan.hand_over:
                runner = self.runners[bind_id]
                runner.drain(timeout=HANDOVER_SECONDS)
            for bind_id in plan.take:
                if bind_id in self.runners:
                    continue  # still draining from a hand-over that is now undone: it ends, then is retaken
                grant = LeaseGrant.take(leases.bind_lease(bind_id), self.worker_id, now, ttl)
                if grant is None:
                    continue  # its holder hands it over, or its lease expires: a later round takes it
                housekeeping.release_bind_claims(bind_id, self.worker_id, now)
                runner = BindRunner(self.app, bind_id, self.worker_id, grant)
                self.runners[bind_id] = runner
                runner.start()

    def _keep_leadership(self, now: datetime) -> None:
        """Renew the leadership, or take it when nobody holds it: the jobs that run once run here."""
        self.leadership = keep_lease(self.leadership, leases.LEADER, self.worker_id, now, self.lease_ttl)

    def bind_settings(self, bind_id: int | None) -> BindSettings:
        return BindSettings.for_bind_id(bind_id, timedelta(hours=self.app.config["VALIDITY_HOURS"]))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the jobs; let what is in flight settle and unbind every session cleanly; give the
        leases up so that other workers take over at once instead of after they expire."""
        with self._lock:
            self._stopped.set()
            runners = list(self.runners.values())
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.webhook_process is not None:
            self.webhook_process.stop(timeout)
        for runner in runners:
            runner.drain(timeout=min(timeout / 2, 5.0))
        for runner in runners:
            runner.join(timeout)
            runner.stop()
        with self.app.app_context():
            try:
                for grant in [r.grant for r in runners if r.grant is not None] + [self.leadership]:
                    if grant is not None and not grant.lost:
                        leases.release(grant.lease)
                self.webhooks.release()
            finally:
                db.session.remove()

    def run_forever(self) -> None:
        """For `flask worker`: block until SIGTERM or SIGINT, then shut down cleanly."""
        done = stop_on_signals(f"worker {self.worker_id}")
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
