"""Which country a destination is in, for reports over many numbers: resolved per number prefix.

Parsing a number with phonenumbers costs about 67 µs, so a report over a million messages
cannot parse each one. The region of an E.164 number is decided by a short prefix: for most
calling codes the code alone (+49 is always DE), for the twelve codes several regions share
(+1 NANP, +7, +44, +39 …) the code plus the first digits of the national number (NANP: area code
and exchange, +44 7781 for Guernsey, +39 06 698 for the Vatican). `region_prefix` says how long
that prefix is; a report groups by it in SQL and resolves each group from one of its numbers.
"""
from __future__ import annotations

import phonenumbers

# Calling codes used by more than one region, e.g. 1 → US, CA, JM …; 44 → GB, GG, IM, JE.
SHARED_CALLING_CODES = tuple(sorted(
    str(code) for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1))
# "+" and up to 7 digits: NANP's NPA-NXX (the longest leading-digit pattern the metadata uses
# for a shared code is 6 national digits), and enough for the other shared codes.
SHARED_PREFIX_CHARS = 8
# "+" and 3 digits holds any calling code; codes are prefix-free, so this decides the region.
SINGLE_PREFIX_CHARS = 4
UNKNOWN = "??"


def region_prefix(e164: str) -> str:
    """The prefix of `e164` that decides its region (see the module docstring)."""
    digits = e164[1:4]
    if any(digits.startswith(code) for code in SHARED_CALLING_CODES):
        return e164[:SHARED_PREFIX_CHARS]
    return e164[:SINGLE_PREFIX_CHARS]


def region_of(e164: str) -> str:
    """The region code ("US", "GG"…) of one number; "??" when it cannot be told."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN
    region = phonenumbers.region_code_for_number(number)
    if region is None:
        # Not a valid number, but its calling code may still name the country.
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return region if region and region != "ZZ" else UNKNOWN


class RegionCache:
    """region_of by prefix: one parse per distinct prefix, for streaming many numbers."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, str] = {}

    def region(self, e164: str) -> str:
        prefix = region_prefix(e164)
        region = self._by_prefix.get(prefix)
        if region is None:
            region = self._by_prefix[prefix] = region_of(e164)
        return region
