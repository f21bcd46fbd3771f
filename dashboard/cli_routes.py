"""`flask --app app route …`: routes and prices from the command line, as on the Routes page."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from dashboard.cli_errors import OneLineGroup
from dashboard.cli_security import as_cli_user
from dashboard.extensions import db
from dashboard.models import Bind, Route
from dashboard.models.types import utcnow
from dashboard.sms.money import format_money
from dashboard.sms.routing import describe_prefix

route_group = OneLineGroup(
    "route", help="Routes: which bind carries a destination, at what price per part."
)


def _bind_named(name: str) -> Bind:
    bind = db.session.scalar(select(Bind).where(Bind.name == name, Bind.deleted_at.is_(None)))
    if bind is None:
        raise click.ClickException(f"no bind named {name!r} (see `bind list`)")
    return bind


def _route(route_id: int) -> Route:
    route = db.session.get(Route, route_id) if 0 < route_id < 2**31 else None
    if route is None or route.deleted_at is not None:
        raise click.ClickException(f"no route {route_id} (see `route list`)")
    return route


def _line(route: Route) -> str:
    return (
        f"route {route.id}: {describe_prefix(route.prefix)} → {route.bind.name} at "
        f"{format_money(route.price_per_segment, route.currency)} per part, "
        f"priority {route.priority}"
        + ("" if route.enabled else ", disabled")
    )


@route_group.command("add")
@click.argument("destination")
@click.option("--bind", "bind_name", required=True, help="The bind's name.")
@click.option("--price", required=True, help="Price per part (segment), e.g. 0.0075.")
@click.option("--currency", default=None, help="ISO code; default: the DEFAULT_CURRENCY setting.")
@click.option(
    "--priority",
    type=click.IntRange(0, 10_000),
    default=100,
    show_default=True,
    help="Among equal prices, the lower number is tried first.",
)
@click.option("--disabled", is_flag=True)
@as_cli_user
def route_add(
    destination: str,
    bind_name: str,
    price: str,
    currency: str | None,
    priority: int,
    disabled: bool,
) -> None:
    """Route DESTINATION through a bind: a prefix (+44, "+1 416"), a country (GB) or * for
    every destination."""
    from dashboard.services.routing import RouteError, create_route

    try:
        route = create_route(
            destination=destination,
            bind_id=_bind_named(bind_name).id,
            price=price,
            currency=currency or current_app.config["DEFAULT_CURRENCY"],
            priority=priority,
            enabled=not disabled,
        )
    except RouteError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_line(route))


@route_group.command("set")
@click.argument("route_id", type=int)
@click.option("--price", default=None, help="New price per part, from now on.")
@click.option("--currency", default=None)
@click.option("--priority", type=click.IntRange(0, 10_000), default=None)
@click.option("--enable/--disable", "enabled", default=None)
@as_cli_user
def route_set(
    route_id: int,
    price: str | None,
    currency: str | None,
    priority: int | None,
    enabled: bool | None,
) -> None:
    """Change a route's price, currency, priority or state. Messages already queued or sent keep
    the price they were given."""
    from dashboard.services.routing import RouteError, update_route

    route = _route(route_id)
    try:
        update_route(
            route,
            price=price if price is not None else route.price_per_segment,
            currency=currency or route.currency,
            priority=route.priority if priority is None else priority,
            enabled=route.enabled if enabled is None else enabled,
        )
    except RouteError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_line(route))


@route_group.command("list")
def route_list() -> None:
    """One line per route, grouped by destination in the order the router tries them."""
    from dashboard.services.routing import route_table

    table = route_table()
    if not table:
        click.echo("no routes: every message goes through any enabled bind, recorded at 0 cost")
    for group in table:
        for rank, line in enumerate(group.lines, 1):
            route = line.route
            click.echo(
                f"{route.id}\t{group.label}\t{rank}\t{line.bind_name}\t"
                f"{format_money(route.price_per_segment, route.currency)}\t"
                f"priority {route.priority}\t"
                f"{'enabled' if route.enabled else 'disabled'}"
            )


@route_group.command("remove")
@click.argument("route_id", type=int)
@as_cli_user
def route_remove(route_id: int) -> None:
    """Remove a route; messages it priced keep their price."""
    from dashboard.services.routing import delete_route

    route = _route(route_id)
    line = _line(route)
    delete_route(route, utcnow())
    click.echo(f"removed {line}")


@route_group.command("test")
@click.argument("number")
def route_test(number: str) -> None:
    """Which route, bind and price NUMBER would get now."""
    from dashboard.services.routing import RouteError, route_for_number

    try:
        answer = route_for_number(number, current_app.config["DEFAULT_REGION"])
    except RouteError as exc:
        raise click.ClickException(str(exc)) from None
    choice = answer.choice
    if choice.bind_id is None:
        raise click.ClickException(f"{answer.number}: no route ({choice.reason})")
    where = answer.prefix_label or "no price list yet (any enabled bind)"
    click.echo(
        f"{answer.number} ({answer.country or '?'}) → {where} via {answer.bind_name} at "
        f"{format_money(choice.price_per_segment, choice.currency)} per part"
        + (" — its bind is not ready now: messages would wait" if answer.waiting else "")
    )
