from decimal import Decimal

import pytest

from dashboard.sms.money import (
    MoneyError,
    MoneyTotals,
    currency_code,
    format_amount,
    format_money,
    price,
)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("0"), "0.0000"),
        (Decimal("0.0075"), "0.0075"),
        (Decimal("1234.5"), "1,234.5000"),
        (Decimal("0.000125"), "0.000125"),
        (Decimal("12.34567"), "12.34567"),
        (None, "0.0000"),
    ],
)
def test_amounts_keep_four_decimals_and_up_to_six_when_a_price_needs_them(amount, shown):
    assert format_amount(amount) == shown


def test_money_is_always_shown_with_its_currency():
    assert format_money(Decimal("0.0075"), "EUR") == "0.0075 EUR"
    assert format_money(Decimal("1"), None) == "1.0000 (no currency)"


@pytest.mark.parametrize(("typed", "code"), [("usd", "USD"), (" EUR ", "EUR"), ("GBP", "GBP")])
def test_a_currency_is_stored_as_three_capital_letters(typed, code):
    assert currency_code(typed) == code


@pytest.mark.parametrize("typed", ["", "US", "EURO", "€", "12A"])
def test_anything_else_is_not_a_currency(typed):
    with pytest.raises(MoneyError, match="not a currency code"):
        currency_code(typed)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("abc", "not a price"),
        ("-1", "0 or more"),
        ("inf", "0 or more"),
        ("NaN", "0 or more"),
        ("0.0000001", "more than six decimals"),
    ],
)
def test_a_price_is_a_finite_positive_number_with_six_decimals_at_most(typed, reason):
    with pytest.raises(MoneyError, match=reason):
        price(typed)
    assert price("0.0075") == Decimal("0.0075")


def test_totals_are_kept_per_currency_and_never_added_across_currencies():
    totals = MoneyTotals(
        [("USD", Decimal("1.20")), ("EUR", Decimal("3")), ("USD", Decimal("0.0075")), ("EUR", None)]
    )
    assert totals.amount("USD") == Decimal("1.2075") and totals.amount("EUR") == Decimal("3")
    assert totals.format("USD") == "3.0000 EUR + 1.2075 USD"  # largest first
    assert MoneyTotals().format("GBP") == "0.0000 GBP"
    assert not MoneyTotals() and totals
