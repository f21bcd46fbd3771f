"""worker leases: the bind each sender worker drives and the leader of the jobs that run once,
held by heartbeat, with an epoch that fences a worker that lost its lease; on PostgreSQL the ids
of the sender's busiest tables are handed out in blocks

Revision ID: 0014_worker_leases
Revises: 0013_api_keys_webhooks
Create Date: 2026-11-30 23:30:00

"""
import sqlalchemy as sa
from alembic import op

from dashboard.models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0014_worker_leases'
down_revision = '0013_api_keys_webhooks'
branch_labels = None
depends_on = None


# Each worker's connections take their ids in blocks: the sender asks for a batch's ids at once, and
# a sequence without a cache writes to the WAL for every 32 ids it hands out. Ids stay unique; a
# block a connection did not use leaves a gap. Not the timeline's (message_event): the rollup job
# reads it by id and waits for a gap only while a transaction that could fill it runs, and an id
# cached by an idle connection could be used minutes later and never be counted (docs/monitoring.md).
CACHED_SEQUENCES = ("message_part_id_seq", "delivery_receipt_id_seq", "message_id_seq")


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for sequence in CACHED_SEQUENCES:
            op.execute(f"ALTER SEQUENCE {sequence} CACHE 100")  # names from this file, not from input
    op.create_table(
        'worker_lease',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('owner', sa.String(length=80), nullable=True),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('acquired_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_lease')),
    )


def downgrade():
    op.drop_table('worker_lease')
    if op.get_bind().dialect.name == 'postgresql':
        for sequence in CACHED_SEQUENCES:
            op.execute(f"ALTER SEQUENCE {sequence} CACHE 1")
