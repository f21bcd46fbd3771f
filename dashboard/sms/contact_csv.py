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

PHONE_HEADERS = ("phone", "mobile", "number", "msisdn", "tel", "telephone", "cell", "phone number")
NAME_HEADERS = ("name", "full name", "fullname", "first name", "contact")
MAX_FIELD_CHARS = 500


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


def records(stream: BinaryIO, offset: int = 0, line: int = 0) -> Iterator[Record]:
    """CSV records from `offset` (bytes) in a binary stream; `line` lines were read before it.

    Lines that are not UTF-8 are decoded with replacement characters and their record is
    flagged, so the row is reported instead of stopping the whole import.
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

    reader = csv.reader(lines())
    start = line + 1
    while True:
        try:
            cells, error = next(reader), ""
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a runaway quote past the field size limit: report, go on
            cells, error = [], f"unreadable CSV: {exc}"
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
