"""A bind runner that finds its lease taken stops at once (docs/scaling.md, "Fencing"), and what
it had claimed but never written goes back to the queue then, not when each claim runs out."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from dashboard.extensions import db
from dashboard.models import Message, WorkerLease
from dashboard.models.types import utcnow
from dashboard.services import leases
from dashboard.services.routing import RouteChoice
from dashboard.services.sending.enqueue import insert_messages, message_values
from dashboard.sms.encoding import analyse
from dashboard.worker.bind_runner import BindRunner, LeaseGrant
from tests.conftest import wait_for

TEXT = "Your code is 482913"


def _claimed_by(worker: str) -> int:
    count = db.session.scalar(select(func.count()).select_from(Message)
                              .where(Message.status == "submitting", Message.claimed_by == worker))
    db.session.commit()
    return count


def test_a_runner_whose_lease_was_taken_hands_back_its_claims_at_once(app, make_simulator, make_bind, sender):
    simulator = make_simulator(receipt_delay=0.0)
    # Slow: most of what the runner claims waits in it for the rate, as on a busy carrier.
    bind = make_bind(simulator, tps=20, window=50)
    info = analyse(TEXT)
    insert_messages([message_values(destination=f"+1415555{i:04d}", text=TEXT, info=info, source="Switchboard",
                                    ton=5, npi=0, route=RouteChoice(bind.id, None, None), priority=100,
                                    now=utcnow(), udh_ref=i) for i in range(100)])
    db.session.commit()
    name = leases.bind_lease(bind.id)
    # A long lease on this process's clock: the runner learns of the takeover from the database only.
    grant = LeaseGrant.take(name, "worker-a", utcnow(), timedelta(minutes=5))
    db.session.commit()
    runner = BindRunner(app, bind.id, "worker-a", grant)
    runner.start()
    try:
        wait_for(lambda: simulator.submit_count() >= 5, timeout=20, message="sending under way")
        assert _claimed_by("worker-a") > 10  # claimed, waiting for the rate

        # Another worker takes the bind over (as after this one's pause past its lease).
        db.session.execute(update(WorkerLease).where(WorkerLease.name == name).values(
            owner="worker-b", epoch=WorkerLease.epoch + 1, expires_at=utcnow() + timedelta(minutes=5)))
        db.session.commit()
        runner.join(timeout=20)
        assert not runner.is_alive()
    finally:
        runner.stop()
        runner.join(timeout=20)

    assert runner.last_error == "lease lost: another worker drives this bind"
    assert _claimed_by("worker-a") == 0  # nothing left to wait out its claim
    statuses = dict(db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
    assert statuses.get("queued", 0) > 0 and "submitting" not in statuses
    # What never left is back in the queue unmarked; only what was written may be a duplicate.
    marked = set(db.session.scalars(select(Message.destination).where(Message.possible_duplicate.is_(True))))
    assert marked <= {f"+{record.destination_addr}" for record in simulator.submits}
