"""Regions for reports: decided by a prefix, resolved once per prefix."""
from __future__ import annotations

import pytest

from dashboard.sms.regions import RegionCache, region_of, region_prefix


@pytest.mark.parametrize("number, region", [
    ("+12025550101", "US"), ("+14165550123", "CA"), ("+18765550123", "JM"),
    ("+447400123456", "GB"), ("+447781123456", "GG"), ("+447624123456", "IM"),
    ("+4915112345678", "DE"), ("+33612345678", "FR"), ("+77012345678", "KZ"), ("+79123456789", "RU"),
])
def test_a_cached_lookup_agrees_with_parsing_the_number(number, region):
    assert region_of(number) == region
    assert RegionCache().region(number) == region


def test_shared_calling_codes_keep_a_longer_prefix():
    assert region_prefix("+12025550101") == "+1202555"
    assert region_prefix("+447781123456") == "+4477811"
    assert region_prefix("+4915112345678") == "+491"
    assert region_prefix("+35812345678") == "+3581234"


def test_numbers_in_one_prefix_are_parsed_once(monkeypatch):
    from dashboard.sms import regions
    calls = []
    real = regions.region_of
    monkeypatch.setattr(regions, "region_of", lambda n: calls.append(n) or real(n))
    cache = RegionCache()
    assert {cache.region(f"+4915112345{i:03d}") for i in range(50)} == {"DE"}
    assert len(calls) == 1


def test_garbage_is_unknown_not_an_error():
    assert region_of("+999") == "??"
    assert region_of("nonsense") == "??"
