"""The consent hash chain, without the app: hashing, linking, and naming the first break."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from dashboard.sms import ledger

T0 = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=timezone.utc)


def entry(n: int = 0, **overrides) -> ledger.LedgerEntry:
    values = dict(contact_id=1 + n, phone=f"+1202555{100 + n:04d}", list_id=7, kind="opt_in", source="web_form",
                  evidence="signed up at the counter", inbound_message_id=None, actor="ops@example.com",
                  created_at=T0 + timedelta(minutes=n))
    return ledger.LedgerEntry(**(values | overrides))


def chain(count: int) -> list[ledger.StoredEvent]:
    events, prev = [], ledger.GENESIS
    for n in range(count):
        digest = ledger.event_hash(entry(n), prev)
        events.append(ledger.StoredEvent(id=n + 1, entry=entry(n), prev_hash=prev, hash=digest))
        prev = digest
    return events


def head_of(events: list[ledger.StoredEvent]) -> ledger.ChainHead:
    return ledger.ChainHead(events[-1].id, events[-1].hash, len(events))


def test_the_hash_is_sha256_of_sorted_compact_json_so_it_can_be_checked_offline():
    payload = {"v": 1, "contact_id": 1, "phone": "+12025550100", "list_id": 7, "kind": "opt_in",
               "source": "web_form", "evidence": "signed up at the counter", "inbound_message_id": None,
               "actor": "ops@example.com", "created_at": "2026-03-01T09:30:00.123456Z", "prev_hash": ledger.GENESIS}
    expected = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert ledger.event_hash(entry(), ledger.GENESIS) == expected


def test_the_same_instant_in_another_time_zone_hashes_the_same():
    paris = T0.astimezone(timezone(timedelta(hours=1)))
    assert ledger.event_hash(entry(created_at=paris), ledger.GENESIS) == ledger.event_hash(entry(), ledger.GENESIS)


@pytest.mark.parametrize("field, value", [
    ("contact_id", 99), ("phone", "+12025550199"), ("list_id", None), ("kind", "opt_out"), ("source", "admin"),
    ("evidence", "signed up at the counter."), ("inbound_message_id", 5), ("actor", "someone@else"),
    ("created_at", T0 + timedelta(microseconds=1)),
])
def test_changing_any_content_field_changes_the_hash(field, value):
    original = ledger.event_hash(entry(), ledger.GENESIS)
    assert ledger.event_hash(dataclasses.replace(entry(), **{field: value}), ledger.GENESIS) != original


def test_the_previous_hash_is_part_of_the_hash():
    assert ledger.event_hash(entry(), ledger.GENESIS) != ledger.event_hash(entry(), "f" * 64)


def test_a_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="naive"):
        ledger.event_hash(entry(created_at=datetime(2026, 3, 1)), ledger.GENESIS)


def test_an_untouched_chain_is_intact():
    events = chain(5)
    report = ledger.verify(iter(events), head_of(events))
    assert report.intact and report.count == 5 and report.last_hash == events[-1].hash
    assert report.summary() == f"chain intact: 5 events (head {events[-1].hash})"


def test_an_empty_chain_is_intact():
    report = ledger.verify([], ledger.ChainHead(None, ledger.GENESIS, 0))
    assert report.intact and report.count == 0


def test_an_altered_event_is_named():
    events = chain(5)
    events[2] = dataclasses.replace(events[2], entry=entry(2, kind="opt_out"))
    report = ledger.verify(events, head_of(events))
    assert (report.intact, report.broken_event_id, report.count) == (False, 3, 2)
    assert report.summary() == "chain broken at event 3: content does not match its hash (the event was altered)"


def test_an_event_altered_and_rehashed_breaks_the_link_of_the_next_one():
    events = chain(5)
    forged = entry(2, kind="opt_out")
    events[2] = dataclasses.replace(events[2], entry=forged, hash=ledger.event_hash(forged, events[2].prev_hash))
    report = ledger.verify(events, head_of(events))
    assert report.broken_event_id == 4
    assert "does not match the hash of event 3" in report.reason


def test_a_removed_event_is_noticed_at_the_event_after_it():
    events = chain(5)
    del events[1]
    report = ledger.verify(events, head_of(events))
    assert report.broken_event_id == 3


def test_events_cut_from_the_end_are_noticed_through_the_head():
    events = chain(5)
    head = head_of(events)
    report = ledger.verify(events[:3], head)
    assert (report.intact, report.broken_event_id) == (False, 5)
    assert "records 5 events ending with event 5, but the ledger has 3 ending with event 3" in report.reason


def test_a_chain_that_does_not_start_at_genesis_is_broken_at_its_first_event():
    events = chain(3)[1:]
    report = ledger.verify(events)
    assert report.broken_event_id == 2
    assert "the start of the chain" in report.reason
