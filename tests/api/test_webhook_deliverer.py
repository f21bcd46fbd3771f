"""The webhook deliverer (dashboard/worker/webhook_process.py): one at a time, by a lease of its own,
the next taking over when it stops; under `flask worker`, a child process that delivers while the
worker sends, and ends when its worker is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psutil
from sqlalchemy import func, select

from dashboard import crypto
from dashboard.extensions import db
from dashboard.models import WebhookEvent
from dashboard.services import leases
from dashboard.worker.webhook_process import (
    BUSY_ROUND_SECONDS,
    BUSY_SPELL_SECONDS,
    ROUND_SECONDS,
    WEBHOOKS_LEASE,
    WebhookDeliverer,
    pause_between_rounds,
)
from tests.api.conftest import Api
from tests.conftest import approved_sender, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _send(api: Api, to: str) -> int:
    response = api.post("/messages", json={"to": to, "from": "Switchboard", "text": "Your parcel is on its way"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _pending() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status == "pending"))


def test_one_deliverer_at_a_time_and_the_next_takes_over_when_it_stops(app, client, make_key, receiver):
    approved_sender()
    api = Api(client, make_key(webhook_url=receiver.url).token)
    first = WebhookDeliverer("host:1/webhooks", timedelta(seconds=15))
    second = WebhookDeliverer("host:2/webhooks", timedelta(seconds=15))

    _send(api, "+12025550101")
    assert first.run_once() == 1 and first.holds_lease  # its message.accepted
    _send(api, "+12025550102")
    assert second.run_once() == 0 and not second.holds_lease  # the first holds the lease: hands off
    assert len(receiver.events()) == 1

    first.release()
    assert second.run_once() == 1 and second.holds_lease  # released: taken at once, not after 15 s
    assert first.run_once() == 0 and not first.holds_lease
    assert [e["type"] for e in receiver.events()] == ["message.accepted", "message.accepted"]
    assert _pending() == 0


def test_flask_worker_delivers_webhooks_from_a_child_process_that_ends_with_it(
    app, client, make_key, receiver, simulator, make_bind, tmp_path
):
    approved_sender()
    make_bind(simulator)
    api = Api(client, make_key(webhook_url=receiver.url).token)
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": app.config["DATABASE_URL"],
           "SWITCHBOARD_SECRET_KEY": app.config["SECRET_KEY"],
           "SWITCHBOARD_ENCRYPTION_KEY_FILE": str(crypto.key_file(app.config, app.instance_path)),
           "SWITCHBOARD_LEASE_SECONDS": "3"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([str(Path(sys.executable).with_name("flask")), "--app", "app", "worker"], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        message_id = _send(api, "+12025550103")
        wait_for(lambda: any(e["type"] == "message.delivered" and e["data"]["message_id"] == message_id
                             for e in receiver.events()), timeout=60, message="delivered webhook from `flask worker`")
        children = [p for p in psutil.Process(worker.pid).children() if "webhooks" in p.cmdline()]
        assert len(children) == 1, [p.cmdline() for p in psutil.Process(worker.pid).children()]
        deliverer = children[0]
        db.session.expire_all()
        owner = leases.holders(WEBHOOKS_LEASE)[WEBHOOKS_LEASE][0]
        assert owner == f"{os.uname().nodename}:{worker.pid}/webhooks"  # the child holds it, for its worker

        # A worker killed outright cannot stop its child: the child notices it was orphaned and ends.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        psutil.wait_procs([deliverer], timeout=15)
        assert not deliverer.is_running() or deliverer.status() == psutil.STATUS_ZOMBIE
        db.session.expire_all()
        assert leases.holders(WEBHOOKS_LEASE)[WEBHOOKS_LEASE][0] is None  # given up on its way out
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        for child in psutil.Process().children(recursive=True):
            if "webhooks" in child.cmdline():
                child.kill()
        log.close()


def test_the_deliverer_comes_back_sooner_while_traffic_flows():
    """After a round that delivered, the next comes at once; within a few seconds of the last
    delivery, after a tenth of a second (the last receipts of a burst); idle, after half a second."""
    assert pause_between_rounds(3, 0.0) == 0.0
    assert pause_between_rounds(0, 1.0) == BUSY_ROUND_SECONDS < ROUND_SECONDS
    assert pause_between_rounds(0, BUSY_SPELL_SECONDS + 1) == ROUND_SECONDS
    assert pause_between_rounds(0, float("inf")) == ROUND_SECONDS
