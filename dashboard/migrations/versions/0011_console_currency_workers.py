"""routes priced in a currency, recorded on each message and part; sender workers' heartbeats;
messages found by number; deleted binds and routes kept for the messages that name them

Revision ID: 0011_console_currency_workers
Revises: 0010_security_audit
Create Date: 2026-11-25 10:00:00

"""
import sqlalchemy as sa
from alembic import op

from dashboard.models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0011_console_currency_workers'
down_revision = '0010_security_audit'
branch_labels = None
depends_on = None


def _default_currency() -> str:
    """The installation's DEFAULT_CURRENCY: the prices already stored were typed in it."""
    from flask import current_app, has_app_context
    return current_app.config.get("DEFAULT_CURRENCY", "USD") if has_app_context() else "USD"


def upgrade():
    currency = _default_currency()
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
    op.execute(sa.text("UPDATE route SET currency = :currency").bindparams(currency=currency))
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.alter_column('currency', existing_type=sa.String(length=3), nullable=False)
        batch_op.add_column(sa.Column('deleted_at', UTCDateTime(), nullable=True))

    # Nullable columns: SQLite adds them in place, without copying the message tables. Prices
    # already recorded keep their amount and get the currency they were typed in.
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.create_index('ix_message_destination', ['destination', 'id'], unique=False)
    op.execute(sa.text("UPDATE message SET currency = :currency"
                       " WHERE price_per_segment IS NOT NULL")
               .bindparams(currency=currency))
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
    op.execute(sa.text("UPDATE message_part SET currency = :currency WHERE price IS NOT NULL")
               .bindparams(currency=currency))

    with op.batch_alter_table('bind', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', UTCDateTime(), nullable=True))

    op.create_table(
        'sender_worker',
        sa.Column('worker_id', sa.String(length=80), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('heartbeat_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_sender_worker')),
    )
    with op.batch_alter_table('sender_worker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sender_worker_heartbeat_at'), ['heartbeat_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('sender_worker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sender_worker_heartbeat_at'))
    op.drop_table('sender_worker')
    with op.batch_alter_table('bind', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.drop_column('currency')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_destination')
        batch_op.drop_column('currency')
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('currency')
