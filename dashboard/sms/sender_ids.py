"""Sender IDs: what each kind may look like. Pure: the form and the CLI both call it.

An alphanumeric sender travels in the GSM 7-bit alphabet and the originating-address field has
room for 11 septets; an extension-table character (€, [, {, …) takes two of them. A short code
is 3 to 8 digits. A long code is an ordinary phone number, stored as E.164.
"""
from __future__ import annotations

import re

from dashboard.sms.encoding import analyse, is_gsm7, non_gsm_chars
from dashboard.sms.numbers import InvalidNumber, normalise

ALPHANUMERIC = "alphanumeric"
SHORT_CODE = "short_code"
LONG_CODE = "long_code"
KINDS = (ALPHANUMERIC, SHORT_CODE, LONG_CODE)
MAX_ALPHANUMERIC_SEPTETS = 11

_SHORT_CODE = re.compile(r"\d{3,8}")
_DIGITS = re.compile(r"\d+")
_SPACING = re.compile(r"[\s\-.]")


# The originating address's type of number and numbering plan, by kind of sender (SMPP 3.4 §5.2.5).
SOURCE_ADDRESSING = {
    ALPHANUMERIC: (5, 0),
    SHORT_CODE: (3, 0),
    LONG_CODE: (1, 1),
}


def guess_kind(source: str) -> str:
    """The kind of a sender given as a bare string (a HELP reply goes from the number written to)."""
    digits = source.lstrip("+")
    if digits.isdigit():
        return SHORT_CODE if len(digits) <= 8 else LONG_CODE
    return ALPHANUMERIC


def source_addressing(kind: str) -> tuple[int, int]:
    """(TON, NPI) of a sender of this kind."""
    return SOURCE_ADDRESSING.get(kind, SOURCE_ADDRESSING[ALPHANUMERIC])


class InvalidSenderId(ValueError):
    """`reason` is fit to show next to the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_sender_id(value: str, kind: str, default_region: str = "US") -> str:
    """The sender ID as it will be stored and sent, or InvalidSenderId saying why not."""
    value = (value or "").strip()
    if not value:
        raise InvalidSenderId("Enter a sender ID.")
    if kind == ALPHANUMERIC:
        return _alphanumeric(value)
    if kind == SHORT_CODE:
        digits = _SPACING.sub("", value)
        if not _SHORT_CODE.fullmatch(digits):
            raise InvalidSenderId("A short code is 3 to 8 digits.")
        return digits
    if kind == LONG_CODE:
        try:
            return normalise(value, default_region)
        except InvalidNumber as exc:
            raise InvalidSenderId(f"Not a valid phone number: {exc}.") from None
    raise ValueError(f"unknown sender ID kind {kind!r}")


def _alphanumeric(value: str) -> str:
    if not is_gsm7(value):
        shown = " ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in non_gsm_chars(value))
        raise InvalidSenderId(f"Only GSM characters are allowed; not {shown}.")
    septets = analyse(value).units
    if septets > MAX_ALPHANUMERIC_SEPTETS:
        doubled = " (€ [ ] { } | ^ ~ \\ count as two)" if septets != len(value) else ""
        raise InvalidSenderId(f"At most {MAX_ALPHANUMERIC_SEPTETS} GSM characters; this is {septets}{doubled}.")
    if _DIGITS.fullmatch(value):
        # Handsets and carriers read an all-digit originator as a number, not a name.
        raise InvalidSenderId("Only digits: register it as a short code or a long code.")
    return value


# ----------------------------------------------------------------------------- registrations

REGISTRATION_STATUSES = ("pending", "approved", "rejected")


def normalise_country(code: str) -> str:
    """An ISO 3166 alpha-2 code as phonenumbers names regions ("de" → "DE"), or InvalidSenderId."""
    import phonenumbers
    code = (code or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidSenderId(f"{code or 'An empty code'} is not a country code (ISO 3166, two letters).")
    return code


def registration_problems(kind: str, country: str, status: str, *, us_10dlc_brand_id: str = "",
                          us_10dlc_campaign_id: str = "", dlt_entity_id: str = "") -> list[str]:
    """Why a registration cannot be recorded as it stands (empty: it can).

    Only an approval needs the registry's references: a US long code is approved through a 10DLC
    brand and campaign, and India approves every sender (header) under a DLT principal entity.
    """
    if status not in REGISTRATION_STATUSES:
        return [f"Unknown status {status!r}."]
    if status != "approved":
        return []
    problems = []
    if country == "US" and kind == LONG_CODE:
        if not us_10dlc_brand_id.strip():
            problems.append("A US long code is approved with its 10DLC brand ID.")
        if not us_10dlc_campaign_id.strip():
            problems.append("A US long code is approved with its 10DLC campaign ID.")
    if country == "IN" and not dlt_entity_id.strip():
        problems.append("India (DLT) needs the principal entity ID.")
    return problems
