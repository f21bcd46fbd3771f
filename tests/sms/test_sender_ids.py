"""Sender ID shapes: alphanumeric (GSM, 11 septets), short code (3–8 digits), long code (E.164)."""
from __future__ import annotations

import pytest

from dashboard.sms.sender_ids import InvalidSenderId, validate_sender_id


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
