"""Import pages: upload, preview with column mapping, progress partial, bad-rows download."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import ContactImport
from dashboard.models.types import utcnow
from dashboard.services import imports

CSV = b"name,mobile,plan\nAnn,+12025550101,gold\nBob,12345,silver\n"


@pytest.fixture
def ops(app, tmp_path, client, auth, make_user, make_list):
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    return make_list([], name="Customers")


def post_file(client, list_id: int, content: bytes = CSV, filename: str = "people.csv"):
    return client.post(f"/lists/{list_id}/import", data={
        "file": (io.BytesIO(content), filename), "source": "web_form", "evidence": "web form 2026-03"},
        content_type="multipart/form-data")


def test_an_upload_is_saved_and_previewed_with_a_guessed_mapping(client, ops, tmp_path):
    response = post_file(client, ops.id)
    assert response.status_code == 302
    imp = db.session.scalar(select(ContactImport))
    assert response.headers["Location"] == f"/imports/{imp.id}"
    assert (tmp_path / "imports" / imp.stored_name).read_bytes() == CSV
    page = client.get(f"/imports/{imp.id}").data.decode()
    assert "<td>Ann</td><td>+12025550101</td><td>gold</td>" in page
    assert '<option selected value="1">2: mobile</option>' in page
    assert imp.status == "preview" and imp.evidence == "web form 2026-03" and imp.source == "web_form"


def test_a_file_that_is_not_csv_is_refused(client, ops):
    response = post_file(client, ops.id, filename="people.xlsx")
    assert response.status_code == 400
    assert "A .csv file, please." in response.data.decode()
    assert db.session.scalar(select(ContactImport)) is None


def test_confirming_the_mapping_queues_the_import_and_shows_a_polling_progress_bar(client, ops):
    post_file(client, ops.id)
    imp = db.session.scalar(select(ContactImport))
    response = client.post(f"/imports/{imp.id}", data={"phone_column": 1, "name_column": 0, "has_header": "y",
                                                       "extra_fields": "y"})
    assert response.status_code == 302
    db.session.refresh(imp)
    assert imp.status == "queued"
    assert imp.mapping == {"phone": 1, "name": 0, "fields": {"plan": 2}}
    page = client.get(f"/imports/{imp.id}").data.decode()
    assert f'hx-get="/imports/{imp.id}/progress" hx-trigger="every 1s"' in page
    assert "Waiting for the worker" in page


def test_the_progress_partial_stops_polling_when_the_import_is_done(client, ops):
    post_file(client, ops.id)
    imp = db.session.scalar(select(ContactImport))
    client.post(f"/imports/{imp.id}", data={"phone_column": 1, "name_column": 0, "has_header": "y"})
    imports.process_pending_imports(utcnow(), 100)
    imports.process_pending_imports(utcnow(), 100)
    response = client.get(f"/imports/{imp.id}/progress", headers={"HX-Request": "true"})
    fragment = response.data.decode()
    assert fragment.lstrip().startswith('<div id="import-progress"')
    assert "hx-trigger" not in fragment and "Done." in fragment
    assert "<strong>1</strong> imported" in fragment and "<strong>1</strong> refused" in fragment
    assert f'action="/imports/{imp.id}/issues.csv"' in fragment


def test_the_bad_rows_download_names_each_line_and_reason(client, ops):
    post_file(client, ops.id)
    imp = db.session.scalar(select(ContactImport))
    client.post(f"/imports/{imp.id}", data={"phone_column": 1, "name_column": 0, "has_header": "y"})
    imports.process_pending_imports(utcnow(), 100)
    response = client.post(f"/imports/{imp.id}/issues.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.decode().splitlines() == ["line,reason,row",
                                                   "3,invalid number '12345': too short,\"Bob,12345,silver\""]


def test_uploading_the_same_file_again_warns_that_it_changes_nothing(client, ops):
    post_file(client, ops.id)
    post_file(client, ops.id)
    second = db.session.scalars(select(ContactImport).order_by(ContactImport.id)).all()[-1]
    assert "This file was imported into the same list before" in client.get(f"/imports/{second.id}").data.decode()


def test_a_compliance_user_cannot_use_the_import_pages(client, auth, make_user, make_list):
    contact_list = make_list([])
    make_user("compliance@example.com", "compliance")
    auth.login("compliance@example.com")
    assert client.get(f"/lists/{contact_list.id}/import").status_code == 403
    assert post_file(client, contact_list.id).status_code == 403
    for url in ("/imports/1", "/imports/1/progress"):
        assert client.get(url).status_code == 403, url
    assert client.post("/imports/1/issues.csv").status_code == 403


def test_the_list_page_links_to_the_import(client, ops):
    assert f'href="/lists/{ops.id}/import"' in client.get(f"/lists/{ops.id}").data.decode()


def test_a_file_without_a_header_is_imported_from_its_first_line(client, ops):
    post_file(client, ops.id, content=b"+12025550101,Ann\n+12025550102,Bob\n")
    imp = db.session.scalar(select(ContactImport))
    page = client.get(f"/imports/{imp.id}").data.decode()
    assert '<option selected value="0">column 1</option>' in page
    client.post(f"/imports/{imp.id}", data={"phone_column": 0, "name_column": 1})
    imports.process_pending_imports(utcnow(), 100)
    db.session.refresh(imp)
    assert (imp.has_header, imp.imported, imp.rejected) == (False, 2, 0)
