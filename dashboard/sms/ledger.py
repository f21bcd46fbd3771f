"""Tamper evidence for the consent ledger: a SHA-256 hash chain. Pure: no Flask, no models.

Each event stores `hash = sha256(canonical(event, prev_hash))`, where `prev_hash` is the hash
of the event before it (GENESIS for the first). Changing any stored field of an event changes
its hash; removing, inserting or reordering events breaks the link of the event after them.
A separate chain head (last event id, last hash, length) catches events cut from the end.

The serialisation is deliberately simple so a reviewer can recompute the chain offline from
a CSV or JSON export in any language: a JSON object with sorted keys, no whitespace, ASCII
with \\uXXXX escapes (Python's `json.dumps(obj, sort_keys=True, separators=(",", ":"))`),
hashed as UTF-8, hex digest lower case. Timestamps are UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
Changing this format needs a new CHAIN_VERSION, never an edit: old hashes must stay checkable.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

GENESIS = "0" * 64
CHAIN_VERSION = 1


@dataclass(frozen=True)
class LedgerEntry:
    """The content of one consent event that the hash covers."""

    contact_id: int
    phone: str
    list_id: int | None
    kind: str
    source: str
    evidence: str
    inbound_message_id: int | None
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the database, for verification."""

    id: int
    entry: LedgerEntry | dict  # a dict: an audit record's payload (record_hash)
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainHead:
    """What the database says the end of the chain is."""

    last_event_id: int | None
    last_hash: str
    length: int


@dataclass(frozen=True)
class ChainReport:
    count: int
    broken_event_id: int | None = None
    reason: str = ""
    last_hash: str = GENESIS

    @property
    def intact(self) -> bool:
        return not self.reason

    def summary(self) -> str:
        if self.intact:
            return f"chain intact: {self.count} events (head {self.last_hash})"
        where = f"event {self.broken_event_id}" if self.broken_event_id is not None else "chain head"
        return f"chain broken at {where}: {self.reason}"


def timestamp(value: datetime) -> str:
    """UTC with microseconds; naive datetimes are refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in a consent event; pass an aware datetime")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: LedgerEntry, prev_hash: str) -> bytes:
    """The exact bytes that are hashed."""
    payload = {
        "v": CHAIN_VERSION,
        "contact_id": entry.contact_id,
        "phone": entry.phone,
        "list_id": entry.list_id,
        "kind": entry.kind,
        "source": entry.source,
        "evidence": entry.evidence,
        "inbound_message_id": entry.inbound_message_id,
        "actor": entry.actor,
        "created_at": timestamp(entry.created_at),
        "prev_hash": prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def event_hash(entry: LedgerEntry, prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry, prev_hash)).hexdigest()


def record_hash(payload: dict, prev_hash: str) -> str:
    """The hash of any other chained record (the audit trail): `payload` with `prev_hash` added,
    serialised like `canonical` (sorted keys, no whitespace, ASCII), SHA-256 in lower-case hex."""
    data = json.dumps(payload | {"prev_hash": prev_hash}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def check_event(event: StoredEvent, predecessor_hash: str, predecessor_id: int | None,
                digest: Callable[[Any, str], str] = event_hash) -> str:
    """Why this one event fails its link or its own hash; "" when it is sound.

    `predecessor_hash` is the stored hash of the event just before it in id order (GENESIS
    for the first event), so one event can be checked without walking the whole chain.
    """
    if event.prev_hash != predecessor_hash:
        after = f"event {predecessor_id}" if predecessor_id is not None else "the start of the chain"
        return (f"prev_hash does not match the hash of {after} "
                "(an event before it was removed, inserted or altered and rehashed)")
    if digest(event.entry, event.prev_hash) != event.hash:
        return "content does not match its hash (the event was altered)"
    return ""


def verify(events: Iterable[StoredEvent], head: ChainHead | None = None,
           digest: Callable[[Any, str], str] = event_hash) -> ChainReport:
    """Walk the events in id order and report the first one whose link or content is wrong.

    `events` may be a generator over millions of rows: it is consumed once, never stored.
    """
    expected_prev, previous_id, count = GENESIS, None, 0
    for event in events:
        problem = check_event(event, expected_prev, previous_id, digest)
        if problem:
            return ChainReport(count, event.id, problem, expected_prev)
        expected_prev, previous_id, count = event.hash, event.id, count + 1
    if head is not None and (head.last_hash != expected_prev or head.length != count):
        return ChainReport(count, head.last_event_id,
                           f"the chain head records {head.length} events ending with event "
                           f"{head.last_event_id}, but the ledger has {count} ending with event {previous_id} "
                           "(events were removed from the end, or the head was altered)", expected_prev)
    return ChainReport(count, last_hash=expected_prev)
