"""Picks the bind and price for a destination from the Route table and the binds' health."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select, update

from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Route
from dashboard.models.types import utcnow
from dashboard.sms.routing import RouteOption, choose_route, matching_options

# Only a bind whose sender reports it bound, recently, is healthy; degraded is bound but failing.
HEALTHY_STATES = frozenset({"bound"})
HEARTBEAT_TIMEOUT = timedelta(seconds=15)


@dataclass(frozen=True)
class RouteChoice:
    bind_id: int | None
    route_id: int | None
    price_per_segment: Decimal | None
    reason: str | None = None  # why there is no bind, shown on the waiting message


class Router:
    """Loads routes and bind health once; reuse it for a batch of destinations."""

    def __init__(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        binds = db.session.execute(
            select(Bind.id, Bind.enabled, BindStatus.state, BindStatus.heartbeat_at).outerjoin(BindStatus)
        ).all()
        self.enabled_ids = [b.id for b in binds if b.enabled]
        # A stale heartbeat means nobody is driving the bind (worker down): not healthy either.
        self.healthy_ids = {b.id for b in binds if b.enabled and b.state in HEALTHY_STATES
                            and b.heartbeat_at is not None and now - b.heartbeat_at < HEARTBEAT_TIMEOUT}
        routes = db.session.scalars(select(Route).where(Route.enabled.is_(True))).all()
        self.options = [RouteOption(route_id=r.id, prefix=r.prefix, bind_id=r.bind_id, priority=r.priority,
                                    price_per_segment=r.price_per_segment)
                        for r in routes if r.bind_id in self.enabled_ids]

    def choose(self, destination: str) -> RouteChoice:
        if not self.options:
            # No price list yet: any enabled bind carries traffic at no recorded cost.
            candidates = [b for b in self.enabled_ids if b in self.healthy_ids] or self.enabled_ids
            if not candidates:
                return RouteChoice(None, None, None, "no enabled bind")
            return RouteChoice(min(candidates), None, Decimal("0"))
        best = choose_route(destination, self.options, self.healthy_ids)
        if best is None:
            # Every bind for this prefix is unhealthy: keep the preferred one and wait for it.
            ordered = matching_options(destination, self.options)
            if not ordered:
                return RouteChoice(None, None, None, f"no route for {destination}")
            best = ordered[0]
        return RouteChoice(best.bind_id, best.route_id, best.price_per_segment)


@dataclass(frozen=True)
class ReroutePass:
    """Where failover stands between two runs of `reroute_queued`: the healthy binds it saw, and
    how far through the queue the current pass has gone. A pass reads the queue in pages by id,
    so a page of messages that cannot move (no healthy option) never hides the rest."""
    healthy: frozenset[int]
    after_id: int = 0
    returning_to: frozenset[int] = frozenset()  # binds that came back: traffic elsewhere may return to them


def reroute_queued(now: datetime, state: ReroutePass | None, batch: int = 2000) -> tuple[int, ReroutePass]:
    """Failover: queued messages on an unhealthy bind move to the best healthy option; when a
    bind recovers (the healthy set grew) queued traffic on other binds returns to its preferred
    route, over as many runs as the queue needs. Returns the messages moved and the state for the
    next run."""
    from dashboard.models import Message
    from dashboard.sms import lifecycle as lc

    router = Router(now)
    healthy = frozenset(router.healthy_ids)
    if state is None:
        state = ReroutePass(healthy)
    elif healthy - state.healthy:
        # From the start of the queue; a pass under way for other binds is folded in.
        state = ReroutePass(healthy, returning_to=(healthy - state.healthy) | state.returning_to)
    returning = state.returning_to & healthy
    query = select(Message.id, Message.destination, Message.bind_id).where(
        Message.status == lc.QUEUED, Message.id > state.after_id)
    if returning:
        # Only messages away from a returning bind can prefer it; those already on it stay.
        query = query.where(Message.bind_id.is_(None) | Message.bind_id.not_in(returning))
    elif healthy:
        query = query.where(Message.bind_id.is_(None) | Message.bind_id.not_in(healthy))
    else:
        return 0, ReroutePass(healthy)  # nowhere better to go: messages wait, with their reason
    page = db.session.execute(query.order_by(Message.id).limit(batch)).all()
    reason = "rerouted: preferred bind back" if returning else "rerouted: previous bind unhealthy"
    moves = []
    for message_id, destination, bind_id in page:
        choice = router.choose(destination)
        if choice.bind_id is None or choice.bind_id == bind_id or choice.bind_id not in healthy:
            continue
        moves.append({"b_id": message_id, "bind_id": choice.bind_id, "route_id": choice.route_id,
                      "price_per_segment": choice.price_per_segment, "reason": reason})
    if moves:
        # Still queued: a message claimed meanwhile keeps the bind that claimed it.
        table = Message.__table__
        db.session.execute(update(table).where(table.c.id == bindparam("b_id"), table.c.status == lc.QUEUED)
                           .values(bind_id=bindparam("bind_id"), route_id=bindparam("route_id"),
                                   price_per_segment=bindparam("price_per_segment"), reason=bindparam("reason")),
                           moves)
    db.session.commit()
    if len(page) < batch:
        return len(moves), ReroutePass(healthy)  # this pass is done; the next starts from the beginning
    return len(moves), ReroutePass(healthy, after_id=page[-1][0], returning_to=state.returning_to)
