"""Sender ID shapes: alphanumeric (GSM, 11 septets), short code (3–8 digits), long code (E.164)."""
from __future__ import annotations

import pytest

from dashboard.sms.sender_ids import InvalidSenderId, normalise_country, registration_problems, validate_sender_id


@pytest.mark.parametrize("value, kind, stored", [
    ("Switchboard", "alphanumeric", "Switchboard"),
    ("  Acme Ltd ", "alphanumeric", "Acme Ltd"),
    ("A", "alphanumeric", "A"),
    ("Café-2", "alphanumeric", "Café-2"),
    ("€uroShop", "alphanumeric", "€uroShop"),  # € is two septets: 9 in all
    ("12345", "short_code", "12345"),
    ("123", "short_code", "123"),
    ("12 345 678", "short_code", "12345678"),
    ("(202) 555-0101", "long_code", "+12025550101"),
    ("+44 20 7946 0958", "long_code", "+442079460958"),
])
def test_a_valid_sender_id_is_stored_in_its_canonical_form(value, kind, stored):
    assert validate_sender_id(value, kind, "US") == stored


@pytest.mark.parametrize("value, kind, reason", [
    ("", "alphanumeric", "Enter a sender ID."),
    ("   ", "short_code", "Enter a sender ID."),
    ("SwitchboardX", "alphanumeric", "At most 11 GSM characters; this is 12."),
    ("€€€€€€", "alphanumeric", "At most 11 GSM characters; this is 12 (€ [ ] { } | ^ ~ \\ count as two)."),
    ("Shop “Best”", "alphanumeric", "Only GSM characters are allowed; not '“' (U+201C) '”' (U+201D)."),
    ("Shop\u00a0One", "alphanumeric", "Only GSM characters are allowed; not '\\xa0' (U+00A0)."),
    ("12345", "alphanumeric", "Only digits: register it as a short code or a long code."),
    ("12", "short_code", "A short code is 3 to 8 digits."),
    ("123456789", "short_code", "A short code is 3 to 8 digits."),
    ("SHOP", "short_code", "A short code is 3 to 8 digits."),
    ("555", "long_code", "Not a valid phone number: too short."),
])
def test_an_invalid_sender_id_is_refused_with_a_reason(value, kind, reason):
    with pytest.raises(InvalidSenderId) as caught:
        validate_sender_id(value, kind, "US")
    assert caught.value.reason == reason


def test_a_long_code_without_a_country_code_is_read_in_the_default_region():
    assert validate_sender_id("030 901820", "long_code", "DE") == "+4930901820"


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown sender ID kind"):
        validate_sender_id("x", "carrier_pigeon")


# registrations per country

def test_a_country_code_is_normalised_to_upper_case():
    assert normalise_country(" de ") == "DE"


@pytest.mark.parametrize("code", ["", "XX", "DEU", "49"])
def test_an_unknown_country_code_is_refused(code):
    with pytest.raises(InvalidSenderId):
        normalise_country(code)


def test_a_us_long_code_is_approved_only_with_its_10dlc_brand_and_campaign():
    assert registration_problems("long_code", "US", "approved") == [
        "A US long code is approved with its 10DLC brand ID.", "A US long code is approved with its 10DLC campaign ID."]
    assert registration_problems("long_code", "US", "approved", us_10dlc_brand_id="B1", us_10dlc_campaign_id="C1") == []
    assert registration_problems("long_code", "US", "pending") == []


def test_india_needs_the_dlt_entity_for_an_approval():
    assert registration_problems("alphanumeric", "IN", "approved") == ["India (DLT) needs the principal entity ID."]
    assert registration_problems("alphanumeric", "IN", "approved", dlt_entity_id="1101") == []


def test_an_unknown_status_is_refused():
    assert registration_problems("alphanumeric", "DE", "maybe") == ["Unknown status 'maybe'."]
