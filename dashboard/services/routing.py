"""Picks the bind and price for a destination from the Route table and the binds' health."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

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

