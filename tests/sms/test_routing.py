from decimal import Decimal

import pytest

from dashboard.sms.routing import RouteOption, choose_route, matching_options


def option(
    route_id: int, prefix: str, bind_id: int, price: str = "0.05", priority: int = 10
) -> RouteOption:
    return RouteOption(
        route_id=route_id,
        prefix=prefix,
        bind_id=bind_id,
        priority=priority,
        price_per_segment=Decimal(price),
    )


DEFAULT = option(1, "", bind_id=1, price="0.10")
GERMANY = option(2, "49", bind_id=2, price="0.06")
GERMAN_MOBILE_CHEAP = option(3, "4915", bind_id=3, price="0.03")
GERMAN_MOBILE_DEAR = option(4, "4915", bind_id=4, price="0.04")
ROUTES = [DEFAULT, GERMANY, GERMAN_MOBILE_CHEAP, GERMAN_MOBILE_DEAR]
ALL_BINDS = {1, 2, 3, 4}


@pytest.mark.parametrize(
    ("destination", "chosen"),
    [
        ("+4915112345678", GERMAN_MOBILE_CHEAP),
        ("+493012345678", GERMANY),
        ("+14155552671", DEFAULT),
        ("4915112345678", GERMAN_MOBILE_CHEAP),
    ],
)
def test_the_longest_matching_prefix_wins(destination, chosen):
    assert choose_route(destination, ROUTES, ALL_BINDS) == chosen


def test_the_cheapest_healthy_bind_wins_within_a_prefix():
    assert choose_route("+4915112345678", ROUTES, {1, 2, 4}) == GERMAN_MOBILE_DEAR


def test_a_specific_prefix_is_not_bypassed_when_its_binds_are_down():
    assert choose_route("+4915112345678", ROUTES, {1, 2}) is None


def test_it_returns_none_without_any_matching_route():
    assert choose_route("+4915112345678", [GERMANY], ALL_BINDS) == GERMANY
    assert choose_route("+14155552671", [GERMANY], ALL_BINDS) is None
    assert choose_route("+14155552671", [], ALL_BINDS) is None


def test_ties_on_price_go_to_the_lower_priority_number():
    first = option(10, "1", bind_id=1, priority=5)
    second = option(11, "1", bind_id=2, priority=1)
    assert choose_route("+14155552671", [first, second], {1, 2}) == second


def test_full_ties_are_broken_by_route_id_for_a_stable_order():
    a = option(21, "1", bind_id=1)
    b = option(20, "1", bind_id=2)
    assert matching_options("+1415", [a, b]) == [b, a]


def test_matching_options_lists_the_failover_order():
    assert matching_options("+4915112345678", ROUTES) == [GERMAN_MOBILE_CHEAP, GERMAN_MOBILE_DEAR]
    assert matching_options("+33612345678", ROUTES) == [DEFAULT]


def test_a_prefix_written_with_a_plus_still_matches():
    plus = option(30, "+44", bind_id=2)
    assert choose_route("+447911123456", [DEFAULT, plus], ALL_BINDS) == plus


@pytest.mark.parametrize(("typed", "prefix"), [
    ("GB", "44"), ("au", "61"), ("+44", "44"), ("+1 416", "1416"), ("1 (604)", "1604"), ("*", ""),
    ("default", "")])
def test_a_destination_is_a_prefix_a_country_or_everything(typed, prefix):
    from dashboard.sms.routing import destination_prefix
    assert destination_prefix(typed) == prefix


@pytest.mark.parametrize(("typed", "reason"), [
    ("0044", "not 0 or 00"), ("XX", "not a country code"), ("999", "calling code"),
    ("+4a", "neither")])
def test_a_destination_that_is_none_of_those_is_refused_with_the_reason(typed, reason):
    from dashboard.sms.routing import PrefixError, destination_prefix
    with pytest.raises(PrefixError, match=reason):
        destination_prefix(typed)


@pytest.mark.parametrize(("prefix", "label"), [
    ("44", "+44 (GB, GG, IM and 1 more)"), ("1416", "+1 416 (CA)"),
    ("1", "+1 (US, CA, AG and 22 more)"),
    ("61", "+61 (AU, CC, CX)"), ("", "every destination (default route)")])
def test_a_prefix_is_shown_with_the_countries_it_reaches(prefix, label):
    from dashboard.sms.routing import describe_prefix
    assert describe_prefix(prefix) == label
