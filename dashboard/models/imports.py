"""Contact CSV imports: the upload, its progress, the rows it refused, the numbers it saw."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.types import UTCDateTime, utcnow


class ContactImport(db.Model):
    """One uploaded file. `offset`/`line` say how far the worker got, committed together with
    the contacts of each batch, so an interrupted import resumes exactly where it stopped."""

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    uploaded_by: Mapped[str] = mapped_column(String(254))
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80))  # file name under instance/imports/
    size: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    header: Mapped[list] = mapped_column(JSON, default=list)
    has_header: Mapped[bool] = mapped_column(default=True)
    # Sniffed at upload: spreadsheets in much of Europe write semicolons (docs/imports.md).
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)  # {"phone": i, "name": i|None, "fields": {}}
    source: Mapped[str] = mapped_column(String(20), default="import")
    evidence: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="preview", index=True)  # preview queued running done failed
    offset: Mapped[int] = mapped_column(default=0)
    line: Mapped[int] = mapped_column(default=0)
    rows_read: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportIssue(db.Model):
    """A row the import refused (or skipped on purpose), with its line and the reason."""

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_import.id", ondelete="CASCADE"), index=True)
    line: Mapped[int]
    reason: Mapped[str] = mapped_column(String(300))
    raw: Mapped[str] = mapped_column(Text, default="")


class ImportedNumber(db.Model):
    """Each number once per import: a later row with the same number is a duplicate."""

    __table_args__ = (UniqueConstraint("import_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_import.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    line: Mapped[int]
