"""security and audit: the audit trail hash-chained and append-only; revocable sessions and login
lockout on users; the delimiter of a contact import

Revision ID: 0010_security_audit
Revises: 0009
Create Date: 2026-11-30 21:30:00

The audit_log rows that exist are chained in id order (before the triggers exist), like 0002 did
for the consent ledger. Its user_id loses its foreign key: ON DELETE SET NULL would be an UPDATE,
which the append-only triggers refuse. Beware: on SQLite a later batch_alter_table('audit_log')
recreates the table and drops the triggers; call create_audit_triggers() again after it.
"""
import secrets

from alembic import op
import sqlalchemy as sa

import dashboard.models.types
from dashboard.services.audit import payload  # what a row's hash covers is defined once, there
from dashboard.sms import ledger


# revision identifiers, used by Alembic.
revision = '0010_security_audit'
down_revision = '0009'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
       END $$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


def create_audit_triggers():
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}[dialect]:
        op.execute(statement)


def drop_audit_triggers():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def upgrade():
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_log_user_id_user', type_='foreignkey')
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('target_type', sa.String(length=40), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('target_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('changes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    head = _backfill_chain()
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('ip', existing_type=sa.String(length=45), server_default=None)
        batch_op.alter_column('target_type', existing_type=sa.String(length=40), server_default=None)
        batch_op.alter_column('changes', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f('ix_audit_log_target_type'), ['target_type'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_prev_hash'), ['prev_hash'])
    op.get_bind().execute(
        sa.text("INSERT INTO audit_chain_head (id, last_event_id, last_hash, length) VALUES (1, :id, :hash, :n)"),
        {"id": head.last_event_id, "hash": head.last_hash, "n": head.length})
    create_audit_triggers()

    # Sessions end server-side when this token changes (logout, deactivation, password or role change).
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', dashboard.models.types.UTCDateTime(), nullable=True))
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.text('SELECT id FROM "user"')).all():
        bind.execute(sa.text('UPDATE "user" SET session_token = :token WHERE id = :id'),
                     {"token": secrets.token_urlsafe(32), "id": user_id})
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('failed_logins', existing_type=sa.Integer(), server_default=None)

    with op.batch_alter_table('contact_import', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delimiter', sa.String(length=1), nullable=False, server_default=','))
    with op.batch_alter_table('contact_import', schema=None) as batch_op:
        batch_op.alter_column('delimiter', existing_type=sa.String(length=1), server_default=None)


def _backfill_chain() -> ledger.ChainHead:
    """Chain the audit rows that exist already, in id order (before any trigger exists)."""
    bind = op.get_bind()
    utc = dashboard.models.types.UTCDateTime()
    rows = bind.execute(sa.text(
        "SELECT id, at, user_id, actor, ip, action, target_type, target_id, format, filters, row_count, detail"
        " FROM audit_log ORDER BY id").columns(at=utc, filters=sa.JSON())).mappings().all()
    prev, last_id = ledger.GENESIS, None
    for row in rows:
        values = dict(row) | {"changes": {}, "filters": row["filters"] or {}, "detail": row["detail"] or ""}
        digest = ledger.record_hash(payload(values), prev)
        bind.execute(sa.text("UPDATE audit_log SET changes = :changes, prev_hash = :prev, hash = :hash WHERE id = :id"),
                     {"changes": "{}", "prev": prev, "hash": digest, "id": row["id"]})
        prev, last_id = digest, row["id"]
    return ledger.ChainHead(last_event_id=last_id, last_hash=prev, length=len(rows))


def downgrade():
    with op.batch_alter_table('contact_import', schema=None) as batch_op:
        batch_op.drop_column('delimiter')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('session_token')
    drop_audit_triggers()
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_log_prev_hash'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_audit_log_target_type'))
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('changes')
        batch_op.drop_column('target_id')
        batch_op.drop_column('target_type')
        batch_op.drop_column('ip')
        batch_op.create_foreign_key('fk_audit_log_user_id_user', 'user', ['user_id'], ['id'], ondelete='SET NULL')
    op.drop_table('audit_chain_head')
