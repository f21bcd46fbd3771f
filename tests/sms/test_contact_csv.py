"""Reading contact CSVs without the app: records with line numbers and resume offsets, row checks."""
from __future__ import annotations

import io

import pytest

from dashboard.sms.contact_csv import Mapping, Record, RowError, guess_mapping, parse_row, records

FILE = ("\ufeffphone,name,city\n+12025550101,Ann,\"Paris\nFrance\"\n(202) 555-0102,Bob\n".encode()
        + b"+12025550103,Caf\xe9,x\n\n+12025550104,Dee,Oslo\n")


def test_records_carry_the_line_they_start_on_even_after_a_multiline_field():
    lines = [(r.line, r.cells) for r in records(io.BytesIO(FILE))]
    assert lines[:3] == [(1, ["phone", "name", "city"]), (2, ["+12025550101", "Ann", "Paris\nFrance"]),
                         (4, ["(202) 555-0102", "Bob"])]
    assert [line for line, _cells in lines[3:]] == [5, 6, 7]


def test_reading_resumes_at_the_offset_after_any_record():
    all_records = list(records(io.BytesIO(FILE)))
    resume_after = all_records[1]
    resumed = list(records(io.BytesIO(FILE), resume_after.end_offset, resume_after.end_line))
    assert resumed == all_records[2:]


def test_a_line_that_is_not_utf8_is_flagged_not_fatal():
    flagged = [r.line for r in records(io.BytesIO(FILE)) if r.bad_encoding]
    assert flagged == [5]


def test_the_mapping_is_guessed_from_the_header():
    assert guess_mapping(["Name", "Mobile", "Plan"]) == Mapping(phone=1, name=0, fields={"Plan": 2})
    assert guess_mapping(["a", "b"]) is None


def _record(cells, **kw) -> Record:
    return Record(line=9, cells=cells, end_offset=0, end_line=9, **kw)


def test_a_good_row_gives_an_e164_contact_with_its_fields():
    row = parse_row(_record(["(202) 555-0101", " Ann ", "Gold"]), Mapping(0, 1, {"plan": 2}), "US")
    assert (row.phone, row.name, row.fields) == ("+12025550101", "Ann", {"plan": "Gold"})


@pytest.mark.parametrize("record, reason", [
    (_record(["+12025550101"]), "missing columns: 1 found, 2 expected"),
    (_record(["", "Ann"]), "no phone number"),
    (_record(["12345", "Ann"]), "invalid number '12345': too short"),
    (_record(["+12025550101", "Ann"], bad_encoding=True), "not valid UTF-8 text"),
    (_record([], error="unreadable CSV: field larger than field limit"),
     "unreadable CSV: field larger than field limit"),
])
def test_a_bad_row_is_refused_with_a_reason(record, reason):
    with pytest.raises(RowError) as caught:
        parse_row(record, Mapping(0, 1), "US")
    assert str(caught.value) == reason
