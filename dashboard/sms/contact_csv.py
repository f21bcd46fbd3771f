"""Reading contact CSV files: streamed records with their line numbers, and one row's checks.

Pure: works on a binary file object, knows nothing of the database. The file is read line by
line, so a 100,000-row upload never sits in memory, and every record carries the byte offset
after it, so an import interrupted at any record resumes there.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.sms.templating import field_key

PHONE_HEADERS = ("phone", "mobile", "number", "msisdn", "tel", "telephone", "cell", "phone number")
NAME_HEADERS = ("name", "full name", "fullname", "first name", "contact")
MAX_FIELD_CHARS = 500
MAX_COLUMNS = 200
DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Record:
    line: int  # where the record starts, 1-based, as an editor shows it
    cells: list[str]
    end_offset: int  # byte offset just after the record: where to resume
    end_line: int
    bad_encoding: bool = False
    error: str = ""


@dataclass(frozen=True)
class Mapping:
    """Which column holds what (0-based indexes); `fields` are custom fields by name."""

    phone: int
    name: int | None = None
    fields: dict[str, int] = field(default_factory=dict)

    def needed(self) -> int:
        return max([self.phone, self.name or 0, *self.fields.values()]) + 1


@dataclass(frozen=True)
class ContactRow:
    phone: str
    name: str
    fields: dict[str, str]


class RowError(ValueError):
    pass


class HeaderError(ValueError):
    """Column names that would lose data (two columns for one custom field); fit to show."""


def sniff_delimiter(first_line: str) -> str:
    """The delimiter of a header or first row: comma, semicolon (spreadsheets in much of Europe),
    tab or pipe; a comma when the line has one column or cannot be told."""
    try:
        return csv.Sniffer().sniff(first_line, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def field_columns(header: list[str], used: tuple[int | None, ...], has_header: bool) -> dict[str, int]:
    """Custom field name → column for every column not in `used`. Two columns whose names would
    be the same field (equal, or equal ignoring case and punctuation: `tag`, `Tag`, `TAG `) are
    refused: one value would silently replace the other."""
    fields: dict[str, int] = {}
    seen: dict[str, int] = {}
    for index, raw in enumerate(header):
        if index in used:
            continue
        label = (raw.strip() if has_header else "") or f"column {index + 1}"
        key = field_key(label) or label.lower()
        if key in seen:
            raise HeaderError(f"columns {seen[key] + 1} and {index + 1} are both named “{label}” (names must "
                              "differ, ignoring case): rename one, or untick keeping the other columns")
        seen[key] = index
        fields[label] = index
    return fields


def records(stream: BinaryIO, offset: int = 0, line: int = 0, delimiter: str = ",",
            max_columns: int = MAX_COLUMNS) -> Iterator[Record]:
    """CSV records from `offset` (bytes) in a binary stream; `line` lines were read before it.

    Lines that are not UTF-8 are decoded with replacement characters and their record is
    flagged, so the row is reported instead of stopping the whole import. A record with more
    than `max_columns` cells keeps the first ones and is flagged (a million-column line would
    otherwise be carried through the preview and the issues report whole).
    """
    stream.seek(offset)
    state = {"line": line, "bad": False}

    def lines() -> Iterator[str]:
        while True:
            raw = stream.readline()
            if not raw:
                return
            state["line"] += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text, state["bad"] = raw.decode("utf-8", "replace"), True
            if state["line"] == 1:
                text = text.removeprefix("\ufeff")  # a BOM from spreadsheet exports
            yield text

    reader = csv.reader(lines(), delimiter=delimiter)
    start = line + 1
    while True:
        try:
            cells, error = next(reader), ""
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a runaway quote past the field size limit: report, go on
            cells, error = [], f"unreadable CSV: {exc}"
        if len(cells) > max_columns:
            cells, error = cells[:max_columns], f"{len(cells)} columns: at most {max_columns} are read"
        yield Record(start, cells, stream.tell(), state["line"], state["bad"], error)
        start, state["bad"] = state["line"] + 1, False


def guess_mapping(header: list[str]) -> Mapping | None:
    """A first guess from header names; None when no column looks like a phone number."""
    names = [h.strip().lower() for h in header]
    phone = next((i for i, n in enumerate(names) if n in PHONE_HEADERS), None)
    if phone is None:
        return None
    name = next((i for i, n in enumerate(names) if n in NAME_HEADERS and i != phone), None)
    fields = {header[i].strip(): i for i, n in enumerate(names) if i not in (phone, name) and n}
    return Mapping(phone=phone, name=name, fields=fields)


def parse_row(record: Record, mapping: Mapping, default_region: str) -> ContactRow:
    """The contact in one record, or RowError with a reason fit for the bad-rows report."""
    if record.error:
        raise RowError(record.error)
    if record.bad_encoding:
        raise RowError("not valid UTF-8 text")
    if len(record.cells) < mapping.needed():
        raise RowError(f"missing columns: {len(record.cells)} found, {mapping.needed()} expected")
    if any("\x00" in record.cells[i] for i in (mapping.phone, mapping.name, *mapping.fields.values())
           if i is not None):
        raise RowError("contains a NUL byte")
    raw_phone = record.cells[mapping.phone].strip()
    if not raw_phone:
        raise RowError("no phone number")
    try:
        phone = normalise(raw_phone, default_region)
    except InvalidNumber as exc:
        raise RowError(f"invalid number {raw_phone!r}: {exc}") from None
    name = record.cells[mapping.name].strip()[:200] if mapping.name is not None else ""
    fields = {key: record.cells[i].strip()[:MAX_FIELD_CHARS] for key, i in mapping.fields.items()}
    return ContactRow(phone, name, fields)
