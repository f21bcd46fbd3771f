"""The worker picks up a confirmed CSV import by itself: the web request only saved the file."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import ContactImport, ImportIssue, ListMembership
from dashboard.models.types import utcnow
from dashboard.services import imports
from dashboard.services.contacts import create_list
from tests.conftest import wait_for


def test_the_worker_imports_a_confirmed_upload_and_reports_its_bad_rows(app, tmp_path, make_user, worker):
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    user = make_user("ops@example.com", "ops")
    contact_list = create_list("Newsletter")
    content = b"phone,name\n+12025550101,Ann\n12345,Short\n+12025550102,Bob\n"
    imp = imports.save_upload(io.BytesIO(content), "people.csv", contact_list, user, source="web_form",
                              evidence="newsletter form 2026-11", now=utcnow())
    imports.confirm(imp, imports.mapping_of(imp), has_header=True)
    worker()

    def finished():
        db.session.expire_all()
        return db.session.get(ContactImport, imp.id).status not in ("queued", "running")
    wait_for(finished, message="import finished by the worker")
    subscribed = db.session.scalar(select(func.count()).select_from(ListMembership).where(
        ListMembership.list_id == contact_list.id, ListMembership.subscribed.is_(True)))
    assert subscribed == 2
    [issue] = db.session.scalars(select(ImportIssue).where(ImportIssue.import_id == imp.id)).all()
    assert issue.line == 3
