"""Idempotency-Key: the same key with the same request gets the original response and creates
nothing; with a different request, a conflict (docs/api.md, "Idempotency"). The record is written
in the transaction that creates what the request created, so either both exist or neither."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from dashboard.extensions import db
from dashboard.models import IdempotencyRecord


def request_hash(method: str, path: str, body: bytes) -> str:
    """What "the same request" means: method, path and body, byte for byte."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def find(api_key_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
    )


def remember(
    api_key_id: int, key: str, digest: str, status_code: int, body: str, now: datetime
) -> None:
    """Keep the response, in the caller's transaction. A concurrent request with the same key makes
    one of the two commits fail on the unique (api_key_id, key): that one created nothing."""
    db.session.add(
        IdempotencyRecord(
            api_key_id=api_key_id,
            key=key,
            request_hash=digest,
            status_code=status_code,
            body=body,
            created_at=now,
        )
    )


def purge(now: datetime, keep: timedelta) -> int:
    """Forget records older than `keep` (a scheduler job): a key may be reused after that."""
    removed = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - keep)
    ).rowcount
    db.session.commit()
    return removed
