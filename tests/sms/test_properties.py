"""Property tests (issue 11, build point 5): for any input, a result or a clear error, never an
escaping exception. Hypothesis draws the inputs; each test is bounded in examples and time."""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.sms import contact_csv, templating
from dashboard.sms.encoding import (
    MAX_SEGMENTS,
    _clean,
    analyse,
    decode,
    encode_message,
    split_udh,
    split_units,
)
from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.sms.receipts import Receipt, parse_receipt

BOUNDED = settings(
    max_examples=150, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
E164 = re.compile(r"\+[1-9]\d{1,14}")


# ----------------------------------------------------------------------------- the number normaliser


@BOUNDED
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\A\+?[0-9 ()\-.]{1,25}\Z"),
        st.builds(
            lambda cc, rest: f"+{cc}{rest}", st.integers(1, 999), st.from_regex(r"\A[0-9]{4,14}\Z")
        ),
    ),
    st.sampled_from(["US", "GB", "DE", "FR", "IN", "BR"]),
)
def test_any_text_normalises_to_e164_or_says_why_not(raw, region):
    try:
        number = normalise(raw, region)
    except InvalidNumber as exc:
        assert exc.reason
        return
    assert E164.fullmatch(number)
    assert normalise(number, region) == number  # idempotent


# ----------------------------------------------------------------------------- the segmenter


@BOUNDED
@given(st.text(max_size=700))
def test_any_text_round_trips_through_its_parts(text):
    cleaned = _clean(text)
    parts = split_units(text)
    assert "".join(parts) == cleaned
    info = analyse(text)
    assert info.segments == len(parts) and info.units_left_in_part >= 0
    if len(parts) > MAX_SEGMENTS:
        return
    encoded = encode_message(text, ref=7)
    bodies = []
    for short_message in encoded.parts:
        udh, body = split_udh(short_message, encoded.esm_class)
        if udh is not None:
            assert udh[0] == 7 and udh[1] == len(encoded.parts)
        bodies.append(decode(body, encoded.data_coding))
    assert "".join(bodies) == cleaned


# ----------------------------------------------------------------------------- the receipt parser


@BOUNDED
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        st.builds(
            lambda i, s, e: (
                f"id:{i} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
                f"stat:{s} err:{e} text:x"
            ),
            st.text(max_size=20),
            st.text(max_size=10),
            st.text(max_size=5),
        ),
    ),
    st.one_of(st.none(), st.binary(max_size=70), st.text(max_size=70)),
    st.one_of(st.none(), st.integers(-5, 300)),
)
def test_any_deliver_sm_parses_to_a_receipt_or_none(short_message, receipted_id, state):
    result = parse_receipt(
        short_message=short_message, receipted_message_id=receipted_id, message_state=state
    )
    assert result is None or isinstance(result, Receipt)


# ----------------------------------------------------------------------------- the template renderer

FRAGMENTS = [
    "{{",
    "}}",
    "{%",
    "%}",
    " if ",
    " else ",
    " endif ",
    "name",
    "first_name",
    "fields",
    "phone",
    "9",
    "99",
    "**",
    "*",
    "+",
    "-",
    "//",
    "%",
    "~",
    "(",
    ")",
    "[",
    "]",
    ".",
    "|",
    "upper",
    "replace(",
    "'x'",
    "'%d'",
    ",",
    "default(",
    "__class__",
    "center(",
    "join",
    "10000000",
    "'",
    '"',
    " ",
    "\n",
    "set ",
    "for ",
    "in ",
    "endfor",
    "format",
    "ljust",
    "lower()",
    "split()",
    "x" * 50,
]
BODIES = st.one_of(
    st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
)
CONTEXT = templating.contact_context(
    "Ada Lovelace", "+12025550101", {"city": "Paris", "Tier": "gold"}
)


@BOUNDED
@given(BODIES)
def test_any_template_renders_or_fails_clearly_within_its_bounds(body):
    started = time.perf_counter()
    try:
        text = templating.render(body, CONTEXT)
    except templating.TemplateError as exc:
        assert str(exc)
    else:
        assert isinstance(text, str) and len(text) <= templating.MAX_RENDERED_CHARS
    assert time.perf_counter() - started < 0.5
    result = templating.check(body)
    assert result.ok or result.errors


# ----------------------------------------------------------------------------- the CSV reader


@BOUNDED
@given(st.binary(max_size=2000), st.sampled_from([",", ";", "\t", "|"]))
def test_any_bytes_read_as_records_or_per_row_errors(data, delimiter):
    records = list(contact_csv.records(io.BytesIO(data), delimiter=delimiter, max_columns=20))
    mapping = contact_csv.Mapping(phone=0, name=1, fields={"x": 2})
    for record in records:
        assert len(record.cells) <= 20 and record.line >= 1
        try:
            row = contact_csv.parse_row(record, mapping, "US")
        except contact_csv.RowError as exc:
            assert str(exc)
        else:
            assert E164.fullmatch(row.phone)
    if records:
        header = records[0].cells
        try:
            contact_csv.field_columns(header, (0,), True)
        except contact_csv.HeaderError as exc:
            assert "both named" in str(exc)
        assert (
            contact_csv.sniff_delimiter(data.decode("utf-8", "replace").split("\n")[0])
            in contact_csv.DELIMITERS
        )
