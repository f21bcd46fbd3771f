"""A bind contracted far above what its SMSC grants settles just under the grant instead of
storming it with submits the SMSC refuses (docs/architecture.md, "Throttling")."""
from __future__ import annotations

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import BindStatus, Message
from dashboard.models.types import utcnow
from dashboard.services.routing import RouteChoice
from dashboard.services.sending.enqueue import insert_messages, message_values
from dashboard.sms.encoding import analyse
from dashboard.sms.smpp_status import ESME_RTHROTTLED
from dashboard.simulator import SimulatorConfig
from dashboard.simulator.process import SimulatorProcess
from tests.conftest import SIM_PASSWORD, SIM_SYSTEM_ID, wait_for

GRANT = 400  # submit_sm per second the SMSC takes before answering ESME_RTHROTTLED
MESSAGES = 3000


def _queue(bind_id: int, n: int) -> None:
    text = "Your code is 482913"
    rows = [message_values(destination=f"+1415{i:07d}", text=text, info=analyse(text), source="Switchboard", ton=5,
                           npi=0, route=RouteChoice(bind_id, None, None), priority=100, now=utcnow(), udh_ref=i % 256)
            for i in range(n)]
    insert_messages(rows)
    db.session.commit()


def test_a_bind_contracted_far_above_the_grant_settles_just_under_it(app, client, auth, make_user, make_bind, worker):
    # The SMSC in a process of its own: sharing this process's interpreter with the sender would make
    # its pace the sender's, and this measures the sender against a pace it does not control.
    config = SimulatorConfig(port=0, max_tps=GRANT, receipt_delay=0.01, accounts={SIM_SYSTEM_ID: SIM_PASSWORD})
    with SimulatorProcess(config) as simulator:
        _run(app, client, auth, make_user, make_bind, worker, simulator)


def _run(app, client, auth, make_user, make_bind, worker, simulator):
    bind = make_bind(simulator, tps=5000, window=100)
    _queue(bind.id, MESSAGES)
    worker()

    def delivered():
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(Message).where(Message.status == "delivered"))
    wait_for(lambda: delivered() == MESSAGES, timeout=60, message=f"all {MESSAGES} delivered")

    submits = simulator.submit_times()  # (received at, answer's status)
    start = submits[0][0] + 2.0  # the first two seconds find the grant
    settled = [s for s in submits if s[0] >= start]
    accepted = [s for s in settled if s[1] == 0]
    throttled = [s for s in settled if s[1] == ESME_RTHROTTLED]
    seconds = accepted[-1][0] - start
    assert len(throttled) <= 0.10 * len(accepted), f"{len(throttled)} throttled for {len(accepted)} accepted"
    assert len(accepted) / seconds >= 0.85 * GRANT, f"{len(accepted) / seconds:.0f} accepted/s"
    # The bind page shows what it settled on: just under the grant, far under the contract.
    refused = sum(1 for s in submits if s[1] == ESME_RTHROTTLED)

    def published():
        db.session.expire_all()
        status = db.session.get(BindStatus, bind.id)
        return status if status.throttled_total == refused else None
    status = wait_for(published, timeout=5, message="the bind's state published")
    # Just under the grant, as measured from what the SMSC took while it refused the rest: never
    # above it, and close to what the SMSC accepted in this run (on a starved machine the sender
    # itself may take less than the grant, and its measure says so).
    taken = min(GRANT, len(accepted) / seconds)
    assert 0.8 * taken <= status.settled_tps <= 1.1 * GRANT
    make_user()
    auth.login()
    assert f"settled at {status.settled_tps:g} parts/s" in client.get(f"/binds/{bind.id}/state").data.decode()
