"""Contact CSV imports: save the upload, preview it, and import it in the worker, in batches.

The web request only stores the file (streamed to instance/imports/) and the column mapping;
`process_pending_imports` runs in the worker and commits each batch together with the file
offset it reached, so a crash or restart resumes at the next row. Re-importing the same file
changes nothing: a number already subscribed to the list is counted as unchanged, and an
import never re-subscribes a number that opted out.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import insert, select, update

from dashboard.csv_stream import csv_chunks
from dashboard.extensions import db
from dashboard.models import Contact, ContactImport, ContactList, ImportedNumber, ImportIssue, ListMembership, User
from dashboard.services import audit, consent
from dashboard.services.contacts import number_facts
from dashboard.settings import instance_path, setting
from dashboard.sms import contact_csv

BATCH_ROWS = 500
PREVIEW_ROWS = 10
CHUNK_BYTES = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024  # enough for IMPORT_MAX_COLUMNS columns of any sane name
ISSUES_CHUNK_ROWS = 500
SOURCES = ("import", "web_form", "api", "admin")


class ImportRefused(ValueError):
    pass


def import_dir() -> Path:
    path = Path(setting("IMPORT_DIR") or instance_path() / "imports")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def path_of(imp: ContactImport) -> Path:
    return import_dir() / imp.stored_name


def _normalised(stream: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """(chunk as uploaded, chunk as stored): UTF-16 (with its BOM) becomes UTF-8 and lines ended
    by CR alone (old Mac exports) end with LF, so the reader sees one dialect; the hash is of
    the upload as it came, to recognise the same file uploaded again."""
    first = stream.read(CHUNK_BYTES)
    decoder = codecs.getincrementaldecoder("utf-16")() if first.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else None
    chunk, cr_only = first, None
    while chunk:
        data = decoder.decode(chunk).encode("utf-8") if decoder else chunk
        if cr_only is None:
            cr_only = b"\r" in data and b"\n" not in data
        yield chunk, data.replace(b"\r", b"\n") if cr_only else data
        chunk = stream.read(CHUNK_BYTES)


def save_upload(stream: BinaryIO, filename: str, contact_list: ContactList, user: User, *, source: str,
                evidence: str, now: datetime) -> ContactImport:
    """Copy the upload to disk in chunks (hashing it on the way), owner-only, and read only its
    first line: its delimiter, its columns (at most IMPORT_MAX_COLUMNS, with distinct names)."""
    if source not in SOURCES:
        raise ImportRefused(f"unknown consent source {source!r}")
    stored_name = f"{uuid.uuid4().hex}.csv"
    target = import_dir() / stored_name
    digest, size = hashlib.sha256(), 0
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        for raw, data in _normalised(stream):
            digest.update(raw)
            size += len(raw)
            out.write(data)
    try:
        header, delimiter, guess = _first_line(target, size)
    except ImportRefused:
        target.unlink()
        raise
    imp = ContactImport(list_id=contact_list.id, user_id=user.id, uploaded_by=user.email,
                        filename=(filename or "upload.csv")[:255], stored_name=stored_name, size=size,
                        sha256=digest.hexdigest(), header=header, has_header=guess is not None,
                        mapping=_mapping_dict(guess) if guess else {}, source=source, evidence=evidence,
                        created_at=now, delimiter=delimiter)
    db.session.add(imp)
    db.session.flush()
    audit.record("import_upload", target=imp, now=now,
                 detail=f"{imp.filename!r} ({size} bytes) into list {contact_list.id}")
    db.session.commit()
    return imp


def _first_line(path: Path, size: int) -> tuple[list[str], str, contact_csv.Mapping | None]:
    if size == 0:
        raise ImportRefused("The file is empty.")
    limit = setting("IMPORT_MAX_COLUMNS")
    with path.open("rb") as f:
        line = f.readline(MAX_HEADER_BYTES).decode("utf-8", "replace").removeprefix("\ufeff")
        delimiter = contact_csv.sniff_delimiter(line)
        first = next(contact_csv.records(f, delimiter=delimiter, max_columns=limit), None)
    if first is not None and first.error.endswith(f"at most {limit} are read"):
        raise ImportRefused(f"The file's first line has {first.error.split()[0]} columns; at most {limit} "
                            "can be imported.")
    header = first.cells if first else []
    guess = contact_csv.guess_mapping(header)
    if guess is not None:
        try:
            contact_csv.field_columns(header, (guess.phone, guess.name), True)
        except contact_csv.HeaderError as exc:
            raise ImportRefused(f"The file cannot be imported as it is: {exc}.") from None
    return header, delimiter, guess


def _mapping_dict(mapping: contact_csv.Mapping) -> dict:
    return {"phone": mapping.phone, "name": mapping.name, "fields": mapping.fields}


def mapping_of(imp: ContactImport) -> contact_csv.Mapping | None:
    if not imp.mapping:
        return None
    return contact_csv.Mapping(phone=imp.mapping["phone"], name=imp.mapping.get("name"),
                               fields=dict(imp.mapping.get("fields") or {}))


def preview(imp: ContactImport) -> list[contact_csv.Record]:
    """The first rows of the file, for the mapping form."""
    with path_of(imp).open("rb") as f:
        rows = []
        for record in contact_csv.records(f, delimiter=imp.delimiter):
            rows.append(record)
            if len(rows) >= PREVIEW_ROWS + 1:
                break
    return rows


def earlier_import_of_same_file(imp: ContactImport) -> ContactImport | None:
    return db.session.scalar(select(ContactImport).where(
        ContactImport.sha256 == imp.sha256, ContactImport.list_id == imp.list_id, ContactImport.id < imp.id)
        .order_by(ContactImport.id.desc()))


def confirm(imp: ContactImport, mapping: contact_csv.Mapping, has_header: bool) -> None:
    """Fix the mapping and queue the import for the worker."""
    if imp.status != "preview":
        raise ImportRefused("This import has started already.")
    width = len(imp.header)
    if width and mapping.needed() > width:
        raise ImportRefused("The mapping names a column the file does not have.")
    imp.mapping = _mapping_dict(mapping)
    imp.has_header = has_header
    imp.status = "queued"
    audit.record("import_confirm", target=imp, changes={"mapping": [None, imp.mapping], "has_header": [None, has_header]})
    db.session.commit()


def process_pending_imports(now: datetime, budget_rows: int = 5000) -> int:
    """Worker job: import up to `budget_rows` rows from queued or running imports, oldest first.

    Returns the number of rows read. Call it again until it returns 0.
    """
    delete_stale_uploads(now)
    done = 0
    for imp in db.session.scalars(select(ContactImport).where(ContactImport.status.in_(("queued", "running")))
                                  .order_by(ContactImport.id)).all():
        if done >= budget_rows:
            break
        if imp.status == "queued" and not _claim(imp, now):
            continue
        try:
            done += _run(imp, now, budget_rows - done)
        except OSError as exc:  # the file vanished or the disk failed: say so, don't retry forever
            db.session.rollback()
            imp.status, imp.error, imp.finished_at = "failed", f"cannot read the file: {exc}", now
            db.session.commit()
    return done


def delete_stale_uploads(now: datetime) -> int:
    """Uploads never confirmed within IMPORT_RETENTION_HOURS are deleted (the import is marked
    failed with the reason): personal data is not left lying in instance/imports."""
    cutoff = now - timedelta(hours=setting("IMPORT_RETENTION_HOURS"))
    stale = db.session.scalars(select(ContactImport).where(ContactImport.status == "preview",
                                                           ContactImport.created_at < cutoff)).all()
    for imp in stale:
        path_of(imp).unlink(missing_ok=True)
        imp.status, imp.finished_at = "failed", now
        imp.error = f"not imported within {setting('IMPORT_RETENTION_HOURS')} hours: the file was deleted"
    if stale:
        db.session.commit()
    return len(stale)


def _claim(imp: ContactImport, now: datetime) -> bool:
    # A conditional UPDATE (docs/architecture.md, "Conventions"): a second worker by mistake cannot run it twice.
    claimed = db.session.execute(update(ContactImport).where(
        ContactImport.id == imp.id, ContactImport.status == "queued").values(status="running", started_at=now),
        execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    db.session.refresh(imp)
    return claimed == 1


def _run(imp: ContactImport, now: datetime, budget: int) -> int:
    mapping = mapping_of(imp)
    region = setting("DEFAULT_REGION")
    read = 0
    with path_of(imp).open("rb") as f:
        records = contact_csv.records(f, imp.offset, imp.line, imp.delimiter,
                                      setting("IMPORT_MAX_COLUMNS"))
        while read < budget:
            batch = _take(records, min(BATCH_ROWS, budget - read))
            if not batch:
                imp.status, imp.finished_at = "done", now
                db.session.commit()
                # Imported: the rows are in the database, the refused ones in import_issue. The
                # upload (personal data) is not kept any longer than needed.
                path_of(imp).unlink(missing_ok=True)
                break
            _import_batch(imp, batch, mapping, region, now)
            read += len(batch)
            last = batch[-1]
            imp.offset, imp.line, imp.rows_read = last.end_offset, last.end_line, imp.rows_read + len(batch)
            db.session.commit()  # the contacts, their consent events and the new offset, together
    return read


def _take(records: Iterator[contact_csv.Record], count: int) -> list[contact_csv.Record]:
    batch = []
    for record in records:
        batch.append(record)
        if len(batch) >= count:
            break
    return batch


def _import_batch(imp: ContactImport, batch: list[contact_csv.Record], mapping: contact_csv.Mapping,
                  region: str, now: datetime) -> None:
    parsed: list[tuple[contact_csv.Record, contact_csv.ContactRow]] = []
    for record in batch:
        if not any(cell.strip() for cell in record.cells) and not record.error:
            continue  # blank line
        if imp.has_header and record.line == 1:
            continue
        try:
            parsed.append((record, contact_csv.parse_row(record, mapping, region)))
        except contact_csv.RowError as exc:
            _issue(imp, record, str(exc))
    phones = {row.phone for _record, row in parsed}
    seen = dict(db.session.execute(select(ImportedNumber.phone, ImportedNumber.line).where(
        ImportedNumber.import_id == imp.id, ImportedNumber.phone.in_(phones))).all())
    contacts = {c.phone: c for c in db.session.scalars(select(Contact).where(Contact.phone.in_(phones)))}
    memberships = {m.contact_id: m for m in db.session.scalars(select(ListMembership).where(
        ListMembership.list_id == imp.list_id,
        ListMembership.contact_id.in_([c.id for c in contacts.values()])))}
    new_contacts: dict[str, dict] = {}
    numbers_seen, pending = [], []
    for record, row in parsed:
        if row.phone in seen:
            _issue(imp, record, f"duplicate of line {seen[row.phone]} ({row.phone})")
            continue
        seen[row.phone] = record.line
        numbers_seen.append({"import_id": imp.id, "phone": row.phone, "line": record.line})
        contact = contacts.get(row.phone)
        if contact is None:
            new_contacts[row.phone] = {"phone": row.phone, "name": row.name, "fields": row.fields,
                                       **number_facts(row.phone), "global_opt_out": False, "created_at": now}
        else:
            _fill_in(contact, row)
        membership = memberships.get(contact.id) if contact else None
        if contact is not None and contact.global_opt_out:
            _issue(imp, record, "opted out of all messages; an import does not re-subscribe")
        elif membership is not None and not membership.subscribed:
            _issue(imp, record, "opted out of this list; an import does not re-subscribe")
        elif membership is not None:
            imp.unchanged += 1
        else:
            pending.append((row.phone, f"{imp.evidence} (import {imp.id} of {imp.filename!r}, line {record.line})"))
    # Multi-row inserts: row-at-a-time ORM flushes would cap an import at a few hundred rows a second.
    if numbers_seen:
        db.session.execute(insert(ImportedNumber), numbers_seen)
    if new_contacts:
        db.session.execute(insert(Contact), list(new_contacts.values()))
        contacts.update({c.phone: c for c in db.session.scalars(
            select(Contact).where(Contact.phone.in_(list(new_contacts))))})
    opt_ins = [(contacts[phone], evidence) for phone, evidence in pending]
    imp.imported += consent.record_many(opt_ins, consent.OPT_IN, source=imp.source, actor=imp.uploaded_by,
                                        now=now, list_id=imp.list_id)


def _fill_in(contact: Contact, row: contact_csv.ContactRow) -> None:
    """Complete what is missing, never overwrite: a second import of the same file changes nothing."""
    if row.name and not contact.name:
        contact.name = row.name
    missing = {k: v for k, v in row.fields.items() if v and k not in (contact.fields or {})}
    if missing:
        contact.fields = {**(contact.fields or {}), **missing}


def _issue(imp: ContactImport, record: contact_csv.Record, reason: str) -> None:
    raw = io.StringIO()
    csv.writer(raw).writerow(record.cells)
    # The row as it was, but a NUL shown as ␀: PostgreSQL's text refuses the byte itself, and the
    # person reading the issue needs to see where it was.
    db.session.add(ImportIssue(import_id=imp.id, line=record.line, reason=reason[:300],
                               raw=raw.getvalue().rstrip("\r\n").replace("\x00", "\u2400")[:2000]))
    imp.rejected += 1


def progress_percent(imp: ContactImport) -> int:
    if imp.status == "done":
        return 100
    return min(99, imp.offset * 100 // imp.size) if imp.size else 0


def issues_csv(imp: ContactImport) -> Iterator[str]:
    """The refused rows as CSV (line, reason, row), streamed; cells a spreadsheet would run as
    formulas are neutralised (dashboard/csv_stream.py)."""
    start = audit.export_started("import_issues_export", fmt="csv", target=imp,
                                 detail=f"refused rows of import {imp.id} ({imp.filename!r})")
    query = (select(ImportIssue.line, ImportIssue.reason, ImportIssue.raw).where(ImportIssue.import_id == imp.id)
             .order_by(ImportIssue.line).execution_options(yield_per=1000))
    return csv_chunks(("line", "reason", "row"), db.session.execute(query), ISSUES_CHUNK_ROWS,
                      lambda count: audit.export_finished(start.id, count))


def issues(imp: ContactImport, limit: int = 20) -> list[ImportIssue]:
    return db.session.scalars(select(ImportIssue).where(ImportIssue.import_id == imp.id)
                              .order_by(ImportIssue.line).limit(limit)).all()
