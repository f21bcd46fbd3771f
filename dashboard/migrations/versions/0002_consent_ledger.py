"""consent ledger: hash chain, chain head, append-only triggers; audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:08:38.535530

Triggers refuse UPDATE and DELETE on consent_event in the database itself, so neither the ORM
nor a stray SQL session can rewrite consent history. Beware: on SQLite, a later migration that
alters consent_event with batch_alter_table recreates the table and DROPS these triggers; such a
migration must call create_append_only_triggers() again (tests/services/test_consent_ledger.py
fails if the triggers are missing after the last migration).
"""
from alembic import op
import sqlalchemy as sa

import dashboard.models.types
from dashboard.sms import ledger


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER consent_event_no_update BEFORE UPDATE ON consent_event
       BEGIN SELECT RAISE(ABORT, 'consent_event is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER consent_event_no_delete BEFORE DELETE ON consent_event
       BEGIN SELECT RAISE(ABORT, 'consent_event is append-only: DELETE refused'); END""",
)

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION consent_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'consent_event is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER consent_event_no_update_delete BEFORE UPDATE OR DELETE ON consent_event
       FOR EACH ROW EXECUTE FUNCTION consent_event_append_only()""",
    # TRUNCATE fires no row triggers.
    """CREATE TRIGGER consent_event_no_truncate BEFORE TRUNCATE ON consent_event
       FOR EACH STATEMENT EXECUTE FUNCTION consent_event_append_only()""",
)


def create_append_only_triggers():
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect)
    if statements is None:
        raise NotImplementedError(f"no append-only triggers for {dialect}")
    for statement in statements:
        op.execute(statement)


def drop_append_only_triggers():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS consent_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS consent_event_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_event_no_update_delete ON consent_event")
        op.execute("DROP TRIGGER IF EXISTS consent_event_no_truncate ON consent_event")
        op.execute("DROP FUNCTION IF EXISTS consent_event_append_only()")


def upgrade():
    op.create_table('consent_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_chain_head'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', dashboard.models.types.UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=True),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_audit_log_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    # Nullable first: events recorded before this migration get their hashes below.
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))

    head = _backfill_chain()

    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.alter_column('phone', existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f('ix_consent_event_phone'), ['phone'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_consent_event_prev_hash'), ['prev_hash'])

    op.get_bind().execute(
        sa.text("INSERT INTO consent_chain_head (id, last_event_id, last_hash, length) VALUES (1, :id, :hash, :n)"),
        {"id": head.last_event_id, "hash": head.last_hash, "n": head.length})
    # Last, after the batch operations above (which recreate the table on SQLite).
    create_append_only_triggers()


def _backfill_chain() -> ledger.ChainHead:
    """Chain the events that exist already, in id order (before any trigger exists)."""
    bind = op.get_bind()
    utc = dashboard.models.types.UTCDateTime()
    rows = bind.execute(sa.text(
        "SELECT e.id, e.contact_id, c.phone, e.list_id, e.kind, e.source, e.evidence, e.inbound_message_id,"
        " e.actor, e.created_at FROM consent_event e JOIN contact c ON c.id = e.contact_id ORDER BY e.id"
    ).columns(created_at=utc)).all()
    prev, last_id = ledger.GENESIS, None
    for row in rows:
        entry = ledger.LedgerEntry(row.contact_id, row.phone, row.list_id, row.kind, row.source, row.evidence,
                                   row.inbound_message_id, row.actor, row.created_at)
        digest = ledger.event_hash(entry, prev)
        bind.execute(sa.text("UPDATE consent_event SET phone = :phone, prev_hash = :prev, hash = :hash WHERE id = :id"),
                     {"phone": row.phone, "prev": prev, "hash": digest, "id": row.id})
        prev, last_id = digest, row.id
    return ledger.ChainHead(last_event_id=last_id, last_hash=prev, length=len(rows))


def downgrade():
    drop_append_only_triggers()
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_consent_event_prev_hash'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_consent_event_phone'))
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('phone')

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    op.drop_table('consent_chain_head')
