"""CSV written as a stream of text chunks, for downloads of any size (no Flask, no database)."""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence


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
        chunk.append(writer.writerow(row))
        count += 1
        if len(chunk) >= chunk_rows:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)
    if on_done is not None:
        on_done(count)
