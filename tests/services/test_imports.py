"""CSV imports in the worker: good rows in, bad rows reported by line, resumable, idempotent."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import ConsentEvent, Contact, ContactImport, ContactList, ImportIssue, ListMembership
from dashboard.models.types import utcnow
from dashboard.services import consent, imports
from dashboard.services.contacts import create_list

GOOD_AND_BAD = (b"phone,name,plan\n"
                b"+12025550101,Ann,gold\n"
                b"(202) 555-0102,Bob,silver\n"
                b"12345,Short,gold\n"                   # line 4: invalid number
                b"+12025550103,NoPlan\n"                # line 5: missing column
                b"+12025550104,Caf\xe9,gold\n"          # line 6: not UTF-8
                b"202-555-0101,Ann again,gold\n"        # line 7: duplicate of line 2
                b"\n"
                b"+12025550105,Eve,\"multi\nline\"\n")  # lines 9-10


@pytest.fixture
def upload(app, tmp_path, make_user):
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    user = make_user("ops@example.com", "ops")

    def make(content: bytes, contact_list=None, evidence: str = "web form 2026-03") -> ContactImport:
        contact_list = contact_list or create_list("Customers")
        imp = imports.save_upload(io.BytesIO(content), "people.csv", contact_list, user, source="web_form",
                                  evidence=evidence, now=utcnow())
        imports.confirm(imp, imports.mapping_of(imp), has_header=True)
        return imp
    return make


def list_of(imp: ContactImport) -> ContactList:
    return db.session.get(ContactList, imp.list_id)


def run_all(budget: int = 10_000) -> None:
    while imports.process_pending_imports(utcnow(), budget):
        pass


def test_good_rows_are_imported_and_each_bad_row_is_reported_with_its_line(upload):
    imp = upload(GOOD_AND_BAD)
    run_all()
    db.session.refresh(imp)
    assert (imp.status, imp.imported, imp.unchanged, imp.rejected) == ("done", 3, 0, 4)
    assert db.session.scalars(select(Contact.phone).order_by(Contact.phone)).all() == [
        "+12025550101", "+12025550102", "+12025550105"]
    issues = [(i.line, i.reason) for i in db.session.scalars(select(ImportIssue).order_by(ImportIssue.line))]
    assert issues == [(4, "invalid number '12345': too short"), (5, "missing columns: 2 found, 3 expected"),
                      (6, "not valid UTF-8 text"), (7, "duplicate of line 2 (+12025550101)")]


def test_each_imported_contact_gets_a_consent_event_with_the_imports_evidence(upload):
    imp = upload(GOOD_AND_BAD)
    run_all()
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.phone == "+12025550105"))
    assert (event.kind, event.source, event.actor, event.list_id) == ("opt_in", "web_form", "ops@example.com",
                                                                       imp.list_id)
    assert event.evidence == f"web form 2026-03 (import {imp.id} of 'people.csv', line 9)"
    assert consent.verify_chain().intact


def test_custom_fields_and_names_come_from_the_mapped_columns(upload):
    upload(GOOD_AND_BAD)
    run_all()
    ann = db.session.scalar(select(Contact).where(Contact.phone == "+12025550101"))
    assert (ann.name, ann.fields, ann.time_zone) == ("Ann", {"plan": "gold"}, "America/New_York")
    eve = db.session.scalar(select(Contact).where(Contact.phone == "+12025550105"))
    assert eve.fields == {"plan": "multi\nline"}


def test_reimporting_the_same_file_changes_nothing(upload):
    first = upload(GOOD_AND_BAD)
    run_all()
    events_before = db.session.scalar(select(func.count()).select_from(ConsentEvent))
    second = upload(GOOD_AND_BAD, contact_list=list_of(first))
    run_all()
    db.session.refresh(second)
    assert (second.imported, second.unchanged, second.rejected) == (0, 3, 4)
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == events_before
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3
    assert imports.earlier_import_of_same_file(second).id == first.id


def test_an_import_never_resubscribes_a_number_that_opted_out(upload):
    first = upload(b"phone\n+12025550101\n")
    run_all()
    contact = db.session.scalar(select(Contact))
    consent.record(contact, consent.OPT_OUT, source="keyword", evidence="STOP", actor="mo:1", now=utcnow(),
                   list_id=first.list_id)
    db.session.commit()
    again = upload(b"phone\n+12025550101\n", contact_list=list_of(first))
    run_all()
    db.session.refresh(again)
    assert (again.imported, again.rejected) == (0, 1)
    assert db.session.scalar(select(ImportIssue.reason).where(ImportIssue.import_id == again.id)) == \
        "opted out of this list; an import does not re-subscribe"
    assert db.session.scalar(select(ListMembership.subscribed)) is False


def test_a_globally_opted_out_number_is_not_subscribed_to_a_new_list(upload):
    first = upload(b"phone\n+12025550101\n")
    run_all()
    contact = db.session.scalar(select(Contact))
    consent.record(contact, consent.OPT_OUT, source="keyword", evidence="STOP", actor="mo:1", now=utcnow())
    db.session.commit()
    other = upload(b"phone\n+12025550101\n", contact_list=create_list("Other"))
    run_all()
    db.session.refresh(other)
    assert (other.imported, other.rejected) == (0, 1)
    assert first.id != other.id


def test_an_import_resumes_where_it_stopped_when_its_budget_runs_out(upload):
    rows = b"phone\n" + b"".join(f"+1202555{100 + n:04d}\n".encode() for n in range(25))
    imp = upload(rows)
    assert imports.process_pending_imports(utcnow(), budget_rows=10) == 10
    db.session.refresh(imp)
    assert (imp.status, imp.line, imp.imported) == ("running", 10, 9)  # the header is line 1
    run_all(budget=7)
    db.session.refresh(imp)
    assert (imp.status, imp.imported, imp.rejected, imp.rows_read) == ("done", 25, 0, 26)
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 25


def test_an_existing_contacts_name_is_filled_in_but_never_overwritten(upload):
    upload(b"phone,name\n+12025550101,\n+12025550102,Bob\n")
    run_all()
    upload(b"phone,name\n+12025550101,Ann\n+12025550102,Robert\n", contact_list=create_list("Other"))
    run_all()
    names = dict(db.session.execute(select(Contact.phone, Contact.name)).all())
    assert names == {"+12025550101": "Ann", "+12025550102": "Bob"}


def test_the_refused_rows_download_as_csv_with_line_reason_and_row(upload):
    imp = upload(GOOD_AND_BAD)
    run_all()
    report = "".join(imports.issues_csv(imp)).splitlines()
    assert report[0] == "line,reason,row"
    assert report[1] == "4,invalid number '12345': too short,\"12345,Short,gold\""
    assert len(report) == 5


def test_an_empty_file_is_refused_at_upload(upload):
    with pytest.raises(imports.ImportRefused, match="empty"):
        upload(b"")


def test_an_import_whose_file_vanished_fails_with_the_reason(upload):
    imp = upload(b"phone\n+12025550101\n")
    imports.path_of(imp).unlink()
    run_all()
    db.session.refresh(imp)
    assert imp.status == "failed" and imp.error.startswith("cannot read the file")


def test_an_import_still_in_preview_is_not_touched_by_the_worker(app, tmp_path, make_user):
    app.config["IMPORT_DIR"] = str(tmp_path)
    user = make_user()
    imp = imports.save_upload(io.BytesIO(b"phone\n+12025550101\n"), "p.csv", create_list("L"), user,
                              source="import", evidence="e", now=utcnow())
    assert imports.process_pending_imports(utcnow(), 100) == 0
    assert imp.status == "preview"


def test_imported_contacts_get_the_country_of_their_number(upload):
    upload(b"phone\n+12025550101\n+4915112345678\n+33612345678\n")
    run_all()
    assert dict(db.session.execute(select(Contact.phone, Contact.country)).all()) == {
        "+12025550101": "US", "+4915112345678": "DE", "+33612345678": "FR"}
