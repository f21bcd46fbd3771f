"""Headers and cookies, CSV cells a spreadsheet would run, the audit trail, secrets at rest
(issue 11: defect 2, build points 1–3)."""

from __future__ import annotations

import csv
import io
import os
import re
import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from dashboard import create_app
from dashboard.crypto import decrypt_secret, legacy_key
from dashboard.csv_stream import spreadsheet_safe, unescape_cell
from dashboard.extensions import db
from dashboard.models import AuditLog, Bind, Contact, ContactList
from dashboard.models.types import utcnow
from dashboard.services import audit, campaigns, compliance, imports
from tests.conftest import campaign_for, make_config


@pytest.fixture
def admin(client, auth, make_user):
    make_user()
    auth.login()
    return client


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


# ----------------------------------------------------------------------------- defect 2: CSV injection


@pytest.mark.parametrize(
    "cell, written",
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("@SUM(1)", "'@SUM(1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'quoted", "''quoted"),
        ("+12025550101", "+12025550101"),  # an E.164 number is not a formula: it stays readable
        ("-12.5", "-12.5"),
        ("plain", "plain"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralised_and_numbers_are_not(cell, written):
    assert spreadsheet_safe(cell) == written
    assert unescape_cell(written) == cell


def test_the_consent_export_neutralises_a_list_named_as_a_formula(admin, make_list):
    make_list(["+12025550101"], name='=HYPERLINK("http://x","y")')
    rows = _rows(admin.post("/consent/export.csv").data)
    header, row = rows[0], rows[1]
    assert row[header.index("list_name")] == '\'=HYPERLINK("http://x","y")'
    assert row[header.index("phone")] == "+12025550101"


def test_the_dry_run_csv_neutralises_a_contact_named_as_a_formula(admin, make_list, sender):
    contact_list = make_list(["+12025550101"])
    db.session.scalar(select(Contact)).name = "@SUM(1)"
    db.session.commit()
    campaign = campaign_for(contact_list, sender)
    rows = _rows(admin.post(f"/campaigns/{campaign.id}/dry-run.csv").data)
    assert rows[1][:2] == ["+12025550101", "'@SUM(1)"]


def test_the_import_issues_csv_neutralises_a_refused_row(app, make_list, make_user):
    contact_list = make_list([])
    user = make_user()
    imp = imports.save_upload(
        io.BytesIO(b"name,phone\n=1+1,12345\n"),
        "a.csv",
        contact_list,
        user,
        source="import",
        evidence="e",
        now=utcnow(),
    )
    imports.confirm(imp, imports.mapping_of(imp), True)
    imports.process_pending_imports(utcnow())
    rows = _rows("".join(imports.issues_csv(imp)).encode())
    assert rows[1][2] == "'=1+1,12345"


# ----------------------------------------------------------------------------- build point 3: headers


def test_every_page_carries_a_strict_content_security_policy_and_the_other_headers(admin):
    response = admin.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_exports_are_not_cached_and_static_files_are(admin, make_list):
    make_list(["+12025550101"])
    assert admin.post("/consent/export.csv").headers["Cache-Control"] == "no-store"
    static = admin.get("/static/css/switchboard.css")
    static.close()
    assert "no-store" not in static.headers.get("Cache-Control", "")


INLINE = re.compile(r"\son[a-z]+=|\sstyle=|<script(?![^>]*\ssrc=)", re.IGNORECASE)


def test_no_template_has_an_inline_handler_style_or_script_that_the_policy_would_block():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "templates")
    offenders = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                if INLINE.search(handle.read()):
                    offenders.append(name)
    assert offenders == []


def test_numbers_stay_out_of_the_consent_pages_urls(admin, make_list):
    make_list(["+12025550101"])
    pages = [
        admin.get("/consent/").data,
        admin.post("/consent/", data={"phone": "+12025550101"}).data,
        admin.get("/consent/contacts/1").data,
        admin.get(f"/lists/{db.session.scalar(select(ContactList.id))}").data,
    ]
    for page in pages:
        urls = re.findall(rb'(?:href|action|hx-get|hx-post)="([^"]*)"', page)
        assert not [u for u in urls if b"2025550101" in u]


# ----------------------------------------------------------------------------- build point 1: audit trail


def test_a_bind_change_is_audited_with_before_after_and_the_password_masked(admin, simulator):
    admin.post(
        "/binds/new",
        data={
            "name": "acme",
            "host": "127.0.0.1",
            "port": simulator.port,
            "system_id": "sw",
            "password": "s3cr3t!",
            "mode": "trx",
            "tps": 50,
            "window": 10,
            "enquire_link_interval": 30,
            "response_timeout": 10,
            "default_data_coding": 0,
            "concat_mode": "udh",
            "message_id_format": "auto",
            "max_attempts": 5,
            "enabled": "y",
        },
    )
    bind = db.session.scalar(select(Bind))
    admin.post(
        f"/binds/{bind.id}/edit",
        data={
            "name": "acme",
            "host": "127.0.0.1",
            "port": simulator.port,
            "system_id": "sw",
            "password": "n3w",
            "mode": "trx",
            "tps": 80,
            "window": 10,
            "enquire_link_interval": 30,
            "response_timeout": 10,
            "default_data_coding": 0,
            "concat_mode": "udh",
            "message_id_format": "auto",
            "max_attempts": 5,
            "enabled": "y",
        },
    )
    created, updated = db.session.scalars(
        select(AuditLog).where(AuditLog.target_type == "bind").order_by(AuditLog.id)
    ).all()
    assert (created.action, created.actor, created.ip) == (
        "bind_create",
        "admin@example.com",
        "127.0.0.1",
    )
    assert created.changes["password"] == [None, "********"]
    assert updated.changes == {"tps": [50.0, 80.0], "password": ["********", "********"]}
    assert "s3cr3t" not in str(created.changes) and "n3w" not in str(updated.changes)


def test_the_audit_trail_refuses_update_and_delete_and_its_chain_verifies(app, make_user):
    make_user()
    make_user("ops@example.com", "ops")
    assert audit.verify_chain().intact and audit.verify_chain().count == 2
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()


def test_an_audit_row_altered_behind_the_triggers_breaks_the_chain(app, make_user):
    make_user()
    make_user("ops@example.com", "ops")
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("DROP TRIGGER audit_log_no_update"))
    else:
        db.session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    db.session.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE id = 1"))
    db.session.commit()
    report = audit.verify_chain()
    assert not report.intact and report.broken_event_id == 1


def test_the_audit_page_filters_and_its_export_is_a_post_that_is_audited_too(admin, make_user):
    make_user("ops@example.com", "ops")
    page = admin.get("/audit/", query_string={"action": "user_create"}).data.decode()
    assert "ops@example.com" in page and "chain intact" in page
    assert admin.get("/audit/export.csv").status_code == 405  # a link cannot start an export
    response = admin.post("/audit/export.csv", data={"action": "user_create"})
    rows = _rows(response.data)
    assert rows[0] == list(audit.EXPORT_COLUMNS) and len(rows) == 3  # header, admin, ops
    assert (
        db.session.scalar(select(AuditLog.row_count).where(AuditLog.action == "export_finished"))
        == 2
    )


def test_a_campaigns_life_is_audited(app, make_list, sender, make_user):
    user = make_user("ops@example.com", "ops")
    audit.act_as(audit.Actor(user.id, user.email, "192.0.2.1"))
    contact_list = make_list(["+12025550101"])
    campaign = campaign_for(contact_list, sender, created_by_id=user.id, draft=True)
    campaigns.submit_for_approval(campaign, utcnow(), approval_required=False)
    campaigns.pause(campaign, utcnow())
    campaigns.set_limits(campaign, throughput_cap=5.0, budget=None, failure_threshold=None)
    campaigns.cancel(campaign, utcnow())
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.target_type == "campaign").order_by(AuditLog.id)
    ).all()
    assert actions == [
        "campaign_create",
        "campaign_submit",
        "campaign_pause",
        "campaign_limits",
        "campaign_cancel",
    ]
    limits = db.session.scalar(select(AuditLog).where(AuditLog.action == "campaign_limits"))
    assert limits.changes == {"throughput_cap": [None, 5.0]} and limits.ip == "192.0.2.1"


# ----------------------------------------------------------------------------- build point 2: secrets


def test_bind_passwords_are_encrypted_with_their_own_key_not_the_session_key(
    app, make_bind, simulator
):
    bind = make_bind(simulator)
    assert (
        app.config["ENCRYPTION_KEYS"]
        and app.config["ENCRYPTION_KEYS"][0] != app.config["SECRET_KEY"]
    )
    assert (
        Fernet(app.config["ENCRYPTION_KEYS"][0]).decrypt(bind.password_encrypted.encode())
        == b"secret"
    )


def test_a_password_encrypted_under_the_old_secret_key_still_decrypts_and_rotation_moves_it(
    app, runner, make_bind, simulator, tmp_path
):
    key_file = tmp_path / "keys"
    app.config["ENCRYPTION_KEY_FILE"] = str(key_file)
    bind = make_bind(simulator)
    # A database from before this change: the token made with the key derived from SECRET_KEY.
    bind.password_encrypted = (
        Fernet(legacy_key(app.config["SECRET_KEY"])).encrypt(b"secret").decode()
    )
    db.session.commit()
    assert decrypt_secret(app.config, bind.password_encrypted) == "secret"
    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    new_key = key_file.read_text().strip()
    assert len(new_key.splitlines()) == 1 and app.config["ENCRYPTION_KEYS"] == [new_key]
    assert Fernet(new_key).decrypt(bind.password_encrypted.encode()) == b"secret"
    # The session key can now change without losing the bind password.
    assert (
        decrypt_secret(
            {"ENCRYPTION_KEYS": [new_key], "SECRET_KEY": "another"}, bind.password_encrypted
        )
        == "secret"
    )
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (
        db.session.scalar(select(AuditLog.row_count).where(AuditLog.action == "secrets_rotate"))
        == 1
    )


def test_keys_and_a_new_database_are_created_owner_only(tmp_path):
    served = create_app(
        make_config(
            tmp_path / "new.db",
            ENCRYPTION_KEY_FILE=str(tmp_path / "keys"),
            SECRET_KEY=None,
            SECRET_KEY_FILE=str(tmp_path / "secret"),
        )
    )
    assert not (tmp_path / "new.db").exists()  # building the app touches no database (docs/architecture.md)
    with served.app_context():
        db.engine.connect().close()
        db.engine.dispose()
    for name in ("keys", "secret", "new.db"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert served.config["SECRET_KEY"] == (tmp_path / "secret").read_text().strip()


def test_the_export_rows_of_the_consent_ledger_can_be_unescaped_to_verify_offline(admin, make_list):
    make_list(["+12025550101"], name="@list")
    rows = list(csv.DictReader(io.StringIO(admin.post("/consent/export.csv").data.decode())))
    assert [unescape_cell(r["list_name"]) for r in rows] == ["@list"]
    assert compliance.EXPORT_COLUMNS[-1] == "hash"
