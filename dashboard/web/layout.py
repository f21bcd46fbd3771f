"""What every page carries: the navigation (grouped by what people do, the current page marked),
whether a sender runs, and the filters that show money and time the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app, request
from flask_login import current_user

from dashboard.models import Role
from dashboard.models.types import utcnow
from dashboard.services import alerts, workers
from dashboard.sms.money import MoneyTotals, format_money

ALL = frozenset(r.value for r in Role)
STAFF = frozenset({"admin", "ops"})


@dataclass(frozen=True)
class NavLink:
    label: str
    endpoint: str
    roles: frozenset[str]
    # Pages of these blueprints belong under this link (a report under Campaigns).
    blueprints: tuple[str, ...] = ()


@dataclass(frozen=True)
class NavGroup:
    label: str
    links: tuple[NavLink, ...]


NAVIGATION = (
    NavGroup("", (NavLink("Overview", "home.index", ALL, ("home",)),
                  NavLink("Alerts", "alerts.index", ALL, ("alerts",)))),
    NavGroup(
        "Send",
        (
            NavLink("Campaigns", "campaigns.index", STAFF, ("campaigns", "reports")),
            NavLink("Templates", "message_templates.index", STAFF, ("message_templates",)),
        ),
    ),
    NavGroup(
        "Audience",
        (
            NavLink("Lists", "contacts.lists", STAFF, ("contacts", "imports")),
            NavLink("Sender IDs", "contacts.senders", STAFF),
        ),
    ),
    NavGroup(
        "Observe",
        (
            NavLink("Messages", "messages.index", STAFF, ("messages",)),
            NavLink("Binds", "binds.index", STAFF, ("binds",)),
            NavLink("Routes & prices", "routes.index", STAFF, ("routes",)),
        ),
    ),
    NavGroup(
        "Compliance",
        (
            NavLink("Consent", "consent.index", frozenset({"admin", "compliance"}), ("consent",)),
            NavLink("Audit log", "audit.index", frozenset({"admin", "compliance"}), ("audit",)),
        ),
    ),
    NavGroup(
        "Developers",
        (
            NavLink("API", "api_docs.index", ALL, ("api_docs",)),
            NavLink("Webhooks", "webhooks.index", STAFF, ("webhooks",)),
        ),
    ),
    NavGroup(
        "Admin",
        (
            NavLink("Users", "users.index", frozenset({"admin"}), ("users",)),
            NavLink("API keys", "api_keys.index", frozenset({"admin"}), ("api_keys",)),
        ),
    ),
)
# Sender pages live in the contacts blueprint; their URLs say which link they belong to.
_SENDER_ENDPOINTS = (
    "contacts.senders",
    "contacts.sender",
    "contacts.save_registration",
    "contacts.sender_brand",
)


def navigation_for(role: str) -> list[NavGroup]:
    groups = []
    for group in NAVIGATION:
        links = tuple(link for link in group.links if role in link.roles)
        if links:
            groups.append(NavGroup(group.label, links))
    return groups


def current_link(endpoint: str | None, blueprint: str | None) -> str | None:
    """The endpoint of the navigation link the current page belongs to."""
    if endpoint in _SENDER_ENDPOINTS:
        return "contacts.senders"
    links = [link for group in NAVIGATION for link in group.links]
    for link in links:
        if link.endpoint == endpoint:
            return link.endpoint
    for link in links:
        if blueprint in link.blueprints:
            return link.endpoint
    return None


def sender_status() -> workers.SenderStatus:
    """Asked once per request, whatever the number of templates that show it (kept in the request's
    environ: an application context, and its `g`, may outlive one request)."""
    cached = request.environ.get("switchboard.sender_status")
    if cached is None:
        stale = timedelta(seconds=current_app.config["SENDER_STALE_SECONDS"])
        cached = request.environ["switchboard.sender_status"] = workers.sender_status(
            utcnow(), stale
        )
    return cached


def open_alerts() -> list:
    """The open alerts, asked once per request (see sender_status)."""
    cached = request.environ.get("switchboard.open_alerts")
    if cached is None:
        cached = request.environ["switchboard.open_alerts"] = alerts.open_alerts()
    return cached


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "4 min ago", "2 h ago", "3 days ago"."""
    if value is None:
        return "never"
    seconds = max(0, int(((now or utcnow()) - value).total_seconds()))
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''} ago"
    return f"{seconds} s ago"


def install_layout(app: Flask) -> None:
    @app.context_processor
    def _layout() -> dict:
        if not current_user.is_authenticated:
            return {"navigation": [], "current_link": None}
        return {
            "navigation": navigation_for(current_user.role),
            "current_link": current_link(request.endpoint, request.blueprint),
            "sender_status": sender_status,
            "open_alerts": open_alerts,
        }

    @app.template_filter("money")
    def _money(amount, currency: str | None = None) -> str:
        return format_money(amount, currency)

    @app.template_filter("money_totals")
    def _money_totals(totals: MoneyTotals) -> str:
        return totals.format(current_app.config["DEFAULT_CURRENCY"])

    app.add_template_filter(ago, "ago")
