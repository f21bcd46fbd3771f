"""Kill -9 the sender in the middle of a campaign, start it again: nobody is lost, and nobody
gets a second message except what was in flight at the crash, which is marked (docs/architecture.md #1, #2, #8)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, Contact, ListMembership, Message
from dashboard.models.types import utcnow
from dashboard.services.campaigns import create_campaign
from dashboard.services.contacts import create_list
from tests.conftest import wait_for

RECIPIENTS = 5000
WINDOW = 20
ROOT = Path(__file__).resolve().parents[2]


def _audience(count: int) -> list[str]:
    return [f"+1415{n:07d}" for n in range(count)]


def _start_worker(app, log: Path) -> subprocess.Popen:
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": app.config["DATABASE_URL"],
           "SWITCHBOARD_SECRET_KEY": app.config["SECRET_KEY"]}
    flask = Path(sys.executable).with_name("flask")
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([str(flask), "--app", "app", "worker"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_a_worker_killed_mid_campaign_resumes_without_losing_or_repeating_recipients(
        app, tmp_path, make_simulator, make_bind, sender):
    simulator = make_simulator(receipt_delay=0.05)
    make_bind(simulator, tps=2000, window=WINDOW)
    contact_list = create_list("Everyone")
    now = utcnow()
    db.session.execute(Contact.__table__.insert(), [dict(phone=p, name="", fields={}, created_at=now,
                                                         global_opt_out=False) for p in _audience(RECIPIENTS)])
    ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
    db.session.execute(ListMembership.__table__.insert(), [dict(list_id=contact_list.id, contact_id=i, subscribed=True,
                                                               created_at=now) for i in ids])
    db.session.commit()
    campaign = create_campaign(name="big", list_id=contact_list.id, sender_id_id=sender.id, text="Flash sale today",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    log = tmp_path / "worker.log"

    first = _start_worker(app, log)
    try:
        wait_for(lambda: simulator.submit_count() >= RECIPIENTS // 3, timeout=90, message="a third sent")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    at_crash = simulator.submit_count()
    assert at_crash < RECIPIENTS, "the crash came too late to test anything"

    second = _start_worker(app, log)
    try:
        def finished():
            db.session.expire_all()
            return db.session.get(Campaign, campaign.id).status == "completed"
        wait_for(finished, timeout=120, message=f"campaign completed; worker log: {log}")
    finally:
        second.terminate()
        second.wait(20)

    assert db.session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign.id)) == RECIPIENTS  # one message per recipient, despite the crash
    seen = Counter(s.destination_addr for s in simulator.submits)
    assert set(seen) == {p.lstrip("+") for p in _audience(RECIPIENTS)}  # nobody lost
    twice = {dest for dest, count in seen.items() if count > 1}
    marked = {m.lstrip("+") for m in db.session.scalars(
        select(Message.destination).where(Message.possible_duplicate.is_(True)))}
    assert max(seen.values()) <= 2
    assert twice <= marked  # every repeat is visible on its message
    assert len(marked) <= WINDOW  # and only what was in flight at the crash
    statuses = dict(db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
    assert statuses == {"delivered": RECIPIENTS}
