"""Failover moves queued traffic off a dead bind and back when it recovers, over as many runs as
the queue needs: one page (here of 2) per run, resuming where the last run stopped."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Message, Route
from dashboard.models.types import utcnow
from dashboard.services.sending.housekeeping import reroute_queued

PAGE = 2


def _bind(name: str) -> Bind:
    bind = Bind(name=name, host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.flush()
    return bind


def _state(bind: Bind, state: str) -> None:
    status = db.session.get(BindStatus, bind.id) or BindStatus(bind_id=bind.id)
    status.state, status.heartbeat_at = state, utcnow()
    db.session.add(status)
    db.session.commit()


def _run_until_settled(state):
    """Runs the job as the scheduler does, until a run moves nothing; returns the runs that moved."""
    runs = []
    while True:
        moved, state = reroute_queued(utcnow(), state, batch=PAGE)
        if not moved and state.after_id == 0:
            return runs, state
        runs.append(moved)


def _binds_of_queue() -> list[int]:
    return db.session.scalars(select(Message.bind_id).order_by(Message.id)).all()


def test_traffic_fails_over_and_all_of_it_returns(app):
    cheap, dear, only = _bind("cheap"), _bind("dear"), _bind("only")
    db.session.add_all([Route(prefix="1", bind_id=cheap.id, price_per_segment=Decimal("0.01")),
                        Route(prefix="1", bind_id=dear.id, price_per_segment=Decimal("0.02")),
                        Route(prefix="44", bind_id=only.id, price_per_segment=Decimal("0.03"))])
    now = utcnow()
    # Two UK messages first, on a bind with no alternative: they cannot move, and must not stop
    # the five US messages behind them from moving.
    db.session.execute(Message.__table__.insert(), [
        dict(destination=number, source="S", source_ton=5, source_npi=0, text="hi", encoding="gsm7", segments=1,
             priority=100, status="queued", bind_id=bind.id, udh_ref=0, created_at=now, attempts=0, event_seq=0,
             possible_duplicate=False)
        for number, bind in [("+447700900001", only), ("+447700900002", only)]
        + [(f"+1415555010{i}", cheap) for i in range(5)]])
    for bind in (cheap, dear, only):
        _state(bind, "bound")
    state = reroute_queued(utcnow(), None, batch=PAGE)[1]

    _state(cheap, "backing_off")
    _state(only, "backing_off")
    runs, state = _run_until_settled(state)
    assert _binds_of_queue() == [only.id] * 2 + [dear.id] * 5
    assert sum(runs) == 5 and len(runs) > 1  # it took several pages

    _state(cheap, "bound")
    runs, state = _run_until_settled(state)
    assert _binds_of_queue() == [only.id] * 2 + [cheap.id] * 5  # every one back, not just the first page
    assert db.session.scalar(select(Message.reason).where(Message.bind_id == cheap.id).limit(1)) \
        == "rerouted: preferred bind back"


def test_a_message_queued_with_no_bind_gets_one_and_traffic_on_healthy_binds_stays(app):
    """Messages queued while no bind could take them (bind_id empty) are routed once one is
    healthy; the traffic already on a healthy bind is not touched, however long the queue."""
    cheap, dear = _bind("cheap"), _bind("dear")
    db.session.add_all([Route(prefix="1", bind_id=cheap.id, price_per_segment=Decimal("0.01")),
                        Route(prefix="1", bind_id=dear.id, price_per_segment=Decimal("0.02"))])
    now = utcnow()
    db.session.execute(Message.__table__.insert(), [
        dict(destination=f"+1415555020{i}", source="S", source_ton=5, source_npi=0, text="hi", encoding="gsm7",
             segments=1, priority=100, status="queued", bind_id=bind_id, udh_ref=0, created_at=now, attempts=0,
             event_seq=0, possible_duplicate=False)
        for i, bind_id in enumerate([dear.id, None, dear.id, None, None])])
    _state(cheap, "bound")
    _state(dear, "bound")
    runs, state = _run_until_settled(reroute_queued(utcnow(), None, batch=PAGE)[1])
    # The three without a bind went to the cheapest healthy one, over several pages; the two on
    # `dear` (healthy, if dearer) stayed where they were.
    assert _binds_of_queue() == [dear.id, cheap.id, dear.id, cheap.id, cheap.id]
