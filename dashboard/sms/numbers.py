"""Phone numbers: parse what people type into E.164, and facts about a number.

Wraps the full `phonenumbers` package (phonenumberslite has no time-zone
data). Every number is checked with is_valid_number: without it, "12345"
with region US would happily format as "+112345".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult, timezone

TON_INTERNATIONAL = 1
NPI_ISDN = 1

# What people put between digits: spaces (incl. non-breaking), - . ( ) /
_SEPARATORS = re.compile(r"[\s\-.()/]")
_DIALLABLE = re.compile(r"\+?\d+")
_E164 = re.compile(r"\+[1-9]\d{1,14}")

_PARSE_REASONS = {
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


E164_MAX_DIGITS = 15


class InvalidNumber(ValueError):
    """A number we cannot send to; `reason` is fit to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse_failure(error: NumberParseException, cleaned: str, default_region: str) -> str:
    if error.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if cleaned.startswith("+"):
            return "unknown country code"
        return f"no country code, and {default_region!r} is not a region to assume"
    return _PARSE_REASONS.get(error.error_type, "not a number")


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    length = phonenumbers.is_possible_number_with_reason(number)
    if length in _LENGTH_REASONS:
        return _LENGTH_REASONS[length]
    region = phonenumbers.region_code_for_country_code(number.country_code)
    if region == "ZZ":
        return f"not a valid number for country code +{number.country_code}"
    return f"not a valid number for region {region}"


def _parse(raw: str, default_region: str | None) -> phonenumbers.PhoneNumber:
    if not isinstance(raw, str):
        raise InvalidNumber("not a number")
    cleaned = _SEPARATORS.sub("", raw)
    if not cleaned:
        raise InvalidNumber("no number given")
    # "00" is the international prefix in most of the world; phonenumbers only
    # understands it when the default region happens to use it.
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not _DIALLABLE.fullmatch(cleaned):
        raise InvalidNumber("not a number")
    try:
        return phonenumbers.parse(cleaned, default_region)
    except NumberParseException as error:
        raise InvalidNumber(_parse_failure(error, cleaned, str(default_region))) from error


def normalise(raw: str, default_region: str = "US") -> str:
    """Parse a number as typed ("0151 1234-5678", "+1 (415) 555-2671") into E.164.

    Numbers without a country code are read as national numbers of
    `default_region`. Raises InvalidNumber with a human reason.
    """
    return normalise_with_country(raw, default_region)[0]


def normalise_with_country(raw: str, default_region: str = "US") -> tuple[str, str | None]:
    """normalise() and destination_country() from one parse: a batch of 10,000 numbers parses
    each once, and finds its region once (is_valid_number looks it up too, over every region of
    the calling code: 25 for +1)."""
    number = _parse(raw, default_region)
    region = phonenumbers.region_code_for_number(number)
    if region is None or not phonenumbers.is_valid_number_for_region(number, region):
        raise InvalidNumber(_invalid_reason(number))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if len(e164) - 1 > E164_MAX_DIGITS:
        # phonenumbers' metadata admits some longer national ranges (+49 20100000000000, found by
        # tests/sms/test_properties.py), but no network routes a number E.164 cannot write.
        raise InvalidNumber(f"has {len(e164) - 1} digits; an international number has at most {E164_MAX_DIGITS}")
    return e164, region if region != "ZZ" else _destination_region(number)


def time_zones(e164: str) -> tuple[str, ...]:
    """The IANA time zones a number may be in; empty when unknown.

    A number can span many zones (a Russian mobile has 16): quiet-hours rules
    must hold in all of them.
    """
    number = _parse(e164, None)
    zones = timezone.time_zones_for_number(number)
    return tuple(zone for zone in zones if zone != timezone.UNKNOWN_TIMEZONE)


def country_code(e164: str) -> str:
    """The region code of a number, e.g. "DE" ("001" for non-geographic numbers)."""
    region = phonenumbers.region_code_for_number(_parse(e164, None))
    if region is None:
        raise InvalidNumber("not a valid number")
    return region


# What a person can receive a text on. Premium-rate, shared-cost, satellite (+881…), UAN, pager
# and the like are refused on the public sign-up page: they are what SMS-pumping fraud targets.
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def is_mobile(e164: str) -> bool:
    """True for a valid mobile number (or one its numbering plan cannot tell from a landline)."""
    try:
        number = _parse(e164, None)
    except InvalidNumber:
        return False
    return phonenumbers.number_type(number) in _MOBILE_TYPES


def destination_country(e164: str) -> str | None:
    """The country a message to this number goes to, for sender approvals: the number's region,
    or, for a number phonenumbers does not know as valid (a new range), the main region of its
    calling code (+1 → US, +44 → GB). None when not even that is known."""
    try:
        number = _parse(e164, None)
    except InvalidNumber:
        return None
    return _destination_region(number)


def _destination_region(number: phonenumbers.PhoneNumber) -> str | None:
    region = phonenumbers.region_code_for_number(number)
    if region is None:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return None if region in (None, "ZZ") else region


def region_and_zones(e164: str) -> tuple[str | None, tuple[str, ...]]:
    """destination_country() and time_zones() from one parse (imports call this for every new row)."""
    number = _parse(e164, None)
    zones = timezone.time_zones_for_number(number)
    return (_destination_region(number), tuple(zone for zone in zones if zone != timezone.UNKNOWN_TIMEZONE))


def smpp_address(e164: str) -> tuple[int, int, str]:
    """(ton, npi, address) for submit_sm: international TON, ISDN NPI, digits without "+"."""
    if not isinstance(e164, str) or not _E164.fullmatch(e164):
        raise InvalidNumber("not an E.164 number")
    return TON_INTERNATIONAL, NPI_ISDN, e164[1:]


def from_smpp_address(address: str) -> str:
    """An MO's source as received (international digits, usually without "+"), ready for
    `normalise`: the "+" makes it read as international, not in the default region."""
    return address if address.startswith("+") else f"+{address}"


def numbers_from_lines(lines: Iterable[str], default_region: str = "US") -> list[str]:
    """A file of numbers, one per line, as E.164; blank lines and lines starting with # are skipped.
    The first bad line raises InvalidNumber naming its line number, so it can be found and fixed."""
    numbers = []
    for line_no, line in enumerate(lines, 1):
        raw = line.strip()
        if not raw or raw.startswith("#"):
            continue
        try:
            numbers.append(normalise(raw, default_region))
        except InvalidNumber as exc:
            raise InvalidNumber(f"line {line_no}: {raw!r}: {exc.reason}") from None
    return numbers
