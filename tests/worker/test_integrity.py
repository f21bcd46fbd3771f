"""What the foreign keys of the sender's logs used to check, checked after a run instead.

The timeline (message_event) and the receipts (delivery_receipt) have no foreign keys: on
PostgreSQL each key is a query per row, and the sender writes six such rows per message
(docs/scaling.md, "What limits it"). Their rows are written only by the sender, for messages and
parts it holds in the same transaction. This run goes through every path that writes them:
refusals, undeliverable receipts, throttled and retried submits, two-part texts, receipts that
arrive before their submit_sm_resp (held, then matched by the reconcile job) and duplicate receipts.
"""
from __future__ import annotations

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Bind, DeliveryReceipt, Message, MessageEvent, MessagePart
from dashboard.models.types import utcnow
from dashboard.services.routing import create_route
from dashboard.services.sending.enqueue import enqueue
from dashboard.simulator import OutcomeRule
from dashboard.sms import lifecycle as lc
from tests.conftest import approved_sender, numbers, wait_for

ESME_RINVDSTADR = 0x0B  # invalid destination address: the SMSC refuses the submit

LONG_TEXT = "A long one: " + "x" * 200  # two GSM-7 parts


def _final(count: int) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(Message.status.in_(lc.FINAL))) == count


def _orphans(table, column, parent) -> int:
    """Rows of `table` whose `column` names no row of `parent` (NULL names nothing and is fine)."""
    return db.session.scalar(select(func.count()).select_from(table)
                             .outerjoin(parent, parent.id == column)
                             .where(column.is_not(None), parent.id.is_(None)))


def test_every_timeline_row_and_receipt_names_rows_that_exist(app, make_simulator, make_bind, worker):
    simulator = make_simulator(outcomes=[OutcomeRule(r"7$", "UNDELIV"),
                                         OutcomeRule(r"3$", submit_status=ESME_RINVDSTADR)],
                               throttle_ratio=0.15, receipt_before_response=True, duplicate_receipts=2)
    us_bind, ca_bind = make_bind(simulator, name="us"), make_bind(simulator, name="ca")
    create_route(destination="US", bind_id=us_bind.id, price="0.0075", currency="USD")
    create_route(destination="+1 416", bind_id=ca_bind.id, price="0.0110", currency="CAD")
    approved_sender("Switchboard", ("US", "CA"))
    us, canada = numbers(20), [f"+1416555{n:04d}" for n in range(100, 110)]
    enqueue(destinations=us[:10] + canada[:5], text="Your code is 1234", source="Switchboard", now=utcnow())
    enqueue(destinations=us[10:] + canada[5:], text=LONG_TEXT, source="Switchboard", now=utcnow())
    worker()
    wait_for(lambda: _final(30), timeout=60, message="every message ends")
    wait_for(lambda: _orphans(DeliveryReceipt, DeliveryReceipt.part_id, MessagePart) == 0 and db.session.scalar(
        select(func.count()).select_from(DeliveryReceipt).where(DeliveryReceipt.part_id.is_(None))) == 0,
        timeout=30, message="every held receipt is matched")

    assert _orphans(MessageEvent, MessageEvent.message_id, Message) == 0
    assert _orphans(DeliveryReceipt, DeliveryReceipt.bind_id, Bind) == 0
    assert _orphans(DeliveryReceipt, DeliveryReceipt.part_id, MessagePart) == 0
    # The run went through the paths it meant to: held receipts, duplicates, refusals, retries.
    kinds = set(db.session.scalars(select(MessageEvent.kind).distinct()))
    assert {"submit_sm", "submit_sm_resp", "deliver_sm"} <= kinds
    assert db.session.scalar(select(func.count()).select_from(DeliveryReceipt).where(DeliveryReceipt.duplicate)) > 0
    assert db.session.scalar(select(func.count()).select_from(MessagePart)
                             .where(MessagePart.command_status == ESME_RINVDSTADR)) > 0
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.attempts > 1)) > 0
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.segments == 2)) == 15
