"""Choosing the bind a message leaves on: longest prefix, then price, then priority; and the
destinations a prefix stands for, as people type and read them."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers


@dataclass(frozen=True)
class RouteOption:
    """One way to reach destinations starting with `prefix` ("" = everything)."""

    route_id: int
    prefix: str
    bind_id: int
    priority: int
    price_per_segment: Decimal
    currency: str = ""


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


class PrefixError(ValueError):
    pass


DEFAULT_ROUTE_WORDS = ("*", "default", "all")
_DIGITS = re.compile(r"\d{1,15}")
# Padding tried after a prefix to find a valid number that shows which region it is in: the
# 555-01xx style first (valid in NANP), then plain digits.
_SAMPLE_TAILS = ("5550123456789", "2345678901234", "0000000000000")


def destination_prefix(raw: str) -> str:
    """The stored prefix for what a person typed: digits of a prefix ("+44 7", "0044" is not a
    prefix but a dialling habit: refused), a country code ("GB", "au") or "*" for every
    destination (""). PrefixError says why not."""
    value = (raw or "").strip()
    if value.lower() in DEFAULT_ROUTE_WORDS:
        return ""
    if value.isalpha():
        code = phonenumbers.country_code_for_region(value.upper())
        if not code:
            raise PrefixError(f"{value!r} is not a country code: "
                              "use two letters such as US, GB or AU")
        return str(code)
    digits = re.sub(r"[\s().-]", "", value).removeprefix("+")
    if not _DIGITS.fullmatch(digits):
        raise PrefixError(f"{value!r} is neither a number prefix (+44, +1 416) nor a country (GB)")
    if digits.startswith("0"):
        raise PrefixError(f"{value!r}: a prefix starts with the country calling code, not 0 or 00")
    if calling_code(digits) is None:
        raise PrefixError(f"{value!r} does not start with a country calling code")
    return digits


def calling_code(digits: str) -> int | None:
    """The country calling code a prefix starts with (calling codes are prefix-free)."""
    for length in (1, 2, 3):
        code = int(digits[:length]) if len(digits) >= length else None
        if code and phonenumbers.region_codes_for_country_code(code) not in ((), ("ZZ",)):
            return code
    return None


def prefix_regions(prefix: str) -> tuple[str, ...]:
    """The regions (ISO codes) a prefix reaches, main one first: every region of a shared calling
    code for the code alone (1 → US, AG, …, CA, …), or the one a longer prefix narrows it to
    (1416 → CA). Empty for the default route."""
    digits = prefix.lstrip("+")
    code = calling_code(digits) if digits else None
    if code is None:
        return ()
    regions = tuple(r for r in phonenumbers.region_codes_for_country_code(code) if r != "001")
    if len(digits) == len(str(code)) or len(regions) <= 1:
        return regions or ("001",)
    for tail in _SAMPLE_TAILS:
        for length in range(len(digits) + 4, 16):
            candidate = "+" + (digits + tail)[:length]
            try:
                number = phonenumbers.parse(candidate, None)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return (phonenumbers.region_code_for_number(number),)
    return regions


def describe_prefix(prefix: str, shown_regions: int = 3) -> str:
    """"+44 (GB)", "+1 (US, CA, AG and 22 more)", "every destination" for the default route."""
    if not prefix:
        return "every destination (default route)"
    regions = prefix_regions(prefix)
    code = str(calling_code(prefix) or "")
    shown = f"+{code} {prefix[len(code):]}".rstrip()
    if not regions:
        return shown
    ordered = sorted(regions, key=lambda r: (r not in ("US", "CA", "GB"), regions.index(r)))
    named = ", ".join(ordered[:shown_regions])
    more = len(regions) - shown_regions
    return f"{shown} ({named}{f' and {more} more' if more > 0 else ''})"
