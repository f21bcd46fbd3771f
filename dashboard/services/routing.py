"""The Route table: picks the bind, price and currency for a destination from the routes and the
binds' health, and keeps the routes (create, change, remove, and "which route would this number
get?")."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Message, Route
from dashboard.models.types import utcnow
from dashboard.services import audit
from dashboard.settings import setting
from dashboard.sms import money
from dashboard.sms.numbers import InvalidNumber, destination_country, normalise
from dashboard.sms.routing import (PrefixError, RouteOption, choose_route, describe_prefix,
                                   destination_prefix, matching_options)

# Only a bind whose sender reports it bound, recently, is healthy; degraded is bound but failing.
HEALTHY_STATES = frozenset({"bound"})
HEARTBEAT_TIMEOUT = timedelta(seconds=15)


@dataclass(frozen=True)
class RouteChoice:
    bind_id: int | None
    route_id: int | None
    price_per_segment: Decimal | None
    reason: str | None = None  # why there is no bind, shown on the waiting message
    currency: str | None = None  # of price_per_segment, recorded on the message with it (docs/architecture.md #10)


class Router:
    """Loads routes and bind health once; reuse it for a batch of destinations."""

    def __init__(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        binds = db.session.execute(
            select(Bind.id, Bind.enabled, BindStatus.state, BindStatus.heartbeat_at).outerjoin(BindStatus)
        ).all()
        self.bind_ids = frozenset(b.id for b in binds)  # deleted ones too: messages still name them
        self.enabled_ids = [b.id for b in binds if b.enabled]
        # A stale heartbeat means nobody is driving the bind (worker down): not healthy either.
        self.healthy_ids = {b.id for b in binds if b.enabled and b.state in HEALTHY_STATES
                            and b.heartbeat_at is not None and now - b.heartbeat_at < HEARTBEAT_TIMEOUT}
        routes = db.session.scalars(select(Route).where(Route.enabled.is_(True))).all()
        self.options = [RouteOption(route_id=r.id, prefix=r.prefix, bind_id=r.bind_id, priority=r.priority,
                                    price_per_segment=r.price_per_segment, currency=r.currency)
                        for r in routes if r.bind_id in self.enabled_ids]
        self.default_currency = setting("DEFAULT_CURRENCY")

    def choose(self, destination: str) -> RouteChoice:
        if not self.options:
            # No price list yet: any enabled bind carries traffic at no recorded cost.
            candidates = [b for b in self.enabled_ids if b in self.healthy_ids] or self.enabled_ids
            if not candidates:
                return RouteChoice(None, None, None, "no enabled bind")
            return RouteChoice(min(candidates), None, Decimal("0"), currency=self.default_currency)
        best = choose_route(destination, self.options, self.healthy_ids)
        if best is None:
            # Every bind for this prefix is unhealthy: keep the preferred one and wait for it.
            ordered = matching_options(destination, self.options)
            if not ordered:
                return RouteChoice(None, None, None, f"no route for {destination}")
            best = ordered[0]
        return RouteChoice(best.bind_id, best.route_id, best.price_per_segment,
                           currency=best.currency)


_shared: dict[int, tuple[datetime, Router]] = {}
SHARED_ROUTER_AGE = timedelta(seconds=1)


def shared_router(now: datetime) -> Router:
    """A Router reused for up to a second, for callers that queue one message at a time many times
    a second (the API): the routes and the binds' health are read once a second instead of on
    every request. Health is measured over seconds anyway, and a message routed to a bind that went
    down in that second is moved by failover (housekeeping.reroute_queued) like any other."""
    key = id(db.engine)
    cached = _shared.get(key)
    if cached is None or not timedelta(0) <= now - cached[0] < SHARED_ROUTER_AGE:
        cached = _shared[key] = (now, Router(now))
    return cached[1]


# ----------------------------------------------------------------------------- the price list

class RouteError(ValueError):
    pass


AUDITED = ("prefix", "bind_id", "price_per_segment", "currency", "priority", "enabled")


@dataclass(frozen=True)
class RouteLine:
    """One option of a prefix, in the order the router tries them."""
    route: Route
    bind_name: str
    healthy: bool  # the router may use it now (enabled, bound, driven by a live sender)


@dataclass(frozen=True)
class RouteGroup:
    prefix: str
    label: str  # "+44 (GB, GG, IM and 1 more)"
    lines: list[RouteLine]


def route_table(now: datetime | None = None) -> list[RouteGroup]:
    """Every route, grouped by prefix (most specific first), each group in the router's order:
    cheapest first, then priority; disabled ones last."""
    router = Router(now)
    names = dict(db.session.execute(select(Bind.id, Bind.name)).all())
    groups: dict[str, list[Route]] = {}
    for route in db.session.scalars(select(Route).where(Route.deleted_at.is_(None))):
        groups.setdefault(route.prefix, []).append(route)
    table = []
    for prefix in sorted(groups, key=lambda p: (-len(p), p)):
        ordered = sorted(groups[prefix],
                         key=lambda r: (not r.enabled, r.price_per_segment, r.priority, r.id))
        table.append(RouteGroup(prefix, describe_prefix(prefix), [
            RouteLine(r, names.get(r.bind_id, "?"), r.enabled and r.bind_id in router.healthy_ids)
            for r in ordered]))
    return table


def _checked(destination: str, bind_id: int, price, currency: str, priority: int) -> dict:
    try:
        prefix = destination_prefix(destination)
        values = {"prefix": prefix, "price_per_segment": money.price(price),
                  "currency": money.currency_code(currency)}
    except (PrefixError, money.MoneyError) as exc:
        raise RouteError(str(exc)) from None
    if db.session.get(Bind, bind_id) is None:
        raise RouteError("no such bind")
    if not 0 <= int(priority) <= 10_000:
        raise RouteError("priority is a number from 0 to 10000 "
                         "(lower is tried first among equal prices)")
    return values | {"bind_id": bind_id, "priority": int(priority)}


def _check_siblings(values: dict, route_id: int | None) -> None:
    """The options of one prefix are compared by price, so they share a currency; and one bind
    appears once per prefix."""
    siblings = db.session.scalars(select(Route).where(
        Route.prefix == values["prefix"], Route.id != (route_id or 0),
        Route.deleted_at.is_(None))).all()
    label = describe_prefix(values["prefix"])
    for other in siblings:
        if other.currency != values["currency"]:
            raise RouteError(f"the routes for {label} are priced in {other.currency}: "
                             "price this one in "
                             f"{other.currency} too, so that the cheapest can be told")
        if other.bind_id == values["bind_id"]:
            raise RouteError(f"{label} already has a route through this bind: "
                             "change its price instead")


def create_route(*, destination: str, bind_id: int, price, currency: str, priority: int = 100,
                 enabled: bool = True) -> Route:
    """A route for a prefix, a country ("GB") or every destination ("*"). RouteError says why
    not."""
    values = _checked(destination, bind_id, price, currency, priority)
    _check_siblings(values, None)
    route = Route(enabled=enabled, **values)
    db.session.add(route)
    db.session.flush()
    audit.record("route_create", target=route, changes=audit.diff({}, audit.snapshot(route, AUDITED)))
    db.session.commit()
    return route


def update_route(route: Route, *, price, currency: str, priority: int, enabled: bool) -> Route:
    """A new price (or order, or state) from now on. Messages already queued keep the price and
    currency they were given, and sent parts the price they were recorded with (docs/architecture.md #10)."""
    values = _checked(route.prefix or "*", route.bind_id, price, currency, priority)
    _check_siblings(values, route.id)
    before = audit.snapshot(route, AUDITED)
    route.price_per_segment, route.currency = values["price_per_segment"], values["currency"]
    route.priority, route.enabled = values["priority"], enabled
    db.session.flush()
    db.session.refresh(route)  # both sides as stored: 0.04 and 0.040000 are one price
    changes = audit.diff(before, audit.snapshot(route, AUDITED))
    if changes:
        audit.record("route_update", target=route, changes=changes)
    db.session.commit()
    return route


def retire_routes_of(bind_id: int, now: datetime) -> None:
    """A bind is going: so are its routes (delete_route for each)."""
    alive = select(Route).where(Route.bind_id == bind_id, Route.deleted_at.is_(None))
    for route in db.session.scalars(alive).all():
        delete_route(route, now, commit=False)


def delete_route(route: Route, now: datetime, commit: bool = True) -> None:
    """Only future routing changes: messages it priced keep their price and currency, and the row
    stays, disabled and hidden, when messages name it as the route they took."""
    used = db.session.scalar(select(Message.id).where(Message.route_id == route.id).limit(1))
    audit.record("route_delete", target=route, changes=audit.diff(audit.snapshot(route, AUDITED), {}))
    if used is None:
        db.session.delete(route)
    else:
        route.enabled, route.deleted_at = False, now
    if commit:
        db.session.commit()


@dataclass(frozen=True)
class RouteAnswer:
    """What the router would do with one number now."""
    number: str
    country: str | None
    choice: RouteChoice
    prefix: str | None  # the matching prefix; None when no route matches
    prefix_label: str | None
    options: list[RouteLine]  # that prefix's options in the router's order
    bind_name: str | None

    @property
    def waiting(self) -> bool:
        """Chosen, but its bind is not healthy now: messages would queue until it is."""
        if self.choice.bind_id is None or not self.options:
            return False
        return not any(line.healthy and line.route.id == self.choice.route_id
                       for line in self.options)


def route_for_number(raw_number: str, default_region: str,
                     now: datetime | None = None) -> RouteAnswer:
    """Which route, bind and price a number would get now. RouteError for a number that is not
    one."""
    try:
        number = normalise(raw_number, default_region)
    except InvalidNumber as exc:
        raise RouteError(f"{raw_number}: {exc}") from None
    router = Router(now)
    choice = router.choose(number)
    ordered = matching_options(number, router.options)
    prefix = ordered[0].prefix if ordered else None
    table = {group.prefix: group for group in route_table(now)}
    lines = [line for line in table[prefix].lines if line.route.enabled] if prefix in table else []
    bind_name = (db.session.scalar(select(Bind.name).where(Bind.id == choice.bind_id))
                 if choice.bind_id else None)
    return RouteAnswer(number=number, country=destination_country(number), choice=choice,
                       prefix=prefix,
                       prefix_label=table[prefix].label if prefix in table else None, options=lines,
                       bind_name=bind_name)
