"""Money as the console shows it: an amount always with its currency, and totals kept apart per
currency.

A price is a fact in the currency of the route that carried the message (docs/architecture.md #10); nothing
here converts between currencies, so a campaign that went out on routes priced in two currencies
costs "12.4000 USD + 3.1000 EUR", never one made-up figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

_CODE = re.compile(r"[A-Z]{3}")
# SMS prices are fractions of a cent (0.0075 per part): up to six places, as the price columns.
_PLACES = Decimal("0.000001")


class MoneyError(ValueError):
    pass


def is_currency_code(value: object) -> bool:
    """True for an ISO 4217-shaped code: three capital letters (USD, EUR, GBP…)."""
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def currency_code(raw: str) -> str:
    """A currency as typed ("eur ", "USD") in the stored form; MoneyError if it is not one."""
    code = (raw or "").strip().upper()
    if not is_currency_code(code):
        raise MoneyError(
            f"{raw!r} is not a currency code: use three letters such as USD, EUR or GBP"
        )
    return code


def price(raw: str | Decimal | float | int) -> Decimal:
    """A price per part as typed: a finite, non-negative number with at most six decimals."""
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{raw!r} is not a price: give a number such as 0.0075") from None
    if not value.is_finite() or value < 0:
        raise MoneyError(f"{raw!r} is not a price: give a number of 0 or more")
    if value != value.quantize(_PLACES, rounding=ROUND_HALF_EVEN):
        raise MoneyError(f"{raw!r} has more than six decimals")
    return value


def format_amount(amount: Decimal | float | int | None) -> str:
    """1234.5 → "1,234.5000"; 0.0075 → "0.0075"; 0.000125 → "0.000125": four decimals, as prices
    per part are quoted, six when a price needs them, none lost."""
    value = Decimal(str(amount if amount is not None else 0)).quantize(
        _PLACES, rounding=ROUND_HALF_EVEN
    )
    text = f"{value:,.6f}"
    for _ in range(2):  # the two places past four, when they say nothing
        text = text[:-1] if text.endswith("0") else text
    return text


def format_money(amount: Decimal | float | int | None, currency: str | None) -> str:
    """ "0.0075 USD". An amount without a currency says so instead of guessing one."""
    return f"{format_amount(amount)} {currency or '(no currency)'}"


class MoneyTotals:
    """Sums kept per currency."""

    def __init__(
        self, items: Iterable[tuple[str | None, Decimal | float | int | None]] = ()
    ) -> None:
        self._totals: dict[str | None, Decimal] = {}
        for currency, amount in items:
            self.add(currency, amount)

    def add(self, currency: str | None, amount: Decimal | float | int | None) -> None:
        if amount is None:
            return
        self._totals[currency] = self._totals.get(currency, Decimal("0")) + Decimal(str(amount))

    def __iadd__(self, other: MoneyTotals) -> MoneyTotals:
        for currency, amount in other.items():
            self.add(currency, amount)
        return self

    def items(self) -> Iterator[tuple[str | None, Decimal]]:
        """Largest first, so the currency most of the money is in reads first."""
        return iter(sorted(self._totals.items(), key=lambda item: (-item[1], item[0] or "")))

    def amount(self, currency: str | None) -> Decimal:
        return self._totals.get(currency, Decimal("0"))

    @property
    def currencies(self) -> list[str | None]:
        return [currency for currency, _ in self.items()]

    def __bool__(self) -> bool:
        return bool(self._totals)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MoneyTotals) and self._totals == other._totals

    def __repr__(self) -> str:
        return f"MoneyTotals({self.format('?')})"

    def format(self, currency_when_empty: str) -> str:
        """ "12.4000 USD + 3.1000 EUR"; "0.0000 USD" (in `currency_when_empty`) when nothing was
        spent."""
        if not self._totals:
            return format_money(0, currency_when_empty)
        return " + ".join(format_money(amount, currency) for currency, amount in self.items())
