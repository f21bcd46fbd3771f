"""The consent ledger in the database: chained on append, append-only by trigger, verifiable."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from dashboard.extensions import db
from dashboard.models import ConsentChainHead, ConsentEvent, Contact, ListMembership
from dashboard.models.types import utcnow
from dashboard.services import consent, contacts
from dashboard.sms import ledger
from tests.conftest import drop_ledger_triggers, numbers


def events() -> list[ConsentEvent]:
    db.session.expire_all()
    return db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()


def drop_triggers() -> None:
    """What an attacker with database access would do first."""
    drop_ledger_triggers()
    db.session.commit()


def test_each_event_is_chained_to_the_one_before_it(make_list):
    make_list(numbers(3))
    chain = events()
    assert chain[0].prev_hash == ledger.GENESIS
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
    assert chain[1].hash == ledger.event_hash(consent.entry_of(chain[1]), chain[0].hash)
    head = db.session.get(ConsentChainHead, 1)
    assert (head.last_event_id, head.last_hash, head.length) == (chain[-1].id, chain[-1].hash, 3)


def test_an_event_keeps_the_number_it_was_given_for(make_list):
    make_list(["+12025550101"])
    assert events()[0].phone == "+12025550101"


def test_updating_an_event_in_sql_is_refused_by_the_database(make_list):
    make_list(numbers(2))
    with pytest.raises(IntegrityError, match="consent_event is append-only: UPDATE refused"):
        db.session.execute(text("UPDATE consent_event SET kind = 'opt_out' WHERE id = 1"))
    db.session.rollback()
    assert events()[0].kind == "opt_in"


def test_deleting_an_event_in_sql_is_refused_by_the_database(make_list):
    make_list(numbers(2))
    with pytest.raises(IntegrityError, match="consent_event is append-only: DELETE refused"):
        db.session.execute(text("DELETE FROM consent_event"))
    db.session.rollback()
    assert len(events()) == 2


def test_updating_an_event_through_the_orm_is_refused_too(make_list):
    make_list(numbers(1))
    event = events()[0]
    event.evidence = "rewritten"
    with pytest.raises(IntegrityError, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_an_intact_ledger_verifies(make_list):
    make_list(numbers(4))
    report = consent.verify_chain()
    assert report.intact and report.count == 4


def test_an_event_changed_directly_in_sql_is_detected_and_named(make_list):
    make_list(numbers(5))
    drop_triggers()
    db.session.execute(text("UPDATE consent_event SET kind = 'opt_out' WHERE id = 3"))
    db.session.commit()
    report = consent.verify_chain()
    assert (report.intact, report.broken_event_id) == (False, 3)
    assert "altered" in report.reason


def test_an_event_deleted_directly_in_sql_is_detected_at_the_next_event(make_list):
    make_list(numbers(5))
    drop_triggers()
    db.session.execute(text("DELETE FROM consent_event WHERE id = 2"))
    db.session.commit()
    assert consent.verify_chain().broken_event_id == 3


def test_the_last_event_deleted_directly_in_sql_is_detected_through_the_head(make_list):
    make_list(numbers(5))
    drop_triggers()
    db.session.execute(text("DELETE FROM consent_event WHERE id = 5"))
    db.session.commit()
    report = consent.verify_chain()
    assert (report.intact, report.broken_event_id) == (False, 5)


def test_two_events_cannot_share_a_predecessor(make_list):
    make_list(numbers(1))
    first = events()[0]
    fork = ConsentEvent(contact_id=first.contact_id, phone=first.phone, kind="opt_out", source="admin",
                        evidence="", actor="x", created_at=utcnow(), prev_hash=first.prev_hash, hash="0" * 64)
    db.session.add(fork)
    with pytest.raises(IntegrityError, match="(?i)unique"):
        db.session.commit()
    db.session.rollback()


def test_concurrent_writers_do_not_fork_the_chain(app, make_list):
    contact_list = make_list([], name="Concurrent")
    # Read here: touching the main thread's (expired) object from four threads would refresh it
    # through one session at once.
    list_type, list_id = type(contact_list), contact_list.id
    errors: list[BaseException] = []

    def append(batch: list[str]) -> None:
        try:
            with app.app_context():
                target = db.session.get(list_type, list_id)
                for number in batch:
                    contacts.add_contact(target, number, evidence="thread", actor="t", now=utcnow())
                db.session.remove()
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    all_numbers = numbers(40)
    threads = [threading.Thread(target=append, args=(all_numbers[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    report = consent.verify_chain()
    assert report.intact and report.count == 40


def test_an_opt_out_after_an_opt_in_is_chained_and_updates_the_projection(make_list):
    make_list(["+12025550101"])
    contact = db.session.scalar(select(Contact))
    consent.record(contact, consent.OPT_OUT, source="admin", evidence="asked by phone", actor="t", now=utcnow())
    db.session.commit()
    assert contact.global_opt_out is True
    assert consent.verify_chain().count == 2


def test_the_cli_reports_an_intact_chain(runner, make_list):
    make_list(numbers(3))
    result = runner.invoke(args=["consent", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("chain intact: 3 events")


def test_the_cli_names_the_first_broken_event_and_fails(runner, make_list):
    make_list(numbers(3))
    drop_triggers()
    db.session.execute(text("UPDATE consent_event SET evidence = 'forged' WHERE id = 2"))
    db.session.commit()
    result = runner.invoke(args=["consent", "verify"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: chain broken at event 2: content does not match its hash "
                                     "(the event was altered)")


def test_a_batch_of_events_is_chained_in_order_and_updates_the_projections(make_list):
    contact_list = make_list(numbers(3))
    people = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    written = consent.record_many([(p, f"complaint {p.id}") for p in people], consent.OPT_OUT, source="admin",
                                  actor="t", now=utcnow(), list_id=contact_list.id)
    db.session.commit()
    assert written == 3
    chain = events()
    assert [e.evidence for e in chain[3:]] == [f"complaint {p.id}" for p in people]
    report = consent.verify_chain()
    assert report.intact and report.count == 6
    db.session.expire_all()
    assert db.session.scalars(select(ListMembership.subscribed)).all() == [False, False, False]


def test_an_empty_batch_writes_nothing_and_takes_no_lock(app):
    assert consent.record_many([], consent.OPT_IN, source="admin", actor="t", now=utcnow()) == 0
    assert db.session.get(ConsentChainHead, 1).length == 0
