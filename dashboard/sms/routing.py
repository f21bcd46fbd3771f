"""Choosing the bind a message leaves on: longest prefix, then price, then priority."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class RouteOption:
    """One way to reach destinations starting with `prefix` ("" = everything)."""

    route_id: int
    prefix: str
    bind_id: int
    priority: int
    price_per_segment: Decimal


def _digits(number: str) -> str:
    return number.strip().lstrip("+")


def matching_options(destination: str, options: Sequence[RouteOption]) -> list[RouteOption]:
    """The options of the longest prefix matching `destination`, best first.

    Only the longest matching prefix counts: a specific prefix shadows shorter
    ones and the default route, so a route set up to keep traffic for a
    country off some carrier is never bypassed. To fail over to another bind,
    give that prefix several options. Order: cheapest, then lower priority
    number, then lower route_id (so the order is stable).
    """
    digits = _digits(destination)
    matching = [o for o in options if digits.startswith(_digits(o.prefix))]
    if not matching:
        return []
    longest = max(len(_digits(o.prefix)) for o in matching)
    best = [o for o in matching if len(_digits(o.prefix)) == longest]
    return sorted(best, key=lambda o: (o.price_per_segment, o.priority, o.route_id))


def choose_route(
    destination_e164: str, options: Sequence[RouteOption], healthy_bind_ids: Collection[int]
) -> RouteOption | None:
    """The preferred option whose bind is healthy, or None if there is none."""
    for option in matching_options(destination_e164, options):
        if option.bind_id in healthy_bind_ids:
            return option
    return None
