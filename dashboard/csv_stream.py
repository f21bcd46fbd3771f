"""CSV written as a stream of text chunks, for downloads of any size (no Flask, no database).

Every cell goes through `spreadsheet_safe`: a cell that a spreadsheet would run as a formula
(`=HYPERLINK(…)`, `@SUM(1)`, `+cmd|…`) gets a leading apostrophe, as OWASP recommends for CSV
injection. Numbers are left alone (E.164 numbers begin with `+`, prices may be negative): a
number is not a formula. A cell that already began with an apostrophe gets one more, so the
escaping can be undone exactly — drop one leading `'` from any cell that starts with one —
which is how an offline verifier recovers the hashed values of the consent export.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

# Characters that make a spreadsheet read a cell as a formula (OWASP: = + - @ tab CR), and the
# apostrophe itself so that the escaping stays reversible.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "'")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def spreadsheet_safe(value: object) -> object:
    """The cell as it is, unless a spreadsheet would evaluate it: then with a leading `'`."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def unescape_cell(value: str) -> str:
    """The original value of a cell written by `csv_chunks` (for readers and verifiers)."""
    return value[1:] if value.startswith("'") else value


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence], chunk_rows: int,
               on_done: Callable[[int], object] | None = None) -> Iterator[str]:
    """The header, then the rows in chunks of `chunk_rows` lines (fewer, larger socket writes);
    `on_done` gets the row count once the last chunk is out."""
    writer = csv.writer(_Echo())
    count, chunk = 0, [writer.writerow(header)]
    for row in rows:
        chunk.append(writer.writerow([spreadsheet_safe(cell) for cell in row]))
        count += 1
        if len(chunk) >= chunk_rows:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)
    if on_done is not None:
        on_done(count)
