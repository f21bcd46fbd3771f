"""Every bind runner that receives MOs looks at all MOs not yet handled, so two runners meet on
the same rows: an MO is claimed before it is acted on, and a HELP is answered once."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import InboundMessage, Message
from dashboard.models.message import HELP_REPLY
from tests.conftest import SIM_PASSWORD, numbers, wait_for

HELPS = 30


def test_two_bind_runners_receiving_the_same_help_mos_answer_each_once(app, make_simulator, make_bind, worker):
    simulator = make_simulator(accounts={"carrier-a": SIM_PASSWORD, "carrier-b": SIM_PASSWORD}, receipt_delay=0.0)
    make_bind(simulator, name="a", system_id="carrier-a")
    make_bind(simulator, name="b", system_id="carrier-b")
    worker()
    wait_for(lambda: len(simulator.bound_sessions()) == 2, message="both binds bound")
    people = [n.lstrip("+") for n in numbers(HELPS)]
    # Alternating between the two binds, as fast as the simulator delivers them: both runners are
    # handling MOs at the same moment, each seeing the other's rows too.
    for n, person in enumerate(people):
        simulator.inject_mo(source=person, destination="12025550000", text="HELP",
                            system_id="carrier-a" if n % 2 else "carrier-b")

    def all_handled():
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(InboundMessage)
                                 .where(InboundMessage.keyword == "HELP")) == HELPS
    wait_for(all_handled, timeout=30, message="every HELP handled")
    wait_for(lambda: len(simulator.messages()) >= HELPS, timeout=30, message="the replies reached the SMSC")
    db.session.expire_all()
    replies = db.session.scalars(select(Message.destination).where(Message.purpose == HELP_REPLY)).all()
    assert Counter(replies) == Counter(f"+{person}" for person in people)  # one reply each, none twice
    assert Counter(m.destination_addr for m in simulator.messages()) == Counter(people)
