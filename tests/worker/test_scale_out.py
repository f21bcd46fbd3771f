"""Several `flask worker` processes against one PostgreSQL database (docs/scaling.md): the binds
spread over them, each destination reaches the SMSC once, a killed worker's binds are taken over
with only its in-flight window retried (marked), and a worker paused past its lease sends nothing
when it wakes up. Always on PostgreSQL: several workers are what it is for."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import Message
from dashboard.models.types import utcnow
from dashboard.services import leases
from dashboard.services.binds import create_bind
from dashboard.services.routing import RouteChoice
from dashboard.services.sending.enqueue import insert_messages, message_values
from dashboard.sms.encoding import analyse
from tests.conftest import SIM_PASSWORD, dispose_engine, make_config, wait_for

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3  # a takeover within seconds, not the default 15
WINDOW = 50
TEXT = "Your code is 482913"


@pytest.fixture
def cluster_app(postgres, postgres_template, tmp_path):
    url = postgres.create_database(f"scale_{uuid.uuid4().hex[:10]}", template=postgres_template)
    config = make_config(url, LEASE_SECONDS=LEASE_SECONDS, ENCRYPTION_KEY_FILE=str(tmp_path / "keys"))
    app = create_app(config)
    with app.app_context():
        yield app
        dispose_engine()


class Workers:
    """`flask --app app worker` processes on the test's database, stopped after the test."""

    def __init__(self, app, log: Path) -> None:
        self.env = {**os.environ, "SWITCHBOARD_DATABASE_URL": app.config["DATABASE_URL"],
                    "SWITCHBOARD_SECRET_KEY": app.config["SECRET_KEY"],
                    "SWITCHBOARD_ENCRYPTION_KEY_FILE": app.config["ENCRYPTION_KEY_FILE"],
                    "SWITCHBOARD_LEASE_SECONDS": str(LEASE_SECONDS), "SWITCHBOARD_CLAIM_LEASE_SECONDS": "60"}
        self.log = log
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        flask = Path(sys.executable).with_name("flask")
        with self.log.open("ab") as out:
            process = subprocess.Popen([str(flask), "--app", "app", "worker"], cwd=ROOT, env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def workers(cluster_app, tmp_path):
    started = Workers(cluster_app, tmp_path / "workers.log")
    yield started
    started.stop()


def _owners() -> dict[int, str | None]:
    db.session.expire_all()
    return {int(name.split(":")[1]): owner for name, (owner, _epoch, expires) in leases.holders("bind:").items()
            if owner is not None and expires is not None and expires > utcnow()}


def _claims_of(worker: str) -> int:
    count = db.session.scalar(select(func.count()).select_from(Message)
                              .where(Message.status == "submitting", Message.claimed_by == worker))
    db.session.commit()
    return count


def _worker_of(process: subprocess.Popen) -> str:
    return f"{os.uname().nodename}:{process.pid}"


def _queue(bind_ids: list[int], n: int) -> None:
    info = analyse(TEXT)
    rows = [message_values(destination=f"+1415{i:07d}", text=TEXT, info=info, source="Switchboard", ton=5, npi=0,
                           route=RouteChoice(bind_ids[i % len(bind_ids)], None, None), priority=100, now=utcnow(),
                           udh_ref=i % 256) for i in range(n)]
    for start in range(0, n, 5000):
        insert_messages(rows[start:start + 5000])
    db.session.commit()


def _final() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.status == "delivered"))


def _binds(simulator, count: int, tps: float) -> list[int]:
    return [create_bind(name=f"carrier{i}", host="127.0.0.1", port=simulator.port, system_id=f"c{i}",
                        password=SIM_PASSWORD, mode="trx", tps=tps, window=WINDOW, response_timeout=5.0).id
            for i in range(count)]


@pytest.mark.slow
def test_three_workers_send_each_destination_once_and_take_over_the_binds_of_one_killed(
        cluster_app, workers, make_simulator):
    simulator = make_simulator(accounts={f"c{i}": SIM_PASSWORD for i in range(4)}, receipt_delay=0.0)
    bind_ids = _binds(simulator, 4, tps=5000)
    processes = [workers.start() for _ in range(3)]
    wait_for(lambda: len(set(_owners().values())) == 3 and len(_owners()) == 4, timeout=30,
             message="four binds spread over three workers")
    total = 20_000
    _queue(bind_ids, total)

    wait_for(lambda: simulator.submit_count() >= total // 4, timeout=60, message="a quarter sent")
    owners = _owners()
    busiest = max(processes, key=lambda p: sum(1 for o in owners.values() if o == _worker_of(p)))
    killed_binds = [b for b, o in owners.items() if o == _worker_of(busiest)]
    busiest.send_signal(signal.SIGKILL)
    busiest.wait(timeout=10)

    wait_for(lambda: _final() == total, timeout=120, message=f"all {total} delivered after the kill")
    survivors = {_worker_of(p) for p in processes if p is not busiest}
    assert set(_owners()) == set(bind_ids) and set(_owners().values()) <= survivors  # taken over

    reached = Counter(record.destination_addr for record in simulator.submits if record.accepted)
    assert set(reached) == {f"1415{i:07d}" for i in range(total)}  # nobody lost
    repeated = {f"+{number}" for number, times in reached.items() if times > 1}
    marked = set(db.session.scalars(select(Message.destination).where(Message.possible_duplicate.is_(True))))
    # Only what was in flight on the killed worker's binds went twice, and each of them is marked
    # (and counted by `flask status`: possible_duplicates).
    assert repeated <= marked
    assert len(marked) <= WINDOW * len(killed_binds), f"{len(marked)} possible duplicates"


@pytest.mark.slow
def test_a_worker_paused_past_its_lease_sends_nothing_when_it_wakes_up(cluster_app, workers, make_simulator):
    simulator = make_simulator(accounts={"c0": SIM_PASSWORD, "c1": SIM_PASSWORD}, receipt_delay=0.0)
    bind_ids = _binds(simulator, 2, tps=150)  # slow enough to be sending all through the pause
    first, second = workers.start(), workers.start()
    wait_for(lambda: len(set(_owners().values())) == 2, timeout=30, message="one bind each")
    total = 2_000
    _queue(bind_ids, total)
    wait_for(lambda: simulator.submit_count() >= 300, timeout=30, message="sending under way")

    # The sockets of the first worker's SMPP sessions: what it writes arrives on these.
    first_ports = {c.laddr.port for c in psutil.Process(first.pid).net_connections(kind="tcp")
                   if c.raddr and c.raddr.port == simulator.port}
    assert first_ports
    first.send_signal(signal.SIGSTOP)
    wait_for(lambda: set(_owners().values()) == {_worker_of(second)}, timeout=30,
             message="the second worker took the paused one's bind")
    wait_for(lambda: simulator.submit_count() >= 600, timeout=30, message="the taken-over bind sending again")
    woke_at = time.monotonic()
    first.send_signal(signal.SIGCONT)

    # Woken, it finds its lease gone. What it had claimed and not written goes back to the queue at
    # once: left claimed, it waited out the claim's minute (CLAIM_LEASE_SECONDS) before the reaper.
    wait_for(lambda: _claims_of(_worker_of(first)) == 0, timeout=LEASE_SECONDS * 5,
             message="the woken worker handed back what it had claimed")
    wait_for(lambda: _final() == total, timeout=90, message="all delivered")
    after_waking = [r for r in simulator.submits if r.peer_port in first_ports and r.received_at >= woke_at]
    assert after_waking == []  # fenced: not one submit_sm from the worker that lost its lease
    reached = Counter(record.destination_addr for record in simulator.submits if record.accepted)
    assert len(reached) == total
    marked = set(db.session.scalars(select(Message.destination).where(Message.possible_duplicate.is_(True))))
    assert {f"+{n}" for n, times in reached.items() if times > 1} <= marked
