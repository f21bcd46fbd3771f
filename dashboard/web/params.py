"""Numbers from URLs and query strings, checked before they reach the database: an id or page
beyond what a 64-bit column holds raised OverflowError (a 500) instead of a clear answer."""

from __future__ import annotations

from flask import abort, request
from werkzeug.routing import IntegerConverter

from dashboard.models.types import MAX_ID

MAX_PAGE = 1_000_000


class IdConverter(IntegerConverter):
    """`<int:…>` in every route, bounded to what the database can hold: beyond it, a 404."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def int_arg(
    name: str, default: int | None = None, *, low: int = 1, high: int = MAX_ID
) -> int | None:
    """An integer query argument between `low` and `high`; missing or empty gives `default`,
    anything else answers 400 with the reason."""
    raw = request.args.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name} must be a whole number")
    if not low <= value <= high:
        abort(400, description=f"{name} must be between {low} and {high}")
    return value


def page_arg() -> int:
    return int_arg("page", 1, high=MAX_PAGE)
