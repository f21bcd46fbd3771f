"""bind status: the rate a throttled bind settled on, and its throttling answers; on PostgreSQL
the consent ledger refuses a change with an integrity error, as on SQLite

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 21:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# SQLSTATE 23001 (restrict_violation): an integrity error to every driver, where a bare RAISE
# EXCEPTION is a P0001 that reads as a programming mistake.
INTEGRITY_REFUSAL = """CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN RAISE EXCEPTION 'consent_event is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
   END $$"""
PLAIN_REFUSAL = """CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN RAISE EXCEPTION 'consent_event is append-only: % refused', TG_OP; END $$"""


def upgrade():
    with op.batch_alter_table('bind_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settled_tps', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('throttled_total', sa.Integer(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(INTEGRITY_REFUSAL)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PLAIN_REFUSAL)
    with op.batch_alter_table('bind_status', schema=None) as batch_op:
        batch_op.drop_column('throttled_total')
        batch_op.drop_column('settled_tps')
