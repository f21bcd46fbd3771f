import pytest

from dashboard.sms.numbers import (InvalidNumber, country_code, destination_country, normalise, smpp_address,
                                   time_zones)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+49 151 12345678", "US", "+4915112345678"),
        ("0151 1234-5678", "DE", "+4915112345678"),
        ("0049 (0)151-1234.5678", "US", "+4915112345678"),
        ("+49 (0)151 12345678", "US", "+4915112345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("011 49 151 12345678", "US", "+4915112345678"),
        (" +44\u00a07911 123456 ", "DE", "+447911123456"),
        ("+7 912 345 67 89", "US", "+79123456789"),
    ],
)
def test_it_normalises_what_people_type_to_e164(raw, region, e164):
    assert normalise(raw, region) == e164


def test_it_defaults_to_the_us():
    assert normalise("415 555 2671") == "+14155552671"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("12345", "US", "too short"),  # would format as +112345 without validation
        ("+4915112345678901234", "US", "too long"),
        ("0151", "DE", "not a valid number for region DE"),
        ("abc", "US", "not a number"),
        ("+49 151 CALL-ME", "US", "not a number"),
        ("1 2 3 ext. 4", "US", "not a number"),
        ("", "US", "no number given"),
        ("  ", "US", "no number given"),
        ("+999 1234", "US", "unknown country code"),
        ("0151 12345678", "XX", "no country code"),
    ],
)
def test_it_rejects_invalid_numbers_with_a_human_reason(raw, region, reason):
    with pytest.raises(InvalidNumber, match=reason) as info:
        normalise(raw, region)
    assert reason in info.value.reason


def test_an_invalid_number_is_a_value_error():
    with pytest.raises(ValueError):
        normalise("nope")


def test_it_lists_the_time_zones_of_a_number():
    assert time_zones("+4915112345678") == ("Europe/Berlin",)
    assert time_zones("+14155552671") == ("America/Los_Angeles",)
    assert len(time_zones("+79123456789")) > 10


def test_it_returns_no_time_zone_when_unknown():
    assert time_zones("+80012345678") == ()


@pytest.mark.parametrize(
    ("e164", "region"),
    [
        ("+4915112345678", "DE"),
        ("+14155552671", "US"),
        ("+16135550123", "CA"),
        ("+80012345678", "001"),  # non-geographic (freephone)
    ],
)
def test_it_tells_the_country_of_a_number(e164, region):
    assert country_code(e164) == region


@pytest.mark.parametrize("bad", ["4915112345678", "+112345", "hello"])
def test_it_refuses_facts_about_numbers_it_cannot_read(bad):
    with pytest.raises(InvalidNumber):
        country_code(bad)


def test_it_builds_an_international_isdn_smpp_address():
    assert smpp_address("+4915112345678") == (1, 1, "4915112345678")


@pytest.mark.parametrize("bad", ["4915112345678", "+0123", "+49 151", "", "+1234567890123456"])
def test_it_refuses_an_smpp_address_for_anything_but_e164(bad):
    with pytest.raises(InvalidNumber):
        smpp_address(bad)


@pytest.mark.parametrize("e164, country", [("+4915112345678", "DE"), ("+16135550123", "CA"),
                                           ("+14150000001", "US"),  # not a valid range: its calling code's region
                                           ("+80012345678", "001"), ("hello", None)])
def test_the_destination_country_falls_back_to_the_calling_codes_main_region(e164, country):
    assert destination_country(e164) == country



def test_a_number_longer_than_e164_allows_is_refused_even_where_phonenumbers_takes_it():
    with pytest.raises(InvalidNumber, match="at most 15"):
        normalise("+4920100000000000")


def test_a_numbers_file_is_read_skipping_blanks_and_comments():
    from dashboard.sms.numbers import numbers_from_lines
    assert numbers_from_lines(["# customers\n", "+12025550101\n", "\n", "(202) 555-0102\n"]) == [
        "+12025550101", "+12025550102"]


def test_a_bad_line_in_a_numbers_file_is_named_by_its_line_number():
    from dashboard.sms.numbers import InvalidNumber, numbers_from_lines
    with pytest.raises(InvalidNumber, match=r"^line 3: '12345': "):
        numbers_from_lines(["+12025550101\n", "# ok\n", "12345\n", "+12025550102\n"])
